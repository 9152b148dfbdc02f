/**
 * Reading many tensors back at once: they are copied side by side into one
 * staging buffer and read with a single submit, instead of one round trip
 * each (hundreds of parameters × optimiser moments per checkpoint: seconds on
 * a CPU adapter otherwise). Bytes are identical to `tensorsToSafetensors`.
 * @module
 */
import { copyBuffer, serializeSafetensors, Tensor } from "../../kernels/mod.ts";

/** Staging buffers hold at most this many floats (larger sets are read in chunks). */
const CHUNK_FLOATS = 1 << 26;

/** The values of every tensor, in order (GPU: float32; CPU: float64). */
export async function readTensors(tensors: readonly Tensor[]): Promise<ArrayLike<number>[]> {
  const out: ArrayLike<number>[] = new Array(tensors.length);
  let chunk: number[] = [];
  let chunkFloats = 0;
  const drain = async () => {
    if (!chunk.length) return;
    const staging = Tensor.empty([Math.max(chunkFloats, 1)]);
    let offset = 0;
    for (const i of chunk) {
      const t = tensors[i];
      if (t.size) copyBuffer(t.buffer, 0, staging.buffer, offset * 4, t.size * 4);
      offset += t.size;
    }
    const values = (await staging.read()) as Float32Array;
    staging.dispose();
    offset = 0;
    for (const i of chunk) {
      out[i] = values.slice(offset, offset + tensors[i].size);
      offset += tensors[i].size;
    }
    chunk = [];
    chunkFloats = 0;
  };
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    t.assertLive();
    if (t.device === "cpu") {
      out[i] = t.cpuData.slice(0, t.size);
      continue;
    }
    if (t.dtype !== "f32") throw new Error(`readTensors: ${t} is not float32`);
    if (chunkFloats + t.size > CHUNK_FLOATS) await drain();
    chunk.push(i);
    chunkFloats += t.size;
  }
  await drain();
  return out;
}

/** Safetensors bytes of named tensors (float32), read back in one go. */
export async function safetensorsBytes(
  tensors: Map<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<Uint8Array> {
  const names = [...tensors.keys()];
  const values = await readTensors(names.map((n) => tensors.get(n)!));
  const entries = new Map(
    names.map((n, i) => [n, { shape: tensors.get(n)!.shape, data: values[i] }]),
  );
  return serializeSafetensors(entries, metadata);
}

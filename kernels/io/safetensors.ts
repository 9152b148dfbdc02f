/**
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON
 * ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}),
 * then the raw little-endian data. Our checkpoint format, and the format of
 * the reference fixtures.
 */
import { type Device, Tensor } from "../tensor/tensor.ts";

/**
 * A tensor read from a file, on the host. F32 and F16 (widened exactly) as
 * Float32Array; F64 and integers as Float64Array.
 */
export interface HostTensor {
  dtype: string;
  shape: number[];
  data: Float32Array | Float64Array;
}

/** The contents of a safetensors file. */
export interface SafetensorsFile {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

const SIZES: Record<string, number> = {
  F32: 4,
  F64: 8,
  F16: 2,
  I64: 8,
  I32: 4,
  U8: 1,
  I8: 1,
  BOOL: 1,
};

/** Parses a safetensors byte buffer; errors name `source` and what is wrong. */
export function parseSafetensors(bytes: Uint8Array, source = "safetensors data"): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  if (bytes.byteLength < 8) fail(`truncated: ${bytes.byteLength} bytes, no header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.byteLength - 8) {
    fail(`truncated: header of ${headerLen} bytes but file has ${bytes.byteLength}`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)),
    );
  } catch (e) {
    return fail(`malformed header JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("header is not a JSON object");
  }
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const tensors = new Map<string, HostTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const size = typeof e.dtype === "string" ? SIZES[e.dtype] : undefined;
    if (!size) fail(`tensor '${name}': unsupported dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(`tensor '${name}': invalid shape ${JSON.stringify(e.shape)}`);
    }
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(Number.isInteger)) {
      fail(`tensor '${name}': invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as number[];
    const shape = e.shape as number[];
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * size! || begin < 0) {
      fail(`tensor '${name}': data_offsets [${begin}, ${end}] do not hold ${count} × ${e.dtype}`);
    }
    if (end > dataLen) {
      fail(`truncated: tensor '${name}' ends at ${end} but the data has ${dataLen} bytes`);
    }
    const raw = bytes.slice(dataStart + begin, dataStart + end);
    const dv = new DataView(raw.buffer);
    let data: Float32Array | Float64Array;
    switch (e.dtype) {
      case "F32":
        data = new Float32Array(count);
        for (let i = 0; i < count; i++) data[i] = dv.getFloat32(4 * i, true);
        break;
      case "F16":
        data = new Float32Array(count);
        for (let i = 0; i < count; i++) data[i] = dv.getFloat16(2 * i, true);
        break;
      case "F64":
        data = new Float64Array(count);
        for (let i = 0; i < count; i++) data[i] = dv.getFloat64(8 * i, true);
        break;
      case "I64":
        data = new Float64Array(count);
        for (let i = 0; i < count; i++) data[i] = Number(dv.getBigInt64(8 * i, true));
        break;
      case "I32":
        data = new Float64Array(count);
        for (let i = 0; i < count; i++) data[i] = dv.getInt32(4 * i, true);
        break;
      default:
        return fail(
          `tensor '${name}': dtype ${e.dtype} is not supported (F32, F16, F64, I64, I32 are)`,
        );
    }
    tensors.set(name, { dtype: e.dtype as string, shape, data });
  }
  return { tensors, metadata };
}

/** Reads a safetensors file from disk. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  return parseSafetensors(bytes, path);
}

/** The dtypes written: F32 (default), F16 (rounded to nearest), I64. */
const WRITE_SIZES = { F32: 4, F16: 2, I64: 8 } as const;

/** Serialises named values (tensors must be read first: see `saveSafetensors`). */
export function serializeSafetensors(
  entries: Map<
    string,
    { shape: readonly number[]; data: ArrayLike<number>; dtype?: keyof typeof WRITE_SIZES }
  >,
  metadata: Record<string, string> = {},
): Uint8Array {
  // Keys sorted so the same tensors always give the same bytes.
  const names = [...entries.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const e = entries.get(name)!;
    const size = WRITE_SIZES[e.dtype ?? "F32"];
    const count = e.shape.reduce((a, b) => a * b, 1);
    if (e.data.length !== count) {
      throw new Error(`tensor '${name}': ${e.data.length} values for shape [${e.shape}]`);
    }
    header[name] = {
      dtype: e.dtype ?? "F32",
      shape: [...e.shape],
      data_offsets: [offset, offset + count * size],
    };
    offset += count * size;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((json.length + 8) % 8)) % 8); // align the data to 8 bytes
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.byteLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.byteLength), true);
  out.set(head, 8);
  let pos = 8 + head.byteLength;
  for (const name of names) {
    const e = entries.get(name)!;
    const dtype = e.dtype ?? "F32";
    if (dtype === "F32") {
      for (let i = 0; i < e.data.length; i++, pos += 4) view.setFloat32(pos, e.data[i], true);
    } else if (dtype === "F16") {
      for (let i = 0; i < e.data.length; i++, pos += 2) view.setFloat16(pos, e.data[i], true);
    } else {
      for (let i = 0; i < e.data.length; i++, pos += 8) {
        view.setBigInt64(pos, BigInt(Math.trunc(e.data[i])), true);
      }
    }
  }
  return out;
}

/** Reads tensors back to the host and serialises them (float32). */
export async function tensorsToSafetensors(
  tensors: Map<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<Uint8Array> {
  const entries = new Map<string, { shape: readonly number[]; data: ArrayLike<number> }>();
  for (const [name, t] of tensors) entries.set(name, { shape: t.shape, data: await t.read() });
  return serializeSafetensors(entries, metadata);
}

/** Saves tensors to `path` atomically (temp file + rename). */
export async function saveSafetensors(
  path: string,
  tensors: Map<string, Tensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const bytes = await tensorsToSafetensors(tensors, metadata);
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, path);
}

/** Loads every tensor of a file onto `device` (integer tensors become float values). */
export async function loadSafetensors(
  path: string,
  device: Device = "gpu",
): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string> }> {
  const file = await readSafetensors(path);
  const tensors = new Map<string, Tensor>();
  for (const [name, h] of file.tensors) tensors.set(name, Tensor.fromData(h.data, h.shape, device));
  return { tensors, metadata: file.metadata };
}

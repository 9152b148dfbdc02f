/**
 * Rank 0's state on every rank: initial weights (so ranks start identical
 * even if their initialisation differed), and everything restored from a
 * checkpoint (tensors and JSON-able counters such as the step or RNG state).
 * Plus a check that ranks still agree, for tests and debugging.
 * @module
 */
import { createHash } from "node:crypto";
import { assign, Tensor } from "../../kernels/mod.ts";
import { type Communicator, ranksDisagreeing } from "./communicator.ts";

function layoutOf(tensors: Map<string, Tensor>): string {
  return JSON.stringify([...tensors].map(([name, t]) => [name, t.shape, t.dtype]));
}

/**
 * Copies rank `root`'s values into every rank's tensors, in place (modules
 * and optimisers keep their references). Every rank passes the same names,
 * shapes and dtypes in the same order; a mismatch is an error naming it.
 */
export async function broadcastTensors(
  comm: Communicator,
  tensors: Map<string, Tensor>,
  root = 0,
): Promise<void> {
  if (comm.size === 1) return;
  const differing = await ranksDisagreeing(comm, layoutOf(tensors));
  if (differing.length) {
    throw new Error(
      `broadcastTensors: the tensors (names, shapes, dtypes) of rank(s) ${differing.join(", ")} ` +
        "differ from rank 0's; every rank must build the same networks",
    );
  }
  const total = [...tensors.values()].reduce((a, t) => a + t.size, 0);
  let packed: Uint8Array<ArrayBuffer> | null = null;
  if (comm.rank === root) {
    // Raw 4-byte elements (f32 or i32 bit patterns), concatenated in map order.
    const words = new Uint32Array(total);
    let offset = 0;
    for (const t of tensors.values()) {
      const values = await t.read();
      if (values instanceof Float64Array) {
        throw new Error(`broadcastTensors: ${t} is a CPU tensor; broadcast GPU tensors`);
      }
      words.set(new Uint32Array(values.buffer, values.byteOffset, t.size), offset);
      offset += t.size;
    }
    packed = new Uint8Array(words.buffer);
  }
  const bytes = await comm.broadcast(packed, root);
  if (comm.rank === root) return;
  let offset = 0;
  for (const t of tensors.values()) {
    const view = bytes.buffer.slice(offset * 4, (offset + t.size) * 4);
    const values = t.dtype === "i32" ? new Int32Array(view) : new Float32Array(view);
    const src = Tensor.fromData(values, t.shape, "gpu", t.dtype);
    assign(t, src);
    src.dispose();
    offset += t.size;
  }
}

/** Rank `root`'s JSON value on every rank (step counters, RNG state, config). */
export async function broadcastJson<T>(comm: Communicator, value: T, root = 0): Promise<T> {
  if (comm.size === 1) return value;
  const bytes = comm.rank === root ? new TextEncoder().encode(JSON.stringify(value)) : null;
  return JSON.parse(new TextDecoder().decode(await comm.broadcast(bytes, root))) as T;
}

/** SHA-256 of tensors' raw values in map order (hex). */
export async function tensorsDigest(tensors: Map<string, Tensor>): Promise<string> {
  const hash = createHash("sha256");
  for (const [name, t] of tensors) {
    const values = await t.read();
    hash.update(name).update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  return hash.digest("hex");
}

/**
 * Throws unless every rank's tensors hold the same bits (e.g. parameters after
 * a step: ranks that diverge train different models). Returns the digest.
 */
export async function assertRanksAgree(
  comm: Communicator,
  tensors: Map<string, Tensor>,
  what = "parameters",
): Promise<string> {
  const digest = await tensorsDigest(tensors);
  const differing = await ranksDisagreeing(comm, digest);
  if (differing.length) {
    throw new Error(`${what} of rank(s) ${differing.join(", ")} differ from rank 0's`);
  }
  return digest;
}

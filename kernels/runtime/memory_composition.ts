/**
 * What memory is made of at its peak: with tracking on, the buffers in use at the highest point
 * since tracking began, grouped by the op whose kernel first wrote each (its producer). Buffers
 * already in use when tracking began (parameters, optimiser state, the batch) form one group.
 * For memory planning (`bench/train_bench.ts --plan-memory`); off, each hook is one branch.
 * @module
 */

let tracking = false;
/** Buffers acquired since tracking began and still in use → their bytes. */
const live = new Map<GPUBuffer, number>();
const producer = new WeakMap<GPUBuffer, string>();
/** Bytes in use that were acquired before tracking began, and since. */
let before = 0;
let since = 0;
/** The bytes in use when the last snapshot was taken. */
let snapshotAt = 0;
/** A snapshot costs a walk over the buffers in use: one per this much growth of the peak. */
const SNAPSHOT_STEP = 16 * 2 ** 20;
/** At the peak: bytes per producer, and the buffers no kernel had written yet. */
let atPeak = new Map<string, number>();
let unwrittenAtPeak = new Map<GPUBuffer, number>();

/** The label of bytes held before tracking began. */
export const HELD_BEFORE = "(in use before: parameters, optimiser state, inputs)";
/** The label of bytes no kernel wrote (uploads, copies). */
export const NO_KERNEL = "(written without a kernel: uploads, copies)";

/** Starts tracking from `bytesInUse` bytes in use (or stops it); forgets any earlier peak. */
export function trackMemoryComposition(on: boolean, bytesInUse = 0): void {
  tracking = on;
  live.clear();
  before = bytesInUse;
  since = 0;
  snapshotAt = -Infinity;
  atPeak = new Map();
  unwrittenAtPeak = new Map();
}

function add(map: Map<string, number>, label: string, bytes: number): void {
  map.set(label, (map.get(label) ?? 0) + bytes);
}

/** Buffer pool hook: `buffer` of `bytes` is now in use. */
export function noteAcquired(buffer: GPUBuffer, bytes: number): void {
  if (!tracking) return;
  live.set(buffer, bytes);
  producer.delete(buffer);
  since += bytes;
  if (before + since < snapshotAt + SNAPSHOT_STEP) return;
  snapshotAt = before + since;
  atPeak = new Map([[HELD_BEFORE, before]]);
  unwrittenAtPeak = new Map();
  for (const [b, size] of live) {
    const op = producer.get(b);
    if (op) add(atPeak, op, size);
    else unwrittenAtPeak.set(b, size);
  }
}

/** Buffer pool hook: `buffer` of `bytes` is free again. */
export function noteReleased(buffer: GPUBuffer, bytes: number): void {
  if (!tracking) return;
  if (live.delete(buffer)) since -= bytes;
  else before -= bytes;
}

/** Dispatch hook: kernel `op` binds `buffers`; the first kernel to bind a fresh buffer made it. */
export function noteWritten(op: string, bound: (GPUBuffer | { buffer: GPUBuffer })[]): void {
  if (!tracking) return;
  for (const slice of bound) {
    const b = "buffer" in slice ? slice.buffer : slice;
    if (!live.has(b) || producer.has(b)) continue;
    producer.set(b, op);
    const size = unwrittenAtPeak.get(b);
    if (size !== undefined) {
      unwrittenAtPeak.delete(b);
      add(atPeak, op, size);
    }
  }
}

/**
 * The bytes in use when the last snapshot was taken (within 16 MiB of the peak since tracking
 * began: one is taken per 16 MiB of growth), by producer, largest first.
 */
export function memoryComposition(): { snapshot: number; parts: [string, number][] } {
  const parts = new Map(atPeak);
  for (const size of unwrittenAtPeak.values()) add(parts, NO_KERNEL, size);
  return { snapshot: snapshotAt, parts: [...parts].sort((a, b) => b[1] - a[1]) };
}

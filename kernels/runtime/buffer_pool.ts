/**
 * GPU buffers recycled by size class, so a training step allocates nothing
 * after its first iteration.
 *
 * A buffer released while the current batch is still being recorded may be
 * handed to later dispatches of the same batch (commands run in order), but not
 * to an upload: `queue.writeBuffer` would overtake the recorded commands that
 * still read it. Such buffers wait in `releasedThisBatch` until the batch is
 * submitted.
 */
import { gpu } from "./device.ts";
import { clearBindGroupCache } from "./commands.ts";

const STORAGE = 0x80; // GPUBufferUsage.STORAGE
const COPY_SRC = 0x04;
const COPY_DST = 0x08;

/** Rounds a byte size up to its size class: 4 classes per power of two (≤ 19% waste). */
export function sizeClass(bytes: number): number {
  const size = Math.max(256, Math.ceil(bytes / 4) * 4);
  const octave = 2 ** Math.floor(Math.log2(size));
  const step = octave / 4;
  return Math.ceil(size / step) * step;
}

const free = new Map<number, GPUBuffer[]>();
const releasedThisBatch: GPUBuffer[] = [];
let bytesInUse = 0;
let bytesPooled = 0;
let peakBytesInUse = 0;

/** A storage buffer of at least `bytes`; `forUpload` excludes buffers the current batch still reads. */
export function acquireBuffer(bytes: number, forUpload = false): GPUBuffer {
  const size = sizeClass(bytes);
  const list = free.get(size);
  let buffer = list?.pop();
  if (!buffer && !forUpload) {
    const i = releasedThisBatch.findIndex((b) => b.size === size);
    if (i >= 0) buffer = releasedThisBatch.splice(i, 1)[0];
  }
  if (buffer) {
    bytesPooled -= size;
  } else {
    const { device } = gpu();
    if (size > device.limits.maxBufferSize) {
      throw new Error(
        `buffer of ${size} bytes exceeds this adapter's maxBufferSize (${device.limits.maxBufferSize})`,
      );
    }
    buffer = device.createBuffer({ size, usage: STORAGE | COPY_SRC | COPY_DST });
  }
  bytesInUse += size;
  peakBytesInUse = Math.max(peakBytesInUse, bytesInUse);
  return buffer;
}

/** Returns a buffer to the pool (reusable by later dispatches of this batch at once). */
export function releaseBuffer(buffer: GPUBuffer): void {
  bytesInUse -= buffer.size;
  bytesPooled += buffer.size;
  releasedThisBatch.push(buffer);
}

/** Called when a batch is submitted: its released buffers become free for uploads too. */
export function onBatchSubmitted(): void {
  for (const b of releasedThisBatch.splice(0)) {
    const list = free.get(b.size);
    if (list) list.push(b);
    else free.set(b.size, [b]);
  }
}

/** Destroys every pooled (unused) buffer. */
export function trimPool(): void {
  clearBindGroupCache();
  onBatchSubmitted();
  for (const list of free.values()) for (const b of list) b.destroy();
  free.clear();
  bytesPooled = 0;
}

/** Memory accounting in bytes: live tensors, pooled free buffers, peak of live. */
export function memoryStats(): { inUse: number; pooled: number; peak: number } {
  return { inUse: bytesInUse, pooled: bytesPooled, peak: peakBytesInUse };
}

/** Resets the peak counter (e.g. per training phase). */
export function resetPeakMemory(): void {
  peakBytesInUse = bytesInUse;
}

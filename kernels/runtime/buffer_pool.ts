/**
 * GPU buffers recycled by size class, so a training step allocates nothing
 * after its first iteration.
 *
 * A buffer released by commands not yet submitted may be handed to later
 * dispatches (commands run in order), but not to an upload: `queue.writeBuffer`
 * would overtake the recorded commands that still read it. Such buffers wait in
 * `releasedUnsubmitted` until the batch that released them is submitted
 * (batches are sealed in order and may be submitted later, commands.ts).
 */
import { gpu } from "./device.ts";
import { noteAcquired, noteReleased } from "./memory_composition.ts";

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

/**
 * Free buffers of one size class, lowest id first. Handing out the lowest-numbered
 * free buffer makes a buffer's identity a function of the *set* of free buffers
 * and the request sequence, not of release order: a training step that repeats
 * the same requests from the same free set gets the same buffers, so the bind
 * groups cached for its dispatches (commands.ts) are hits, not ~15 µs rebuilds.
 */
class FreeList {
  private readonly items: GPUBuffer[] = [];
  get length(): number {
    return this.items.length;
  }
  /** The lowest id, without removing it (undefined when empty). */
  peekId(): number | undefined {
    return this.items.length ? bufferId(this.items[this.items.length - 1]) : undefined;
  }
  pop(): GPUBuffer | undefined {
    return this.items.pop();
  }
  /** Inserts keeping ids in descending order (the lowest at the end, for `pop`). */
  push(b: GPUBuffer): void {
    const id = bufferId(b);
    const items = this.items;
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (bufferId(items[mid]) > id) lo = mid + 1;
      else hi = mid;
    }
    items.splice(lo, 0, b);
  }
  drain(): GPUBuffer[] {
    return this.items.splice(0);
  }
  /** Removes and returns the buffers `pick` selects (order kept). */
  take(pick: (b: GPUBuffer) => boolean): GPUBuffer[] {
    const taken: GPUBuffer[] = [];
    const kept: GPUBuffer[] = [];
    for (const b of this.items) (pick(b) ? taken : kept).push(b);
    this.items.splice(0, this.items.length, ...kept);
    return taken;
  }
}

const ids = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;

/** A stable small number per buffer (creation order): pool order and bind-group cache keys. */
export function bufferId(b: GPUBuffer): number {
  let id = ids.get(b);
  if (id === undefined) ids.set(b, id = nextBufferId++);
  return id;
}

function listOf(map: Map<number, FreeList>, size: number): FreeList {
  let list = map.get(size);
  if (!list) map.set(size, list = new FreeList());
  return list;
}

const free = new Map<number, FreeList>();
const releasedUnsubmitted = new Map<number, FreeList>();
/** The batch being recorded: its number, and the batch each unsubmitted release belongs to. */
let batchNumber = 0;
const releasedIn = new WeakMap<GPUBuffer, number>();
let bytesInUse = 0;
let bytesPooled = 0;
let peakBytesInUse = 0;

/** A storage buffer of at least `bytes`; `forUpload` excludes buffers the current batch still reads. */
export function acquireBuffer(bytes: number, forUpload = false): GPUBuffer {
  const size = sizeClass(bytes);
  const settled = free.get(size);
  const recent = forUpload ? undefined : releasedUnsubmitted.get(size);
  const a = settled?.peekId();
  const b = recent?.peekId();
  let buffer: GPUBuffer | undefined;
  if (a !== undefined && (b === undefined || a < b)) buffer = settled!.pop();
  else if (b !== undefined) buffer = recent!.pop();
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
    bufferId(buffer);
  }
  bytesInUse += size;
  peakBytesInUse = Math.max(peakBytesInUse, bytesInUse);
  noteAcquired(buffer, size);
  return buffer;
}

/** Returns a buffer to the pool (reusable by later dispatches at once). */
export function releaseBuffer(buffer: GPUBuffer): void {
  bytesInUse -= buffer.size;
  bytesPooled += buffer.size;
  noteReleased(buffer, buffer.size);
  releasedIn.set(buffer, batchNumber);
  listOf(releasedUnsubmitted, buffer.size).push(buffer);
}

/** The batch being recorded is sealed: returns its number (for `onBatchSubmitted`). */
export function sealReleases(): number {
  return batchNumber++;
}

/** Batches up to `batch` are submitted: what they released becomes free for uploads too. */
export function onBatchSubmitted(batch: number): void {
  for (const [size, list] of releasedUnsubmitted) {
    if (!list.length) continue;
    const target = listOf(free, size);
    for (const b of list.take((b) => releasedIn.get(b)! <= batch)) target.push(b);
  }
}

/**
 * Destroys every pooled (unused) buffer. Only after `flush()` (nothing may be pending) and
 * after forgetting the bind groups that name them: `trimPool` in commands.ts does both.
 */
export function destroyPooledBuffers(): void {
  onBatchSubmitted(Infinity);
  for (const list of free.values()) for (const b of list.drain()) b.destroy();
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

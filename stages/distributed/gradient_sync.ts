/**
 * Gradient averaging across ranks after a phase's backward: gradients are
 * packed into buckets in parameter order, each bucket is read back from the
 * GPU, all-reduced (mean, rank-ordered sum — see communicator.ts) and
 * uploaded again. While bucket k is on the wire, bucket k+1's read-back is
 * already in flight (MPI runs on a worker thread, the GPU copies and maps on
 * its own), so the read-back and the communication overlap.
 *
 * Before the first bucket the ranks compare a fingerprint of the gradient
 * layout (which gradients exist, their sizes): ranks that ran different
 * phases or networks would otherwise deadlock or mix unrelated numbers.
 * @module
 */
import { concat, noGrad, reshape, scope, Tensor } from "../../kernels/mod.ts";
import { type Communicator, ranksDisagreeing } from "./communicator.ts";

/** Bucket size: large enough to amortise a read-back (~0.2 ms) and an MPI call. */
export const DEFAULT_BUCKET_BYTES = 32 << 20;

/** Options of `GradientSync`. */
export interface GradientSyncOptions {
  /** Gradients are packed into buckets of about this many bytes (one gradient may exceed it). */
  bucketBytes?: number;
  /** Compare the gradient layout across ranks before each sync (one tiny all-gather). */
  checkLayout?: boolean;
}

/** Timings of the last sync (wall-clock ms; phases overlap, so they need not add up). */
export interface GradientSyncStats {
  buckets: number;
  elements: number;
  /** Time spent waiting for read-backs not hidden behind communication. */
  readWaitMs: number;
  /** Time in the all-reduce (communication and the rank-ordered sum). */
  reduceMs: number;
  totalMs: number;
}

/** Which gradients go together: indices into the gradient list, in order. */
export function planBuckets(sizes: readonly number[], bucketBytes: number): number[][] {
  const buckets: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  sizes.forEach((size, i) => {
    if (size <= 0) return;
    if (current.length && bytes + size * 4 > bucketBytes) {
      buckets.push(current);
      current = [];
      bytes = 0;
    }
    current.push(i);
    bytes += size * 4;
  });
  if (current.length) buckets.push(current);
  return buckets;
}

/** Averages gradients over the ranks of a communicator. One per training run. */
export class GradientSync {
  /** Timings of the last `average` call (null before the first, and for a world of one). */
  lastStats: GradientSyncStats | null = null;
  /** Sums over every `average` call since construction or `resetTotals` (benchmarks). */
  totals = { calls: 0, totalMs: 0, reduceMs: 0, readWaitMs: 0 };
  private readonly bucketBytes: number;
  private readonly checkLayout: boolean;

  constructor(readonly comm: Communicator, options: GradientSyncOptions = {}) {
    this.bucketBytes = options.bucketBytes ?? DEFAULT_BUCKET_BYTES;
    this.checkLayout = options.checkLayout ?? true;
  }

  /**
   * The rank-mean of each gradient, as new GPU tensors (owned by the caller's
   * memory scope); null stays null. With one rank, returns `grads` itself
   * without touching the GPU. Every rank must call it with the same layout.
   */
  async average(grads: readonly (Tensor | null)[]): Promise<(Tensor | null)[]> {
    if (this.comm.size === 1) return [...grads];
    const t0 = performance.now();
    for (const g of grads) {
      if (g && (g.device !== "gpu" || g.dtype !== "f32")) {
        throw new Error(`gradient sync: ${g} is not a float32 GPU tensor`);
      }
    }
    const sizes = grads.map((g) => (g ? g.size : -1));
    if (this.checkLayout) await this.assertSameLayout(sizes);
    const buckets = planBuckets(sizes, this.bucketBytes);
    const out: (Tensor | null)[] = grads.map(() => null);
    let readWaitMs = 0;
    let reduceMs = 0;
    let pending = buckets.length ? this.readBucket(buckets[0], grads) : null;
    for (let k = 0; k < buckets.length; k++) {
      const tRead = performance.now();
      const values = await pending!;
      readWaitMs += performance.now() - tRead;
      // Start the next read-back before communicating this bucket.
      pending = k + 1 < buckets.length ? this.readBucket(buckets[k + 1], grads) : null;
      pending?.catch(() => {}); // awaited next iteration; avoid an unhandled rejection meanwhile
      const tReduce = performance.now();
      await this.comm.allReduceMean([values]);
      reduceMs += performance.now() - tReduce;
      let offset = 0;
      for (const i of buckets[k]) {
        const g = grads[i]!;
        out[i] = Tensor.fromData(values.subarray(offset, offset + g.size), g.shape, "gpu");
        offset += g.size;
      }
    }
    this.lastStats = {
      buckets: buckets.length,
      elements: sizes.reduce((a, s) => a + Math.max(s, 0), 0),
      readWaitMs,
      reduceMs,
      totalMs: performance.now() - t0,
    };
    this.totals.calls++;
    this.totals.totalMs += this.lastStats.totalMs;
    this.totals.reduceMs += reduceMs;
    this.totals.readWaitMs += readWaitMs;
    return out;
  }

  /** Zeroes `totals`. */
  resetTotals(): void {
    this.totals = { calls: 0, totalMs: 0, reduceMs: 0, readWaitMs: 0 };
  }

  /** The bucket's gradients packed into one buffer on the GPU, then read back (one map). */
  private async readBucket(
    indices: readonly number[],
    grads: readonly (Tensor | null)[],
  ): Promise<Float32Array<ArrayBuffer>> {
    const members = indices.map((i) => grads[i]!);
    const packed = scope(() => noGrad(() => concat(members.map((g) => reshape(g, [g.size])), 0)));
    try {
      return (await packed.read()) as Float32Array<ArrayBuffer>;
    } finally {
      if (!members.includes(packed)) packed.dispose();
    }
  }

  private async assertSameLayout(sizes: readonly number[]): Promise<void> {
    const differing = await ranksDisagreeing(this.comm, sizes.join(","));
    if (differing.length) {
      throw new Error(
        `gradient sync: rank(s) ${differing.join(", ")} have a different gradient layout ` +
          `from rank 0's (this rank: ${sizes.length} gradients, ` +
          `${sizes.filter((s) => s < 0).length} absent). Every rank must run the same ` +
          "phase on the same network.",
      );
    }
  }
}

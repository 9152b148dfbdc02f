/**
 * Gradient averaging across ranks after a phase's backward: gradients are
 * packed into buckets, each bucket is read back from the GPU, all-reduced
 * (mean, rank-ordered sum — see communicator.ts) and uploaded again.
 *
 * Overlap (DDP-style, `averageWhileComputing`): buckets follow the reverse
 * parameter order — the order in which a backward pass finishes gradients.
 * Autograd reports each gradient as soon as it is final
 * (`withGradReadyListener`); when a bucket's last gradient is final, its
 * gradients are copied into a host-readable staging buffer, the recorded work
 * is submitted and the map requested, all while the rest of the backward is
 * still being recorded. So the GPU runs the backward while the CPU records
 * it, the first buckets are on the host by the time recording ends, and
 * bucket k is on the wire while the GPU still computes bucket k+1's
 * gradients. Uploads are one `writeBuffer` per bucket plus GPU copies into
 * the gradients' own buffers.
 *
 * Before the first exchange the ranks compare a fingerprint of the gradient
 * layout (which gradients exist, their sizes): ranks that ran different
 * phases or networks would otherwise deadlock or mix unrelated numbers. The
 * bucket plan and the exchange order depend only on the parameter sizes, and
 * the reduction is element-wise, so the result's bits depend on neither.
 * @module
 */
import { Tensor } from "../../kernels/mod.ts";
import { gpu } from "../../kernels/runtime/device.ts";
import { copyBuffer, submit, uploadBuffer } from "../../kernels/runtime/commands.ts";
import { releaseBuffer } from "../../kernels/runtime/buffer_pool.ts";
import { throwPendingErrors } from "../../kernels/runtime/kernel_cache.ts";
import { withGradReadyListener } from "../../kernels/tensor/autograd.ts";
import { type Communicator, ranksDisagreeing } from "./communicator.ts";

/** Bucket size: large enough to amortise a read-back (~0.2 ms) and an MPI call. */
export const DEFAULT_BUCKET_BYTES = 32 << 20;

const MAP_READ = 0x01;
const COPY_DST = 0x08;

/** Options of `GradientSync`. */
export interface GradientSyncOptions {
  /** Gradients are packed into buckets of about this many bytes (one gradient may exceed it). */
  bucketBytes?: number;
  /** Compare the gradient layout across ranks before each sync (one tiny all-gather). */
  checkLayout?: boolean;
  /**
   * Overlap read-backs with the backward in `averageWhileComputing` (default: on, unless
   * `MIMIC3D_GRAD_OVERLAP=0`, which measures the old order: whole backward, then sync).
   */
  overlap?: boolean;
}

/** Timings of the last sync (wall-clock ms; phases overlap, so they need not add up). */
export interface GradientSyncStats {
  buckets: number;
  elements: number;
  /** Buckets whose read-back was requested while the backward was still being recorded. */
  earlyBuckets: number;
  /** Recording the backward pass (`averageWhileComputing` only; 0 for `average`). */
  recordMs: number;
  /** The layout check (one small all-gather; also waits for the slowest rank to get there). */
  layoutMs: number;
  /** Time spent waiting for read-backs not hidden behind recording or communication. */
  readWaitMs: number;
  /** Time in the all-reduce (communication and the rank-ordered sum). */
  reduceMs: number;
  /** Uploading the averaged buckets (host → GPU, plus recording the copies). */
  uploadMs: number;
  /** From the end of recording (or the call of `average`) to the averaged gradients. */
  totalMs: number;
}

/** Sums of the stats over calls (benchmarks). */
export interface GradientSyncTotals {
  calls: number;
  totalMs: number;
  reduceMs: number;
  readWaitMs: number;
  uploadMs: number;
  layoutMs: number;
  recordMs: number;
}

function zeroTotals(): GradientSyncTotals {
  return {
    calls: 0,
    totalMs: 0,
    reduceMs: 0,
    readWaitMs: 0,
    uploadMs: 0,
    layoutMs: 0,
    recordMs: 0,
  };
}

/**
 * Which gradients go together: indices into the gradient list, grouped in the order given
 * (`order`, default 0, 1, 2, …), each bucket about `bucketBytes`. Sizes ≤ 0 are skipped.
 */
export function planBuckets(
  sizes: readonly number[],
  bucketBytes: number,
  order: readonly number[] = sizes.map((_, i) => i),
): number[][] {
  const buckets: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  for (const i of order) {
    const size = sizes[i];
    if (size <= 0) continue;
    if (current.length && bytes + size * 4 > bucketBytes) {
      buckets.push(current);
      current = [];
      bytes = 0;
    }
    current.push(i);
    bytes += size * 4;
  }
  if (current.length) buckets.push(current);
  return buckets;
}

/** Indices n-1, …, 1, 0: the order in which a backward pass finishes parameter gradients. */
export function reverseOrder(n: number): number[] {
  return Array.from({ length: n }, (_, i) => n - 1 - i);
}

/** Averages gradients over the ranks of a communicator. One per training run. */
export class GradientSync {
  /** Timings of the last sync (null before the first, and for a world of one). */
  lastStats: GradientSyncStats | null = null;
  /** Sums over every sync since construction or `resetTotals` (benchmarks). */
  totals: GradientSyncTotals = zeroTotals();
  private readonly bucketBytes: number;
  private readonly checkLayout: boolean;
  private readonly overlap: boolean;
  /** Host-readable staging buffers by byte size, reused from step to step (unmapped). */
  private readonly staging = new Map<number, GPUBuffer[]>();

  constructor(readonly comm: Communicator, options: GradientSyncOptions = {}) {
    this.bucketBytes = options.bucketBytes ?? DEFAULT_BUCKET_BYTES;
    this.checkLayout = options.checkLayout ?? true;
    this.overlap = options.overlap ?? envFlag("MIMIC3D_GRAD_OVERLAP", true);
  }

  /**
   * The rank-mean of each gradient, as new GPU tensors (owned by the caller's
   * memory scope); null stays null. With one rank, returns `grads` itself
   * without touching the GPU. Every rank must call it with the same layout.
   */
  async average(grads: readonly (Tensor | null)[]): Promise<(Tensor | null)[]> {
    if (this.comm.size === 1) return [...grads];
    const t0 = performance.now();
    grads.forEach(checkGradient);
    const buckets = planBuckets(
      grads.map((g) => g?.size ?? -1),
      this.bucketBytes,
      reverseOrder(grads.length),
    );
    const reads = buckets.map((b) => this.readBucket(b, grads));
    return await this.exchange(grads, buckets, reads, { t0, recordMs: 0, earlyBuckets: 0 });
  }

  /**
   * `compute(shouldYield)` (a backward pass: `gradAsync(loss, params, shouldYield)`) averaged
   * over ranks, overlapped with it: each bucket of gradients is read back as soon as autograd
   * reports all of its gradients final, and all-reduced as soon as it is on the host — while
   * the rest of the backward is still recorded and run (`compute` yields to the event loop
   * when `shouldYield()` says so, which it does while an exchange is in flight). Uploads of
   * the averaged buckets come after the backward, in plan order, so the recorded commands do
   * not depend on timing. Returns what `average` of the same gradients returns, bit for bit.
   * `params` are the tensors `compute` differentiates against, in the same order (their
   * sizes plan the buckets; ranks compare them before the first exchange).
   */
  async averageWhileComputing(
    params: readonly Tensor[],
    compute: (shouldYield: () => boolean) => Promise<(Tensor | null)[]> | (Tensor | null)[],
  ): Promise<(Tensor | null)[]> {
    if (this.comm.size === 1) return await compute(() => false);
    if (!this.overlap) return await this.average(await compute(() => false));
    const tStart = performance.now();
    const n = params.length;
    const sizes = params.map((p) => p.size);
    const buckets = planBuckets(sizes, this.bucketBytes, reverseOrder(n));
    const bucketOf = new Int32Array(n).fill(-1);
    buckets.forEach((b, k) => b.forEach((i) => (bucketOf[i] = k)));
    const missing = buckets.map((b) => b.length);
    const reported: (Tensor | null | undefined)[] = new Array(n).fill(undefined);
    const reads: (Promise<Float32Array<ArrayBuffer>> | null)[] = buckets.map(() => null);
    const exchanged: Promise<Float32Array<ArrayBuffer>>[] = [];
    const timing = { readWaitMs: 0, reduceMs: 0, layoutMs: 0 };
    // Every MPI call of this sync runs in one chain, in the same order on every rank: the
    // layout check, then the buckets in plan order.
    let chain: Promise<unknown> = this.checkLayout
      ? this.timed(() => this.assertSameLayout(sizes), (ms) => (timing.layoutMs += ms))
      : Promise.resolve();
    let inFlight = 0;
    const exchange = (k: number) => {
      const read = reads[k]!;
      inFlight++;
      const done = chain.then(async () => {
        const tRead = performance.now();
        const values = await read;
        timing.readWaitMs += performance.now() - tRead;
        const tReduce = performance.now();
        await this.comm.allReduceMean([values]);
        timing.reduceMs += performance.now() - tReduce;
        return values;
      }).finally(() => inFlight--);
      done.catch(() => {}); // awaited below; no unhandled rejection meanwhile
      exchanged[k] = done;
      chain = done;
    };
    // Exchanges go in plan order; a bucket that completes early waits for its predecessors.
    const exchangeReady = () => {
      while (exchanged.length < buckets.length && reads[exchanged.length]) {
        exchange(exchanged.length);
      }
    };
    let earlyBuckets = 0;
    let lastYield = 0;
    // Let exchange continuations run every ~2 ms of recording while one is in flight.
    const shouldYield = () => {
      if (inFlight === 0) return false;
      const now = performance.now();
      if (now - lastYield < 2) return false;
      lastYield = now;
      return true;
    };
    let grads: (Tensor | null)[];
    try {
      grads = await withGradReadyListener((i, g) => {
        if (i >= n || reported[i] !== undefined) return;
        if (g) checkGradient(g);
        reported[i] = g;
        const k = bucketOf[i];
        if (k >= 0 && --missing[k] === 0) {
          reads[k] = this.readBucket(buckets[k], reported as (Tensor | null)[]);
          reads[k]!.catch(() => {}); // awaited in the exchange chain
          earlyBuckets++;
          exchangeReady();
        }
      }, () => Promise.resolve(compute(shouldYield)));
    } catch (e) {
      await chain.catch(() => {}); // let MPI calls in flight finish before the error propagates
      throw e;
    }
    if (grads.length !== n) {
      throw new Error(`gradient sync: ${grads.length} gradients for ${n} parameters`);
    }
    grads.forEach((g, i) => {
      if (g) checkGradient(g);
      if (reported[i] !== undefined && reported[i] !== g) {
        throw new Error(`gradient sync: gradient ${i} changed after it was reported final`);
      }
      if (g && g.size !== params[i].size) {
        throw new Error(
          `gradient sync: gradient ${i} has ${g.size} elements, its parameter ${params[i].size}`,
        );
      }
    });
    const t0 = performance.now();
    buckets.forEach((b, k) => (reads[k] ??= this.readBucket(b, grads)));
    exchangeReady();
    await throwPendingErrors();
    const out: (Tensor | null)[] = grads.map(() => null);
    let uploadMs = 0;
    for (let k = 0; k < buckets.length; k++) {
      const values = await exchanged[k];
      const tUpload = performance.now();
      this.upload(buckets[k], grads, values, out);
      uploadMs += performance.now() - tUpload;
    }
    this.record({
      buckets: buckets.length,
      elements: sizes.reduce((a, s) => a + s, 0),
      earlyBuckets,
      recordMs: t0 - tStart,
      layoutMs: timing.layoutMs,
      readWaitMs: timing.readWaitMs,
      reduceMs: timing.reduceMs,
      uploadMs,
      totalMs: performance.now() - t0,
    });
    return out;
  }

  private async timed<T>(fn: () => Promise<T>, add: (ms: number) => void): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      add(performance.now() - t);
    }
  }

  /** Zeroes `totals`. */
  resetTotals(): void {
    this.totals = zeroTotals();
  }

  /** Layout check, then per bucket (in plan order): wait for its read-back, all-reduce, upload. */
  private async exchange(
    grads: readonly (Tensor | null)[],
    buckets: number[][],
    reads: Promise<Float32Array<ArrayBuffer>>[],
    timing: { t0: number; recordMs: number; earlyBuckets: number },
  ): Promise<(Tensor | null)[]> {
    for (const r of reads) r.catch(() => {}); // awaited below, in order
    const sizes = grads.map((g) => (g ? g.size : -1));
    const tLayout = performance.now();
    if (this.checkLayout) await this.assertSameLayout(sizes);
    const layoutMs = performance.now() - tLayout;
    await throwPendingErrors();
    const out: (Tensor | null)[] = grads.map(() => null);
    let readWaitMs = 0;
    let reduceMs = 0;
    let uploadMs = 0;
    for (let k = 0; k < buckets.length; k++) {
      const tRead = performance.now();
      const values = await reads[k];
      readWaitMs += performance.now() - tRead;
      const tReduce = performance.now();
      await this.comm.allReduceMean([values]);
      reduceMs += performance.now() - tReduce;
      const tUpload = performance.now();
      this.upload(buckets[k], grads, values, out);
      uploadMs += performance.now() - tUpload;
    }
    this.record({
      buckets: buckets.length,
      elements: sizes.reduce((a, s) => a + Math.max(s, 0), 0),
      earlyBuckets: timing.earlyBuckets,
      recordMs: timing.recordMs,
      layoutMs,
      readWaitMs,
      reduceMs,
      uploadMs,
      totalMs: performance.now() - timing.t0,
    });
    return out;
  }

  private record(stats: GradientSyncStats): void {
    this.lastStats = stats;
    const t = this.totals;
    t.calls++;
    t.totalMs += stats.totalMs;
    t.reduceMs += stats.reduceMs;
    t.readWaitMs += stats.readWaitMs;
    t.uploadMs += stats.uploadMs;
    t.layoutMs += stats.layoutMs;
    t.recordMs += stats.recordMs;
  }

  /**
   * The bucket's gradients copied (GPU copies, no kernel) into one host-readable staging
   * buffer; submits what is recorded so far and maps the buffer. Resolves to a copy of the
   * packed values (MPI works on it in place), the staging buffer goes back to the pool.
   */
  private readBucket(
    indices: readonly number[],
    grads: readonly (Tensor | null | undefined)[],
  ): Promise<Float32Array<ArrayBuffer>> {
    const members = indices.map((i) => grads[i]).filter((g): g is Tensor => !!g);
    const bytes = members.reduce((a, g) => a + g.size * 4, 0);
    if (bytes === 0) return Promise.resolve(new Float32Array(0));
    const staging = this.takeStaging(bytes);
    let offset = 0;
    for (const g of members) {
      copyBuffer(g.buffer, 0, staging, offset, g.size * 4);
      offset += g.size * 4;
    }
    submit();
    return staging.mapAsync(MAP_READ).then(() => {
      const g = gpu();
      if (g.lost) throw g.lost;
      const values = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
      staging.unmap();
      this.staging.get(bytes)!.push(staging);
      return values;
    }, (e) => {
      staging.destroy();
      throw e;
    });
  }

  private takeStaging(bytes: number): GPUBuffer {
    let list = this.staging.get(bytes);
    if (!list) this.staging.set(bytes, list = []);
    return list.pop() ??
      gpu().device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST });
  }

  /** One upload of the averaged bucket, then a GPU copy into each gradient's new tensor. */
  private upload(
    indices: readonly number[],
    grads: readonly (Tensor | null)[],
    values: Float32Array<ArrayBuffer>,
    out: (Tensor | null)[],
  ): void {
    if (values.length === 0) return;
    const packed = uploadBuffer(values);
    let offset = 0;
    for (const i of indices) {
      const g = grads[i];
      if (!g) continue;
      const t = Tensor.empty(g.shape);
      copyBuffer(packed, offset, t.buffer, 0, g.size * 4);
      offset += g.size * 4;
      out[i] = t;
    }
    // Later dispatches of this batch may reuse it (they run after the copies); uploads may not.
    releaseBuffer(packed);
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

function checkGradient(g: Tensor | null): void {
  if (g && (g.device !== "gpu" || g.dtype !== "f32")) {
    throw new Error(`gradient sync: ${g} is not a float32 GPU tensor`);
  }
}

function envFlag(name: string, fallback: boolean): boolean {
  let value: string | undefined;
  try {
    value = Deno.env.get(name);
  } catch {
    return fallback;
  }
  return value === undefined || value === "" ? fallback : value !== "0";
}

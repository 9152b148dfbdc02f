/**
 * Gradient averaging across ranks after a phase's backward: gradients are
 * packed into buckets, each bucket is read back from the GPU, all-reduced
 * (mean, rank-ordered sum — see mpi_collectives.ts) and uploaded again.
 *
 * Overlap (DDP-style, `averageWhileComputing`): buckets follow the reverse
 * parameter order — roughly the order in which a backward pass finishes
 * gradients — are exchanged in the order they complete, and the last ones are
 * small (the last exchange keeps the GPU waiting). Autograd reports each
 * gradient as soon as it is final (`withGradReadyListener`); when a bucket's
 * last gradient is final, its gradients are copied into a host-readable
 * staging buffer and the recorded work is requested for submission, while the
 * rest of the backward is still being recorded. Deno answers a map by blocking
 * the main thread until the GPU has finished everything submitted, so the
 * buckets are mapped when the CPU has to wait anyway (`submitWhenReady`): at
 * the next phase's first request, which needs these gradients — by then the
 * CPU has recorded the optimiser step and the next phase's forward while the
 * GPU ran this backward (mapping buckets as they come bought little overlap:
 * docs/runtime_notes.md). The exchange runs on the communicator's worker thread
 * (mpi_thread.ts) while the main thread records or waits for the GPU; the
 * recording turns the event loop every ~2 ms while an exchange is in flight,
 * so read-backs and exchange replies are handled.
 *
 * The call returns when the backward is recorded: GPU copies from one upload
 * buffer per bucket into the result tensors are recorded at once, and the
 * averaged bucket is written into that buffer when its exchange ends
 * (`beforeNextSubmit`: requests made later wait for it). So the CPU records the
 * optimiser step and the next phase meanwhile, and the GPU waits only for the
 * exchange's tail.
 *
 * Before the first exchange the ranks compare a fingerprint of the gradient
 * layout (which gradients exist, their sizes): ranks that ran different
 * phases or networks would otherwise deadlock or mix unrelated numbers. The
 * bucket plan and the exchange order depend only on the parameter sizes, and
 * the reduction is element-wise, so the result's bits depend on neither.
 * @module
 */
import {
  acquireBuffer,
  beforeNextSubmit,
  copyBuffer,
  gpu,
  releaseBuffer,
  submitWhenReady,
  Tensor,
  throwPendingErrors,
  timeline,
  timelineOn,
  turnEventLoop,
  uploadBuffer,
  withGradReadyListener,
} from "../../kernels/mod.ts";
import { type Communicator, ranksDisagreeing } from "./communicator.ts";

/** Bucket size: large enough to amortise a read-back (~0.2 ms) and an MPI call. */
export const DEFAULT_BUCKET_BYTES = 32 << 20;
/** The last bucket of a backward (exchanged while the GPU waits): 1/16 of a bucket. */
const TAIL_FRACTION = 1 / 16;

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
  /**
   * The layout check (one small all-gather). `average` only: the overlapped sync queues it
   * with its exchanges, so it is inside `reduceMs` there.
   */
  layoutMs: number;
  /**
   * `average`: waiting for read-backs. `averageWhileComputing`: from the end of the backward's
   * recording until the last bucket was on the host (a latency: the caller records meanwhile).
   */
  readWaitMs: number;
  /** Time in the all-reduce (communication and the rank-ordered sum). */
  reduceMs: number;
  /** Writing the averaged buckets to the GPU (host → GPU). */
  uploadMs: number;
  /**
   * From the end of recording (or the call of `average`) to the averaged gradients on the
   * GPU; the overlapped sync spends it while the caller records what follows.
   */
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
 * The last buckets are smaller — `tailBytes`, then doubling up to `bucketBytes` towards the
 * front — because what is exchanged after the backward has ended keeps the GPU waiting.
 */
export function planBuckets(
  sizes: readonly number[],
  bucketBytes: number,
  order: readonly number[] = sizes.map((_, i) => i),
  tailBytes = bucketBytes,
): number[][] {
  const fromEnd: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  let cap = Math.min(tailBytes, bucketBytes);
  for (let j = order.length - 1; j >= 0; j--) {
    const i = order[j];
    const size = sizes[i];
    if (size <= 0) continue;
    if (current.length && bytes + size * 4 > cap) {
      fromEnd.push(current.reverse());
      current = [];
      bytes = 0;
      cap = Math.min(bucketBytes, cap * 2);
    }
    current.push(i);
    bytes += size * 4;
  }
  if (current.length) fromEnd.push(current.reverse());
  return fromEnd.reverse();
}

/** Indices n-1, …, 1, 0: the order in which a backward pass finishes parameter gradients. */
export function reverseOrder(n: number): number[] {
  return Array.from({ length: n }, (_, i) => n - 1 - i);
}

/** Float32 values in memory the communicator's thread works on in place. */
type SharedFloats = Float32Array<ArrayBufferLike>;

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
  /** Exchanges in flight, of this sync or an earlier one still finishing. */
  private inFlight = 0;
  /** Host memory of read-backs by byte size, reused once the values are uploaded. */
  private readonly shared = new Map<number, SharedFloats[]>();
  /** The queue of read-back copies (`copyInTurn`). */
  private copies: Promise<unknown> = Promise.resolve();

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
    const sizes = grads.map((g) => (g ? g.size : -1));
    const buckets = planBuckets(sizes, this.bucketBytes, reverseOrder(grads.length));
    const reads = this.readBuckets(buckets, grads);
    // Maps them (see readBuckets); a failure rejects the reads.
    submitWhenReady(undefined, { runDeferred: true }).catch(() => {});
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
      earlyBuckets: 0,
      recordMs: 0,
      layoutMs,
      readWaitMs,
      reduceMs,
      uploadMs,
      totalMs: performance.now() - t0,
    });
    return out;
  }

  /**
   * `compute(pause)` (a backward pass: `gradAsync(loss, params, pause)`) averaged
   * over ranks, overlapped with it and with what the caller records next. Each bucket of
   * gradients is read back once autograd reports all of its gradients final (see the module
   * doc) and all-reduced as soon as it is on the host, while the rest of the backward is
   * recorded and run (`compute` awaits what `pause()` returns: a turn of the event loop right
   * after a bucket's request, and every ~2 ms while an exchange is in flight). It returns when
   * the backward is recorded: the result tensors are filled by GPU copies recorded now from
   * buffers whose data is written when the exchange ends (`beforeNextSubmit`), so the caller
   * records the optimiser step and the next phase while the last buckets are on the wire;
   * nothing recorded from then on is submitted before they land. Returns what `average` of
   * the same gradients returns, bit for bit.
   *
   * `params` are the tensors `compute` differentiates against, in the same order (their
   * sizes plan the buckets; ranks compare them before the first exchange). `also`: tensors
   * replaced in place by their rank-mean after `compute` (a tracked average such as w_avg).
   */
  async averageWhileComputing(
    params: readonly Tensor[],
    compute: (pause: () => Promise<void> | undefined) =>
      | Promise<(Tensor | null)[]>
      | (Tensor | null)[],
    also: readonly Tensor[] = [],
  ): Promise<(Tensor | null)[]> {
    if (this.comm.size === 1) return await compute(() => undefined);
    also.forEach(checkGradient);
    if (!this.overlap) {
      const grads = await compute(() => undefined);
      const averaged = await this.average([...grads, ...also]);
      also.forEach((t, j) =>
        copyBuffer(averaged[grads.length + j]!.buffer, 0, t.buffer, 0, t.size * 4)
      );
      return averaged.slice(0, grads.length);
    }
    const tStart = performance.now();
    const n = params.length;
    const sizes = [...params, ...also].map((p) => p.size);
    const buckets = [
      ...planBuckets(
        sizes.slice(0, n),
        this.bucketBytes,
        reverseOrder(n),
        this.bucketBytes * TAIL_FRACTION,
      ),
      ...planBuckets(sizes.slice(n), this.bucketBytes).map((b) => b.map((i) => i + n)),
    ];
    const bucketOf = new Int32Array(n).fill(-1);
    buckets.forEach((b, k) => b.forEach((i) => i < n && (bucketOf[i] = k)));
    const missing = buckets.map((b) => b.length);
    // What each bucket member holds: a gradient (once reported final) or an `also` tensor.
    const members: (Tensor | null | undefined)[] = [...new Array(n).fill(undefined), ...also];
    // Each bucket's values on the host, once read back.
    const reads: (Promise<SharedFloats> | null)[] = buckets.map(() => null);
    const exchanged: Promise<SharedFloats>[] = [];
    const timing = { lastArrival: 0, reduceMs: 0, uploadMs: 0, recordEnd: Infinity };
    // The layout check, then the buckets in the order their read-backs are requested: the
    // communicator runs collectives in the order they are called, which is program order here
    // (the backward's traversal is the same on every rank). Their maps run in that order too,
    // so each exchange starts as soon as its bucket is copied (in plan order the first exchange
    // waited for the last read-back: docs/runtime_notes.md).
    const layout = this.checkLayout ? this.assertSameLayout(sizes) : Promise.resolve();
    layout.catch(() => {}); // awaited through every exchange
    let previousDone = tStart;
    const exchange = (k: number) => {
      let arrived = 0;
      const data = Promise.all([layout, reads[k]!]).then(([, values]) => {
        arrived = performance.now();
        timing.lastArrival = Math.max(timing.lastArrival, arrived);
        return values;
      });
      this.inFlight++;
      const done = this.comm.allReduceMean(data.then((v) => [v])).then(async () => {
        const now = performance.now();
        timelineOn && timeline(`exchange ${k}/${buckets.length}: done`);
        timing.reduceMs += now - Math.max(previousDone, arrived);
        previousDone = now;
        return await data;
      }).finally(() => this.inFlight--);
      done.catch(() => {}); // awaited through the deferred writes
      exchanged[k] = done;
    };
    let earlyBuckets = 0;
    let lastYield = 0;
    let yieldNow = false;
    // Yield right after a bucket's read-back was requested (the request runs then), and every
    // ~2 ms of recording while an exchange (of any sync) is in flight (its continuations run).
    const shouldYield = () => {
      if (yieldNow) {
        yieldNow = false;
        return true;
      }
      if (this.inFlight === 0) return false;
      const now = performance.now();
      if (now - lastYield < 2) return false;
      lastYield = now;
      return true;
    };
    let grads: (Tensor | null)[];
    try {
      grads = await withGradReadyListener((i, g) => {
        if (i >= n || members[i] !== undefined) return;
        if (g) checkGradient(g);
        members[i] = g;
        const k = bucketOf[i];
        if (k >= 0 && --missing[k] === 0) {
          [reads[k]] = this.readBuckets([buckets[k]], members);
          yieldNow = true; // so that the request runs at this bucket's boundary
          earlyBuckets++;
          exchange(k); // in the order the backward finishes buckets: the same on every rank
        }
      }, () => Promise.resolve(compute(() => (shouldYield() ? turnEventLoop() : undefined))));
    } catch (e) {
      await Promise.allSettled(exchanged); // let MPI calls in flight finish first
      throw e;
    }
    if (grads.length !== n) {
      throw new Error(`gradient sync: ${grads.length} gradients for ${n} parameters`);
    }
    grads.forEach((g, i) => {
      if (g) checkGradient(g);
      if (members[i] !== undefined && members[i] !== g) {
        throw new Error(`gradient sync: gradient ${i} changed after it was reported final`);
      }
      if (g && g.size !== params[i].size) {
        throw new Error(
          `gradient sync: gradient ${i} has ${g.size} elements, its parameter ${params[i].size}`,
        );
      }
      members[i] = g;
    });
    timing.recordEnd = performance.now();
    timelineOn && timeline(`backward recorded (${earlyBuckets}/${buckets.length} buckets read)`);
    const rest = buckets.flatMap((_, k) => (reads[k] ? [] : [k]));
    this.readBuckets(rest.map((k) => buckets[k]), members).forEach((r, j) => (reads[rest[j]] = r));
    rest.forEach(exchange);
    // This sync's read-backs were requested before its writes are registered below, so they
    // do not wait for them (a request waits only for writes registered before it).
    await throwPendingErrors();
    const out: (Tensor | null)[] = grads.map(() => null);
    const writes = buckets.map((b, k) =>
      this.deferUpload(b, members, n, out, exchanged[k], (ms) => (timing.uploadMs += ms))
    );
    beforeNextSubmit(
      Promise.all(writes).then(() =>
        this.record({
          buckets: buckets.length,
          elements: sizes.reduce((a, s) => a + s, 0),
          earlyBuckets,
          recordMs: timing.recordEnd - tStart,
          layoutMs: 0, // queued with the exchanges: inside reduceMs
          readWaitMs: Math.max(0, timing.lastArrival - timing.recordEnd),
          reduceMs: timing.reduceMs,
          uploadMs: timing.uploadMs,
          totalMs: performance.now() - timing.recordEnd,
        })
      ),
    );
    return out;
  }

  /** Zeroes `totals`. */
  resetTotals(): void {
    this.totals = zeroTotals();
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
   * Each bucket's tensors copied (GPU copies, no kernel) into a host-readable staging buffer,
   * recorded now, then one submit request. The buffers are mapped when the CPU next has to
   * wait for the GPU (`submitWhenReady`'s `whenWaiting`): Deno answers a map by blocking until
   * the GPU has finished everything submitted. Each read resolves to a copy of the packed
   * values in shared memory (the communicator's worker changes it in place); staging buffers
   * and host memory are kept for the next step.
   */
  private readBuckets(
    buckets: readonly (readonly number[])[],
    tensors: readonly (Tensor | null | undefined)[],
  ): Promise<SharedFloats>[] {
    const starts: (() => void)[] = [];
    const fails: ((e: unknown) => void)[] = [];
    const reads = buckets.map((indices): Promise<SharedFloats> => {
      const members = indices.map((i) => tensors[i]).filter((g): g is Tensor => !!g);
      const bytes = members.reduce((a, g) => a + g.size * 4, 0);
      if (bytes === 0) return Promise.resolve(new Float32Array(0));
      const staging = this.takeStaging(bytes);
      let offset = 0;
      for (const g of members) {
        copyBuffer(g.buffer, 0, staging, offset, g.size * 4);
        offset += g.size * 4;
      }
      const values = new Promise<SharedFloats>((resolve, reject) => {
        fails.push(reject);
        starts.push(() => {
          timelineOn && timeline(`read ${bytes} B: map`);
          staging.mapAsync(MAP_READ).then(() =>
            this.copyInTurn(() => {
              timelineOn && timeline(`read ${bytes} B: on the host`);
              const g = gpu();
              if (g.lost) throw g.lost;
              const values = this.takeShared(bytes);
              values.set(new Float32Array(staging.getMappedRange(0, bytes)));
              staging.unmap();
              this.staging.get(bytes)!.push(staging);
              return values;
            })
          ).then(resolve, (e) => {
            staging.destroy();
            reject(e);
          });
        });
      });
      values.catch(() => {}); // awaited by the exchange
      return values;
    });
    const submitted = submitWhenReady(() => starts.forEach((start) => start()));
    submitted.catch((e) => fails.forEach((fail) => fail(e)));
    return reads;
  }

  /**
   * Runs `copy` after the copies queued before it, each in a turn of the event loop of its own:
   * maps resolve together, and a bucket's exchange starts as soon as its values are copied,
   * not after every bucket's copy.
   */
  private copyInTurn<T>(copy: () => T): Promise<T> {
    const done = this.copies.then(copy);
    this.copies = done.then(turnEventLoop, turnEventLoop);
    return done;
  }

  /** Shared memory for `bytes` bytes of values (reused: fresh pages cost faults and zeroing). */
  private takeShared(bytes: number): SharedFloats {
    return this.shared.get(bytes)?.pop() ?? new Float32Array(new SharedArrayBuffer(bytes));
  }

  /** Returns the values' memory for later read-backs. */
  private releaseShared(values: SharedFloats): void {
    const bytes = values.byteLength;
    let list = this.shared.get(bytes);
    if (!list) this.shared.set(bytes, list = []);
    list.push(values);
  }

  private takeStaging(bytes: number): GPUBuffer {
    let list = this.staging.get(bytes);
    if (!list) this.staging.set(bytes, list = []);
    return list.pop() ??
      gpu().device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST });
  }

  /**
   * Records GPU copies from one upload buffer into the bucket's results and returns the write
   * of the averaged values into that buffer, which happens when `averaged` arrives and before
   * the copies are submitted.
   */
  private deferUpload(
    indices: readonly number[],
    members: readonly (Tensor | null | undefined)[],
    n: number,
    out: (Tensor | null)[],
    averaged: Promise<SharedFloats>,
    addMs: (ms: number) => void,
  ): Promise<void> {
    const bytes = indices.reduce((a, i) => a + (members[i]?.size ?? 0) * 4, 0);
    if (bytes === 0) return averaged.then(() => {});
    const packed = acquireBuffer(bytes, true);
    this.copyOut(packed, indices, members, n, out);
    return averaged.then((values) => {
      const t = performance.now();
      // Deno's writeBuffer reads shared memory too (measured); its type says ArrayBuffer only.
      gpu().device.queue.writeBuffer(packed, 0, values as Float32Array<ArrayBuffer>);
      this.releaseShared(values);
      timelineOn && timeline(`write ${bytes} B: done`);
      addMs(performance.now() - t);
    });
  }

  /** One upload of the averaged bucket, then a GPU copy into each gradient's new tensor. */
  private upload(
    indices: readonly number[],
    grads: readonly (Tensor | null)[],
    values: SharedFloats,
    out: (Tensor | null)[],
  ): void {
    if (values.length === 0) return;
    this.copyOut(uploadBuffer(values), indices, grads, grads.length, out);
    this.releaseShared(values);
  }

  /**
   * GPU copies from the packed bucket into its results: a new tensor per gradient (index < n,
   * into `out`), an `also` tensor in place. Then the packed buffer goes back to the pool:
   * later dispatches may reuse it (they run after the copies), uploads may not until submitted.
   */
  private copyOut(
    packed: GPUBuffer,
    indices: readonly number[],
    members: readonly (Tensor | null | undefined)[],
    n: number,
    out: (Tensor | null)[],
  ): void {
    let offset = 0;
    for (const i of indices) {
      const source = members[i];
      if (!source) continue;
      const target = i < n ? (out[i] = Tensor.empty(source.shape)) : source;
      copyBuffer(packed, offset, target.buffer, 0, source.size * 4);
      offset += source.size * 4;
    }
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

/**
 * The communicator the training loop talks to: rank, world size, a
 * deterministic all-reduce (mean) of float32 host buffers, broadcast,
 * all-gather and barrier. `SingleProcess` is the world of one, so a training
 * loop has one code path for 1 and N ranks.
 *
 * Determinism: the all-reduce is a reduce-scatter + all-gather in which each
 * element is summed in rank order, ((g₀ + g₁) + g₂) + …, in float32, then
 * divided by the world size (as the original: sum, then `/= num_gpus`). The
 * result is the same bits on every rank and on every rerun, whatever the
 * bucket sizes or network timing, because MPI only moves data here and never
 * adds (MPI_Allreduce's sum order depends on the algorithm Open MPI picks).
 * Traffic per rank is 2·(N−1)/N of the buffer, like a ring all-reduce.
 * @module
 */
import { createHash } from "node:crypto";
import type { World } from "../../pipeline/world.ts";
import { launchedByMpi, MAX_COUNT, Mpi } from "./mpi_ffi.ts";

/** Float32 host buffers averaged together. */
export type Buffers = readonly Float32Array<ArrayBuffer>[];

/** What data-parallel training needs from the process group (a pipeline `World`, and more). */
export interface Communicator extends World {
  /** This process's rank, 0 … size−1. */
  readonly rank: number;
  /** The number of ranks. */
  readonly size: number;
  /** True on rank 0, the only rank that writes artifacts and logs. */
  readonly isLeader: boolean;
  /**
   * Replaces each buffer, in place and on every rank, by the element-wise
   * mean over ranks: sum in rank order (float32), then ÷ size. All ranks must
   * pass buffers of the same lengths in the same order. The buffers may be a
   * promise (a GPU read-back still in flight): the call fixes this
   * collective's place among the others, the exchange starts when they arrive.
   */
  allReduceMean(buffers: Buffers | Promise<Buffers>): Promise<void>;
  /** Rank `root`'s bytes on every rank (others pass null; lengths need not be known). */
  broadcast(bytes: Uint8Array<ArrayBuffer> | null, root?: number): Promise<Uint8Array<ArrayBuffer>>;
  /** Every rank's bytes, in rank order (all ranks pass the same length). */
  allGather(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>[]>;
  /** Waits until every rank has reached it. */
  barrier(): Promise<void>;
  /** Leaves the group (MPI_Finalize); idempotent. */
  close(): void;
}

/**
 * out ← (((parts[0] + parts[1]) + parts[2]) + …) / parts.length, each
 * operation rounded to float32. The one definition of the reduction (JS
 * computes in float64 and a Float32Array store rounds; for + and ÷ of float32
 * values that double rounding equals float32 arithmetic exactly).
 */
export function meanInRankOrder(
  parts: readonly Float32Array[],
  out: Float32Array<ArrayBuffer> = new Float32Array(parts[0].length),
): Float32Array<ArrayBuffer> {
  const n = out.length;
  out.set(parts[0].subarray(0, n));
  for (let r = 1; r < parts.length; r++) {
    const p = parts[r];
    for (let i = 0; i < n; i++) out[i] += p[i];
  }
  const size = parts.length;
  if (size > 1) { for (let i = 0; i < n; i++) out[i] /= size; }
  return out;
}

/** The world of one process: every collective is the identity. */
export class SingleProcess implements Communicator {
  readonly rank = 0;
  readonly size = 1;
  readonly isLeader = true;

  async allReduceMean(buffers: Buffers | Promise<Buffers>): Promise<void> {
    await buffers;
  }

  broadcast(
    bytes: Uint8Array<ArrayBuffer> | null,
    root = 0,
  ): Promise<Uint8Array<ArrayBuffer>> {
    if (root !== 0 || bytes === null) {
      throw new Error(`broadcast from rank ${root} in a world of one (rank 0 must pass the bytes)`);
    }
    return Promise.resolve(bytes.slice());
  }

  allGather(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>[]> {
    return Promise.resolve([bytes.slice()]);
  }

  barrier(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {}
}

/** Shard j of n elements over `size` ranks: [start, start + count). Near-equal, in rank order. */
function shardBounds(
  n: number,
  size: number,
): { starts: Int32Array<ArrayBuffer>; counts: Int32Array<ArrayBuffer> } {
  const starts = new Int32Array(size);
  const counts = new Int32Array(size);
  for (let j = 0; j < size; j++) {
    starts[j] = Math.floor((j * n) / size);
    counts[j] = Math.floor(((j + 1) * n) / size) - starts[j];
  }
  return { starts, counts };
}

/**
 * The ranks whose `value` differs from rank 0's (empty when all agree), known
 * on every rank, so all ranks can fail together instead of deadlocking.
 */
export async function ranksDisagreeing(comm: Communicator, value: string): Promise<number[]> {
  if (comm.size === 1) return [];
  const digest = new Uint8Array(createHash("sha256").update(value).digest());
  const all = await comm.allGather(digest);
  return all.flatMap((d, r) => (d.every((b, i) => b === all[0][i]) ? [] : [r]));
}

/** Ranks started by mpirun/srun, talking through Open MPI. */
export class MpiCommunicator implements Communicator {
  readonly rank: number;
  readonly size: number;
  readonly isLeader: boolean;
  /** 1/size repeated, for the scaling by MPI_PROD (grown on demand). */
  private reciprocal = new Float32Array(0);
  private scratch = new Float32Array(0);
  /**
   * Collectives run one after another in the order they were called: a collective made
   * of several MPI calls must not interleave with another, and every rank must issue them
   * in the same order (program order; a gradient exchange is called when its read-back is
   * requested, not when the data arrives).
   */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly mpi: Mpi) {
    this.rank = mpi.rank;
    this.size = mpi.size;
    this.isLeader = mpi.rank === 0;
  }

  private inOrder<T>(body: () => Promise<T>): Promise<T> {
    const run = this.tail.then(body);
    this.tail = run.catch(() => {});
    return run;
  }

  allReduceMean(buffers: Buffers | Promise<Buffers>): Promise<void> {
    return this.inOrder(async () => {
      for (const buffer of await buffers) await this.allReduceMeanOne(buffer);
    });
  }

  /** Reduce-scatter (all-to-all of shards, summed here in rank order), then all-gather. */
  private async allReduceMeanOne(buffer: Float32Array<ArrayBuffer>): Promise<void> {
    const n = buffer.length;
    if (n === 0 || this.size === 1) return;
    if (n > MAX_COUNT) throw new Error(`allReduceMean: ${n} elements exceed MPI's int count`);
    const { starts, counts } = shardBounds(n, this.size);
    const mine = counts[this.rank];
    // Every rank's copy of my shard, rank j's at j·mine (reused: fresh 100 MB arrays cost page faults).
    if (this.scratch.length < mine * this.size) this.scratch = new Float32Array(mine * this.size);
    const received = this.scratch.subarray(0, mine * this.size);
    const recvCounts = new Int32Array(this.size).fill(mine);
    const recvDispls = Int32Array.from({ length: this.size }, (_, j) => j * mine);
    await this.mpi.alltoallv(buffer, counts, starts, received, recvCounts, recvDispls, "float");
    // The sum and the scaling run in C on a worker thread (MPI_Reduce_local), with exactly
    // meanInRankOrder's float32 operations: part₀, then + part₁, + part₂, …, then ÷ size.
    const reduced = received.subarray(0, mine);
    for (let j = 1; j < this.size; j++) {
      await this.mpi.reduceLocal(received.subarray(j * mine, (j + 1) * mine), reduced, "sum");
    }
    await this.divideBySize(reduced);
    await this.mpi.allgatherv(reduced, mine, buffer, counts, starts, "float");
  }

  /**
   * x ÷ size. For a power-of-two size, × (1/size) is exact and bit-equal to the
   * division, and runs in C (MPI_PROD against a constant buffer); otherwise a
   * JS loop divides.
   */
  private async divideBySize(x: Float32Array<ArrayBuffer>): Promise<void> {
    const size = this.size;
    if ((size & (size - 1)) === 0) {
      if (this.reciprocal.length < x.length) {
        this.reciprocal = new Float32Array(x.length).fill(1 / size);
      }
      await this.mpi.reduceLocal(this.reciprocal.subarray(0, x.length), x, "prod");
    } else {
      for (let i = 0; i < x.length; i++) x[i] /= size;
    }
  }

  broadcast(
    bytes: Uint8Array<ArrayBuffer> | null,
    root = 0,
  ): Promise<Uint8Array<ArrayBuffer>> {
    const isRoot = this.rank === root;
    if (isRoot && bytes === null) throw new Error(`broadcast: root rank ${root} passed no bytes`);
    return this.inOrder(async () => {
      const length = new Float64Array([isRoot ? bytes!.length : 0]);
      await this.mpi.bcast(new Uint8Array(length.buffer), root);
      const data = isRoot ? bytes!.slice() : new Uint8Array(length[0]);
      await this.mpi.bcast(data, root);
      return data;
    });
  }

  allGather(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>[]> {
    const n = bytes.length;
    return this.inOrder(async () => {
      const all = new Uint8Array(n * this.size);
      const counts = new Int32Array(this.size).fill(n);
      const displs = Int32Array.from({ length: this.size }, (_, j) => j * n);
      await this.mpi.allgatherv(bytes, n, all, counts, displs, "byte");
      return Array.from({ length: this.size }, (_, j) => all.slice(j * n, (j + 1) * n));
    });
  }

  barrier(): Promise<void> {
    return this.inOrder(() => this.mpi.barrier());
  }

  close(): void {
    this.mpi.finalize();
  }
}

/**
 * The communicator for this process: Open MPI when started by mpirun/srun
 * (Open MPI or PMIx environment present), otherwise a world of one. Call
 * once, after GPU pinning and before touching the GPU.
 */
export function openCommunicator(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Communicator {
  return launchedByMpi(env) ? new MpiCommunicator(Mpi.init()) : new SingleProcess();
}

/**
 * The communicator behind a stage's `ctx.world`: the world itself when it is one (a
 * data-parallel run), a world of one for a single process.
 */
export function communicatorOf(world: World): Communicator {
  if ("allReduceMean" in world) return world as Communicator;
  if (world.size === 1) return new SingleProcess();
  throw new Error(`a world of ${world.size} ranks without a communicator (allReduceMean)`);
}

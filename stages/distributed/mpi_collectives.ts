/**
 * The collectives of the communicator, built from MPI calls that only move
 * data: the deterministic all-reduce (mean), broadcast, all-gather and
 * barrier. They run on the communicator's worker thread (mpi_thread.ts).
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
import { MAX_COUNT, type Mpi } from "./mpi_ffi.ts";

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

/** Collectives over MPI_COMM_WORLD; one call at a time (the caller runs them in order). */
export class MpiCollectives {
  /** 1/size repeated, for the scaling by MPI_PROD (grown on demand). */
  private reciprocal = new Float32Array(0);
  private scratch = new Float32Array(0);

  constructor(private readonly mpi: Mpi) {}

  /** Each buffer replaced in place by the element-wise mean over ranks (rank-ordered sum). */
  async allReduceMean(buffers: readonly Float32Array[]): Promise<void> {
    for (const buffer of buffers) await this.allReduceMeanOne(buffer);
  }

  /** Reduce-scatter (all-to-all of shards, summed here in rank order), then all-gather. */
  private async allReduceMeanOne(buffer: Float32Array): Promise<void> {
    const size = this.mpi.size;
    const n = buffer.length;
    if (n === 0 || size === 1) return;
    if (n > MAX_COUNT) throw new Error(`allReduceMean: ${n} elements exceed MPI's int count`);
    const { starts, counts } = shardBounds(n, size);
    const mine = counts[this.mpi.rank];
    // Every rank's copy of my shard, rank j's at j·mine (reused: fresh 100 MB arrays cost page faults).
    if (this.scratch.length < mine * size) this.scratch = new Float32Array(mine * size);
    const received = this.scratch.subarray(0, mine * size);
    const recvCounts = new Int32Array(size).fill(mine);
    const recvDispls = Int32Array.from({ length: size }, (_, j) => j * mine);
    await this.mpi.alltoallv(buffer, counts, starts, received, recvCounts, recvDispls, "float");
    // The sum and the scaling run in C (MPI_Reduce_local), with exactly meanInRankOrder's
    // float32 operations: part₀, then + part₁, + part₂, …, then ÷ size.
    const reduced = received.subarray(0, mine);
    for (let j = 1; j < size; j++) {
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
  private async divideBySize(x: Float32Array): Promise<void> {
    const size = this.mpi.size;
    if ((size & (size - 1)) === 0) {
      if (this.reciprocal.length < x.length) {
        this.reciprocal = new Float32Array(x.length).fill(1 / size);
      }
      await this.mpi.reduceLocal(this.reciprocal.subarray(0, x.length), x, "prod");
    } else {
      for (let i = 0; i < x.length; i++) x[i] /= size;
    }
  }

  /** Rank `root`'s bytes on every rank (others pass null; the root gets its own array back). */
  async broadcast(bytes: Uint8Array | null, root: number): Promise<Uint8Array> {
    const isRoot = this.mpi.rank === root;
    const length = new Float64Array([isRoot ? bytes!.length : 0]);
    await this.mpi.bcast(new Uint8Array(length.buffer), root);
    const data = isRoot ? bytes! : new Uint8Array(length[0]);
    await this.mpi.bcast(data, root);
    return data;
  }

  /** Every rank's bytes, in rank order (all ranks pass the same length). */
  async allGather(bytes: Uint8Array): Promise<Uint8Array<ArrayBuffer>[]> {
    const n = bytes.length;
    const size = this.mpi.size;
    const all = new Uint8Array(n * size);
    const counts = new Int32Array(size).fill(n);
    const displs = Int32Array.from({ length: size }, (_, j) => j * n);
    await this.mpi.allgatherv(bytes, n, all, counts, displs, "byte");
    return Array.from({ length: size }, (_, j) => all.slice(j * n, (j + 1) * n));
  }

  /** Waits until every rank has reached it. */
  barrier(): Promise<void> {
    return this.mpi.barrier();
  }
}

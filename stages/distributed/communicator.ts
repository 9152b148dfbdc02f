/**
 * The communicator the training loop talks to: rank, world size, a
 * deterministic all-reduce (mean) of float32 host buffers, broadcast,
 * all-gather and barrier. `SingleProcess` is the world of one, so a training
 * loop has one code path for 1 and N ranks.
 *
 * Determinism: the all-reduce sums in rank order, in float32, then divides by
 * the world size, so every rank and every rerun gets the same bits
 * (mpi_collectives.ts; `meanInRankOrder` is the definition).
 * @module
 */
import { createHash } from "node:crypto";
import { Worker } from "node:worker_threads";
import type { World } from "../../pipeline/world.ts";
import { launchedByMpi, Mpi } from "./mpi_ffi.ts";
import { floatsToWire, type MpiReply, type MpiRequest } from "./mpi_thread.ts";

/** Float32 host buffers averaged together (in shared memory, they are not copied). */
export type Buffers = readonly Float32Array[];

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

/**
 * Ranks started by mpirun/srun, talking through Open MPI. The collectives run on a worker
 * thread of their own (mpi_thread.ts), in the order they were called here.
 */
export class MpiCommunicator implements Communicator {
  readonly rank: number;
  readonly size: number;
  readonly isLeader: boolean;
  private readonly worker: Worker;
  private readonly waiting = new Map<number, PromiseWithResolvers<MpiReply>>();
  private nextId = 0;
  /** Why the worker can take no more requests (it failed or exited). */
  private failure: Error | null = null;
  /**
   * Where the last collective was handed to the worker. Every rank must issue collectives in
   * the same order (program order; a gradient exchange is called when its read-back is
   * requested, not when the data arrives), so one whose data is still coming holds back the
   * ones called after it.
   */
  private posted: Promise<unknown> = Promise.resolve();

  constructor(private readonly mpi: Mpi) {
    this.rank = mpi.rank;
    this.size = mpi.size;
    this.isLeader = mpi.rank === 0;
    // node:worker_threads rather than a Web Worker: it can be unref'd, so an idle worker does
    // not keep the process alive after the program's end (it is ref'd while a reply is due).
    this.worker = new Worker(new URL("./mpi_thread.ts", import.meta.url));
    this.worker.unref();
    this.worker.on("message", (reply: MpiReply) => {
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) this.worker.unref();
      waiter?.resolve(reply);
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const waiter of this.waiting.values()) waiter.reject(this.failure);
      this.waiting.clear();
      this.worker.unref();
    };
    this.worker.on("error", (e: Error) => fail(new Error(`the MPI worker failed: ${e.message}`)));
    this.worker.on(
      "exit",
      (code: number) => fail(new Error(`the MPI worker exited (code ${code})`)),
    );
  }

  /** Hands a collective to the worker once its arguments are there and earlier ones were. */
  private request(
    make: (id: number) => MpiRequest | Promise<MpiRequest>,
    transfer: ArrayBuffer[] = [],
  ): Promise<MpiReply> {
    let reply!: Promise<MpiReply>;
    const handed = this.posted.then(async () => {
      const request = await make(this.nextId++);
      if (this.failure) throw this.failure;
      const waiter = Promise.withResolvers<MpiReply>();
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(request.id, waiter);
      this.worker.postMessage(request, transfer);
      reply = waiter.promise;
    });
    this.posted = handed.catch(() => {});
    return handed.then(() => reply).then((r) => {
      if (r.error !== undefined) throw new Error(r.error);
      return r;
    });
  }

  async allReduceMean(buffers: Buffers | Promise<Buffers>): Promise<void> {
    // The worker changes shared memory in place; other buffers go through a shared copy.
    const copies: { from: Float32Array; to: Float32Array }[] = [];
    await this.request(async (id) => {
      const shared = (await buffers).map((b) => {
        if (b.buffer instanceof SharedArrayBuffer) return b;
        const to = new Float32Array(new SharedArrayBuffer(b.byteLength));
        to.set(b);
        copies.push({ from: b, to });
        return to;
      }).map(floatsToWire);
      return { id, op: "allReduceMean", buffers: shared };
    });
    copies.forEach(({ from, to }) => from.set(to));
  }

  async broadcast(
    bytes: Uint8Array<ArrayBuffer> | null,
    root = 0,
  ): Promise<Uint8Array<ArrayBuffer>> {
    if (this.rank === root && bytes === null) {
      throw new Error(`broadcast: root rank ${root} passed no bytes`);
    }
    // A copy crosses (transferred), so the caller's bytes stay usable.
    const own = bytes && bytes.slice().buffer;
    const reply = await this.request(
      (id) => ({ id, op: "broadcast", bytes: own, root }),
      own ? [own] : [],
    );
    return new Uint8Array(reply.result as ArrayBuffer);
  }

  async allGather(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>[]> {
    const own = bytes.slice().buffer;
    const reply = await this.request((id) => ({ id, op: "allGather", bytes: own }), [own]);
    return (reply.result as ArrayBuffer[]).map((b) => new Uint8Array(b));
  }

  async barrier(): Promise<void> {
    await this.request((id) => ({ id, op: "barrier" }));
  }

  /** Stops the worker, then MPI_Finalize (call when no collective is in flight). */
  close(): void {
    this.failure ??= new Error("the communicator is closed");
    this.worker.terminate();
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

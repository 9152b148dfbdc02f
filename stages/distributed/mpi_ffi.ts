/**
 * Open MPI through Deno's FFI: the handful of MPI calls data-parallel
 * training needs (init, rank/size, barrier, broadcast, all-to-all,
 * all-gather), on host buffers.
 *
 * Open MPI's predefined handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_BYTE) are the
 * *addresses* of exported globals (`&ompi_mpi_comm_world`). Deno's FFI has no
 * way to take a symbol's address (a `{ type: "pointer" }` static yields the
 * value stored there), so we ask the C library's own `dlopen`/`dlsym`. Loading
 * libmpi through libc with RTLD_GLOBAL first also matters on its own: Open
 * MPI's plugins (`mca_*.so`) resolve libmpi's symbols globally, and Deno's
 * `dlopen` loads with RTLD_LOCAL.
 *
 * Collectives are `nonblocking` FFI calls (they run on a thread of Deno's
 * and return a promise). MPI is initialised with MPI_THREAD_SERIALIZED and
 * every call goes through one queue, so no two MPI calls ever run at once;
 * the communicator makes them all from one worker (mpi_thread.ts).
 * @module
 */

/** The shared library name of Open MPI 4.x/5.x's C bindings. */
export const LIBMPI = "libmpi.so.40";

const RTLD_NOW = 2;
const RTLD_GLOBAL = 0x100;
const MPI_SUCCESS = 0;
const MPI_THREAD_SERIALIZED = 2;
/** MPI `int` counts: one call moves at most this many elements. */
export const MAX_COUNT = 0x7fffffff;

const mpiSymbols = {
  MPI_Initialized: { parameters: ["buffer"], result: "i32" },
  MPI_Finalized: { parameters: ["buffer"], result: "i32" },
  MPI_Init_thread: { parameters: ["pointer", "pointer", "i32", "buffer"], result: "i32" },
  MPI_Finalize: { parameters: [], result: "i32" },
  MPI_Abort: { parameters: ["pointer", "i32"], result: "i32" },
  MPI_Comm_rank: { parameters: ["pointer", "buffer"], result: "i32" },
  MPI_Comm_size: { parameters: ["pointer", "buffer"], result: "i32" },
  MPI_Barrier: { parameters: ["pointer"], result: "i32", nonblocking: true },
  // (buffer, count, datatype, root, comm)
  MPI_Bcast: {
    parameters: ["buffer", "i32", "pointer", "i32", "pointer"],
    result: "i32",
    nonblocking: true,
  },
  // (inbuf, inoutbuf, count, datatype, op): inoutbuf ← inbuf op inoutbuf, element-wise, in C
  MPI_Reduce_local: {
    parameters: ["buffer", "buffer", "i32", "pointer", "pointer"],
    result: "i32",
    nonblocking: true,
  },
  // (sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts, rdispls, recvtype, comm)
  MPI_Alltoallv: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "pointer",
      "pointer",
    ],
    result: "i32",
    nonblocking: true,
  },
  // (sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype, comm)
  MPI_Allgatherv: {
    parameters: ["buffer", "i32", "pointer", "buffer", "buffer", "buffer", "pointer", "pointer"],
    result: "i32",
    nonblocking: true,
  },
} as const;

/** The MPI element types this module moves. */
export type MpiType = "float" | "byte";
/** The MPI reduction operations used (element-wise, on one process). */
export type MpiOp = "sum" | "prod";

type Handles = Record<"commWorld" | "float" | "byte" | "sum" | "prod", Deno.PointerValue>;

/** Why MPI could not be used, with what to do about it. */
export class MpiUnavailableError extends Error {
  constructor(detail: string) {
    super(
      `Open MPI is not usable: ${detail}. Install it (Debian: apt-get install openmpi-bin ` +
        "libopenmpi-dev) and start ranks with mpirun or srun.",
    );
    this.name = "MpiUnavailableError";
  }
}

function cString(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s + "\0");
}

/** Addresses of libmpi's exported globals, found through libc's dlopen/dlsym. */
function predefinedHandles(): Handles {
  let libc:
    | Deno.DynamicLibrary<{
      dlopen: { parameters: ["buffer", "i32"]; result: "pointer" };
      dlsym: { parameters: ["pointer", "buffer"]; result: "pointer" };
    }>
    | null = null;
  // glibc ≥ 2.34 has dlopen in libc itself; older ones in libdl.
  for (const name of ["libc.so.6", "libdl.so.2"]) {
    try {
      libc = Deno.dlopen(name, {
        dlopen: { parameters: ["buffer", "i32"], result: "pointer" },
        dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
      });
      break;
    } catch { /* try the next */ }
  }
  if (!libc) throw new MpiUnavailableError("cannot load libc's dlopen/dlsym");
  try {
    const handle = libc.symbols.dlopen(cString(LIBMPI), RTLD_NOW | RTLD_GLOBAL);
    if (handle === null) throw new MpiUnavailableError(`dlopen("${LIBMPI}") failed`);
    const address = (symbol: string) => {
      const p = libc!.symbols.dlsym(handle, cString(symbol));
      if (p === null) {
        throw new MpiUnavailableError(`${LIBMPI} has no symbol ${symbol} (not Open MPI?)`);
      }
      return p;
    };
    return {
      commWorld: address("ompi_mpi_comm_world"),
      float: address("ompi_mpi_float"),
      byte: address("ompi_mpi_byte"),
      sum: address("ompi_mpi_op_sum"),
      prod: address("ompi_mpi_op_prod"),
    };
  } finally {
    // The library stays loaded: libc's dlopen handle is never closed.
    libc.close();
  }
}

/** One initialised MPI process (MPI_COMM_WORLD). Create with `Mpi.init()`. */
export class Mpi {
  /** This process's rank in MPI_COMM_WORLD. */
  readonly rank: number;
  /** The number of ranks in MPI_COMM_WORLD. */
  readonly size: number;
  private queue: Promise<unknown> = Promise.resolve();
  private finalized = false;

  private constructor(
    private readonly lib: Deno.DynamicLibrary<typeof mpiSymbols>,
    private readonly handles: Handles,
  ) {
    const out = new Int32Array(1);
    this.check("MPI_Comm_rank", lib.symbols.MPI_Comm_rank(handles.commWorld, out));
    this.rank = out[0];
    this.check("MPI_Comm_size", lib.symbols.MPI_Comm_size(handles.commWorld, out));
    this.size = out[0];
  }

  /**
   * Loads Open MPI and calls MPI_Init_thread (once per process). Ranks must
   * have been started by mpirun/srun; a lone process becomes a world of one.
   */
  static init(): Mpi {
    const handles = predefinedHandles();
    let lib: Deno.DynamicLibrary<typeof mpiSymbols>;
    try {
      lib = Deno.dlopen(LIBMPI, mpiSymbols);
    } catch (e) {
      throw new MpiUnavailableError(`cannot load ${LIBMPI} (${(e as Error).message})`);
    }
    const flag = new Int32Array(1);
    lib.symbols.MPI_Initialized(flag);
    if (flag[0]) throw new Error("MPI is already initialised in this process: reuse its Mpi");
    const provided = new Int32Array(1);
    const rc = lib.symbols.MPI_Init_thread(null, null, MPI_THREAD_SERIALIZED, provided);
    if (rc !== MPI_SUCCESS) throw new MpiUnavailableError(`MPI_Init_thread returned ${rc}`);
    if (provided[0] < MPI_THREAD_SERIALIZED) {
      // Our calls run on Deno's worker threads, one at a time: SERIALIZED is the minimum.
      lib.symbols.MPI_Finalize();
      throw new MpiUnavailableError(
        `MPI provides thread level ${provided[0]}, MPI_THREAD_SERIALIZED is needed`,
      );
    }
    const mpi = new Mpi(lib, handles);
    // A rank that exits without MPI_Finalize makes mpirun abort the whole job.
    globalThis.addEventListener("unload", () => mpi.finalize());
    return mpi;
  }

  /**
   * The same MPI process seen from another thread (the communicator's worker, see
   * mpi_thread.ts): MPI must already be initialised by `init()` on the main thread, which also
   * finalises it. Calls from the two threads must never overlap (MPI_THREAD_SERIALIZED).
   */
  static attach(): Mpi {
    const handles = predefinedHandles();
    const lib = Deno.dlopen(LIBMPI, mpiSymbols);
    const flag = new Int32Array(1);
    lib.symbols.MPI_Initialized(flag);
    if (!flag[0]) throw new Error("Mpi.attach: MPI is not initialised in this process");
    return new Mpi(lib, handles);
  }

  private check(call: string, rc: number): void {
    if (rc !== MPI_SUCCESS) throw new Error(`${call} failed with MPI error code ${rc}`);
  }

  private type(t: MpiType): Deno.PointerValue {
    return t === "float" ? this.handles.float : this.handles.byte;
  }

  /** Runs MPI calls strictly one after another (MPI_THREAD_SERIALIZED). */
  private serial<T>(call: string, fn: () => Promise<number>): Promise<void> {
    if (this.finalized) throw new Error(`${call} after MPI_Finalize`);
    const run = this.queue.then(fn).then((rc) => this.check(call, rc));
    this.queue = run.catch(() => {});
    return run;
  }

  /** MPI_Barrier on the world. */
  barrier(): Promise<void> {
    return this.serial("MPI_Barrier", () => this.lib.symbols.MPI_Barrier(this.handles.commWorld));
  }

  /** MPI_Bcast of `buffer` (all of it) from `root`, in chunks below the int count limit. */
  async bcast(buffer: Uint8Array, root: number): Promise<void> {
    const chunk = 1 << 30;
    let offset = 0;
    do {
      const part = buffer.subarray(offset, Math.min(buffer.length, offset + chunk));
      await this.serial("MPI_Bcast", () =>
        this.lib.symbols.MPI_Bcast(
          part,
          part.length,
          this.handles.byte,
          root,
          this.handles.commWorld,
        ));
      offset += chunk;
    } while (offset < buffer.length);
  }

  /** MPI_Alltoallv: counts and displacements in elements of `type`. */
  alltoallv(
    send: ArrayBufferView,
    sendCounts: Int32Array<ArrayBuffer>,
    sendDispls: Int32Array<ArrayBuffer>,
    recv: ArrayBufferView,
    recvCounts: Int32Array<ArrayBuffer>,
    recvDispls: Int32Array<ArrayBuffer>,
    type: MpiType,
  ): Promise<void> {
    const t = this.type(type);
    return this.serial("MPI_Alltoallv", () =>
      this.lib.symbols.MPI_Alltoallv(
        send,
        sendCounts,
        sendDispls,
        t,
        recv,
        recvCounts,
        recvDispls,
        t,
        this.handles.commWorld,
      ));
  }

  /** MPI_Allgatherv: rank j's `sendCount` elements land at `displs[j]` of `recv`. */
  allgatherv(
    send: ArrayBufferView,
    sendCount: number,
    recv: ArrayBufferView,
    recvCounts: Int32Array<ArrayBuffer>,
    displs: Int32Array<ArrayBuffer>,
    type: MpiType,
  ): Promise<void> {
    const t = this.type(type);
    return this.serial("MPI_Allgatherv", () =>
      this.lib.symbols.MPI_Allgatherv(
        send,
        sendCount,
        t,
        recv,
        recvCounts,
        displs,
        t,
        this.handles.commWorld,
      ));
  }

  /**
   * MPI_Reduce_local on float32: inout[i] ← input[i] op inout[i], each
   * operation one IEEE float32 rounding (no reassociation: one op per element).
   */
  reduceLocal(
    input: Float32Array,
    inout: Float32Array,
    op: MpiOp,
  ): Promise<void> {
    if (input.length !== inout.length) throw new Error("reduceLocal: lengths differ");
    return this.serial("MPI_Reduce_local", () =>
      this.lib.symbols.MPI_Reduce_local(
        input,
        inout,
        inout.length,
        this.handles.float,
        this.handles[op],
      ));
  }

  /** Kills every rank of the job (after an unrecoverable error on one). */
  abort(code = 1): never {
    this.lib.symbols.MPI_Abort(this.handles.commWorld, code);
    Deno.exit(code);
  }

  /** MPI_Finalize (idempotent; also runs at process exit). */
  finalize(): void {
    if (this.finalized) return;
    const flag = new Int32Array(1);
    this.lib.symbols.MPI_Finalized(flag);
    this.finalized = true;
    if (!flag[0]) this.lib.symbols.MPI_Finalize();
  }
}

/**
 * True when this process was started as a rank by an MPI launcher (Open
 * MPI's mpirun, or srun with PMIx/PMI2), i.e. MPI_Init will find its peers.
 */
export function launchedByMpi(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): boolean {
  return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"].some((v) => env(v) !== undefined);
}

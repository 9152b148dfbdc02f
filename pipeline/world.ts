/**
 * The world a run executes in: one process, or N cooperating processes
 * (ranks) of a data-parallel job. The pipeline needs only who it is (rank 0
 * leads) and a way for the leader to tell the others what it decided; what
 * the ranks compute together is the stages' business (a stage that trains
 * data-parallel narrows `ctx.world` to its own communicator).
 *
 * Rules the runner keeps: only rank 0 takes locks, decides cached/stale and
 * writes to the store (artifacts, checkpoints, logs, refs); the other ranks
 * follow its decisions and compute.
 * @module
 */

/** A group of processes running the same command. */
export interface World {
  /** This process's rank, 0 … size−1; rank 0 is the leader. */
  readonly rank: number;
  /** The number of ranks. */
  readonly size: number;
  /** Rank `root`'s bytes on every rank (the others pass null). */
  broadcast(bytes: Uint8Array<ArrayBuffer> | null, root?: number): Promise<Uint8Array<ArrayBuffer>>;
  /** Waits until every rank has reached it. */
  barrier(): Promise<void>;
}

/** The world of one process. */
export const SINGLE_WORLD: World = {
  rank: 0,
  size: 1,
  broadcast(bytes) {
    if (bytes === null) throw new Error("broadcast in a world of one: rank 0 must pass the bytes");
    return Promise.resolve(bytes.slice());
  },
  barrier: () => Promise.resolve(),
};

/** The leader's JSON value on every rank (the leader passes it, the others pass anything). */
export async function fromLeader<T>(world: World, value: T): Promise<T> {
  if (world.size === 1) return value;
  const bytes = world.rank === 0 ? new TextEncoder().encode(JSON.stringify(value ?? null)) : null;
  return JSON.parse(new TextDecoder().decode(await world.broadcast(bytes, 0))) as T;
}

/**
 * How a command joins a group of ranks. The pipeline knows no MPI: the application provides
 * this (the project's CLI: `stages/distributed/rank_entry.ts`).
 */
export interface RankEntry {
  /**
   * Called before a run with the requested rank count. Outside a group with `ranks` > 1: starts
   * the ranks, each running `argsWithoutRanks` (this command without the rank option), waits
   * and returns their exit code. Otherwise (one rank, or already a rank): returns this
   * process's world.
   */
  enter(
    ranks: number,
    argsWithoutRanks: readonly string[],
  ): Promise<{ exitCode: number } | { world: World }>;
}

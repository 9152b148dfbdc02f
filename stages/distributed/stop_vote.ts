/**
 * Ctrl-C reaches ranks at different moments, yet all must stop after the same step. The ranks
 * vote after every step, one step late: the vote of step N is started after step N (the
 * collective queues behind that step's gradient exchanges) and read after step N + 1, so the
 * CPU never waits for the GPU to vote.
 * @module
 */
import type { Communicator } from "./communicator.ts";

/** Whether any rank asks to stop. */
async function anyRank(comm: Communicator, flag: boolean): Promise<boolean> {
  const all = await comm.allGather(new Uint8Array([flag ? 1 : 0]));
  return all.some((bytes) => bytes[0] === 1);
}

/** The ranks' stop votes, read one step late; one rank decides at once. */
export class StopVote {
  private pending: Promise<boolean> = Promise.resolve(false);
  constructor(private readonly comm: Communicator) {}

  /** Votes `flag` for this step; returns whether any rank voted to stop the step before. */
  async after(flag: boolean): Promise<boolean> {
    if (this.comm.size === 1) return flag;
    const previous = await this.pending;
    this.pending = anyRank(this.comm, flag);
    this.pending.catch(() => {}); // read after the next step (or by `settle`)
    return previous;
  }

  /** The last vote's collective has finished (before the ranks' next collectives). */
  async settle(): Promise<void> {
    await this.pending;
  }
}

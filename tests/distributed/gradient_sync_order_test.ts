import { assertEquals } from "../helpers/assert.ts";
import * as K from "../../kernels/mod.ts";
import type { Buffers, Communicator } from "../../stages/distributed/communicator.ts";
import { GradientSync } from "../../stages/distributed/gradient_sync.ts";
import { setupGpu } from "../helpers/check.ts";

/**
 * Rank 0 of two identical ranks, in process: the mean of equal buffers is the buffers; it
 * records the size of each all-reduce in call order.
 */
class TwinRanks implements Communicator {
  readonly rank = 0;
  readonly size = 2;
  readonly isLeader = true;
  readonly calls: number[] = [];
  async allReduceMean(buffers: Buffers | Promise<Buffers>): Promise<void> {
    const order = this.calls.push(-1) - 1; // its place is fixed when called
    this.calls[order] = (await buffers).reduce((a, b) => a + b.length, 0);
  }
  broadcast(bytes: Uint8Array<ArrayBuffer> | null): Promise<Uint8Array<ArrayBuffer>> {
    return Promise.resolve(bytes!.slice());
  }
  allGather(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>[]> {
    return Promise.resolve([bytes.slice(), bytes.slice()]);
  }
  barrier(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {}
}

Deno.test("gradient sync: buckets are exchanged in the order the backward completes them", async () => {
  await setupGpu();
  // p0 is used last in the forward, so the backward finishes its gradient first — against the
  // reverse parameter order that plans the buckets (one parameter per bucket here).
  const p0 = K.tensor([1, 2, 3], [3]).keep();
  const p1 = K.tensor([1, 1, 1, 1, 1], [5]).keep();
  p0.requiresGrad = true;
  p1.requiresGrad = true;
  const comm = new TwinRanks();
  const sync = new GradientSync(comm, { bucketBytes: 4, checkLayout: false });
  const grads = await sync.averageWhileComputing([p0, p1], (pause) => {
    const first = K.sum(K.mul(p1, 2)); // p1 first in the forward
    const loss = K.sum(K.mul(p0, first)); // p0 last: final at the first backward rule
    return K.gradAsync(loss, [p0, p1], pause);
  });
  // Twin ranks: the average is the gradient itself (reading it waits for the exchanges).
  assertEquals(Array.from(await grads[0]!.read()), [10, 10, 10]); // Σ 2·p1
  assertEquals(Array.from(await grads[1]!.read()), [12, 12, 12, 12, 12]); // 2 · Σ p0
  assertEquals(comm.calls, [3, 5], "p0's bucket (3 values) first, as completed");
});

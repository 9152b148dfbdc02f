/**
 * One rank of the "training-like" test: a small model with a minibatch-std
 * layer, trained by SGD for a few steps on a global batch split across ranks
 * (interleaved), gradients averaged by GradientSync. Rank 0 starts from its
 * own initial weights, the others from different ones, so the broadcast of
 * initial weights is exercised. Rank 0 prints the final parameters as JSON.
 */
import * as K from "../../../kernels/mod.ts";
import { minibatchStd } from "../../../kernels/nn/minibatch_std.ts";
import { openCommunicator } from "../../../stages/distributed/communicator.ts";
import { GradientSync } from "../../../stages/distributed/gradient_sync.ts";
import { batchShard, shardRows } from "../../../stages/distributed/batch_split.ts";
import { assertRanksAgree, broadcastTensors } from "../../../stages/distributed/state_broadcast.ts";

const GLOBAL_BATCH = 8;
const STEPS = 4;
const LR = 0.05;

const comm = openCommunicator();
await K.initGpu();

function values(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

function initialParams(): Map<string, K.Tensor> {
  return new Map<string, K.Tensor>([
    ["w1", K.Tensor.fromData(values(20 * 16, 1 + comm.rank), [20, 16]).keep()],
    ["b1", K.Tensor.fromData(values(16, 2 + comm.rank), [1, 16]).keep()],
    ["w2", K.Tensor.fromData(values(16, 3 + comm.rank), [16, 1]).keep()],
  ]);
}

// Bucket of 256 bytes: several buckets, one parameter (w1) larger than a bucket.
const sync = new GradientSync(comm, { bucketBytes: 256 });
const shard = batchShard(GLOBAL_BATCH, comm);

/**
 * SGD from rank 0's initial weights. `overlap`: gradients averaged while the backward is
 * recorded (`averageWhileComputing`, as the trainer does), else after it (`average`).
 */
async function train(overlap: boolean): Promise<Map<string, K.Tensor>> {
  const params = initialParams();
  await broadcastTensors(comm, params);
  const list = [...params.values()];
  for (let step = 0; step < STEPS; step++) {
    await K.scopeAsync(async () => {
      // Every rank draws the whole global batch, then keeps its interleaved rows.
      const x = shardRows(
        K.Tensor.fromData(values(GLOBAL_BATCH * 16, 100 + step), [GLOBAL_BATCH, 4, 2, 2]),
        shard,
      );
      const y = shardRows(
        K.Tensor.fromData(values(GLOBAL_BATCH, 200 + step), [GLOBAL_BATCH, 1]),
        shard,
      );
      const [w1, b1, w2] = list;
      for (const p of list) p.requiresGrad = true;
      const features = K.reshape(minibatchStd(x, 4), [shard.localBatch, 20]);
      const hidden = K.tanh(K.add(K.matmul(features, w1), b1));
      const loss = K.mean(K.square(K.sub(K.matmul(hidden, w2), y)));
      const grads = overlap
        ? await sync.averageWhileComputing(list, (y) => K.gradAsync(loss, list, y))
        : await sync.average(K.grad(loss, list));
      K.noGrad(() => list.forEach((p, i) => K.assign(p, K.sub(p, K.mul(grads[i]!, LR)))));
      for (const p of list) p.requiresGrad = false;
    });
  }
  await assertRanksAgree(comm, params);
  return params;
}

async function host(params: Map<string, K.Tensor>): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [name, p] of params) out[name] = Array.from(await p.read());
  return out;
}

const plain = await host(await train(false));
const buckets = sync.lastStats?.buckets ?? 0;
const overlapped = await host(await train(true));
if (comm.isLeader) {
  console.log(JSON.stringify({
    size: comm.size,
    params: plain,
    paramsOverlapped: overlapped,
    buckets,
    overlappedBuckets: sync.lastStats?.buckets ?? 0,
    earlyBuckets: sync.lastStats?.earlyBuckets ?? 0,
  }));
}
comm.close();

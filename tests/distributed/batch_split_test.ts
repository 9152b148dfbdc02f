import * as K from "../../kernels/mod.ts";
import { minibatchStd } from "../../kernels/nn/minibatch_std.ts";
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { randomValues, setupGpu } from "../helpers/check.ts";
import { batchShard, shardItems, shardRows } from "../../stages/distributed/batch_split.ts";

await setupGpu();

Deno.test("batch split: interleaved shards, even split required", async () => {
  const shard = batchShard(8, { rank: 1, size: 4 });
  assertEquals(shard.localBatch, 2);
  assertEquals(shardItems([10, 11, 12, 13, 14, 15, 16, 17], shard), [11, 15]);
  await assertThrows(() => batchShard(6, { rank: 0, size: 4 }), "multiple of 4");
});

Deno.test("batch split keeps the minibatch-std groups of the global batch", async () => {
  const [n, c, h, w] = [8, 4, 2, 2];
  const x = K.Tensor.fromData(randomValues(n * c * h * w, 3), [n, c, h, w]);
  const full = await minibatchStd(x, 4).read();
  for (let rank = 0; rank < 2; rank++) {
    const shard = batchShard(n, { rank, size: 2 });
    const local = await minibatchStd(shardRows(x, shard), 4).read();
    const expected = await shardRows(K.Tensor.fromData(full, [n, c + 1, h, w]), shard).read();
    // Same groups: the std channel is the one the global batch gives these samples.
    assertEquals(Array.from(local), Array.from(expected), `rank ${rank}`);
  }
});

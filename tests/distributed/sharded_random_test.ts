import * as K from "../../kernels/mod.ts";
import { assertEquals } from "../helpers/assert.ts";
import { setupGpu } from "../helpers/check.ts";
import { batchShard } from "../../stages/distributed/batch_split.ts";
import { ShardedRandom } from "../../stages/distributed/sharded_random.ts";

await setupGpu();

/** Global sample i's k rows of a draw: what rank i % size holds as local sample ⌊i / size⌋. */
function rowsBySample(values: ArrayLike<number>, samples: number, k: number, rowSize: number) {
  const perSample = k * rowSize;
  return Array.from(
    { length: samples },
    (_, i) => Array.from(values).slice(i * perSample, (i + 1) * perSample),
  );
}

Deno.test("sharded random: every rank gets its samples' numbers of the 1-rank draw", async () => {
  const globalBatch = 4;
  const size = 2;
  const n = globalBatch / size;
  // Per-sample draws as the networks make them: k rows per sample, sample-major.
  const shapes = [
    { shape: [n, 1], k: 1, rowSize: 1 }, // pose-swap coins
    { shape: [n, 1, 4, 4], k: 1, rowSize: 16 }, // noise maps
    { shape: [3 * n, 1, 4, 4], k: 3, rowSize: 16 }, // the 3-D-aware blocks' noise, 3 planes
    { shape: [n, 8, 6], k: 1, rowSize: 48 }, // importance uniforms
  ];
  for (const kind of ["uniform", "normal"] as const) {
    for (const { shape, k, rowSize } of shapes) {
      const one = new K.Rng(7);
      one.normal([3]).dispose(); // some earlier draw
      const global = await one[kind]([k * globalBatch, ...shape.slice(1)]).read();
      const expected = rowsBySample(global, globalBatch, k, rowSize);
      for (let rank = 0; rank < size; rank++) {
        const random = new ShardedRandom(new K.Rng(7), batchShard(globalBatch, { rank, size }));
        random.normal([3]).dispose();
        const local = await random[kind](shape).read();
        assertEquals(local.length, shape.reduce((a, b) => a * b), `${kind} [${shape}]`);
        const own = rowsBySample(local, n, k, rowSize);
        own.forEach((rows, l) =>
          assertEquals(rows, expected[rank + l * size], `${kind} [${shape}] rank ${rank}`)
        );
      }
    }
  }
  // Patch positions: 2 integers per sample.
  const all = new K.Rng(7).integers(2 * globalBatch, 9);
  for (let rank = 0; rank < size; rank++) {
    const random = new ShardedRandom(new K.Rng(7), batchShard(globalBatch, { rank, size }));
    const own = random.integers(2 * n, 9);
    assertEquals(
      own,
      [0, 1].flatMap((l) => all.slice(2 * (rank + l * size), 2 * (rank + l * size) + 2)),
    );
  }
  // A scalar draw is shared by the ranks (the same number as one rank's).
  const scalar = await new K.Rng(7).uniform([]).read();
  const shared = new ShardedRandom(new K.Rng(7), batchShard(globalBatch, { rank: 1, size }));
  assertEquals(Array.from(await shared.uniform([]).read()), Array.from(scalar));
});

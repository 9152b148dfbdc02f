import { globalBatch, scalingEfficiency } from "../../bench/scaling.ts";
import { assertEquals, assertThrows } from "../helpers/assert.ts";

Deno.test("bench scaling: strong keeps the global batch, weak multiplies the per-GPU batch", async () => {
  assertEquals(globalBatch(2, 2, null), 2); // ffhq512-b2 on 2 GPUs: 1 per GPU
  assertEquals(globalBatch(16, 1, null), 16);
  assertEquals(globalBatch(2, 2, 2), 4); // weak: 2 per GPU → global 4
  assertEquals(globalBatch(8, 4, 3), 12);
  assertEquals(globalBatch(2, 1, 2), 2); // the 1-GPU baseline of a weak run
  await assertThrows(() => globalBatch(3, 2, null), "does not split");
  await assertThrows(() => globalBatch(2, 2, 0.5), "per-GPU batch");
});

Deno.test("bench scaling: efficiency from s/kimg (linear speed-up = 1)", () => {
  assertEquals(scalingEfficiency(100, 50, 2), 1);
  assertEquals(scalingEfficiency(706.7, 706.7, 2), 0.5); // no speed-up on 2 GPUs
  // The 2×H100 ffhq512 b2 numbers: 706.7 vs 956.9 s/kimg → 36.9%.
  assertEquals(Math.round(1000 * scalingEfficiency(706.7, 956.9, 2)), 369);
});

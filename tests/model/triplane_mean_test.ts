import { Rng } from "../../kernels/ops/random.ts";
import { grad } from "../../kernels/ops/grad.ts";
import { mul } from "../../kernels/ops/elementwise.ts";
import { sum } from "../../kernels/ops/reduce.ts";
import { Tensor } from "../../kernels/tensor/tensor.ts";
import { scopeAsync } from "../../kernels/tensor/scope.ts";
import { sampleTriplaneMean } from "../../stages/model/triplane_mean.ts";
import type { PlaneAxes } from "../../stages/model/triplane.ts";
import { assertEquals } from "../helpers/assert.ts";
import { assertGpuMatchesCpu, input, setupGpu } from "../helpers/check.ts";

await setupGpu();

// Points within ±0.7 of a unit box (boxWarp 1 scales by 2): some taps, or all, outside.
const points = (shape: number[], seed: number) =>
  input(shape, seed, { lo: -0.7, hi: 0.7, grad: false });

Deno.test("sampleTriplaneMean: GPU forward and plane gradients match the float64 CPU path", async () => {
  const cases: { axes: PlaneAxes; sets: number[][]; m: number }[] = [
    { axes: "mimic3d", sets: [[2, 3, 6, 10, 10]], m: 50 },
    { axes: "eg3d", sets: [[2, 3, 8, 10, 10], [2, 3, 8, 20, 14]], m: 40 },
    // Many points on few texels: heavy collisions in the scatter.
    { axes: "mimic3d", sets: [[1, 3, 4, 3, 3], [1, 3, 4, 2, 2]], m: 900 },
    // More channels and texels than one 32 × 32 tile of the channel-first read-back, neither a multiple.
    { axes: "eg3d", sets: [[1, 3, 40, 7, 9]], m: 30 },
  ];
  for (const { axes, sets, m } of cases) {
    const n = sets[0][0];
    await assertGpuMatchesCpu(
      `sampleTriplaneMean ${axes}, ${sets.length} plane sets, ${m} points`,
      (pts, ...planes) => sampleTriplaneMean(planes, pts, { planeAxes: axes, boxWarp: 1 }),
      [points([n, m, 3], 1), ...sets.map((s, i) => input(s, 2 + i))],
      { atol: 1e-5, rtol: 1e-5 },
    );
  }
});

Deno.test("sampleTriplaneMean: plane gradients are bit-identical across runs", async () => {
  const run = () =>
    scopeAsync(async () => {
      const rng = new Rng(9);
      const planes = [rng.normal([1, 3, 32, 16, 16]), rng.normal([1, 3, 32, 32, 32])];
      for (const p of planes) p.requiresGrad = true;
      // A ray's samples cluster on a few texels of the planes they cross.
      const pts = mul(rng.normal([1, 20_000, 3]), 0.2);
      const out = sampleTriplaneMean(planes, pts, { planeAxes: "mimic3d", boxWarp: 1 });
      const w = rng.normal(out.shape);
      const g = grad(sum(mul(out, w)), planes);
      return await Promise.all(g.map((t) => t!.read()));
    });
  const [a, b] = [await run(), await run()];
  for (let i = 0; i < 2; i++) {
    assertEquals(
      new Uint32Array(a[i].buffer).every((v, k) => v === new Uint32Array(b[i].buffer)[k]),
      true,
    );
  }
});

Deno.test("sampleTriplaneMean: points with a gradient, and planes of other channels, are refused", () => {
  const planes = [Tensor.fromData(new Array(3 * 4 * 4).fill(0), [1, 3, 1, 4, 4])];
  const pts = Tensor.fromData([0, 0, 0], [1, 1, 3]);
  pts.requiresGrad = true;
  let message = "";
  try {
    sampleTriplaneMean(planes, pts, { planeAxes: "mimic3d", boxWarp: 1 });
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message, "sampleTriplaneMean: the points carry no gradient (ray samples)");
  pts.requiresGrad = false;
  const other = Tensor.fromData(new Array(3 * 2 * 16).fill(0), [1, 3, 2, 4, 4]);
  try {
    sampleTriplaneMean([planes[0], other], pts, { planeAxes: "mimic3d", boxWarp: 1 });
    message = "";
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(message, "tri-planes must be [1, 3, 1, H, W], got [1, 3, 2, 4, 4]");
});

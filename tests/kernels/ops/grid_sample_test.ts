import { gridSample, gridSampleImageGrad } from "../../../kernels/ops/grid_sample.ts";
import { grad } from "../../../kernels/ops/grad.ts";
import { mul } from "../../../kernels/ops/elementwise.ts";
import { sum } from "../../../kernels/ops/reduce.ts";
import { Tensor } from "../../../kernels/tensor/tensor.ts";
import { scopeAsync } from "../../../kernels/tensor/scope.ts";
import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import {
  assertClose,
  assertGpuMatchesCpu,
  gradcheck,
  input,
  randomValues,
  setupGpu,
} from "../../helpers/check.ts";

await setupGpu();

// Grid values beyond ±1 exercise the zero padding (some taps, or all, outside).
const image = (shape: number[], seed: number) => input(shape, seed);
const grid = (shape: number[], seed: number) => input(shape, seed, { lo: -1.2, hi: 1.2 });

Deno.test("gridSample: GPU forward and both gradients match the float64 CPU path", async () => {
  await assertGpuMatchesCpu("gridSample", gridSample, [
    image([2, 3, 5, 7], 1),
    grid([2, 4, 6, 2], 2),
  ], {
    atol: 1e-5,
    rtol: 1e-5,
  });
  // Many points on few texels: heavy collisions in the image gradient.
  await assertGpuMatchesCpu("gridSample dense", gridSample, [
    image([1, 2, 3, 3], 3),
    grid([1, 40, 40, 2], 4),
  ], { atol: 1e-5, rtol: 1e-5 });
});

Deno.test("gridSample: PyTorch's align_corners=False convention on a hand example", async () => {
  // 2×2 image; grid (0, 0) is the image centre = mean of the 4 texels; (−1, −1) is the
  // outer corner of texel (0, 0): a quarter of it; (−0.5, −0.5) is texel (0, 0)'s centre.
  const img = Tensor.fromData([1, 2, 3, 4], [1, 1, 2, 2], "gpu");
  const g = Tensor.fromData([0, 0, -1, -1, -0.5, -0.5, 0.5, -0.5], [1, 1, 4, 2], "gpu");
  assertClose(await gridSample(img, g).read(), [2.5, 0.25, 1, 2], "hand example", { atol: 1e-6 });
});

Deno.test("gridSample: finite-difference gradcheck (CPU float64)", () => {
  gradcheck("gridSample", gridSample, [image([2, 2, 4, 5], 5), grid([2, 3, 3, 2], 6)], {
    atol: 1e-6,
    rtol: 1e-5,
  });
});

Deno.test("gridSample: image gradient is bit-identical across runs", async () => {
  const once = () =>
    scopeAsync(async () => {
      const img = Tensor.fromData(randomValues(2 * 4 * 8 * 8, 7), [2, 4, 8, 8], "gpu");
      img.requiresGrad = true;
      const g = Tensor.fromData(randomValues(2 * 30 * 30 * 2, 8), [2, 30, 30, 2], "gpu");
      const w = Tensor.fromData(randomValues(2 * 4 * 30 * 30, 9), [2, 4, 30, 30], "gpu");
      const [gi] = grad(sum(mul(gridSample(img, g), w)), [img]);
      return new Uint32Array((await gi!.read() as Float32Array).buffer);
    });
  const a = await once();
  const b = await once();
  assertEquals(a.every((v, i) => v === b[i]), true, "two runs differ");
});

Deno.test("gridSample: the image gradient's backward is gridSample (adjoint); ∂²/∂grid throws", async () => {
  await assertGpuMatchesCpu(
    "gridSampleImageGrad",
    (g, gr) => gridSampleImageGrad(g, gr, [2, 3, 4, 4]),
    [input([2, 3, 2, 5], 10), grid([2, 2, 5, 2], 11)].map((s, i) => ({ ...s, grad: i === 0 })),
    { atol: 1e-5, rtol: 1e-5 },
  );
  gradcheck("gridSampleImageGrad", (g, gr) => gridSampleImageGrad(g, gr, [1, 2, 3, 3]), [
    input([1, 2, 2, 3], 12),
    { ...grid([1, 2, 3, 2], 13), grad: false },
  ]);
  const img = Tensor.fromData(randomValues(16, 1), [1, 1, 4, 4], "cpu");
  const g = Tensor.fromData(randomValues(8, 2), [1, 2, 2, 2], "cpu");
  img.requiresGrad = true;
  g.requiresGrad = true;
  const [gg] = grad(sum(gridSample(img, g)), [g], { createGraph: true });
  await assertThrows(() => grad(sum(gg!), [g]), "not implemented");
});

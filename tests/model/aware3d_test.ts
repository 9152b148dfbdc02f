import {
  concat,
  expand,
  grad,
  mean,
  mul,
  reshape,
  scopeAsync,
  slice,
  stack,
  sum,
  Tensor,
  transpose,
} from "../../kernels/mod.ts";
import { aware3d } from "../../stages/model/aware3d.ts";
import { assertThrows } from "../helpers/assert.ts";
import {
  assertClose,
  assertGpuMatchesCpu,
  gradcheck,
  gradgradcheck,
  input,
  randomValues,
  setupGpu,
} from "../helpers/check.ts";

await setupGpu();

/** The original's formulation (transposes, means, concatenations), from general ops. */
function byDefinition(x: Tensor): Tensor {
  const [b3, c, h, w] = x.shape;
  const planes = reshape(x, [b3 / 3, 3, c, h, w]);
  const plane = (i: number) => reshape(slice(planes, [null, [i, i + 1]]), [b3 / 3, c, h, w]);
  const spread = (t: Tensor, axis: 2 | 3) => expand(mean(t, axis, { keepDims: true }), t.shape);
  const xy = plane(0), yz = plane(1), zx = plane(2);
  const zy = transpose(yz, 2, 3);
  const xz = transpose(zx, 2, 3);
  const yx = transpose(xy, 2, 3);
  const forXy = concat([xy, spread(zy, 3), spread(xz, 2)], 1);
  const forYz = concat([spread(yx, 2), yz, spread(xz, 3)], 1);
  const forZx = concat([spread(yx, 3), spread(zy, 2), zx], 1);
  return reshape(stack([forXy, forYz, forZx], 1), [b3, 3 * c, h, w]);
}

const shapes = [[3, 1, 2, 2], [6, 2, 5, 5], [3, 3, 4, 4]];

Deno.test("aware3d equals the original's formulation, forward and gradient, on both devices", async () => {
  for (const shape of shapes) {
    for (const device of ["cpu", "gpu"] as const) {
      await scopeAsync(async () => {
        const values = randomValues(shape.reduce((a, b) => a * b), 3);
        const run = (f: (x: Tensor) => Tensor) => {
          const x = Tensor.fromData(values, shape, device);
          x.requiresGrad = true;
          const y = f(x);
          const w = Tensor.fromData(randomValues(y.size, 4), y.shape, device);
          const [g] = grad(sum(mul(y, w)), [x]);
          return { y, g: g! };
        };
        const ours = run(aware3d);
        const reference = run(byDefinition);
        const tol = { atol: 1e-6, rtol: 1e-6 };
        assertClose(await ours.y.read(), await reference.y.read(), `${device} [${shape}]`, tol);
        assertClose(await ours.g.read(), await reference.g.read(), `${device} [${shape}] ∂x`, tol);
      });
    }
  }
});

Deno.test("aware3d: GPU matches the float64 twin; first and second derivatives match finite differences", async () => {
  await assertGpuMatchesCpu("aware3d", aware3d, [input([6, 2, 3, 3], 1)]);
  gradcheck("aware3d", aware3d, [input([3, 2, 3, 3], 2)]);
  // The gradient feeds a product so that the second derivative is not zero.
  const squared = (x: Tensor) => {
    const y = aware3d(x);
    return mul(y, y);
  };
  gradgradcheck("aware3d squared", squared, [input([3, 1, 3, 3], 5)]);
});

Deno.test("aware3d names what is wrong with its input", async () => {
  await assertThrows(
    () => aware3d(Tensor.fromData(new Float64Array(8), [2, 1, 2, 2], "cpu")),
    "(B·3, C, H, W)",
  );
  await assertThrows(
    () => aware3d(Tensor.fromData(new Float64Array(6), [3, 1, 1, 2], "cpu")),
    "square",
  );
});

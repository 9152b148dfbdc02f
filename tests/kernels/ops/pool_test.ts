import * as K from "../../../kernels/mod.ts";
import {
  assertClose,
  assertGpuMatchesCpu,
  gradcheck,
  gradgradcheck,
  input,
  setupGpu,
} from "../../helpers/check.ts";

await setupGpu();

const cases: [string, (x: K.Tensor) => K.Tensor, number[]][] = [
  [
    "max_pool2d 3×3 stride 2 (Inception stem)",
    (x) => K.maxPool2d(x, { kernelSize: 3, stride: 2 }),
    [2, 3, 9, 8],
  ],
  [
    "max_pool2d 3×3 stride 1 padding 1 (FID E_2)",
    (x) => K.maxPool2d(x, { kernelSize: 3, stride: 1, padding: 1 }),
    [
      2,
      2,
      5,
      6,
    ],
  ],
  ["max_pool2d 2×2 (VGG)", (x) => K.maxPool2d(x, { kernelSize: 2 }), [1, 3, 6, 7]],
  [
    "max_pool2d [2,3] stride [1,2] padding [1,1]",
    (x) => K.maxPool2d(x, { kernelSize: [2, 3], stride: [1, 2], padding: [1, 1] }),
    [1, 2, 5, 7],
  ],
  [
    "avg_pool2d 3×3 s1 p1 count_include_pad=False (FID)",
    (x) => K.avgPool2d(x, { kernelSize: 3, stride: 1, padding: 1, countIncludePad: false }),
    [2, 2, 5, 6],
  ],
  [
    "avg_pool2d 3×3 s1 p1 count_include_pad=True",
    (x) => K.avgPool2d(x, { kernelSize: 3, stride: 1, padding: 1 }),
    [2, 2, 5, 6],
  ],
  [
    "avg_pool2d [3,2] stride 2 padding [1,0]",
    (x) =>
      K.avgPool2d(x, { kernelSize: [3, 2], stride: 2, padding: [1, 0], countIncludePad: false }),
    [1, 3, 7, 9],
  ],
];

for (const [name, fn, shape] of cases) {
  Deno.test(`${name}: GPU matches float64 CPU (forward and backward)`, async () => {
    await assertGpuMatchesCpu(name, fn, [input(shape, 11)], { atol: 1e-6, rtol: 1e-6 });
  });
  Deno.test(`${name}: backward matches finite differences`, () => {
    gradcheck(name, fn, [input(shape, 12)]);
  });
}

Deno.test("avg_pool2d: second-order gradients (adjoint pair)", () => {
  const f = (x: K.Tensor) =>
    K.square(
      K.avgPool2d(K.square(x), { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false }),
    );
  gradgradcheck("avg_pool2d", f, [input([1, 2, 6, 5], 13)]);
});

Deno.test("max_pool2d: second-order gradients (scatter ↔ select)", () => {
  const f = (x: K.Tensor) =>
    K.square(K.maxPool2d(K.square(x), { kernelSize: 3, stride: 2, padding: 1 }));
  gradgradcheck("max_pool2d", f, [input([1, 2, 6, 5], 14)]);
});

Deno.test("max_pool2d: ties send the gradient to the first maximum in scan order (PyTorch)", async () => {
  for (const device of ["gpu", "cpu"] as const) {
    // One 3×3 window of equal values, plus overlapping windows sharing a winner.
    const x = K.Tensor.fromData([1, 1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 3, 3], device);
    x.requiresGrad = true;
    const y = K.maxPool2d(x, { kernelSize: 3, stride: 1 });
    const [g] = K.grad(K.sum(y), [x]);
    assertClose(await g!.read(), [1, 0, 0, 0, 0, 0, 0, 0, 0], `${device} tie gradient`, {
      atol: 0,
    });
    const z = K.Tensor.fromData([0, 5, 0, 0, 1, 0], [1, 1, 2, 3], device);
    z.requiresGrad = true;
    const w = K.maxPool2d(z, { kernelSize: 2, stride: 1 });
    assertClose(await w.read(), [5, 5], `${device} overlapping max`, { atol: 0 });
    const [gz] = K.grad(K.sum(w), [z]);
    assertClose(await gz!.read(), [0, 2, 0, 0, 0, 0], `${device} shared winner sums windows`, {
      atol: 0,
    });
  }
});

Deno.test("avg_pool2d: border divisors follow count_include_pad", async () => {
  for (const device of ["gpu", "cpu"] as const) {
    const x = K.Tensor.fromData(new Array(9).fill(1), [1, 1, 3, 3], device);
    const excl = await K.avgPool2d(x, {
      kernelSize: 3,
      stride: 1,
      padding: 1,
      countIncludePad: false,
    }).read();
    assertClose(excl, new Array(9).fill(1), `${device} exclude pad`, { atol: 1e-7 });
    const incl = await K.avgPool2d(x, { kernelSize: 3, stride: 1, padding: 1 }).read();
    assertClose(incl, [4, 6, 4, 6, 9, 6, 4, 6, 4].map((v) => v / 9), `${device} include pad`, {
      atol: 1e-7,
    });
  }
});

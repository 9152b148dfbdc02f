import * as K from "../../../kernels/mod.ts";
import {
  assertGpuMatchesCpu,
  gradcheck,
  gradgradcheck,
  input,
  setupGpu,
} from "../../helpers/check.ts";

await setupGpu();

const cases: [string, (x: K.Tensor) => K.Tensor, number[]][] = [
  ["sum all", (x) => K.sum(x), [3, 4, 5]],
  ["sum last axis", (x) => K.sum(x, -1), [3, 4, 5]],
  ["sum first axis keepDims", (x) => K.sum(x, 0, { keepDims: true }), [3, 4, 5]],
  ["sum axes 0,2 (bias-gradient layout)", (x) => K.sum(x, [0, 2]), [3, 4, 5]],
  ["sum middle axis", (x) => K.sum(x, 1), [3, 4, 5]],
  ["sum long axis (workgroup tree)", (x) => K.sum(x, 1), [3, 2000]],
  ["sum over N,H,W of NCHW (workgroup tree)", (x) => K.sum(x, [0, 2, 3]), [4, 3, 16, 16]],
  ["mean axes 1,2", (x) => K.mean(x, [1, 2]), [2, 3, 4]],
  ["max last axis", (x) => K.max(x, -1), [3, 4, 5]],
  ["max all (workgroup tree)", (x) => K.max(x), [40, 30]],
  ["reshape", (x) => K.reshape(x, [4, -1]), [2, 2, 6]],
  ["permute", (x) => K.permute(x, [2, 0, 1]), [2, 3, 4]],
  ["transpose", (x) => K.transpose(x, 0, 2), [2, 3, 4]],
  ["expand", (x) => K.expand(x, [3, 2, 4, 5]), [2, 1, 5]],
  ["slice with steps and negative ends", (x) => K.slice(x, [[1, -1], null, [0, 7, 3]]), [4, 3, 7]],
  ["pad", (x) => K.pad(x, [[1, 2], [0, 0], [3, 1]]), [2, 3, 4]],
  ["pad with negative (crop)", (x) => K.pad(x, [[-1, 1], [2, -1]]), [4, 5]],
  ["concat axis 1", (x) => K.concat([x, K.mul(x, 2), K.slice(x, [null, [0, 1]])], 1), [2, 3, 2]],
  ["stack", (x) => K.stack([x, K.square(x)], 1), [3, 2]],
];

for (const [name, fn, shape] of cases) {
  Deno.test(`${name}: GPU matches float64 CPU (forward and backward)`, async () => {
    await assertGpuMatchesCpu(name, fn, [input(shape, 5)], { atol: 1e-5, rtol: 1e-5 });
  });
  Deno.test(`${name}: backward matches finite differences`, () => {
    gradcheck(name, fn, [input(shape, 6)]);
  });
}

// Few outputs over many elements: each output's reduction is split into chunks reduced
// by several workgroups, then a second pass (the GPU path only, so no finite differences).
const chunked: [string, (x: K.Tensor) => K.Tensor, number[]][] = [
  ["sum all, chunked", (x) => K.sum(x), [3, 20000]],
  ["max all, chunked", (x) => K.max(x), [256, 300]],
  ["sum over axes 1,2 of two outputs, chunked", (x) => K.sum(x, [1, 2]), [2, 3, 10000]],
];
for (const [name, fn, shape] of chunked) {
  Deno.test(`${name}: GPU matches float64 CPU (forward and backward)`, async () => {
    await assertGpuMatchesCpu(name, fn, [input(shape, 5)], { atol: 1e-5, rtol: 1e-5 });
  });
}

Deno.test("a chunked reduction gives bit-identical results when rerun", async () => {
  const x = K.tensor(Array.from({ length: 70000 }, (_, i) => Math.sin(i * 0.37)), [70000]);
  const first = await K.sum(x).read();
  const second = await K.sum(x).read();
  if (first[0] !== second[0]) throw new Error(`rerun differs: ${first[0]} vs ${second[0]}`);
});

Deno.test("second-order gradients through movement ops (slice adjoint of adjoint)", () => {
  // h = ‖∂L/∂x‖² where L mixes strided slices, pads and a square so the chain is nonlinear.
  const f = (x: K.Tensor) =>
    K.square(K.pad(K.slice(K.mul(x, x), [[0, 5, 2], null]), [[1, 1], [0, 2]]));
  const g = (x: K.Tensor) => K.mul(K.expand(K.sum(x, 1, { keepDims: true }), [5, 4]), f(x));
  gradgradcheck("movement", g, [input([5, 2], 7)]);
});

import * as K from "../../../kernels/mod.ts";
import { assertEquals } from "../../helpers/assert.ts";
import { assertGpuMatchesCpu, gradgradcheck, input, setupGpu } from "../../helpers/check.ts";

await setupGpu();

Deno.test("autograd: gradients accumulate over shared subexpressions and across backward calls", async () => {
  const x = K.tensor([1, 2, 3]);
  x.requiresGrad = true;
  const y = K.mul(x, x); // used twice below
  const loss = K.sum(K.add(y, K.mul(y, 3)));
  K.backward(loss, [x]);
  assertEquals(Array.from(await x.grad!.read()), [8, 16, 24]); // d(4x²)/dx
  K.backward(K.sum(x), [x]);
  assertEquals(Array.from(await x.grad!.read()), [9, 17, 25]);
});

Deno.test("autograd: noGrad records nothing; unused inputs get null", () => {
  const x = K.tensor([1, 2]);
  x.requiresGrad = true;
  const y = K.noGrad(() => K.mul(x, 2));
  assertEquals(y.requiresGrad, false);
  const z = K.tensor([1, 1]);
  z.requiresGrad = true;
  assertEquals(K.grad(K.sum(K.mul(x, 2)), [x, z])[1], null);
});

Deno.test("autograd: second order (gradient of a gradient norm) matches finite differences", () => {
  // A small nonlinear "network": tanh(x·a + b) summed against softplus weights.
  const f = (x: K.Tensor, a: K.Tensor, b: K.Tensor) =>
    K.mul(K.tanh(K.add(K.mul(x, a), b)), K.softplus(a));
  gradgradcheck("tanh-softplus net", f, [input([3, 4], 1), input([4], 2), input([3, 1], 3)]);
});

Deno.test("autograd: GPU second-order gradient matches the CPU backend", async () => {
  const h = (x: K.Tensor, a: K.Tensor) => {
    const [g] = K.grad(K.sum(K.mul(K.sigmoid(K.mul(x, a)), a)), [x], { createGraph: true });
    return K.mul(g!, g!);
  };
  await assertGpuMatchesCpu("grad-norm", h, [input([5, 3], 4), input([3], 5)], {
    atol: 1e-6,
    rtol: 1e-5,
  });
});

Deno.test("autograd: a deep chain (10k ops) does not overflow the stack", async () => {
  const x = K.tensor([1]);
  x.requiresGrad = true;
  const [g] = K.scope(() => {
    let y = x;
    for (let i = 0; i < 10000; i++) y = K.mul(y, 1);
    return K.grad(K.sum(y), [x]);
  });
  assertEquals(Array.from(await g!.read()), [1]);
});

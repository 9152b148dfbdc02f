/** Reference tests and gradient checks of the generic StyleGAN2 layers used by mapping and discriminators. */
import * as K from "../../../kernels/mod.ts";
import { FullyConnected } from "../../../kernels/nn/fully_connected.ts";
import { biasAct } from "../../../kernels/nn/bias_act.ts";
import { minibatchStd } from "../../../kernels/nn/minibatch_std.ts";
import { Conv2dLayer } from "../../../kernels/nn/conv2d_layer.ts";
import {
  assertClose,
  assertGpuMatchesCpu,
  gradcheck,
  input,
  randomValues,
  setupGpu,
} from "../../helpers/check.ts";
import { assertEquals } from "../../helpers/assert.ts";

await setupGpu();

Deno.test("bias_act: lrelu with gain and clamp equals its definition; GPU = CPU; gradcheck", async () => {
  const fn = (x: K.Tensor, b: K.Tensor) => biasAct(x, b, { act: "lrelu", gain: 1.3, clamp: 0.9 });
  const x = input([2, 3, 4], 1, { lo: -2, hi: 2 });
  const b = input([3], 2);
  await assertGpuMatchesCpu("bias_act", fn, [x, b]);
  gradcheck("bias_act", fn, [x, b]);
  // Definition, element by element.
  const y =
    fn(K.Tensor.fromData(x.values, x.shape, "cpu"), K.Tensor.fromData(b.values, b.shape, "cpu"))
      .cpuData;
  const expected = Array.from(x.values, (v, i) => {
    const z = v + b.values[Math.floor(i / 4) % 3];
    return Math.min(Math.max((z > 0 ? z : 0.2 * z) * 1.3, -0.9), 0.9);
  });
  assertClose(y, expected, "bias_act definition", { atol: 1e-12, rtol: 0 });
});

Deno.test("bias_act: the fused kernels give the op-by-op chain's bits, forward, gradient and second order", async () => {
  // The chain bias_act replaced: add, activation, ·gain, clamp.
  const chain = (x: K.Tensor, b: K.Tensor, act: "lrelu" | "relu" | "linear") => {
    let y = K.add(x, K.reshape(b, [1, 3, 1]));
    if (act === "lrelu") y = K.leakyRelu(y, 0.2);
    if (act === "relu") y = K.relu(y);
    return K.clamp(K.mul(y, 1.3), -0.9, 0.9);
  };
  for (const act of ["lrelu", "relu", "linear"] as const) {
    const x = K.Tensor.fromData(randomValues(2 * 3 * 50, 11, -2, 2), [2, 3, 50]);
    const b = K.Tensor.fromData(randomValues(3, 12), [3]);
    const w = K.Tensor.fromData(randomValues(3 * 50, 13), [3, 50]);
    x.requiresGrad = b.requiresGrad = w.requiresGrad = true;
    const run = (f: (x: K.Tensor, b: K.Tensor) => K.Tensor) => {
      const y = f(K.mul(x, w), b);
      // R1-like: the gradient w.r.t. x with a graph, then the gradient of its square.
      const [gx] = K.grad(K.sum(K.mul(y, y)), [x], { createGraph: true });
      const [gw, gb] = K.grad(K.sum(K.square(gx!)), [w, b]);
      return [y, gx!, gw!, ...(gb ? [gb] : [])];
    };
    const fused = run((x, b) => biasAct(x, b, { act, gain: 1.3, clamp: 0.9 }));
    const reference = run((x, b) => chain(x, b, act));
    assertEquals(fused.length, reference.length, `${act}: which gradients exist`);
    for (
      const [i, name] of ["y", "∂x", "∂w of |∂x|²", "∂b of |∂x|²"].slice(0, fused.length).entries()
    ) {
      const [a, r] = [await fused[i].read(), await reference[i].read()];
      assertEquals(a, r, `${act}: ${name} differs from the chain`);
    }
  }
});

Deno.test("FullyConnected: equalized learning rate (weight·lr/√in, bias·lr); GPU = CPU; gradcheck", async () => {
  const rng = new K.Rng(3);
  const fc = new FullyConnected(5, 4, rng, {
    activation: "lrelu",
    lrMultiplier: 0.01,
    biasInit: 1,
    device: "cpu",
  });
  const w = fc.weight.cpuData;
  const x = input([3, 5], 4);
  const y = fc.forward(K.Tensor.fromData(x.values, x.shape, "cpu")).cpuData;
  // Stored weight = N(0,1)/lr; used weight = stored·lr/√5; bias 1·lr.
  const expected = new Float64Array(12);
  for (let n = 0; n < 3; n++) {
    for (let o = 0; o < 4; o++) {
      let s = 0.01;
      for (let i = 0; i < 5; i++) s += x.values[n * 5 + i] * w[o * 5 + i] * 0.01 / Math.sqrt(5);
      expected[n * 4 + o] = (s > 0 ? s : 0.2 * s) * Math.SQRT2;
    }
  }
  assertClose(y, expected, "FC forward", { atol: 1e-12, rtol: 1e-12 });
  const apply = (xs: K.Tensor, weight: K.Tensor, bias: K.Tensor) =>
    biasAct(K.matmul(xs, K.mul(weight, 0.01 / Math.sqrt(5)), { transB: true }), K.mul(bias, 0.01), {
      act: "lrelu",
      dim: 1,
    });
  await assertGpuMatchesCpu("FC", apply, [x, input([4, 5], 5), input([4], 6)]);
  gradcheck("FC", apply, [x, input([4, 5], 5), input([4], 6)]);
});

Deno.test("minibatch std: groups by n mod (N/G), std with 1e-8, appended channel; GPU = CPU; gradcheck", async () => {
  const fn = (x: K.Tensor) => minibatchStd(x, 2);
  const x = input([4, 3, 2, 2], 7);
  await assertGpuMatchesCpu("mbstd", fn, [x]);
  gradcheck("mbstd", fn, [x]);
  const y = fn(K.Tensor.fromData(x.values, x.shape, "cpu")).cpuData;
  // Sample 0 is grouped with sample 2 (n mod 2): mean over c,h,w of std over {0, 2}.
  let acc = 0;
  for (let j = 0; j < 12; j++) {
    const a = x.values[j], b = x.values[24 + j];
    acc += Math.sqrt(((a - b) / 2) ** 2 + 1e-8);
  }
  assertClose([y[12]], [acc / 12], "mbstd value", { atol: 1e-12, rtol: 0 });
});

Deno.test("Conv2dLayer: 3×3 down-2 with lrelu, gain and clamp; GPU = CPU; gradcheck", async () => {
  const make = (device: K.Device) =>
    new Conv2dLayer(2, 3, 3, new K.Rng(8), {
      activation: "lrelu",
      down: 2,
      convClamp: 0.5,
      device,
    });
  const gpuLayer = make("gpu");
  const cpuLayer = make("cpu");
  const x = input([1, 2, 6, 6], 9);
  const y = await gpuLayer.forward(K.Tensor.fromData(x.values, x.shape), Math.SQRT1_2).read();
  const yc = cpuLayer.forward(K.Tensor.fromData(x.values, x.shape, "cpu"), Math.SQRT1_2).cpuData;
  assertClose(y, yc, "Conv2dLayer forward", { atol: 1e-6, rtol: 1e-5 });
  gradcheck("Conv2dLayer input", (xs) => cpuLayer.forward(xs, Math.SQRT1_2), [x]);
});

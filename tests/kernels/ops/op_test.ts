import {
  defineOp,
  ELEMENT_MAIN,
  grad,
  gt,
  mul,
  paramsDecl,
  sum,
  Tensor,
} from "../../../kernels/mod.ts";
import { assert, assertEquals, assertThrows } from "../../helpers/assert.ts";
import { assertClose, randomValues, setupGpu } from "../../helpers/check.ts";
import { pendingDispatches } from "../../../kernels/runtime/commands.ts";

await setupGpu();

/** relu(x)·w·scale, with w a constant weight and a second output (x > 0) for the backward. */
const reluTimes = defineOp<number>({
  name: "test_relu_times",
  shape: ([x]) => x.shape,
  outputs: 2,
  cpu: ([x, w], [out, positive], scale) => {
    for (let i = 0; i < x.size; i++) {
      out.cpuData[i] = Math.max(x.cpuData[i], 0) * w.cpuData[i] * scale;
      positive.cpuData[i] = Number(x.cpuData[i] > 0);
    }
  },
  gpu: {
    wgsl: `// test_relu_times
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> positive: array<f32>;
${paramsDecl(4, 2)}
${ELEMENT_MAIN}
  out[i] = max(x[i], 0.0) * w[i] * PF(1u);
  positive[i] = select(0.0, 1.0, x[i] > 0.0);
}`,
    params: (words, _, __, scale) => words.f32(scale),
  },
  differentiable: 1,
  saved: ([, w], [, positive]) => [w, positive],
  backward: (g, [, w], [, positive], scale) => [mul(mul(g, mul(w, positive)), scale)],
});

Deno.test("defineOp: the kernel and the CPU twin agree; the backward is recorded for the differentiable inputs and reads the extra output", async () => {
  const results: Float32Array[] = [];
  for (const device of ["gpu", "cpu"] as const) {
    const x = Tensor.fromData(randomValues(300, 1), [3, 100], device);
    const w = Tensor.fromData(randomValues(300, 2), [3, 100], device);
    x.requiresGrad = true;
    w.requiresGrad = true;
    const y = reluTimes([x, w], 3);
    assertEquals(y.gradFn?.name, "test_relu_times");
    assert(y.gradFn?.inputs.length === 1 && y.gradFn.inputs[0] === x, "only x gets a gradient");
    assert(y.gradFn.saved?.length === 2 && y.gradFn.saved[0] === w, "saved: w and the mask");
    const [gx] = grad(sum(y), [x]);
    assertClose(await gx!.read(), await mul(mul(gt(x, 0), w), 3).read(), `${device} ∂x`);
    results.push(Float32Array.from(await y.read()));
  }
  assertClose(results[0], results[1], "GPU vs CPU", { atol: 1e-6 });
});

Deno.test("defineOp: inputs on different devices are refused; no work records no dispatch", async () => {
  const x = Tensor.fromData([1, 2], [2], "gpu");
  const w = Tensor.fromData([1, 2], [2], "cpu");
  await assertThrows(() => reluTimes([x, w], 1), "different devices");
  const before = pendingDispatches();
  const empty = reluTimes([Tensor.empty([0, 4]), Tensor.empty([0, 4])], 1);
  assertEquals(empty.shape, [0, 4]);
  assertEquals(pendingDispatches(), before);
});

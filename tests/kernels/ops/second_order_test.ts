/**
 * The foundation's second-order check (what R1 needs): for f = a small conv +
 * leaky-ReLU + linear net, the gradient of ‖∂f/∂x‖² w.r.t. the weights.
 */
import * as K from "../../../kernels/mod.ts";
import { assertGpuMatchesCpu, gradgradcheck, input, setupGpu } from "../../helpers/check.ts";

await setupGpu();

/** conv 3×3 (2→3 ch, pad 1) → leaky-ReLU(0.2) → flatten → linear (3·4·4 → 2). */
const net = (x: K.Tensor, w: K.Tensor, b: K.Tensor, v: K.Tensor) => {
  const h = K.leakyRelu(K.add(K.conv2d(x, w, { padding: 1 }), K.reshape(b, [1, 3, 1, 1])), 0.2);
  return K.matmul(K.reshape(h, [x.shape[0], -1]), v, { transB: true });
};
const specs =
  () => [input([2, 2, 4, 4], 1), input([3, 2, 3, 3], 2), input([3], 3), input([2, 48], 4)];

Deno.test("second order: ∂‖∂f/∂x‖²/∂(x, w, b, v) of conv + leaky-ReLU + linear matches finite differences", () => {
  gradgradcheck("conv-lrelu-linear", net, specs());
});

Deno.test("second order: the GPU's gradient of ‖∂f/∂x‖² matches the float64 CPU backend", async () => {
  const h = (x: K.Tensor, w: K.Tensor, b: K.Tensor, v: K.Tensor) => {
    const [gx] = K.grad(K.sum(net(x, w, b, v)), [x], { createGraph: true });
    return K.sum(K.square(gx!));
  };
  await assertGpuMatchesCpu("grad-norm of conv net", h, specs(), { atol: 1e-5, rtol: 1e-5 });
});

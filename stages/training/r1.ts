/**
 * R1 regularisation (Mescheder et al. 2018) as StyleGAN2/EG3D compute it:
 * the squared norm of ∂Σlogits/∂(real inputs), per sample, summed over all
 * inputs (EG3D's dual D: the image and the raw image). The graph of the
 * gradient is kept, so the penalty's parameter gradient is second order.
 */
import { add, grad, reshape, square, sum, type Tensor } from "../../kernels/mod.ts";

/** Per-sample penalty [N] and the input gradients it was built from. */
export function r1Penalty(
  logits: Tensor,
  inputs: Tensor[],
): { penalty: Tensor; inputGrads: Tensor[] } {
  const grads = grad(sum(logits), inputs, { createGraph: true });
  let penalty: Tensor | null = null;
  const inputGrads = grads.map((g, i) => {
    if (!g) throw new Error(`R1: the logits do not depend on input ${i}`);
    const perSample = sum(reshape(square(g), [g.shape[0], -1]), 1);
    penalty = penalty ? add(penalty, perSample) : perSample;
    return g;
  });
  return { penalty: penalty!, inputGrads };
}

/** The public autograd entry points: `grad` (functional) and `backward` (accumulating). */
import { computeGrads, computeGradsAsync, noGrad } from "../tensor/autograd.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { add } from "./elementwise.ts";
import { onesLike } from "./creation.ts";

/** Options of `grad`. */
export interface GradOptions {
  /** ∂L/∂output; default ones (so `output` is usually a scalar loss). */
  gradOutput?: Tensor;
  /** Record the gradient computation so it can be differentiated again (R1). */
  createGraph?: boolean;
}

/**
 * Gradients of `output` w.r.t. `inputs`, like `torch.autograd.grad`; null
 * where `output` does not depend on an input.
 */
export function grad(
  output: Tensor,
  inputs: Tensor[],
  options: GradOptions = {},
): (Tensor | null)[] {
  const seed = options.gradOutput ?? noGrad(() => onesLike(output));
  return computeGrads(output, inputs, seed, add, options.createGraph ?? false);
}

/**
 * `grad` (no `createGraph`) that awaits what `pause()` returns between backward rules (nothing:
 * go on); records the same commands. For overlapping host work (a data-parallel exchange) with
 * the recording of a long backward pass.
 */
export function gradAsync(
  output: Tensor,
  inputs: Tensor[],
  pause: () => Promise<void> | undefined,
): Promise<(Tensor | null)[]> {
  const seed = noGrad(() => onesLike(output));
  return computeGradsAsync(output, inputs, seed, add, pause);
}

/**
 * Accumulates ∂loss/∂p into `p.grad` for every parameter given (leaf tensors
 * with requiresGrad). Gradients are kept across memory scopes until the caller
 * disposes them (optimizers do, in `zeroGrad`).
 */
export function backward(loss: Tensor, params: Tensor[]): void {
  const grads = grad(loss, params);
  noGrad(() => {
    params.forEach((p, i) => {
      const g = grads[i];
      if (!g) return;
      const prev = p.grad;
      p.grad = (prev ? add(prev, g) : g).keep();
      prev?.dispose();
    });
  });
}

/** The same values without a gradient path (a view sharing storage), like `tensor.detach()`. */
export function detach(t: Tensor): Tensor {
  return t.viewAs(t.shape);
}

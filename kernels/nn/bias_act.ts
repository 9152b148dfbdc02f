/**
 * StyleGAN2's bias_act: y = clamp(act(x + b) · gain, ±clamp), with the bias
 * broadcast along `dim` (channels). 'lrelu' has slope 0.2 and default gain √2,
 * 'linear' gain 1; callers may scale the gain (resnet blocks use √0.5), and the
 * clamp is given already scaled.
 */
import type { Tensor } from "../tensor/tensor.ts";
import { add, clamp as clampOp, leakyRelu, mul, relu } from "../ops/elementwise.ts";
import { reshape } from "../ops/movement.ts";

/** Activations of bias_act. */
export type Activation = "linear" | "lrelu" | "relu";

/** The default gain of each activation (√2 for lrelu and relu). */
export function defaultGain(act: Activation): number {
  return act === "linear" ? 1 : Math.SQRT2;
}

/** Options of `biasAct`. */
export interface BiasActOptions {
  act?: Activation;
  /** Overall gain (default: the activation's own). */
  gain?: number;
  /** Clamp magnitude (null = none). */
  clamp?: number | null;
  /** Axis the bias runs along (default 1). */
  dim?: number;
}

/** act(x + b)·gain, clamped. */
export function biasAct(x: Tensor, b: Tensor | null, options: BiasActOptions = {}): Tensor {
  const act = options.act ?? "linear";
  const gain = options.gain ?? defaultGain(act);
  const dim = options.dim ?? 1;
  let y = x;
  if (b) {
    const shape = x.shape.map((d, i) => (i === dim ? d : 1));
    y = add(y, reshape(b, shape));
  }
  if (act === "lrelu") y = leakyRelu(y, 0.2);
  else if (act === "relu") y = relu(y);
  if (gain !== 1) y = mul(y, gain);
  if (options.clamp !== undefined && options.clamp !== null && options.clamp >= 0) {
    y = clampOp(y, -options.clamp, options.clamp);
  }
  return y;
}

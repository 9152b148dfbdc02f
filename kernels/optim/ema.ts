/**
 * Exponential moving average of weights (G_ema): target ← source + β·(target − source),
 * i.e. torch's `target.copy_(source.lerp(target, beta))`.
 */
import type { Tensor } from "../tensor/tensor.ts";
import { add, mul, sub } from "../ops/elementwise.ts";
import { assign } from "../ops/assign.ts";
import { noGrad } from "../tensor/autograd.ts";
import { scope } from "../tensor/scope.ts";

/** One EMA step over paired tensors. */
export function emaUpdate(targets: Tensor[], sources: Tensor[], beta: number): void {
  if (targets.length !== sources.length) {
    throw new Error("emaUpdate: tensor lists differ in length");
  }
  scope(() =>
    noGrad(() =>
      targets.forEach((t, i) => assign(t, add(sources[i], mul(sub(t, sources[i]), beta))))
    )
  );
}

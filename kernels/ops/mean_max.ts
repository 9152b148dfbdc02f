/**
 * Mean and max over any set of axes: reductions whose backward rules are element-wise ops
 * (a scale; the share of a tied maximum).
 */
import { record } from "../tensor/autograd.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { div, eq, mul } from "./elementwise.ts";
import { finish, normalizeAxes, type ReduceOptions, reduceRaw, sum } from "./reduce.ts";

/** Mean over `axes` (all when omitted). */
export function mean(x: Tensor, axes?: number | number[], options: ReduceOptions = {}): Tensor {
  const ax = normalizeAxes(axes, x.rank);
  const count = ax.reduce((n, a) => n * x.shape[a], 1);
  return mul(sum(x, ax, options), 1 / count);
}

/** Maximum over `axes`; the gradient is shared evenly among tied maxima. */
export function max(x: Tensor, axes?: number | number[], options: ReduceOptions = {}): Tensor {
  const ax = normalizeAxes(axes, x.rank);
  const values = reduceRaw("max", x, ax);
  const out = record(values, {
    name: "max",
    inputs: [x],
    saved: [x, values],
    backward: (g) => {
      const mask = eq(x, values);
      const count = sum(mask, ax, { keepDims: true });
      return [mul(div(mask, count), g)];
    },
  });
  return finish(out, x, ax, options.keepDims ?? false);
}

/**
 * EG3D's MipRayMarcher2: alpha compositing of S depth-sorted samples per ray
 * over the S − 1 intervals between them (MipNeRF-style midpoints).
 *
 * Surprises kept from the original: densities are averaged over adjacent
 * samples *before* the activation softplus(σ − 1); transmittance is the
 * exclusive product of (1 − α + 1e−10); the depth is clamped to the min/max of
 * the whole depth tensor (all rays of the batch, not per ray); every feature
 * channel, not only RGB, is mapped by ·2 − 1.
 */
import {
  add,
  clamp,
  cumprod,
  div,
  exp,
  gt,
  max,
  mul,
  neg,
  noGrad,
  scope,
  slice,
  softplus,
  sub,
  sum,
  type Tensor,
  where,
} from "../../kernels/mod.ts";

/** Composited values per ray. */
export interface MarchResult {
  /** [N, M, C], mapped to [−1, 1]. */
  rgb: Tensor;
  /** [N, M, 1] expected depth, clamped to the global depth range. */
  depth: Tensor;
  /** [N, M, S − 1, 1] per-interval weights. */
  weights: Tensor;
}

/** Adjacent-pair mean along axis 2 of [N, M, S, ·] → [N, M, S − 1, ·]. */
function midpoints(x: Tensor): Tensor {
  const s = x.shape[2];
  return mul(add(slice(x, [null, null, [0, s - 1]]), slice(x, [null, null, [1, s]])), 0.5);
}

/**
 * Composites `colors` [N, M, S, C], raw `densities` [N, M, S, 1] at sorted
 * `depths` [N, M, S, 1].
 */
export function marchRays(
  colors: Tensor,
  densities: Tensor,
  depths: Tensor,
  { whiteBack = false } = {},
): MarchResult {
  return scope(() => {
    const s = depths.shape[2];
    const deltas = sub(
      slice(depths, [null, null, [1, s]]),
      slice(depths, [null, null, [0, s - 1]]),
    );
    const colorsMid = midpoints(colors);
    const depthsMid = midpoints(depths);
    const sigma = softplus(sub(midpoints(densities), 1));
    const alpha = sub(1, exp(neg(mul(sigma, deltas))));
    const transmittance = cumprod(add(sub(1, alpha), 1e-10), 2, { exclusive: true });
    const weights = mul(alpha, transmittance);
    let rgb = sum(mul(weights, colorsMid), 2);
    const weightTotal = sum(weights, 2);
    // Σw·t/Σw; a ray with Σw = 0 is NaN in the original, then +inf, then clamped to the max depth.
    const hit = gt(weightTotal, 0);
    const ratio = div(sum(mul(weights, depthsMid), 2), where(hit, weightTotal, 1));
    const [lo, hi] = noGrad(() => [neg(max(neg(depths))), max(depths)]);
    const depth = clamp(where(hit, ratio, 3.4e38), lo, hi);
    if (whiteBack) rgb = sub(add(rgb, 1), weightTotal);
    return { rgb: sub(mul(rgb, 2), 1), depth, weights };
  });
}

/**
 * EG3D's ImportanceRenderer: per ray, a stratified pass (D samples on
 * [start, end]), importance sampling of D_imp more depths from the coarse
 * weights, and a final composite of all samples sorted by depth
 * (see ray_marcher.ts). Differentiable w.r.t. the tri-planes and the decoder;
 * the sample depths themselves carry no gradient, as in the original.
 *
 * Random numbers are injected (the fixtures' recorded `rand.*` tensors:
 * stratified jitter [N, M, D, 1], importance uniforms [N·M, D_imp]) or drawn
 * from an `Rng` in that order.
 */
import {
  add,
  argsort,
  concat,
  cumsum,
  div,
  isGradEnabled,
  lt,
  maximum,
  minimum,
  mul,
  noGrad,
  pad,
  permuteAlongAxis,
  type RandomSource,
  reshape,
  scope,
  searchsorted,
  slice,
  sub,
  sum,
  takeAlongAxis,
  Tensor,
  where,
  zeros,
} from "../../kernels/mod.ts";
import type { PlaneAxes } from "./triplane.ts";
import { sampleTriplaneMean } from "./triplane_mean.ts";
import type { DecodedSamples, OSGDecoder } from "./decoder.ts";
import { marchRays } from "./ray_marcher.ts";
import { decodePoints } from "./point_decoder.ts";

/** Rendering options (EG3D's `rendering_kwargs`, camelCased). */
export interface RenderOptions {
  /** Stratified samples per ray (48 for FFHQ). */
  depthResolution: number;
  /** Importance samples per ray (48; 0 = coarse pass only). */
  depthResolutionImportance: number;
  rayStart: number;
  rayEnd: number;
  boxWarp: number;
  planeAxes: PlaneAxes;
  whiteBack?: boolean;
}

/** Where the renderer's random numbers come from. */
export type RenderRandom = RandomSource | { stratified: Tensor; importance: Tensor };

/** Rendered rays and the intermediates the fixtures check. */
export interface RenderResult {
  /** [N, M, C] in [−1, 1]. */
  rgb: Tensor;
  /** [N, M, 1]. */
  depth: Tensor;
  /** [N, M, 1] Σ of the final weights. */
  weightsSum: Tensor;
  depthsCoarse: Tensor;
  depthsFine: Tensor | null;
  coarse: DecodedSamples;
  fine: DecodedSamples | null;
  coarseWeights: Tensor | null;
  allDepths: Tensor;
  finalWeights: Tensor;
}

/** Options check (the original asserts the same). */
export function renderOptionsFromKwargs(
  kwargs: Record<string, unknown>,
  planeAxes: PlaneAxes,
): RenderOptions {
  if (kwargs.disparity_space_sampling) throw new Error("disparity_space_sampling is not supported");
  if ((kwargs.clamp_mode ?? "softplus") !== "softplus") {
    throw new Error("the ray marcher only supports clamp_mode 'softplus'");
  }
  if (kwargs.ray_start === "auto") {
    throw new Error("ray_start 'auto' (ShapeNet bounds) is not supported");
  }
  return {
    depthResolution: kwargs.depth_resolution as number,
    depthResolutionImportance: (kwargs.depth_resolution_importance as number) ?? 0,
    rayStart: kwargs.ray_start as number,
    rayEnd: kwargs.ray_end as number,
    boxWarp: kwargs.box_warp as number,
    planeAxes,
    whiteBack: Boolean(kwargs.white_back),
  };
}

/** t_k = start + k·Δ + u_k·Δ, Δ = (end − start)/(D − 1), from jitter u [N, M, D, 1]. */
export function stratifiedDepths(jitter: Tensor, rayStart: number, rayEnd: number): Tensor {
  const d = jitter.shape[2];
  const delta = (rayEnd - rayStart) / (d - 1);
  const base = Float64Array.from({ length: d }, (_, k) => rayStart + k * delta);
  return add(Tensor.fromData(base, [1, 1, d, 1], jitter.device), mul(jitter, delta));
}

/**
 * Inverse-transform sampling (NeRF's `sample_pdf`): `bins` [R, B], `weights`
 * [R, B − 2] (the last bin is unreachable, as in the original), uniforms `u`
 * [R, Q] → depths [R, Q].
 */
export function samplePdf(bins: Tensor, weights: Tensor, u: Tensor, eps = 1e-5): Tensor {
  const k = weights.shape[1];
  const w = add(weights, eps);
  const pdf = div(w, sum(w, 1, { keepDims: true }));
  const cdf = concat([zeros([pdf.shape[0], 1], pdf.device), cumsum(pdf, 1)], 1);
  const inds = searchsorted(cdf, u, { right: true });
  const below = maximum(sub(inds, 1), 0);
  const above = minimum(inds, k);
  const cdfBelow = takeAlongAxis(cdf, below, 1);
  const binsBelow = takeAlongAxis(bins, below, 1);
  const den = sub(takeAlongAxis(cdf, above, 1), cdfBelow);
  const safeDen = where(lt(den, eps), 1, den);
  return add(
    binsBelow,
    mul(div(sub(u, cdfBelow), safeDen), sub(takeAlongAxis(bins, above, 1), binsBelow)),
  );
}

/**
 * Importance depths [N, M, Q, 1] from coarse depths [N, M, D, 1] and weights
 * [N, M, D − 1, 1]: weights smoothed by max-pool(2, stride 1, pad 1) then
 * avg-pool(2, stride 1), + 0.01; bins at the coarse midpoints; the first and
 * last smoothed weights dropped. No gradient.
 */
export function importanceDepths(depthsCoarse: Tensor, weights: Tensor, u: Tensor): Tensor {
  return noGrad(() => {
    const [n, m, d] = depthsCoarse.shape;
    const q = u.shape[1];
    const z = reshape(depthsCoarse, [n * m, d]);
    // Weights are ≥ 0, so zero padding acts like max-pool's −∞ padding.
    const padded = pad(reshape(weights, [n * m, d - 1]), [[0, 0], [1, 1]]);
    const pooled = maximum(slice(padded, [null, [0, d]]), slice(padded, [null, [1, d + 1]]));
    const smooth = add(
      mul(add(slice(pooled, [null, [0, d - 1]]), slice(pooled, [null, [1, d]])), 0.5),
      0.01,
    );
    const mids = mul(add(slice(z, [null, [0, d - 1]]), slice(z, [null, [1, d]])), 0.5);
    const t = samplePdf(mids, slice(smooth, [null, [1, d - 2]]), u);
    return reshape(t, [n, m, q, 1]);
  });
}

/** The renderer. Stateless apart from its options; the decoder is passed in (it owns the parameters). */
export class ImportanceRenderer {
  constructor(readonly options: RenderOptions) {}

  /**
   * Samples `planes` (one tri-plane or a list summed) + decoder at points [N, M·S, 3]. Where no
   * gradient is recorded on the GPU, one kernel does both (`decodePoints`); where one is, the
   * sampling is one differentiable op (`sampleTriplaneMean`) and the decoder runs as layers.
   */
  runModel(planes: Tensor[], decoder: OSGDecoder, points: Tensor): DecodedSamples {
    const recordsGrad = isGradEnabled() &&
      [...planes, points, ...decoder.parameters().values()].some((t) => t.requiresGrad);
    if (points.device !== "cpu" && !recordsGrad) {
      return decodePoints(planes, decoder, points, this.options);
    }
    return scope(() => decoder.decodeMean(sampleTriplaneMean(planes, points, this.options)));
  }

  /**
   * Renders rays `origins`/`directions` [N, M, 3] through `planes`
   * ([N, 3, C, H, W], or a list of tri-planes whose features are summed).
   */
  render(
    planes: Tensor | Tensor[],
    decoder: OSGDecoder,
    origins: Tensor,
    directions: Tensor,
    random: RenderRandom,
  ): RenderResult {
    const o = this.options;
    const list = Array.isArray(planes) ? planes : [planes];
    const [n, m] = origins.shape;
    const d = o.depthResolution;
    const q = o.depthResolutionImportance;
    const draw = (shape: number[]) => (random as RandomSource).uniform(shape, origins.device);
    const injected = "stratified" in random ? random : null;
    const jitter = injected?.stratified ?? draw([n, m, d, 1]);
    const depthsCoarse = stratifiedDepths(jitter, o.rayStart, o.rayEnd);
    const pointsAt = (depths: Tensor) => {
      const s = depths.shape[2];
      const p = add(reshape(origins, [n, m, 1, 3]), mul(depths, reshape(directions, [n, m, 1, 3])));
      return reshape(p, [n, m * s, 3]);
    };
    const coarse = this.runModel(list, decoder, pointsAt(depthsCoarse));
    const c = coarse.rgb.shape[2];
    const colorsCoarse = reshape(coarse.rgb, [n, m, d, c]);
    const densitiesCoarse = reshape(coarse.sigma, [n, m, d, 1]);
    if (q === 0) {
      const r = marchRays(colorsCoarse, densitiesCoarse, depthsCoarse, o);
      return {
        rgb: r.rgb,
        depth: r.depth,
        weightsSum: sum(r.weights, 2),
        depthsCoarse,
        depthsFine: null,
        coarse,
        fine: null,
        coarseWeights: null,
        allDepths: depthsCoarse,
        finalWeights: r.weights,
      };
    }
    const coarseWeights = noGrad(() =>
      marchRays(colorsCoarse, densitiesCoarse, depthsCoarse, o).weights
    );
    // Drawn per sample ([n, m, q]: the same numbers as [n·m, q]), so data-parallel ranks can
    // take their samples' rows of a global-batch draw (stages/distributed/sharded_random.ts).
    const u = injected?.importance ?? reshape(draw([n, m, q]), [n * m, q]);
    const depthsFine = importanceDepths(depthsCoarse, coarseWeights, u);
    const fine = this.runModel(list, decoder, pointsAt(depthsFine));
    // Merge coarse and fine samples, sorted by depth.
    const depthsAll = concat([depthsCoarse, depthsFine], 2);
    const order = argsort(depthsAll, 2);
    const allDepths = permuteAlongAxis(depthsAll, order, 2);
    const colors = permuteAlongAxis(
      concat([colorsCoarse, reshape(fine.rgb, [n, m, q, c])], 2),
      order,
      2,
    );
    const densities = permuteAlongAxis(
      concat([densitiesCoarse, reshape(fine.sigma, [n, m, q, 1])], 2),
      order,
      2,
    );
    const r = marchRays(colors, densities, allDepths, o);
    return {
      rgb: r.rgb,
      depth: r.depth,
      weightsSum: sum(r.weights, 2),
      depthsCoarse,
      depthsFine,
      coarse,
      fine,
      coarseWeights,
      allDepths,
      finalWeights: r.weights,
    };
  }
}

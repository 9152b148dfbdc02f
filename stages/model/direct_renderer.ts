/**
 * Inference rendering of whole images (Mimic3D's 3-D branch renders 512² directly; eval, the
 * render command and training samples render full views): the renderer's own passes
 * (`ImportanceRenderer`, whose decodes run one kernel per batch of points when no gradient is
 * recorded, `point_decoder.ts`) over chunks of rays. The random numbers of the whole image are
 * drawn first, and the depth is clamped to the range of the whole batch, so the result does not
 * depend on the chunk size: it is `ImportanceRenderer.render` of all rays at once, while memory
 * grows with the chunk, not the image. (`renderFused`, one thread per ray, is the viewer's
 * renderer; this one is faster on the GPU: BENCHMARKS.md.)
 * @module
 */
import {
  clamp,
  concat,
  gt,
  max,
  neg,
  noGrad,
  type RandomSource,
  reshape,
  scope,
  slice,
  type Tensor,
  where,
} from "../../kernels/mod.ts";
import type { OSGDecoder } from "./decoder.ts";
import type { FusedRenderResult } from "./fused_renderer.ts";
import { ImportanceRenderer, type RenderOptions, type RenderRandom } from "./renderer.ts";

/** Options of `renderDirect`. */
export interface DirectRenderOptions {
  /** Rays rendered together (bounds memory: ~40 KB a ray at 48 + 48 samples of 32 features). */
  chunkRays?: number;
}

/**
 * Renders rays `origins`/`directions` [N, M, 3] through `planes` (one tri-plane
 * [N, 3, C, H, W] or a list whose features are summed), without gradients. `random`: injected
 * uniforms or a random source (two draws, as `ImportanceRenderer.render`).
 */
export function renderDirect(
  planes: Tensor | Tensor[],
  decoder: OSGDecoder,
  origins: Tensor,
  directions: Tensor,
  options: RenderOptions,
  random: RenderRandom,
  { chunkRays = 1 << 14 }: DirectRenderOptions = {},
): FusedRenderResult {
  // One scope: the draws, chunks and joins go when it returns the image.
  return noGrad(() =>
    scope(() => {
      const list = Array.isArray(planes) ? planes : [planes];
      const [n, m] = origins.shape;
      const d = options.depthResolution;
      const q = options.depthResolutionImportance;
      if (q > 0 && d < 4) {
        throw new Error("importance sampling needs at least 4 stratified samples");
      }
      if (d < 2) throw new Error("at least 2 stratified samples per ray");
      const draw = (shape: number[]) => (random as RandomSource).uniform(shape, origins.device);
      const injected = "stratified" in random ? random : null;
      const jitter = injected?.stratified ?? draw([n, m, d, 1]);
      const uniforms = q > 0
        ? (injected?.importance ?? reshape(draw([n, m, q]), [n * m, q]))
        : null;
      const renderer = new ImportanceRenderer(options);
      const parts: { rgb: Tensor; depth: Tensor; weightsSum: Tensor; lo: Tensor; hi: Tensor }[] =
        [];
      for (let i = 0; i < n; i++) {
        for (let start = 0; start < m; start += chunkRays) {
          const end = Math.min(m, start + chunkRays);
          parts.push(scope(() => {
            const item = (t: Tensor) => (n === 1 ? t : slice(t, [[i, i + 1]]));
            const rays = (t: Tensor) => slice(item(t), [null, [start, end]]);
            const stratified = rays(jitter);
            const r = renderer.render(list.map(item), decoder, rays(origins), rays(directions), {
              stratified,
              // Read only with importance samples.
              importance: uniforms ? slice(uniforms, [[i * m + start, i * m + end]]) : stratified,
            });
            return {
              rgb: r.rgb,
              depth: r.depth,
              weightsSum: r.weightsSum,
              lo: reshape(neg(max(neg(r.allDepths))), [1]),
              hi: reshape(max(r.allDepths), [1]),
            };
          }));
        }
      }
      const joined = (key: keyof (typeof parts)[number], axis: number) => {
        const all = concat(parts.map((p) => p[key]), axis);
        return key === "rgb" || key === "depth" || key === "weightsSum"
          ? reshape(all, [n, m, -1])
          : all;
      };
      const rgb = joined("rgb", 1);
      const weightsSum = joined("weightsSum", 1);
      const chunkDepth = joined("depth", 1);
      // A ray that hit nothing has the farthest depth of the whole batch (each chunk clamped it
      // to its own); a hit's depth lies within its own samples either way.
      const lo = neg(max(neg(joined("lo", 0))));
      const hi = max(joined("hi", 0));
      const depth = clamp(where(gt(weightsSum, 0), chunkDepth, 3.4e38), lo, hi);
      return { rgb, depth, weightsSum };
    })
  );
}

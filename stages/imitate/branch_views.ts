/**
 * The two branches of one generator rendered side by side for fixed seeds and
 * one camera: the 2-D branch's SR image and the 3-D branch's direct render at
 * the same (image) resolution — coarse + detail planes through the fused
 * renderer, no super-resolution — with that render's depth. What the imitate
 * stage's sample grids show and its before/after gap measures.
 * @module
 */
import { noGrad, Rng, scope, slice, tensor } from "../../kernels/mod.ts";
import { raysToImage, type TriplaneGenerator } from "../model/generator.ts";
import { renderFused } from "../model/fused_renderer.ts";
import { sampleRays } from "../model/rays.ts";
import { latentForSeed } from "../render/seed_latent.ts";

/** Host images of one view for n seeds, each [n, C, R, R] (RGB in [−1, 1]; depth C = 1). */
export interface BranchViews {
  shape: { image: readonly number[]; direct: readonly number[]; depth: readonly number[] };
  /** 2-D branch: the SR image. */
  image: Float32Array;
  /** 3-D branch: the direct render's RGB. */
  direct: Float32Array;
  /** 3-D branch: the direct render's ray depth. */
  depth: Float32Array;
}

/**
 * Renders `seeds` (latents as the original scripts draw them, mapped with
 * `conditioning`) from each camera of `views` through both branches of
 * `generator`, with constant noise and fixed jitter, so reruns give the same
 * pixels. The tri-planes depend on the latents alone: they are made once and
 * every view is rendered from them (both branches through the fused renderer).
 */
export async function renderBranchViews(
  generator: TriplaneGenerator,
  seeds: readonly number[],
  conditioning: readonly number[],
  views: readonly (readonly number[])[],
): Promise<BranchViews[]> {
  const n = seeds.length;
  const { zDim, imgResolution: side, neuralRenderingResolution: r } = generator.config;
  const { ws, planes } = noGrad(() =>
    scope(() => {
      const z = tensor(seeds.flatMap((s) => Array.from(latentForSeed(s, zDim))), [n, zDim]);
      const cond = tensor(Array(n).fill(conditioning).flat(), [n, 25]);
      const ws = generator.mapping(z, cond);
      return {
        ws,
        planes: generator.planes(ws, { noiseMode: "const", random: new Rng(0) }).planes,
      };
    })
  );
  const out: BranchViews[] = [];
  try {
    for (const view of views) {
      const rendered = noGrad(() =>
        scope(() => {
          const cam = tensor(Array(n).fill(view).flat(), [n, 25]);
          const sr = generator.renderView2d(planes[0], ws, sampleRays(cam, r), r, new Rng(0));
          const rays = sampleRays(cam, side);
          const direct = renderFused(
            planes,
            generator.decoder,
            rays.origins,
            rays.directions,
            generator.renderer.options,
            new Rng(0),
          );
          return {
            image: sr.image,
            direct: raysToImage(slice(direct.rgb, [null, null, [0, 3]]), side),
            depth: raysToImage(direct.depth, side),
          };
        })
      );
      try {
        const [image, direct, depth] = await Promise.all(
          [rendered.image, rendered.direct, rendered.depth].map((t) => t.read()),
        );
        out.push({
          shape: {
            image: rendered.image.shape,
            direct: rendered.direct.shape,
            depth: rendered.depth.shape,
          },
          image: new Float32Array(image),
          direct: new Float32Array(direct),
          depth: new Float32Array(depth),
        });
      } finally {
        for (const t of Object.values(rendered)) t.dispose();
      }
    }
  } finally {
    ws.dispose();
    for (const p of planes) p.dispose();
  }
  return out;
}

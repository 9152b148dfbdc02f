/**
 * Sample grids of the 3-D stage: the same seeds and dataset cameras as the
 * pretrain grids (`sampleCameras`), per view three cells — the 2-D branch's
 * SR image, the 3-D branch's direct render at the SR resolution (coarse +
 * detail planes through the fused renderer, no super-resolution) and that
 * render's depth — so each grid shows how closely the 3-D branch imitates.
 * @module
 */
import {
  noGrad,
  permute,
  reshape,
  Rng,
  scope,
  slice,
  type Tensor,
  tensor,
} from "../../kernels/mod.ts";
import type { TriplaneGenerator } from "../model/generator.ts";
import { renderFused } from "../model/fused_renderer.ts";
import { sampleRays } from "../model/rays.ts";
import { makeImageGrid } from "../io/image_grid.ts";
import { resizeImage } from "../io/image_resize.ts";
import type { PixelImage } from "../io/png.ts";
import { colorizeDepth } from "../render/depth_colormap.ts";
import { latentForSeed } from "../render/seed_latent.ts";
import { MAX_CELL, type SampleCameras } from "../pretrain/samples.ts";
import { rgbPixels } from "../io/tensor_pixels.ts";

/** Renders `seeds` × views × (SR image, 3-D direct render, its depth) with `generator` (G_ema). */
export async function renderBranchSampleGrid(
  generator: TriplaneGenerator,
  seeds: readonly number[],
  cameras: SampleCameras,
): Promise<PixelImage> {
  const n = seeds.length;
  const { zDim, imgResolution: side } = generator.config;
  const size = Math.min(side, MAX_CELL);
  const cells: PixelImage[][] = seeds.map(() => []);
  for (const view of cameras.views) {
    const out = noGrad(() =>
      scope(() => {
        const z = tensor(seeds.flatMap((s) => Array.from(latentForSeed(s, zDim))), [n, zDim]);
        const cond = tensor(Array(n).fill(cameras.conditioning).flat(), [n, 25]);
        const cam = tensor(Array(n).fill(view).flat(), [n, 25]);
        const ws = generator.mapping(z, cond);
        const g = generator.synthesis(ws, cam, { noiseMode: "const", random: new Rng(0) });
        const rays = sampleRays(cam, side);
        const direct = renderFused(
          g.planes,
          generator.decoder,
          rays.origins,
          rays.directions,
          generator.renderer.options,
          new Rng(0),
        );
        const toImage = (t: Tensor) => reshape(permute(t, [0, 2, 1]), [n, t.shape[2], side, side]);
        return {
          image: g.image!,
          direct: toImage(slice(direct.rgb, [null, null, [0, 3]])),
          depth: toImage(direct.depth),
        };
      })
    );
    try {
      const [image, direct, depth] = await Promise.all(
        [out.image, out.direct, out.depth].map((t) => t.read()),
      );
      for (let i = 0; i < n; i++) {
        const depthValues = Array.from(
          { length: side * side },
          (_, p) => depth[i * side * side + p],
        );
        cells[i].push(
          fit(rgbPixels(image, out.image.shape, i), size),
          fit(rgbPixels(direct, out.direct.shape, i), size),
          fit(colorizeDepth(depthValues, side, side), size),
        );
      }
    } finally {
      for (const t of Object.values(out)) t.dispose();
    }
  }
  return makeImageGrid(cells.flat(), { columns: cells[0].length, padding: 2, background: 0 });
}

function fit(image: PixelImage, size: number): PixelImage {
  return resizeImage(image, size, size);
}

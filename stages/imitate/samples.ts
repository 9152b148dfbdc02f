/**
 * Sample grids of the 3-D stage: the same seeds and dataset cameras as the
 * pretrain grids (`sampleCameras`), per view three cells — the 2-D branch's
 * SR image, the 3-D branch's direct render at the SR resolution (coarse +
 * detail planes through the fused renderer, no super-resolution) and that
 * render's depth — so each grid shows how closely the 3-D branch imitates.
 * @module
 */
import type { TriplaneGenerator } from "../model/generator.ts";
import { makeImageGrid } from "../io/image_grid.ts";
import { resizeImage } from "../io/image_resize.ts";
import type { PixelImage } from "../io/png.ts";
import { colorizeDepth } from "../render/depth_colormap.ts";
import { MAX_CELL, type SampleCameras } from "../training/samples.ts";
import { rgbPixels } from "../io/tensor_pixels.ts";
import { renderBranchViews } from "./branch_views.ts";

/** Renders `seeds` × views × (SR image, 3-D direct render, its depth) with `generator` (G_ema). */
export async function renderBranchSampleGrid(
  generator: TriplaneGenerator,
  seeds: readonly number[],
  cameras: SampleCameras,
): Promise<PixelImage> {
  const side = generator.config.imgResolution;
  const size = Math.min(side, MAX_CELL);
  const cells: PixelImage[][] = seeds.map(() => []);
  const views = await renderBranchViews(generator, seeds, cameras.conditioning, cameras.views);
  for (const v of views) {
    seeds.forEach((_, i) => {
      const depth = v.depth.subarray(i * side * side, (i + 1) * side * side);
      cells[i].push(
        fit(rgbPixels(v.image, v.shape.image, i), size),
        fit(rgbPixels(v.direct, v.shape.direct, i), size),
        fit(colorizeDepth(depth, side, side), size),
      );
    });
  }
  return makeImageGrid(cells.flat(), { columns: cells[0].length, padding: 2, background: 0 });
}

/** A cell at most `size` wide (box-downsampled). */
export function fit(image: PixelImage, size: number): PixelImage {
  return resizeImage(image, size, size);
}

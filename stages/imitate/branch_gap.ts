/**
 * How far the 3-D branch is from the 2-D branch it imitates: PSNR and mean
 * |Δ| between the 3-D branch's direct full-resolution render and the SR image
 * for the same latent and camera (both clamped to the displayable range and
 * mapped to [0, 1]). The imitate stage measures it before and after training
 * and draws both side by side; imitation should raise the PSNR while the 3-D
 * branch stays a render of one 3-D scene (eval's reprojection error).
 * @module
 */
import type { TriplaneGenerator } from "../model/generator.ts";
import { makeImageGrid } from "../io/image_grid.ts";
import type { PixelImage } from "../io/png.ts";
import { MAX_CELL, type SampleCameras } from "../training/samples.ts";
import { rgbPixels } from "../io/tensor_pixels.ts";
import { type BranchViews, renderBranchViews } from "./branch_views.ts";
import { fit } from "./samples.ts";

/** The gap over every pixel of every seed and view. */
export interface BranchGap {
  /** 10·log10(1 / MSE), images in [0, 1]. */
  psnr: number;
  /** Mean absolute difference, images in [0, 1]. */
  l1: number;
}

/** One generator's renders of the fixed seeds and views, and their gap. */
export interface BranchMeasurement {
  gap: BranchGap;
  views: BranchViews[];
}

/** Renders `seeds` from every view of `cameras` through both branches and measures the gap. */
export async function measureBranchGap(
  generator: TriplaneGenerator,
  seeds: readonly number[],
  cameras: SampleCameras,
): Promise<BranchMeasurement> {
  const views = await renderBranchViews(generator, seeds, cameras.conditioning, cameras.views);
  return { gap: branchGap(views), views };
}

/** PSNR and L1 between the 3-D renders and the SR images of `views`. */
export function branchGap(views: readonly BranchViews[]): BranchGap {
  let squared = 0;
  let absolute = 0;
  let count = 0;
  const unit = (x: number) => (Math.min(1, Math.max(-1, x)) + 1) / 2;
  for (const v of views) {
    if (v.image.length !== v.direct.length) {
      throw new Error(
        `branch gap: SR image [${v.shape.image}] and 3-D render [${v.shape.direct}] differ in size`,
      );
    }
    for (let i = 0; i < v.image.length; i++) {
      const d = unit(v.direct[i]) - unit(v.image[i]);
      squared += d * d;
      absolute += Math.abs(d);
    }
    count += v.image.length;
  }
  const mse = squared / count;
  return { psnr: mse > 0 ? 10 * Math.log10(1 / mse) : Infinity, l1: absolute / count };
}

/**
 * One row per seed; per view four cells: SR image and 3-D render before
 * training, then both after.
 */
export function gapComparisonGrid(
  before: readonly BranchViews[],
  after: readonly BranchViews[],
  seeds: readonly number[],
): PixelImage {
  const cells: PixelImage[] = [];
  seeds.forEach((_, i) => {
    before.forEach((b, k) => {
      const a = after[k];
      const size = Math.min(b.shape.image[3], MAX_CELL);
      cells.push(
        fit(rgbPixels(b.image, b.shape.image, i), size),
        fit(rgbPixels(b.direct, b.shape.direct, i), size),
        fit(rgbPixels(a.image, a.shape.image, i), size),
        fit(rgbPixels(a.direct, a.shape.direct, i), size),
      );
    });
  });
  return makeImageGrid(cells, { columns: before.length * 4, padding: 2, background: 0 });
}

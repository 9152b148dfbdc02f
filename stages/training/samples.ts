/**
 * Sample grids written during training: the same seeds and cameras every
 * time, so successive grids show learning. One row per seed (z as the
 * original's scripts draw it, mapped with one fixed conditioning camera);
 * per view three cells: the final (SR) image, the raw rendered image and the
 * depth map. Cameras come from the training set's own labels (its leftmost,
 * median and rightmost yaw at the 10/50/90 % quantiles), so any rig works.
 * Cells are at most `MAX_CELL` pixels wide (box-downsampled), so the grids of
 * a long 512² run stay small enough to carry through every checkpoint.
 * @module
 */
import { noGrad, Rng, scope, type Tensor, tensor } from "../../kernels/mod.ts";
import type { TriplaneGenerator } from "../model/generator.ts";
import { cameraYawPitch } from "../io/camera_label.ts";
import { makeImageGrid } from "../io/image_grid.ts";
import type { PixelImage } from "../io/png.ts";
import { colorizeDepth } from "../render/depth_colormap.ts";
import { latentForSeed } from "../render/seed_latent.ts";
import type { LabelSource } from "./gan_trainer.ts";
import { rgbPixels } from "../io/tensor_pixels.ts";

/** Largest cell side in a grid. */
export const MAX_CELL = 256;

/** The fixed cameras of a sample grid. */
export interface SampleCameras {
  /** Conditions the mapping (same identity in every view). */
  conditioning: number[];
  /** Rendering cameras, one per view. */
  views: number[][];
}

/** Picks the conditioning camera (median yaw) and views at yaw quantiles from dataset labels. */
export function sampleCameras(labels: LabelSource, quantiles = [0.1, 0.5, 0.9]): SampleCameras {
  const byYaw = Array.from({ length: labels.length }, (_, i) => labels.label(i))
    .map((label) => ({ label, yaw: cameraYawPitch(label).yaw }))
    .sort((a, b) => a.yaw - b.yaw);
  const at = (q: number) => byYaw[Math.min(byYaw.length - 1, Math.floor(q * byYaw.length))].label;
  return { conditioning: at(0.5), views: quantiles.map(at) };
}

/** Renders the grid of `seeds` × views × (image, raw, depth) with `generator` (usually G_ema). */
export async function renderSampleGrid(
  generator: TriplaneGenerator,
  seeds: readonly number[],
  cameras: SampleCameras,
): Promise<PixelImage> {
  const n = seeds.length;
  const zDim = generator.config.zDim;
  const cells: PixelImage[][] = seeds.map(() => []);
  for (const view of cameras.views) {
    const out = noGrad(() =>
      scope(() => {
        const z = tensor(seeds.flatMap((s) => Array.from(latentForSeed(s, zDim))), [n, zDim]);
        const cond = tensor(Array(n).fill(cameras.conditioning).flat(), [n, 25]);
        const cam = tensor(Array(n).fill(view).flat(), [n, 25]);
        const ws = generator.mapping(z, cond);
        const g = generator.synthesis(ws, cam, { noiseMode: "const", random: new Rng(0) });
        return { image: g.image!, raw: g.imageRaw!, depth: g.imageDepth! };
      })
    );
    try {
      const size = Math.min(out.image.shape[3], MAX_CELL);
      const [image, raw, depth] = await Promise.all(
        [out.image, out.raw, out.depth].map((t) => t.read()),
      );
      for (let i = 0; i < n; i++) {
        cells[i].push(
          resize(rgbPixels(image, out.image.shape, i), size),
          resize(rgbPixels(raw, out.raw.shape, i), size),
          resize(depthPixels(depth, out.depth, i), size),
        );
      }
    } finally {
      for (const t of Object.values(out)) t.dispose();
    }
  }
  return makeImageGrid(cells.flat(), { columns: cells[0].length, padding: 2, background: 0 });
}

function depthPixels(values: ArrayLike<number>, t: Tensor, i: number): PixelImage {
  const [, , height, width] = t.shape;
  const plane = width * height;
  return colorizeDepth(
    Array.from({ length: plane }, (_, p) => values[i * plane + p]),
    width,
    height,
  );
}

/** Square image to side `size`: box average for whole-factor reductions, else nearest. */
function resize(image: PixelImage, size: number): PixelImage {
  const { width, channels } = image;
  if (width === size) return image;
  const data = new Uint8Array(size * size * channels);
  if (width > size && width % size === 0) {
    const f = width / size;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < channels; c++) {
          let sum = 0;
          for (let dy = 0; dy < f; dy++) {
            for (let dx = 0; dx < f; dx++) {
              sum += image.data[((y * f + dy) * width + x * f + dx) * channels + c];
            }
          }
          data[(y * size + x) * channels + c] = Math.round(sum / (f * f));
        }
      }
    }
    return { width: size, height: size, channels, data };
  }
  for (let y = 0; y < size; y++) {
    const sy = Math.floor((y * width) / size);
    for (let x = 0; x < size; x++) {
      const sx = Math.floor((x * width) / size);
      const from = (sy * width + sx) * channels;
      data.set(image.data.subarray(from, from + channels), (y * size + x) * channels);
    }
  }
  return { width: size, height: size, channels, data };
}

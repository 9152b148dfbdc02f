/** Network outputs → 8-bit images for grids and files. */
import type { PixelImage } from "./png.ts";

/**
 * Image i of host values shaped [N, C ≥ 3, H, W] in [−1, 1] → 8-bit RGB,
 * quantised as the original scripts do (x·127.5 + 128, clamped).
 */
export function rgbPixels(
  values: ArrayLike<number>,
  shape: readonly number[],
  i: number,
): PixelImage {
  const [, channels, height, width] = shape;
  const plane = width * height;
  const base = i * channels * plane;
  const data = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < plane; p++) {
      const v = values[base + c * plane + p] * 127.5 + 128;
      data[p * 3 + c] = Math.min(255, Math.max(0, Math.floor(v)));
    }
  }
  return { width, height, channels: 3, data };
}

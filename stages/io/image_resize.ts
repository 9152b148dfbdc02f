/**
 * Image preparation for `dataset make`: channel conversion to RGB, centre crop
 * to a square, and antialiased resizing (a triangle filter widened by the
 * scale factor when shrinking, like PIL's bilinear resize with antialiasing).
 * @module
 */
import type { PixelImage } from "./png.ts";

/** Converts gray, gray+alpha, RGB or RGBA to RGB (alpha is dropped, as PIL's convert("RGB")). */
export function toRgb(image: PixelImage): PixelImage {
  const { width, height, channels, data } = image;
  if (channels === 3) return image;
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const from = i * channels;
    const gray = channels <= 2;
    out[i * 3] = data[from];
    out[i * 3 + 1] = data[from + (gray ? 0 : 1)];
    out[i * 3 + 2] = data[from + (gray ? 0 : 2)];
  }
  return { width, height, channels: 3, data: out };
}

/** Cuts the largest centred square out of an image (no-op if already square). */
export function centerCropSquare(image: PixelImage): PixelImage {
  const { width, height, channels, data } = image;
  if (width === height) return image;
  const side = Math.min(width, height);
  const left = Math.floor((width - side) / 2);
  const top = Math.floor((height - side) / 2);
  const out = new Uint8Array(side * side * channels);
  for (let y = 0; y < side; y++) {
    const from = ((top + y) * width + left) * channels;
    out.set(data.subarray(from, from + side * channels), y * side * channels);
  }
  return { width: side, height: side, channels, data: out };
}

/** Resizes to `width` × `height` with an antialiased triangle filter (separable). */
export function resizeImage(image: PixelImage, width: number, height: number): PixelImage {
  if (image.width === width && image.height === height) return image;
  const horizontal = resampleAxis(
    image.data,
    image.width,
    image.height,
    image.channels,
    width,
    true,
  );
  const vertical = resampleAxis(horizontal, width, image.height, image.channels, height, false);
  const data = new Uint8Array(vertical.length);
  for (let i = 0; i < data.length; i++) {
    data[i] = Math.min(255, Math.max(0, Math.round(vertical[i])));
  }
  return { width, height, channels: image.channels, data };
}

/** Resamples along x (`alongX`) or y from `inWidth`×`inHeight` to `outSize` on that axis. */
function resampleAxis(
  input: ArrayLike<number>,
  inWidth: number,
  inHeight: number,
  channels: number,
  outSize: number,
  alongX: boolean,
): Float32Array {
  const inSize = alongX ? inWidth : inHeight;
  const scale = inSize / outSize;
  const support = Math.max(1, scale); // filter half-width in input pixels
  const outWidth = alongX ? outSize : inWidth;
  const outHeight = alongX ? inHeight : outSize;
  const out = new Float32Array(outWidth * outHeight * channels);
  const lines = alongX ? inHeight : inWidth;
  const sums = new Float64Array(channels);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const first = Math.max(0, Math.floor(center - support));
    const last = Math.min(inSize - 1, Math.ceil(center + support));
    const taps: number[] = [];
    const weights: number[] = [];
    let total = 0;
    for (let i = first; i <= last; i++) {
      const w = Math.max(0, 1 - Math.abs((i + 0.5 - center) / support));
      if (w > 0) {
        taps.push(i);
        weights.push(w);
        total += w;
      }
    }
    for (let line = 0; line < lines; line++) {
      sums.fill(0);
      for (let k = 0; k < taps.length; k++) {
        const at = alongX
          ? (line * inWidth + taps[k]) * channels
          : (taps[k] * inWidth + line) * channels;
        for (let c = 0; c < channels; c++) sums[c] += weights[k] * input[at + c];
      }
      const to = alongX ? (line * outWidth + o) * channels : (o * outWidth + line) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = sums[c] / total;
    }
  }
  return out;
}

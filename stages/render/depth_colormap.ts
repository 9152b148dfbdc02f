/**
 * Depth maps people can read: depth normalised over the image (near → 1,
 * far → 0) and coloured with Turbo, whose hue steps show shape better than grey.
 * @module
 */
import type { PixelImage } from "../io/png.ts";

// Turbo's polynomial approximation (Mikhailov, Google AI, 2019): degree 5 per channel.
const TURBO = [
  [0.13572138, 4.6153926, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
  [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
  [0.1066733, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
];

/** Turbo colour of x ∈ [0, 1] (clamped) as 8-bit RGB. */
export function turbo(x: number): [number, number, number] {
  const t = Math.min(1, Math.max(0, x));
  const rgb = TURBO.map((c) => {
    let v = 0;
    for (let k = c.length - 1; k >= 0; k--) v = v * t + c[k];
    return Math.round(255 * Math.min(1, Math.max(0, v)));
  });
  return [rgb[0], rgb[1], rgb[2]];
}

/**
 * Colours a depth map (row-major `width`×`height` values): the nearest depth
 * in the image is red, the farthest dark blue. A flat map is one colour.
 */
export function colorizeDepth(depth: ArrayLike<number>, width: number, height: number): PixelImage {
  if (depth.length !== width * height) {
    throw new Error(`depth map has ${depth.length} values, expected ${width}×${height}`);
  }
  let near = Infinity, far = -Infinity;
  for (let i = 0; i < depth.length; i++) {
    near = Math.min(near, depth[i]);
    far = Math.max(far, depth[i]);
  }
  const span = far - near > 1e-12 ? far - near : 1;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < depth.length; i++) {
    data.set(turbo((far - depth[i]) / span), 3 * i);
  }
  return { width, height, channels: 3, data };
}

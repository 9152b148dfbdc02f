/**
 * StyleGAN2's upfirdn2d: upsample by zero insertion, pad (negative crops),
 * filter with a FIR kernel, downsample by striding — one op (`upFirDn`) whose
 * gradients of every order are the op again. The helpers `upsample2d`,
 * `downsample2d` and `filter2d` choose the paddings exactly as the original does.
 */
import type { Tensor } from "../tensor/tensor.ts";
import { upFirDn } from "../ops/upfirdn.ts";

/** A FIR filter: 2-D taps [fh, fw] (host values; small). */
export interface Filter {
  taps: Float64Array;
  height: number;
  width: number;
}

/**
 * setup_filter: a 1-D kernel becomes its outer product (non-separable for
 * fewer than 8 taps, as the original), normalised to sum 1.
 */
export function setupFilter(kernel: number[] = [1, 3, 3, 1]): Filter {
  const n = kernel.length;
  const taps = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) taps[i * n + j] = kernel[i] * kernel[j];
  const total = taps.reduce((a, b) => a + b, 0);
  for (let i = 0; i < taps.length; i++) taps[i] /= total;
  return { taps, height: n, width: n };
}

/** [padLeft, padRight, padTop, padBottom] (x then y, as the original). */
export type Padding4 = [number, number, number, number];

function toPad4(p: number | Padding4): Padding4 {
  return typeof p === "number" ? [p, p, p, p] : p;
}

/** Options of `upfirdn2d`. */
export interface UpFirDn2dOptions {
  up?: number;
  down?: number;
  padding?: number | Padding4;
  gain?: number;
}

/** Upsample (zero insertion), pad, FIR-filter (a convolution: the taps flipped), downsample. */
export function upfirdn2d(x: Tensor, f: Filter, options: UpFirDn2dOptions = {}): Tensor {
  const gain = options.gain ?? 1;
  const n = f.taps.length;
  return upFirDn(
    x,
    { taps: f.taps.map((_, i) => f.taps[n - 1 - i] * gain), height: f.height, width: f.width },
    { up: options.up ?? 1, down: options.down ?? 1, padding: toPad4(options.padding ?? 0) },
  );
}

/** ×2 (or `up`) upsampling with the filter, gain up² (keeps the mean). */
export function upsample2d(x: Tensor, f: Filter, up = 2, gain = 1): Tensor {
  const p: Padding4 = [
    Math.floor((f.width + up - 1) / 2),
    Math.floor((f.width - up) / 2),
    Math.floor((f.height + up - 1) / 2),
    Math.floor((f.height - up) / 2),
  ];
  return upfirdn2d(x, f, { up, padding: p, gain: gain * up * up });
}

/** ÷2 (or `down`) downsampling after filtering. */
export function downsample2d(x: Tensor, f: Filter, down = 2, gain = 1): Tensor {
  const p: Padding4 = [
    Math.floor((f.width - down + 1) / 2),
    Math.floor((f.width - down) / 2),
    Math.floor((f.height - down + 1) / 2),
    Math.floor((f.height - down) / 2),
  ];
  return upfirdn2d(x, f, { down, padding: p, gain });
}

/** Filtering at the same resolution (`padding` added to the filter's own). */
export function filter2d(x: Tensor, f: Filter, padding: number | Padding4 = 0, gain = 1): Tensor {
  const [a, b, c, d] = toPad4(padding);
  const p: Padding4 = [
    a + Math.floor(f.width / 2),
    b + Math.floor((f.width - 1) / 2),
    c + Math.floor(f.height / 2),
    d + Math.floor((f.height - 1) / 2),
  ];
  return upfirdn2d(x, f, { padding: p, gain });
}

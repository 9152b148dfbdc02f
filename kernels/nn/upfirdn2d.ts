/**
 * StyleGAN2's upfirdn2d: upsample by zero insertion, pad (negative crops),
 * filter with a FIR kernel (depthwise convolution), downsample by striding,
 * composed from tensor ops so every order of gradient is available. The
 * helpers `upsample2d`, `downsample2d` and `filter2d` choose the paddings
 * exactly as the original does.
 */
import { type Device, Tensor } from "../tensor/tensor.ts";
import { pad, reshape, slice } from "../ops/movement.ts";
import { conv2d } from "../ops/conv.ts";

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

const filterCache = new Map<string, Tensor>();

/** The filter as a depthwise conv weight [C, 1, fh, fw], flipped (conv2d correlates), times gain. */
function filterWeight(f: Filter, channels: number, gain: number, device: Device): Tensor {
  const key = `${device}:${f.height}x${f.width}:${
    Array.from(f.taps).join(",")
  }:${gain}:${channels}`;
  const hit = filterCache.get(key);
  if (hit && !hit.isDisposed) return hit;
  // Built on the host at full size: a one-channel expand() would return `base` itself.
  const n = f.taps.length;
  const flipped = new Float64Array(channels * n);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < n; i++) flipped[c * n + i] = f.taps[n - 1 - i] * gain;
  }
  const w = Tensor.fromData(flipped, [channels, 1, f.height, f.width], device).keep();
  filterCache.set(key, w);
  return w;
}

/** Options of `upfirdn2d`. */
export interface UpFirDn2dOptions {
  up?: number;
  down?: number;
  padding?: number | Padding4;
  gain?: number;
}

/** Upsample (zero insertion), pad, FIR-filter, downsample. x: [N, C, H, W]. */
export function upfirdn2d(x: Tensor, f: Filter, options: UpFirDn2dOptions = {}): Tensor {
  const up = options.up ?? 1;
  const down = options.down ?? 1;
  const [px0, px1, py0, py1] = toPad4(options.padding ?? 0);
  const [n, c, h, w] = x.shape;
  let y = x;
  if (up > 1) {
    y = reshape(y, [n, c, h, 1, w, 1]);
    y = pad(y, [[0, 0], [0, 0], [0, 0], [0, up - 1], [0, 0], [0, up - 1]]);
    y = reshape(y, [n, c, h * up, w * up]);
  }
  y = pad(y, [[0, 0], [0, 0], [py0, py1], [px0, px1]]);
  y = conv2d(y, filterWeight(f, c, options.gain ?? 1, x.device), { groups: c });
  if (down > 1) y = slice(y, [null, null, [0, y.shape[2], down], [0, y.shape[3], down]]);
  return y;
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

/**
 * StyleGAN2's `conv2d_resample`: a convolution fused with ×`up` upsampling or
 * ÷`down` downsampling through a FIR filter, in the same order of operations
 * (and so the same numbers) as the original's fast paths:
 *
 * - up: transposed stride-`up` convolution with the weight's in/out axes
 *   swapped (no spatial flip), then the filter (gain up²) trims the border;
 * - down: the filter pads and blurs, then a stride-`down` convolution;
 * - 1×1 with down: filter + subsample first, then the 1×1 convolution;
 * - 1×1 with up: the 1×1 convolution first, then filtered upsampling.
 *
 * Weights are never flipped: every StyleGAN2 layer passes
 * flip_weight = (up == 1), for which the original flips nothing.
 */
import type { Tensor } from "../tensor/tensor.ts";
import { conv2d, convTranspose2d } from "../ops/conv.ts";
import { pad, permute, reshape } from "../ops/movement.ts";
import { type Filter, type Padding4, upfirdn2d } from "./upfirdn2d.ts";

/** Options of `conv2dResample`. */
export interface Conv2dResampleOptions {
  /** Integer upsampling factor (default 1). */
  up?: number;
  /** Integer downsampling factor (default 1). */
  down?: number;
  /** Padding of the (upsampled) input, one value or [x0, x1, y0, y1] (default 0). */
  padding?: number | Padding4;
  /** Channel groups (default 1); the fused modulated conv uses one group per sample. */
  groups?: number;
}

/**
 * x [N, Cin, H, W] convolved with w [Cout, Cin/groups, kh, kw] (correlation,
 * like PyTorch's conv2d), resampled with the filter `f`.
 */
export function conv2dResample(
  x: Tensor,
  w: Tensor,
  f: Filter,
  options: Conv2dResampleOptions = {},
): Tensor {
  const up = options.up ?? 1;
  const down = options.down ?? 1;
  const groups = options.groups ?? 1;
  const [outChannels, inPerGroup, kh, kw] = w.shape;
  const p = options.padding ?? 0;
  let [px0, px1, py0, py1] = typeof p === "number" ? [p, p, p, p] : p;
  const fw = f.width;
  const fh = f.height;
  if (up > 1) {
    px0 += Math.floor((fw + up - 1) / 2);
    px1 += Math.floor((fw - up) / 2);
    py0 += Math.floor((fh + up - 1) / 2);
    py1 += Math.floor((fh - up) / 2);
  }
  if (down > 1) {
    px0 += Math.floor((fw - down + 1) / 2);
    px1 += Math.floor((fw - down) / 2);
    py0 += Math.floor((fh - down + 1) / 2);
    py1 += Math.floor((fh - down) / 2);
  }

  if (kw === 1 && kh === 1 && down > 1 && up === 1) {
    const y = upfirdn2d(x, f, { down, padding: [px0, px1, py0, py1] });
    return conv2d(y, w, { groups });
  }
  if (kw === 1 && kh === 1 && up > 1 && down === 1) {
    const y = conv2d(x, w, { groups });
    return upfirdn2d(y, f, { up, padding: [px0, px1, py0, py1], gain: up * up });
  }
  if (down > 1 && up === 1) {
    const y = upfirdn2d(x, f, { padding: [px0, px1, py0, py1] });
    return conv2d(y, w, { stride: down, groups });
  }
  if (up > 1) {
    // conv_transpose2d wants [Cin, Cout/groups, kh, kw]: swap in/out within each group.
    const wt = groups === 1 ? permute(w, [1, 0, 2, 3]) : reshape(
      permute(reshape(w, [groups, outChannels / groups, inPerGroup, kh, kw]), [0, 2, 1, 3, 4]),
      [groups * inPerGroup, outChannels / groups, kh, kw],
    );
    px0 -= kw - 1;
    px1 -= kw - up;
    py0 -= kh - 1;
    py1 -= kh - up;
    const pxt = Math.max(Math.min(-px0, -px1), 0);
    const pyt = Math.max(Math.min(-py0, -py1), 0);
    let y = convTranspose2d(x, wt, { stride: up, padding: [pyt, pxt], groups });
    y = upfirdn2d(y, f, { padding: [px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain: up * up });
    if (down > 1) y = upfirdn2d(y, f, { down });
    return y;
  }
  // No resampling: symmetric padding goes to the convolution, anything else is padded first.
  if (px0 === px1 && py0 === py1 && px0 >= 0 && py0 >= 0) {
    return conv2d(x, w, { padding: [py0, px0], groups });
  }
  const padded = pad(x, [[0, 0], [0, 0], [py0, py1], [px0, px1]]);
  return conv2d(padded, w, { groups });
}

/**
 * StyleGAN2's modulated convolution: the weight is scaled per sample by the
 * styles (over input channels) and, with demodulation, each output channel is
 * renormalised: d_o = rsqrt(Σ_{i,kh,kw} (w_oi·s_i)² + 1e−8).
 *
 * Two evaluation orders, mathematically identical, as in the original:
 * - non-fused (EG3D's training mode, `fused_modconv='inference_only'`):
 *   x·s → convolution with the shared weight → ·d (+ noise);
 * - fused (eval mode): one grouped convolution with per-sample weights
 *   w·s·d, the batch folded into the channel axis (+ noise).
 */
import { scope } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { add, mul, rsqrt, square } from "../ops/elementwise.ts";
import { sum } from "../ops/reduce.ts";
import { matmul } from "../ops/matmul.ts";
import { reshape } from "../ops/movement.ts";
import { type Filter, setupFilter } from "./upfirdn2d.ts";
import { conv2dResample } from "./conv2d_resample.ts";

/** Options of `modulatedConv2d`. */
export interface ModulatedConv2dOptions {
  /** Added to the output, broadcast to [N, Cout, H, W] (e.g. noise_const · strength). */
  noise?: Tensor | null;
  /** Integer upsampling factor (default 1). */
  up?: number;
  /** Integer downsampling factor (default 1). */
  down?: number;
  /** Padding of the (upsampled) input (default 0). */
  padding?: number;
  /** Resampling filter (default [1,3,3,1]). */
  filter?: Filter;
  /** Apply weight demodulation (default true; ToRGB passes false). */
  demodulate?: boolean;
  /** Grouped-conv path (eval mode) instead of scaling activations (default false = training). */
  fused?: boolean;
}

/** The demodulation coefficients [N, Cout] of weight [Cout, Cin, kh, kw] under styles [N, Cin]. */
export function demodulationCoefficients(weight: Tensor, styles: Tensor): Tensor {
  // Σ_{i,k} (w_oik·s_ni)² = Σ_i s_ni² · (Σ_k w_oik²): one small matmul instead of an [N, Cout, Cin, k, k] tensor.
  const weightEnergy = sum(square(weight), [2, 3]);
  return rsqrt(add(matmul(square(styles), weightEnergy, { transB: true }), 1e-8));
}

/**
 * x [N, Cin, H, W], weight [Cout, Cin, kh, kw], styles [N, Cin] →
 * [N, Cout, H', W'].
 */
export function modulatedConv2d(
  x: Tensor,
  weight: Tensor,
  styles: Tensor,
  options: ModulatedConv2dOptions = {},
): Tensor {
  return scope(() => {
    const [n, cin, h, w] = x.shape;
    const [cout, wcin, kh, kw] = weight.shape;
    if (wcin !== cin || styles.shape[0] !== n || styles.shape[1] !== cin) {
      throw new Error(
        `modulatedConv2d: x [${x.shape}], weight [${weight.shape}] and styles [${styles.shape}] do not fit`,
      );
    }
    const demodulate = options.demodulate ?? true;
    const filter = options.filter ?? defaultFilter;
    const resample = {
      up: options.up ?? 1,
      down: options.down ?? 1,
      padding: options.padding ?? 0,
    };
    const noise = options.noise ?? null;

    if (!options.fused) {
      let y = mul(x, reshape(styles, [n, cin, 1, 1]));
      y = conv2dResample(y, weight, filter, resample);
      if (demodulate) {
        y = mul(y, reshape(demodulationCoefficients(weight, styles), [n, cout, 1, 1]));
      }
      return noise ? add(y, noise) : y;
    }

    let wn = mul(reshape(weight, [1, cout, cin, kh, kw]), reshape(styles, [n, 1, cin, 1, 1]));
    if (demodulate) {
      const d = rsqrt(add(sum(square(wn), [2, 3, 4]), 1e-8));
      wn = mul(wn, reshape(d, [n, cout, 1, 1, 1]));
    }
    const grouped = conv2dResample(
      reshape(x, [1, n * cin, h, w]),
      reshape(wn, [n * cout, cin, kh, kw]),
      filter,
      { ...resample, groups: n },
    );
    const y = reshape(grouped, [n, cout, grouped.shape[2], grouped.shape[3]]);
    return noise ? add(y, noise) : y;
  });
}

const defaultFilter = setupFilter([1, 3, 3, 1]);

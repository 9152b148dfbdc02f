/**
 * The Gaussian blur EG3D's StyleGAN2Loss applies to discriminator inputs
 * (`run_D`): taps exp2(−(k/σ)²) for k = −⌊3σ⌋ … ⌊3σ⌋ (note exp2, not the
 * usual exp(−k²/2σ²)), normalised to sum 1, applied separably with
 * `filter2d` (zero padding ⌊3σ⌋ on every side). σ fades from 10 to 0 over
 * the first kimg of training; ⌊3σ⌋ = 0 means no blur.
 */
import type { Tensor } from "../tensor/tensor.ts";
import { type Filter, upfirdn2d } from "./upfirdn2d.ts";

/** The normalised 1-D taps for `sigma` (empty when ⌊3σ⌋ = 0). */
export function blurTaps(sigma: number): Float64Array {
  const radius = Math.floor(sigma * 3);
  if (!(radius > 0)) return new Float64Array(0);
  const taps = Float64Array.from(
    { length: 2 * radius + 1 },
    (_, i) => 2 ** -(((i - radius) / sigma) ** 2),
  );
  const total = taps.reduce((a, b) => a + b, 0);
  return taps.map((t) => t / total);
}

/**
 * Blurs x [N, C, H, W] with σ = `sigma` (same size out): a horizontal then a
 * vertical pass, as the original's reference upfirdn2d does with a 1-D filter.
 */
export function gaussianBlur(x: Tensor, sigma: number): Tensor {
  const taps = blurTaps(sigma);
  if (taps.length === 0) return x;
  const r = (taps.length - 1) / 2;
  const row: Filter = { taps, height: 1, width: taps.length };
  const column: Filter = { taps, height: taps.length, width: 1 };
  const y = upfirdn2d(x, row, { padding: [r, r, 0, 0] });
  return upfirdn2d(y, column, { padding: [0, 0, r, r] });
}

/**
 * Minibatch standard deviation (StyleGAN2): samples n and n' share a group
 * when n ≡ n' (mod N/G); the std over the group (with 1e−8 inside the sqrt),
 * averaged over channels and pixels, is appended as `numChannels` channels.
 */
import type { Tensor } from "../tensor/tensor.ts";
import { add, sqrt, square, sub } from "../ops/elementwise.ts";
import { mean } from "../ops/mean_max.ts";
import { expand } from "../ops/reduce.ts";
import { concat, reshape } from "../ops/movement.ts";

/** x [N, C, H, W] → [N, C + F, H, W]. */
export function minibatchStd(x: Tensor, groupSize: number, numChannels = 1): Tensor {
  const [n, c, h, w] = x.shape;
  const g = Math.min(groupSize, n);
  if (n % g !== 0) {
    throw new Error(`minibatch std: batch ${n} is not a multiple of group size ${g}`);
  }
  const f = numChannels;
  const y0 = reshape(x, [g, n / g, f, c / f, h, w]);
  const centered = sub(y0, mean(y0, 0, { keepDims: true }));
  const std = sqrt(add(mean(square(centered), 0), 1e-8)); // [n/g, F, c, H, W]
  const perGroup = mean(std, [2, 3, 4]); // [n/g, F]
  const tiled = expand(reshape(perGroup, [1, n / g, f, 1, 1]), [g, n / g, f, h, w]);
  return concat([x, reshape(tiled, [n, f, h, w])], 1);
}

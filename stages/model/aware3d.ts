/**
 * Mimic3D's 3-D-aware feature aggregation (`aware3d` in the original
 * networks_stylegan2.py). Input (B·3, C, H, W) with the planes of a sample
 * consecutive in the order xy, yz, zx (xy indexed [y, x], yz [z, y], zx
 * [x, z]). Each plane gets the other two averaged along the axis it lacks and
 * broadcast along the shared one; output (B·3, 3C, H, W) with channel blocks
 * always [from xy, from yz, from zx]. Square planes are required.
 */
import {
  concat,
  expand,
  mean,
  noGrad,
  reshape,
  scope,
  slice,
  stack,
  type Tensor,
  transpose,
} from "../../kernels/mod.ts";

/** Mean over `axis` (−1 = columns, −2 = rows), broadcast back to the full plane. */
function spread(x: Tensor, axis: -1 | -2): Tensor {
  return expand(mean(x, axis === -1 ? 3 : 2, { keepDims: true }), x.shape);
}

/**
 * (B·3, C, H, W) → (B·3, 3C, H, W). The convolution after it keeps its input for the
 * backward; the output carries a recipe, so a memory scope may keep x (a third of the size)
 * instead and aggregate again when the backward reads it (copies and means: the same bits).
 */
export function aware3d(x: Tensor): Tensor {
  const out = aggregate(x);
  if (out.gradFn) {
    out.recipe = {
      operands: [x],
      run: () => scope(() => noGrad(() => aggregate(x))),
    };
  }
  return out;
}

function aggregate(x: Tensor): Tensor {
  const [b3, c, h, w] = x.shape;
  if (b3 % 3 !== 0) throw new Error(`aware3d: batch ${b3} is not a multiple of 3 planes`);
  if (h !== w) throw new Error(`aware3d: planes must be square, got ${h}×${w}`);
  const planes = reshape(x, [b3 / 3, 3, c, h, w]);
  const plane = (i: number) => reshape(slice(planes, [null, [i, i + 1]]), [b3 / 3, c, h, w]);
  const xy = plane(0), yz = plane(1), zx = plane(2);
  const zy = transpose(yz, 2, 3); // [y, z]
  const xz = transpose(zx, 2, 3); // [z, x]
  const yx = transpose(xy, 2, 3); // [x, y]
  const forXy = concat([xy, spread(zy, -1), spread(xz, -2)], 1);
  const forYz = concat([spread(yx, -2), yz, spread(xz, -1)], 1);
  const forZx = concat([spread(yx, -1), spread(zy, -2), zx], 1);
  return reshape(stack([forXy, forYz, forZx], 1), [b3, 3 * c, h, w]);
}

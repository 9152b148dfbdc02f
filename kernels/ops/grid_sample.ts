/**
 * Bilinear `grid_sample` for 2-D images, as PyTorch's with `mode='bilinear'`,
 * `padding_mode='zeros'`, `align_corners=False`: for image (N, C, H, W) and
 * grid (N, Ho, Wo, 2) holding (x, y) in [−1, 1] (x indexes W, y indexes H),
 * the output (N, C, Ho, Wo) interpolates the 4 texels around the continuous
 * position ((x + 1)·W − 1)/2, ((y + 1)·H − 1)/2; texels outside count as 0.
 *
 * Backward:
 * - into the grid: a gather (each point reads its 4 texels), fixed channel order;
 * - into the image: a scatter, made deterministic without float atomics by
 *   accumulating in 64-bit fixed point with integer atomics (fixed_point_sum.ts),
 *   the scale bounded by max|∂out| times the number of points. (A counting sort of
 *   points by texel followed by a gather was also deterministic, but as slow or
 *   slower for render-like clusters of points, and was removed.)
 *
 * The image-gradient op is linear in ∂out, so its own backward w.r.t. ∂out is
 * `gridSample` again (the adjoint pair); second derivatives through the grid
 * coordinates are not implemented and throw when requested.
 */
import { numel, type Tensor } from "../tensor/tensor.ts";
import { ELEMENT_MAIN, type Params, paramsDecl } from "./params.ts";
import { abs } from "./elementwise.ts";
import { max } from "./mean_max.ts";
import { zeros } from "./creation.ts";
import { ADD_FIXED_WGSL, fixedPointToFloat } from "./fixed_point_sum.ts";
import { defineOp, type KernelDeclaration, launch } from "./op.ts";

/** The sizes of a sampling: image [n, c, h, w], p points per image. */
function sizes(imageShape: readonly number[], grid: Tensor) {
  const [n, c, h, w] = imageShape;
  return { n, c, h, w, p: grid.shape[1] * grid.shape[2] };
}

function checkShapes(image: Tensor, grid: Tensor): void {
  if (
    image.rank !== 4 || grid.rank !== 4 || grid.shape[3] !== 2 || grid.shape[0] !== image.shape[0]
  ) {
    throw new Error(
      `gridSample: expects image [N, C, H, W] and grid [N, Ho, Wo, 2], got [${image.shape}] and [${grid.shape}]`,
    );
  }
}

/** The uniform words of every grid_sample kernel, after the item count: C, H, W, points. */
function sizeWords(words: Params, imageShape: readonly number[], grid: Tensor): Params {
  const { c, h, w, p } = sizes(imageShape, grid);
  return words.u32(c, h, w, p);
}

/**
 * WGSL of bilinear taps (also the tri-plane sampler's): `position`, the continuous texel
 * position's base corner and fractions; `inside`, whether a tap is in the image (zero padding
 * outside); `tapWeight`, the weight of tap k (k & 1: x + 1, k ≥ 2: y + 1).
 */
export const BILINEAR_WGSL = `
struct Pos { x0: i32, y0: i32, wx: f32, wy: f32 }
fn position(gx: f32, gy: f32, W: u32, H: u32) -> Pos {
  // Clamped where all 4 taps are outside anyway, so i32() never overflows.
  let px = clamp(((gx + 1.0) * f32(W) - 1.0) * 0.5, -2.0, f32(W) + 1.0);
  let py = clamp(((gy + 1.0) * f32(H) - 1.0) * 0.5, -2.0, f32(H) + 1.0);
  let fx = floor(px);
  let fy = floor(py);
  return Pos(i32(fx), i32(fy), px - fx, py - fy);
}
fn inside(x: i32, y: i32, W: u32, H: u32) -> bool {
  return x >= 0 && y >= 0 && x < i32(W) && y < i32(H);
}
fn tapWeight(q: Pos, k: u32) -> f32 {
  return select(1.0 - q.wx, q.wx, (k & 1u) == 1u) * select(1.0 - q.wy, q.wy, k >= 2u);
}`;

function position64(gx: number, gy: number, w: number, h: number) {
  const px = Math.min(Math.max(((gx + 1) * w - 1) * 0.5, -2), w + 1);
  const py = Math.min(Math.max(((gy + 1) * h - 1) * 0.5, -2), h + 1);
  const x0 = Math.floor(px);
  const y0 = Math.floor(py);
  return { x0, y0, wx: px - x0, wy: py - y0 };
}

/**
 * Calls `fn(i, b, pi, q)` for every point of `grid` (flat index i, the i-th point pi of image
 * b) with its taps' position `q` in an image of `imageShape`.
 */
function eachPoint(
  grid: Tensor,
  imageShape: readonly number[],
  fn: (i: number, b: number, pi: number, q: ReturnType<typeof position64>) => void,
): void {
  const { n, h, w, p } = sizes(imageShape, grid);
  const g = grid.cpuData;
  for (let i = 0; i < n * p; i++) {
    fn(i, Math.floor(i / p), i % p, position64(g[2 * i], g[2 * i + 1], w, h));
  }
}

const FORWARD_WGSL = `// grid_sample
@group(0) @binding(0) var<storage, read> img: array<f32>;
@group(0) @binding(1) var<storage, read> grd: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${paramsDecl(3, 5)}
${BILINEAR_WGSL}
${ELEMENT_MAIN}
  let C = P(1u); let H = P(2u); let W = P(3u); let NP = P(4u);
  let p = i % NP;
  let nc = i / NP;
  let n = nc / C;
  let g = 2u * (n * NP + p);
  let q = position(grd[g], grd[g + 1u], W, H);
  let base = nc * H * W;
  var acc = 0.0;
  for (var k = 0u; k < 4u; k++) {
    let x = q.x0 + i32(k & 1u);
    let y = q.y0 + i32(k >> 1u);
    if (inside(x, y, W, H)) {
      acc += tapWeight(q, k) * img[base + u32(y) * W + u32(x)];
    }
  }
  out[i] = acc;
}`;

const sample = defineOp({
  name: "grid_sample",
  shape: ([image, grid]) => {
    checkShapes(image, grid);
    return [image.shape[0], image.shape[1], grid.shape[1], grid.shape[2]];
  },
  cpu: ([image, grid], [out]) => {
    const { c, h, w, p } = sizes(image.shape, grid);
    const src = image.cpuData;
    const g = grid.cpuData;
    const dst = out.cpuData;
    for (let i = 0; i < out.size; i++) {
      const pi = i % p;
      const nc = Math.floor(i / p);
      const b = Math.floor(nc / c);
      const q = position64(g[2 * (b * p + pi)], g[2 * (b * p + pi) + 1], w, h);
      let acc = 0;
      for (let k = 0; k < 4; k++) {
        const x = q.x0 + (k & 1);
        const y = q.y0 + (k >> 1);
        if (x < 0 || y < 0 || x >= w || y >= h) continue;
        const wgt = ((k & 1) ? q.wx : 1 - q.wx) * (k >= 2 ? q.wy : 1 - q.wy);
        acc += wgt * src[nc * h * w + y * w + x];
      }
      dst[i] = acc;
    }
  },
  gpu: {
    wgsl: FORWARD_WGSL,
    params: (words, [image, grid]) => sizeWords(words, image.shape, grid),
  },
  saved: ([image, grid]) => (grid.requiresGrad ? [image, grid] : [grid]),
  backward: (g, [image, grid]) => [
    image.requiresGrad ? gridSampleImageGrad(g, grid, image.shape) : null,
    grid.requiresGrad ? gridSampleGridGrad(g, image, grid) : null,
  ],
});

// ---- ∂/∂grid: a gather ------------------------------------------------------

const GRID_GRAD_WGSL = `// grid_sample_grid_grad
@group(0) @binding(0) var<storage, read> gout: array<f32>;
@group(0) @binding(1) var<storage, read> img: array<f32>;
@group(0) @binding(2) var<storage, read> grd: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${paramsDecl(4, 5)}
${BILINEAR_WGSL}
fn tap(base: u32, x: i32, y: i32, W: u32, H: u32) -> f32 {
  if (!inside(x, y, W, H)) { return 0.0; }
  return img[base + u32(y) * W + u32(x)];
}
${ELEMENT_MAIN}
  let C = P(1u); let H = P(2u); let W = P(3u); let NP = P(4u);
  let p = i % NP;
  let n = i / NP;
  let q = position(grd[2u * i], grd[2u * i + 1u], W, H);
  var dx = 0.0;
  var dy = 0.0;
  for (var c = 0u; c < C; c++) {
    let base = (n * C + c) * H * W;
    let g = gout[(n * C + c) * NP + p];
    let v00 = tap(base, q.x0, q.y0, W, H);
    let v01 = tap(base, q.x0 + 1, q.y0, W, H);
    let v10 = tap(base, q.x0, q.y0 + 1, W, H);
    let v11 = tap(base, q.x0 + 1, q.y0 + 1, W, H);
    dx += g * ((v01 - v00) * (1.0 - q.wy) + (v11 - v10) * q.wy);
    dy += g * ((v10 - v00) * (1.0 - q.wx) + (v11 - v01) * q.wx);
  }
  out[2u * i] = dx * f32(W) * 0.5;
  out[2u * i + 1u] = dy * f32(H) * 0.5;
}`;

const gridGrad = defineOp({
  name: "grid_sample_grid_grad",
  shape: ([, image, grid]) => {
    checkShapes(image, grid);
    return grid.shape;
  },
  cpu: ([gOut, image, grid], [out]) => {
    const { c, h, w, p } = sizes(image.shape, grid);
    const src = image.cpuData;
    const go = gOut.cpuData;
    const dst = out.cpuData;
    const tap = (base: number, x: number, y: number) =>
      x < 0 || y < 0 || x >= w || y >= h ? 0 : src[base + y * w + x];
    eachPoint(grid, image.shape, (i, b, pi, q) => {
      let dx = 0;
      let dy = 0;
      for (let ch = 0; ch < c; ch++) {
        const base = (b * c + ch) * h * w;
        const gv = go[(b * c + ch) * p + pi];
        const v00 = tap(base, q.x0, q.y0);
        const v01 = tap(base, q.x0 + 1, q.y0);
        const v10 = tap(base, q.x0, q.y0 + 1);
        const v11 = tap(base, q.x0 + 1, q.y0 + 1);
        dx += gv * ((v01 - v00) * (1 - q.wy) + (v11 - v10) * q.wy);
        dy += gv * ((v10 - v00) * (1 - q.wx) + (v11 - v01) * q.wx);
      }
      dst[2 * i] = dx * w * 0.5;
      dst[2 * i + 1] = dy * h * 0.5;
    });
  },
  gpu: {
    wgsl: GRID_GRAD_WGSL,
    // One thread per point.
    threads: ([, , grid]) => grid.size / 2,
    params: (words, [, image, grid]) => sizeWords(words, image.shape, grid),
  },
  backward: () => noSecondOrder("through ∂/∂grid"),
});

// ---- ∂/∂image: 64-bit fixed-point integer atomics ---------------------------

const FIXED_SCATTER_WGSL = `// grid_sample_image_grad_scatter
@group(0) @binding(0) var<storage, read> gout: array<f32>;
@group(0) @binding(1) var<storage, read> grd: array<f32>;
@group(0) @binding(2) var<storage, read> gmax: array<f32>;
@group(0) @binding(3) var<storage, read_write> acc: array<atomic<u32>>;
${paramsDecl(4, 5)}
${BILINEAR_WGSL}
${ADD_FIXED_WGSL}
${ELEMENT_MAIN}
  let C = P(1u); let H = P(2u); let W = P(3u); let NP = P(4u);
  let p = i % NP;
  let n = i / NP;
  let q = position(grd[2u * i], grd[2u * i + 1u], W, H);
  let scale = fixedScale(gmax[0] * f32(NP));
  for (var k = 0u; k < 4u; k++) {
    let x = q.x0 + i32(k & 1u);
    let y = q.y0 + i32(k >> 1u);
    if (!inside(x, y, W, H)) { continue; }
    let wgt = tapWeight(q, k) * scale;
    for (var c = 0u; c < C; c++) {
      addFixed((n * C + c) * H * W + u32(y) * W + u32(x), gout[(n * C + c) * NP + p] * wgt);
    }
  }
}`;

/** Adds every point's share into 64-bit fixed-point sums over the image (`acc`). */
const FIXED_SCATTER: KernelDeclaration<readonly number[]> = {
  wgsl: FIXED_SCATTER_WGSL,
  // One thread per point.
  threads: ([, grid]) => grid.size / 2,
  params: (words, [, grid], _, imageShape) => sizeWords(words, imageShape, grid),
};

const imageGrad = defineOp<readonly number[]>({
  name: "grid_sample_image_grad",
  shape: (_, imageShape) => imageShape,
  cpu: ([gOut, grid], [out], imageShape) => {
    const { c, h, w, p } = sizes(imageShape, grid);
    const go = gOut.cpuData;
    const dst = out.cpuData;
    eachPoint(grid, imageShape, (_, b, pi, q) => {
      for (let k = 0; k < 4; k++) {
        const x = q.x0 + (k & 1);
        const y = q.y0 + (k >> 1);
        if (x < 0 || y < 0 || x >= w || y >= h) continue;
        const wgt = ((k & 1) ? q.wx : 1 - q.wx) * (k >= 2 ? q.wy : 1 - q.wy);
        for (let ch = 0; ch < c; ch++) {
          dst[(b * c + ch) * h * w + y * w + x] += go[(b * c + ch) * p + pi] * wgt;
        }
      }
    });
  },
  gpu: ([gOut, grid], imageShape) => {
    const { n, h, w, p } = sizes(imageShape, grid);
    if (n * p === 0 || numel(imageShape) === 0) return zeros(imageShape);
    const gmax = max(abs(gOut));
    const acc = zeros([2 * numel(imageShape)]);
    launch("grid_sample_image_grad_scatter", FIXED_SCATTER, [gOut, grid, gmax], [acc], imageShape);
    const out = fixedPointToFloat(acc, gmax, imageShape, { channels: 1, texels: h * w, terms: p });
    gmax.dispose();
    acc.dispose();
    return out;
  },
  saved: ([, grid]) => [grid],
  backward: (gg, [, grid]) => [
    gridSample(gg, grid),
    grid.requiresGrad ? noSecondOrder("∂²/∂image∂grid") : null,
  ],
});

// ---- differentiable ops --------------------------------------------------------

function noSecondOrder(what: string): never {
  throw new Error(
    `gridSample: the second derivative ${what} is not implemented (first-order gradients only; ` +
      "R1 differentiates the discriminator, which does not use gridSample)",
  );
}

/**
 * ∂L/∂image of `gridSample` for ∂L/∂out `gOut`: linear in `gOut`, so its
 * backward w.r.t. `gOut` is `gridSample` itself.
 */
export function gridSampleImageGrad(
  gOut: Tensor,
  grid: Tensor,
  imageShape: readonly number[],
): Tensor {
  return imageGrad([gOut, grid], imageShape);
}

/** ∂L/∂grid of `gridSample` (first order only). */
export function gridSampleGridGrad(gOut: Tensor, image: Tensor, grid: Tensor): Tensor {
  return gridGrad([gOut, image, grid]);
}

/**
 * Bilinear sampling of `image` [N, C, H, W] at `grid` [N, Ho, Wo, 2] → [N, C, Ho, Wo]
 * (zero padding, align_corners=False, as torch.nn.functional.grid_sample).
 */
export function gridSample(image: Tensor, grid: Tensor): Tensor {
  return sample([image, grid]);
}

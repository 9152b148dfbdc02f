/**
 * Mimic3D's 3-D-aware feature aggregation (`aware3d` in the original
 * networks_stylegan2.py). Input (B·3, C, H, W) with the planes of a sample
 * consecutive in the order xy, yz, zx (xy indexed [y, x], yz [z, y], zx
 * [x, z]). Each plane gets the other two averaged along the axis it lacks and
 * broadcast along the shared one; output (B·3, 3C, H, W) with channel blocks
 * always [from xy, from yz, from zx]. Square planes are required.
 *
 * Written out per output block (p: the plane, q: the block, (i, j): the pixel):
 *
 *   out[p, q, i, j] = x[q, i, j]            when q = p
 *                   = colMean(x[q])[i]      when q = p + 1 (mod 3)
 *                   = rowMean(x[q])[j]      when q = p + 2 (mod 3)
 *
 * It is linear, so its backward is its transpose: dx[q, r, t] = g[q, q, r, t] + rowSum(g[q − 1,
 * q])[t] / H + colSum(g[q + 1, q])[r] / H. The two are each other's backward, so gradients of any
 * order need nothing else. Each is two kernels: the means (or block sums) as [B·3, C, H] vectors,
 * then one pass writing every output element, in place of the transposes, reductions and
 * concatenations of the original's formulation.
 */
import {
  defineOp,
  ELEMENT_MAIN,
  launch,
  noGrad,
  type Op,
  paramsDecl,
  scope,
  Tensor,
} from "../../kernels/mod.ts";

/**
 * Per (sample, block q, channel, t): the mean of row t and of column t of a source plane, into
 * [B·3, C, H] each. Planes of x (mode 0): plane q. Blocks of an output gradient (mode 1): row t of
 * block (q − 1, q) and column t of block (q + 1, q). Params: count, C, H, mode.
 */
const AXIS_MEANS_WGSL = `// aware3d_axis_means
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> rowMean: array<f32>;
@group(0) @binding(2) var<storage, read_write> colMean: array<f32>;
${paramsDecl(3, 4)}
${ELEMENT_MAIN}
  let C = P(1u); let H = P(2u); let HH = H * H;
  let t = i % H;
  let c = (i / H) % C;
  let q = (i / (H * C)) % 3u;
  let s = i / (3u * C * H);
  var rowBase = ((s * 3u + q) * C + c) * HH;
  var colBase = rowBase;
  if (P(3u) == 1u) {
    rowBase = (((s * 3u + (q + 2u) % 3u) * 3u + q) * C + c) * HH;
    colBase = (((s * 3u + (q + 1u) % 3u) * 3u + q) * C + c) * HH;
  }
  var row = 0.0;
  var col = 0.0;
  for (var k = 0u; k < H; k++) {
    row += src[rowBase + t * H + k];
    col += src[colBase + k * H + t];
  }
  rowMean[i] = row / f32(H);
  colMean[i] = col / f32(H);
}`;

/** out [B·3, 3C, H, H] from x and its means. Params: count, C, H. */
const ASSEMBLE_WGSL = `// aware3d_assemble
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> rowMean: array<f32>;
@group(0) @binding(2) var<storage, read> colMean: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${paramsDecl(4, 3)}
${ELEMENT_MAIN}
  let C = P(1u); let H = P(2u); let HH = H * H;
  let j = i % H;
  let pix = i % HH;
  let c = (i / HH) % C;
  let q = (i / (HH * C)) % 3u;
  let p = (i / (3u * HH * C)) % 3u;
  let s = i / (9u * HH * C);
  let plane = (s * 3u + q) * C + c;
  var v: f32;
  if (q == p) {
    v = x[plane * HH + pix];
  } else if (q == (p + 1u) % 3u) {
    v = colMean[plane * H + pix / H];
  } else {
    v = rowMean[plane * H + j];
  }
  out[i] = v;
}`;

/** dx [B·3, C, H, H] from the output gradient and its block means. Params: count, C, H. */
const TRANSPOSE_WGSL = `// aware3d_transpose
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> rowMean: array<f32>;
@group(0) @binding(2) var<storage, read> colMean: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
${paramsDecl(4, 3)}
${ELEMENT_MAIN}
  let C = P(1u); let H = P(2u); let HH = H * H;
  let pix = i % HH;
  let c = (i / HH) % C;
  let q = (i / (HH * C)) % 3u;
  let s = i / (3u * HH * C);
  let plane = (s * 3u + q) * C + c;
  dx[i] = g[(((s * 3u + q) * 3u + q) * C + c) * HH + pix] + rowMean[plane * H + pix % H] +
    colMean[plane * H + pix / H];
}`;

type Direction = "forward" | "transpose";

/** Samples (each three planes), channels, and the planes' side. */
interface PlaneSizes {
  s: number;
  c: number;
  h: number;
}

/** The float64 twin of both directions, into `out`. */
function aware3dCpu(direction: Direction, src: Float64Array, out: Float64Array, sizes: PlaneSizes) {
  const { s, c, h } = sizes;
  const hh = h * h;
  const xAt = (q: number, ch: number, r: number, t: number, si: number) =>
    ((si * 3 + q) * c + ch) * hh + r * h + t;
  const gAt = (p: number, q: number, ch: number, r: number, t: number, si: number) =>
    (((si * 3 + p) * 3 + q) * c + ch) * hh + r * h + t;
  for (let si = 0; si < s; si++) {
    for (let q = 0; q < 3; q++) {
      for (let ch = 0; ch < c; ch++) {
        const rowMean = new Float64Array(h);
        const colMean = new Float64Array(h);
        for (let t = 0; t < h; t++) {
          for (let k = 0; k < h; k++) {
            if (direction === "forward") {
              rowMean[t] += src[xAt(q, ch, t, k, si)] / h;
              colMean[t] += src[xAt(q, ch, k, t, si)] / h;
            } else {
              rowMean[t] += src[gAt((q + 2) % 3, q, ch, t, k, si)] / h;
              colMean[t] += src[gAt((q + 1) % 3, q, ch, k, t, si)] / h;
            }
          }
        }
        for (let r = 0; r < h; r++) {
          for (let t = 0; t < h; t++) {
            if (direction === "transpose") {
              out[xAt(q, ch, r, t, si)] = src[gAt(q, q, ch, r, t, si)] + rowMean[t] + colMean[r];
              continue;
            }
            for (let p = 0; p < 3; p++) {
              out[gAt(p, q, ch, r, t, si)] = q === p
                ? src[xAt(q, ch, r, t, si)]
                : q === (p + 1) % 3
                ? colMean[r]
                : rowMean[t];
            }
          }
        }
      }
    }
  }
}

/** The GPU path of one direction: the means kernel, then the pass writing `shape`. */
function aware3dGpu(direction: Direction, src: Tensor, shape: number[], sizes: PlaneSizes) {
  const { s, c, h } = sizes;
  const out = Tensor.empty(shape);
  if (out.size === 0) return out;
  const vectors = 3 * s * c * h;
  const rowMean = Tensor.empty([vectors]);
  const colMean = Tensor.empty([vectors]);
  launch(
    "aware3d_axis_means",
    { wgsl: AXIS_MEANS_WGSL, params: (w) => w.u32(c, h, direction === "forward" ? 0 : 1) },
    [src],
    [rowMean, colMean],
    sizes,
  );
  const wgsl = direction === "forward" ? ASSEMBLE_WGSL : TRANSPOSE_WGSL;
  launch(
    `aware3d_${direction === "forward" ? "assemble" : "transpose"}`,
    { wgsl, params: (w) => w.u32(c, h) },
    [src, rowMean, colMean],
    [out],
    sizes,
  );
  rowMean.dispose();
  colMean.dispose();
  return out;
}

/** One direction as an op whose backward is the other direction. */
function direction(which: Direction, shape: (sizes: PlaneSizes) => number[]): Op<PlaneSizes> {
  return defineOp<PlaneSizes>({
    name: `aware3d_${which}`,
    shape: (_, sizes) => shape(sizes),
    cpu: ([src], [out], sizes) => aware3dCpu(which, src.cpuData, out.cpuData, sizes),
    gpu: ([src], sizes) => aware3dGpu(which, src, shape(sizes), sizes),
    backward: (g, _, __, sizes) => [(which === "forward" ? transposed : forward)([g], sizes)],
  });
}

const forward = direction("forward", ({ s, c, h }) => [3 * s, 3 * c, h, h]);
const transposed = direction("transpose", ({ s, c, h }) => [3 * s, c, h, h]);

/**
 * (B·3, C, H, W) → (B·3, 3C, H, W). The convolution after it keeps its input for the
 * backward; the output carries a recipe, so a memory scope may keep x (a third of the size)
 * instead and aggregate again when the backward reads it (the same kernels: the same bits).
 */
export function aware3d(x: Tensor): Tensor {
  const [b3, c, h, w] = x.shape;
  if (x.rank !== 4 || b3 % 3 !== 0) {
    throw new Error(`aware3d: needs (B·3, C, H, W) planes, got [${x.shape}]`);
  }
  if (h !== w) throw new Error(`aware3d: planes must be square, got ${h}×${w}`);
  const sizes = { s: b3 / 3, c, h };
  const out = forward([x], sizes);
  if (out.gradFn) {
    out.recipe = { operands: [x], run: () => scope(() => noGrad(() => forward([x], sizes))) };
  }
  return out;
}

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
 *   the scale bounded by max|∂out| times the number of points.
 *   The alternative gather formulation: a counting sort of points by base texel
 *   (integer atomics for counts and slots, then each cell's short list sorted by
 *   point index), after which each texel sums its 4 cells' points in that fixed
 *   order. Both are deterministic; `setGridSampleScatter` picks one, timings in
 *   `bench/render_bench.ts --only grid-sample`.
 *
 * The image-gradient op is linear in ∂out, so its own backward w.r.t. ∂out is
 * `gridSample` again (the adjoint pair); second derivatives through the grid
 * coordinates are not implemented and throw when requested.
 */
import { record } from "../tensor/autograd.ts";
import { numel, Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch } from "../runtime/commands.ts";
import { ELEMENT_MAIN, flatIndex, grid as gridOf, Params, paramsDecl, WG } from "./params.ts";
import { abs } from "./elementwise.ts";
import { max } from "./reduce.ts";
import { zeros } from "./creation.ts";
import { ADD_FIXED_WGSL, READ_FIXED_WGSL } from "./fixed_point_sum.ts";

function checkShapes(
  image: Tensor,
  grid: Tensor,
): { n: number; c: number; h: number; w: number; p: number } {
  if (
    image.rank !== 4 || grid.rank !== 4 || grid.shape[3] !== 2 || grid.shape[0] !== image.shape[0]
  ) {
    throw new Error(
      `gridSample: expects image [N, C, H, W] and grid [N, Ho, Wo, 2], got [${image.shape}] and [${grid.shape}]`,
    );
  }
  if (image.device !== grid.device) {
    throw new Error("gridSample: image and grid on different devices");
  }
  const [n, c, h, w] = image.shape;
  return { n, c, h, w, p: grid.shape[1] * grid.shape[2] };
}

/** WGSL: continuous texel position, base corner and fractions of point `gi` (index into grid). */
const POSITION_WGSL = `
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
}`;

function position64(gx: number, gy: number, w: number, h: number) {
  const px = Math.min(Math.max(((gx + 1) * w - 1) * 0.5, -2), w + 1);
  const py = Math.min(Math.max(((gy + 1) * h - 1) * 0.5, -2), h + 1);
  const x0 = Math.floor(px);
  const y0 = Math.floor(py);
  return { x0, y0, wx: px - x0, wy: py - y0 };
}

const FORWARD_WGSL = `// grid_sample
@group(0) @binding(0) var<storage, read> img: array<f32>;
@group(0) @binding(1) var<storage, read> grd: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${paramsDecl(3, 5)}
${POSITION_WGSL}
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
      let wgt = select(1.0 - q.wx, q.wx, (k & 1u) == 1u) * select(1.0 - q.wy, q.wy, k >= 2u);
      acc += wgt * img[base + u32(y) * W + u32(x)];
    }
  }
  out[i] = acc;
}`;

function forwardRaw(image: Tensor, grid: Tensor): Tensor {
  image.assertLive();
  grid.assertLive();
  const { n, c, h, w, p } = checkShapes(image, grid);
  const out = Tensor.empty([n, c, grid.shape[1], grid.shape[2]], image.device);
  const total = n * c * p;
  if (image.device === "cpu") {
    const src = image.cpuData;
    const g = grid.cpuData;
    const dst = out.cpuData;
    for (let i = 0; i < total; i++) {
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
    return out;
  }
  if (total === 0) return out;
  dispatch({
    kernel: kernel("grid_sample", FORWARD_WGSL),
    buffers: [image.buffer, grid.buffer, out.buffer],
    params: new Params().u32(total, c, h, w, p).bytes(),
    workgroups: gridOf(total),
  });
  return out;
}

// ---- ∂/∂grid: a gather ------------------------------------------------------

const GRID_GRAD_WGSL = `// grid_sample_grid_grad
@group(0) @binding(0) var<storage, read> gout: array<f32>;
@group(0) @binding(1) var<storage, read> img: array<f32>;
@group(0) @binding(2) var<storage, read> grd: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${paramsDecl(4, 5)}
${POSITION_WGSL}
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

function gridGradRaw(gOut: Tensor, image: Tensor, grid: Tensor): Tensor {
  const { n, c, h, w, p } = checkShapes(image, grid);
  const out = Tensor.empty(grid.shape, grid.device);
  const total = n * p;
  if (grid.device === "cpu") {
    const src = image.cpuData;
    const g = grid.cpuData;
    const go = gOut.cpuData;
    const dst = out.cpuData;
    for (let i = 0; i < total; i++) {
      const pi = i % p;
      const b = Math.floor(i / p);
      const q = position64(g[2 * i], g[2 * i + 1], w, h);
      const tap = (base: number, x: number, y: number) =>
        x < 0 || y < 0 || x >= w || y >= h ? 0 : src[base + y * w + x];
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
    }
    return out;
  }
  if (total === 0) return out;
  dispatch({
    kernel: kernel("grid_sample_grid_grad", GRID_GRAD_WGSL),
    buffers: [gOut.buffer, image.buffer, grid.buffer, out.buffer],
    params: new Params().u32(total, c, h, w, p).bytes(),
    workgroups: gridOf(total),
  });
  return out;
}

// ---- ∂/∂image: 64-bit fixed-point integer atomics ---------------------------

const FIXED_SCATTER_WGSL = `// grid_sample_image_grad_scatter
@group(0) @binding(0) var<storage, read> gout: array<f32>;
@group(0) @binding(1) var<storage, read> grd: array<f32>;
@group(0) @binding(2) var<storage, read> gmax: array<f32>;
@group(0) @binding(3) var<storage, read_write> acc: array<atomic<u32>>;
${paramsDecl(4, 5)}
${POSITION_WGSL}
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
    let wgt = select(1.0 - q.wx, q.wx, (k & 1u) == 1u) * select(1.0 - q.wy, q.wy, k >= 2u) * scale;
    for (var c = 0u; c < C; c++) {
      addFixed((n * C + c) * H * W + u32(y) * W + u32(x), gout[(n * C + c) * NP + p] * wgt);
    }
  }
}`;

const FIXED_FINISH_WGSL = `// grid_sample_image_grad_finish
@group(0) @binding(0) var<storage, read> acc: array<u32>;
@group(0) @binding(1) var<storage, read> gmax: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${paramsDecl(3, 2)}
${READ_FIXED_WGSL}
${ELEMENT_MAIN}
  out[i] = fixedToFloat(i, fixedScale(gmax[0] * f32(P(1u))));
}`;

/**
 * How the image gradient of `gridSample` is accumulated (see the module comment).
 * Measured on the CPU adapter (bench/render_bench.ts --quick --only grid-sample, a busy
 * 2-core machine): sorted-gather ~25% faster for spread points, but as slow or slower
 * for render-like clusters (a ray's samples on one texel: long cell lists, O(k²) sort).
 * Fixed point is the default: one pass, no data-dependent worst case, more precise.
 */
export type ScatterStrategy = "fixed-point-atomics" | "sorted-gather";
let strategy: ScatterStrategy = "fixed-point-atomics";

/** Chooses the image-gradient strategy (benchmarks and tests); returns the previous one. */
export function setGridSampleScatter(s: ScatterStrategy): ScatterStrategy {
  const prev = strategy;
  strategy = s;
  return prev;
}

function imageGradRaw(gOut: Tensor, grid: Tensor, imageShape: readonly number[]): Tensor {
  const [n, c, h, w] = imageShape;
  const p = grid.shape[1] * grid.shape[2];
  if (grid.device === "cpu") {
    const out = Tensor.empty(imageShape, "cpu");
    const g = grid.cpuData;
    const go = gOut.cpuData;
    const dst = out.cpuData;
    for (let i = 0; i < n * p; i++) {
      const pi = i % p;
      const b = Math.floor(i / p);
      const q = position64(g[2 * i], g[2 * i + 1], w, h);
      for (let k = 0; k < 4; k++) {
        const x = q.x0 + (k & 1);
        const y = q.y0 + (k >> 1);
        if (x < 0 || y < 0 || x >= w || y >= h) continue;
        const wgt = ((k & 1) ? q.wx : 1 - q.wx) * (k >= 2 ? q.wy : 1 - q.wy);
        for (let ch = 0; ch < c; ch++) {
          dst[(b * c + ch) * h * w + y * w + x] += go[(b * c + ch) * p + pi] * wgt;
        }
      }
    }
    return out;
  }
  if (n * p === 0 || numel(imageShape) === 0) return zeros(imageShape);
  if (strategy === "sorted-gather") return sortedGatherImageGrad(gOut, grid, imageShape);
  const gmax = max(abs(gOut));
  const acc = zeros([2 * numel(imageShape)]);
  dispatch({
    kernel: kernel("grid_sample_image_grad_scatter", FIXED_SCATTER_WGSL),
    buffers: [gOut.buffer, grid.buffer, gmax.buffer, acc.buffer],
    params: new Params().u32(n * p, c, h, w, p).bytes(),
    workgroups: gridOf(n * p),
  });
  const out = Tensor.empty(imageShape);
  const total = numel(imageShape);
  dispatch({
    kernel: kernel("grid_sample_image_grad_finish", FIXED_FINISH_WGSL),
    buffers: [acc.buffer, gmax.buffer, out.buffer],
    params: new Params().u32(total, p).bytes(),
    workgroups: gridOf(total),
  });
  gmax.dispose();
  acc.dispose();
  return out;
}

// ---- ∂/∂image, alternative: counting sort of points by base texel + gather ---

const CELL_COUNT_WGSL = `// grid_sample_cell_count
@group(0) @binding(0) var<storage, read> grd: array<f32>;
@group(0) @binding(1) var<storage, read_write> cell: array<u32>;
@group(0) @binding(2) var<storage, read_write> count: array<atomic<u32>>;
${paramsDecl(3, 5)}
${POSITION_WGSL}
${ELEMENT_MAIN}
  let H = P(2u); let W = P(3u); let NP = P(4u);
  let n = i / NP;
  let q = position(grd[2u * i], grd[2u * i + 1u], W, H);
  // Cells are base corners (x0, y0) in [−1, W−1]×[−1, H−1]; points touching nothing are dropped.
  if (q.x0 < -1 || q.y0 < -1 || q.x0 >= i32(W) || q.y0 >= i32(H)) { cell[i] = 0xffffffffu; return; }
  let k = (n * (H + 1u) + u32(q.y0 + 1)) * (W + 1u) + u32(q.x0 + 1);
  cell[i] = k;
  atomicAdd(&count[k], 1u);
}`;

// Exclusive scan of the cell counts, one workgroup per block of 256·ITEMS, then block offsets.
const SCAN_ITEMS = 16;
const BLOCK_SCAN_WGSL = `// grid_sample_block_scan
@group(0) @binding(0) var<storage, read_write> data: array<u32>;
@group(0) @binding(1) var<storage, read_write> sums: array<u32>;
${paramsDecl(2, 1)}
var<workgroup> partial: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let block = wid.x + wid.y * nwg.x;
  let start = (block * ${WG}u + lid) * ${SCAN_ITEMS}u;
  var items: array<u32, ${SCAN_ITEMS}>;
  var total = 0u;
  for (var k = 0u; k < ${SCAN_ITEMS}u; k++) {
    let j = start + k;
    let v = select(0u, data[j], j < P(0u));
    items[k] = total;
    total += v;
  }
  partial[lid] = total;
  workgroupBarrier();
  for (var s = 1u; s < ${WG}u; s = s << 1u) {
    var v = 0u;
    if (lid >= s) { v = partial[lid - s]; }
    workgroupBarrier();
    partial[lid] += v;
    workgroupBarrier();
  }
  let before = partial[lid] - total;
  for (var k = 0u; k < ${SCAN_ITEMS}u; k++) {
    let j = start + k;
    if (j < P(0u)) { data[j] = before + items[k]; }
  }
  if (lid == ${WG - 1}u) { sums[block] = partial[lid]; }
}`;

const ADD_BLOCK_WGSL = `// grid_sample_add_block
@group(0) @binding(0) var<storage, read_write> data: array<u32>;
@group(0) @binding(1) var<storage, read> sums: array<u32>;
${paramsDecl(2, 1)}
${ELEMENT_MAIN}
  data[i] += sums[i / ${WG * SCAN_ITEMS}u];
}`;

// Slots within a cell are taken with an atomic counter (any order), then each
// cell's short list is sorted by point index, so the gather order is fixed.
const FILL_WGSL = `// grid_sample_cell_fill
@group(0) @binding(0) var<storage, read> cell: array<u32>;
@group(0) @binding(1) var<storage, read> start: array<u32>;
@group(0) @binding(2) var<storage, read_write> cursor: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> slots: array<u32>;
${paramsDecl(4, 1)}
${ELEMENT_MAIN}
  let k = cell[i];
  if (k == 0xffffffffu) { return; }
  slots[start[k] + atomicAdd(&cursor[k], 1u)] = i;
}`;

const SORT_CELLS_WGSL = `// grid_sample_cell_sort
@group(0) @binding(0) var<storage, read> start: array<u32>;
@group(0) @binding(1) var<storage, read> count: array<u32>;
@group(0) @binding(2) var<storage, read_write> slots: array<u32>;
${paramsDecl(3, 1)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = ${flatIndex()};
  if (k >= P(0u)) { return; }
  let s = start[k];
  let e = s + count[k];
  for (var a = s + 1u; a < e; a++) {
    let v = slots[a];
    var b = a;
    // Two tests, not one joined by && in the loop head: GL miscompiles that (docs/adapters.md).
    while (b > s) {
      if (slots[b - 1u] <= v) { break; }
      slots[b] = slots[b - 1u];
      b--;
    }
    slots[b] = v;
  }
}`;

const GATHER_WGSL = `// grid_sample_image_grad_gather
@group(0) @binding(0) var<storage, read> gout: array<f32>;
@group(0) @binding(1) var<storage, read> grd: array<f32>;
@group(0) @binding(2) var<storage, read> start: array<u32>;
@group(0) @binding(3) var<storage, read> count: array<u32>;
@group(0) @binding(4) var<storage, read> slots: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
${paramsDecl(6, 5)}
${POSITION_WGSL}
${ELEMENT_MAIN}
  let C = P(1u); let H = P(2u); let W = P(3u); let NP = P(4u);
  let x = i32(i % W);
  let y = i32((i / W) % H);
  let nc = i / (W * H);
  let n = nc / C;
  var acc = 0.0;
  // The 4 cells whose corner k lands on this texel, in a fixed order.
  for (var k = 0u; k < 4u; k++) {
    let cx = x - i32(k & 1u);
    let cy = y - i32(k >> 1u);
    let cellIdx = (n * (H + 1u) + u32(cy + 1)) * (W + 1u) + u32(cx + 1);
    let s = start[cellIdx];
    let e = s + count[cellIdx];
    for (var j = s; j < e; j++) {
      let pt = slots[j];
      let q = position(grd[2u * pt], grd[2u * pt + 1u], W, H);
      let wgt = select(1.0 - q.wx, q.wx, (k & 1u) == 1u) * select(1.0 - q.wy, q.wy, k >= 2u);
      acc += gout[nc * NP + (pt - n * NP)] * wgt;
    }
  }
  out[i] = acc;
}`;

function exclusiveScanInPlace(data: Tensor, n: number): void {
  const per = WG * SCAN_ITEMS;
  const blocks = Math.ceil(n / per);
  const sums = zeros([Math.max(blocks, 1)]);
  dispatch({
    kernel: kernel("grid_sample_block_scan", BLOCK_SCAN_WGSL),
    buffers: [data.buffer, sums.buffer],
    params: new Params().u32(n).bytes(),
    workgroups: gridOf(blocks, 1),
  });
  if (blocks > 1) {
    exclusiveScanInPlace(sums, blocks);
    dispatch({
      kernel: kernel("grid_sample_add_block", ADD_BLOCK_WGSL),
      buffers: [data.buffer, sums.buffer],
      params: new Params().u32(n).bytes(),
      workgroups: gridOf(n),
    });
  }
  sums.dispose();
}

function sortedGatherImageGrad(gOut: Tensor, grid: Tensor, imageShape: readonly number[]): Tensor {
  const [n, c, h, w] = imageShape;
  const p = grid.shape[1] * grid.shape[2];
  const points = n * p;
  const cells = n * (h + 1) * (w + 1);
  const cell = Tensor.empty([points]);
  const count = zeros([cells]);
  dispatch({
    kernel: kernel("grid_sample_cell_count", CELL_COUNT_WGSL),
    buffers: [grid.buffer, cell.buffer, count.buffer],
    params: new Params().u32(points, c, h, w, p).bytes(),
    workgroups: gridOf(points),
  });
  // start ← count, then scanned in place.
  const start = Tensor.empty([cells]);
  startFromCount(start, count, cells);
  exclusiveScanInPlace(start, cells);
  const cursor = zeros([cells]);
  const slots = Tensor.empty([Math.max(points, 1)]);
  dispatch({
    kernel: kernel("grid_sample_cell_fill", FILL_WGSL),
    buffers: [cell.buffer, start.buffer, cursor.buffer, slots.buffer],
    params: new Params().u32(points).bytes(),
    workgroups: gridOf(points),
  });
  dispatch({
    kernel: kernel("grid_sample_cell_sort", SORT_CELLS_WGSL),
    buffers: [start.buffer, count.buffer, slots.buffer],
    params: new Params().u32(cells).bytes(),
    workgroups: gridOf(cells),
  });
  const out = Tensor.empty(imageShape);
  const total = numel(imageShape);
  dispatch({
    kernel: kernel("grid_sample_image_grad_gather", GATHER_WGSL),
    buffers: [gOut.buffer, grid.buffer, start.buffer, count.buffer, slots.buffer, out.buffer],
    params: new Params().u32(total, c, h, w, p).bytes(),
    workgroups: gridOf(total),
  });
  for (const t of [cell, count, start, cursor, slots]) t.dispose();
  return out;
}

const COPY_U32_WGSL = `// grid_sample_copy_u32
@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
${paramsDecl(2, 1)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndex()};
  if (i < P(0u)) { dst[i] = src[i]; }
}`;

function startFromCount(start: Tensor, count: Tensor, cells: number): void {
  dispatch({
    kernel: kernel("grid_sample_copy_u32", COPY_U32_WGSL),
    buffers: [count.buffer, start.buffer],
    params: new Params().u32(cells).bytes(),
    workgroups: gridOf(cells),
  });
}

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
  const out = imageGradRaw(gOut, grid, imageShape);
  return record(out, {
    name: "grid_sample_image_grad",
    inputs: [gOut, grid],
    saved: [grid],
    backward: (
      gg,
    ) => [gridSample(gg, grid), grid.requiresGrad ? noSecondOrder("∂²/∂image∂grid") : null],
  });
}

/** ∂L/∂grid of `gridSample` (first order only). */
export function gridSampleGridGrad(gOut: Tensor, image: Tensor, grid: Tensor): Tensor {
  const out = gridGradRaw(gOut, image, grid);
  return record(out, {
    name: "grid_sample_grid_grad",
    inputs: [gOut, image, grid],
    saved: [],
    backward: () => noSecondOrder("through ∂/∂grid"),
  });
}

/**
 * Bilinear sampling of `image` [N, C, H, W] at `grid` [N, Ho, Wo, 2] → [N, C, Ho, Wo]
 * (zero padding, align_corners=False, as torch.nn.functional.grid_sample).
 */
export function gridSample(image: Tensor, grid: Tensor): Tensor {
  const out = forwardRaw(image, grid);
  return record(out, {
    name: "grid_sample",
    inputs: [image, grid],
    saved: grid.requiresGrad ? [image, grid] : [grid],
    backward: (g) => [
      image.requiresGrad ? gridSampleImageGrad(g, grid, image.shape) : null,
      grid.requiresGrad ? gridSampleGridGrad(g, image, grid) : null,
    ],
  });
}

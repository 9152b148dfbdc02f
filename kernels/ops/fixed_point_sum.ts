/**
 * Deterministic float sums on the GPU without float atomics: each term is rounded toward zero
 * to a 64-bit two's-complement integer (two u32 words and a carry) and added with integer
 * atomics. Integer addition is associative, so the sum has the same bits whatever order the
 * GPU runs the terms in. The scale is a power of two chosen from a bound on |sum| (the largest
 * term times the number of terms), so a sum can never overflow and rounding is ~2⁻⁶² of that
 * bound, far below f32's. Used by the gradient scatters into images and tri-planes.
 * @module
 */
import { Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch } from "../runtime/commands.ts";
import { ELEMENT_MAIN, grid, Params, paramsDecl } from "./params.ts";

/** Power-of-two scale with bound·scale < 2⁶²: no partial sum can overflow 64 bits. */
const FIXED_SCALE_WGSL = `
fn fixedScale(bound: f32) -> f32 {
  if (!(bound > 0.0)) { return 1.0; }
  return exp2(f32(min(62 - frexp(bound).exp, 126)));
}`;

/**
 * WGSL: `fixedScale(bound)`, the scale for sums bounded by `bound`, and `addFixed(k, v)`, which
 * adds v (already scaled) at words (2k, 2k + 1) of the kernel's `acc: array<atomic<u32>>`.
 */
export const ADD_FIXED_WGSL = `${FIXED_SCALE_WGSL}
fn addFixed(k: u32, v: f32) {
  let a = abs(v);
  var hi = u32(floor(a * ${2 ** -32}));
  var lo = u32(a - f32(hi) * 4294967296.0);
  if (hi == 0u && lo == 0u) { return; }
  if (v < 0.0) {
    lo = ~lo + 1u;
    hi = ~hi + select(0u, 1u, lo == 0u);
  }
  let old = atomicAdd(&acc[2u * k], lo);
  atomicAdd(&acc[2u * k + 1u], hi + select(0u, 1u, old + lo < old));
}`;

/** WGSL: the float value of the 64-bit sum in words (lo, hi), scaled by `scale`. */
const FIXED_TO_FLOAT_WGSL = `${FIXED_SCALE_WGSL}
fn fixedToFloat(lo_: u32, hi_: u32, scale: f32) -> f32 {
  var lo = lo_;
  var hi = hi_;
  let negative = (hi >> 31u) == 1u;
  if (negative) {
    lo = ~lo + 1u;
    hi = ~hi + select(0u, 1u, lo == 0u);
  }
  let magnitude = f32(hi) * 4294967296.0 + f32(lo);
  return select(magnitude, -magnitude, negative) / scale;
}`;

const HEADER = `@group(0) @binding(0) var<storage, read> acc: array<u32>;
@group(0) @binding(1) var<storage, read> gmax: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${paramsDecl(3, 4)}
${FIXED_TO_FLOAT_WGSL}`;

/** WGSL: the sums of `acc` as floats, in order. Params: count, –, –, the number of terms. */
const IN_ORDER_WGSL = `// fixed_point_to_float
${HEADER}
${ELEMENT_MAIN}
  out[i] = fixedToFloat(acc[2u * i], acc[2u * i + 1u], fixedScale(gmax[0] * f32(P(3u))));
}`;

/** Texels and channels of one transposed tile. */
const TILE = 32;

/**
 * WGSL: the sums of `acc`, channels-last blocks [HW, C], as floats written channel-first [C, HW].
 * A workgroup turns a tile of 32 texels × 32 channels through workgroup memory, so both the
 * reads (along channels) and the writes (along texels) are contiguous across a warp.
 * Params: blocks, C, HW, the number of terms; workgroup (x, y) = texel block and block, z = channel tile.
 */
const TRANSPOSED_WGSL = `// fixed_point_to_float_transposed
${HEADER}
var<workgroup> tile: array<f32, ${TILE * (TILE + 1)}>;
@compute @workgroup_size(${TILE}, 8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let C = P(1u); let HW = P(2u);
  let texelBlocks = (HW + ${TILE - 1}u) / ${TILE}u;
  let flat = wid.x + wid.y * nwg.x;
  if (flat >= P(0u) * texelBlocks) { return; }
  let block = flat / texelBlocks;
  let t0 = (flat % texelBlocks) * ${TILE}u;
  let c0 = wid.z * ${TILE}u;
  let scale = fixedScale(gmax[0] * f32(P(3u)));
  for (var r = 0u; r < ${TILE}u; r += 8u) {
    let t = t0 + lid.y + r;
    let c = c0 + lid.x;
    if (t < HW && c < C) {
      let k = (block * HW + t) * C + c;
      tile[(lid.y + r) * ${TILE + 1}u + lid.x] = fixedToFloat(acc[2u * k], acc[2u * k + 1u], scale);
    }
  }
  workgroupBarrier();
  for (var r = 0u; r < ${TILE}u; r += 8u) {
    let c = c0 + lid.y + r;
    let t = t0 + lid.x;
    if (t < HW && c < C) { out[(block * C + c) * HW + t] = tile[lid.x * ${TILE + 1}u + lid.y + r]; }
  }
}`;

/**
 * The 64-bit sums `acc` (written with `addFixed`, scaled for `terms` terms of at most
 * `gmax[0]` each) as floats of `shape`: read in blocks of `texels` × `channels`
 * (channels-last) and written channel-first; `channels` 1 reads them in order.
 */
export function fixedPointToFloat(
  acc: Tensor,
  gmax: Tensor,
  shape: readonly number[],
  { channels, texels, terms }: { channels: number; texels: number; terms: number },
): Tensor {
  const out = Tensor.empty(shape);
  if (out.size === 0) return out;
  const buffers = [acc.buffer, gmax.buffer, out.buffer];
  if (channels === 1) {
    dispatch({
      kernel: kernel("fixed_point_to_float", IN_ORDER_WGSL),
      buffers,
      params: new Params().u32(out.size, 0, 0, terms).bytes(),
      workgroups: grid(out.size),
    });
    return out;
  }
  const blocks = out.size / (channels * texels);
  const [x, y] = grid(blocks * Math.ceil(texels / TILE), 1);
  dispatch({
    kernel: kernel("fixed_point_to_float_transposed", TRANSPOSED_WGSL),
    buffers,
    params: new Params().u32(blocks, channels, texels, terms).bytes(),
    workgroups: [x, y, Math.ceil(channels / TILE)],
  });
  return out;
}

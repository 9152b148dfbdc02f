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

/**
 * WGSL: the sums of `acc` as floats, read from channels-last blocks [HW, C] and written
 * channel-first [C, HW] (C = 1: in order). Params: count, C, HW, the number of terms.
 */
const TO_FLOAT_WGSL = `// fixed_point_to_float
@group(0) @binding(0) var<storage, read> acc: array<u32>;
@group(0) @binding(1) var<storage, read> gmax: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${paramsDecl(3, 4)}
${FIXED_SCALE_WGSL}
${ELEMENT_MAIN}
  let C = P(1u); let HW = P(2u);
  let k = ((i / (HW * C)) * HW + i % HW) * C + (i / HW) % C;
  var lo = acc[2u * k];
  var hi = acc[2u * k + 1u];
  let negative = (hi >> 31u) == 1u;
  if (negative) {
    lo = ~lo + 1u;
    hi = ~hi + select(0u, 1u, lo == 0u);
  }
  let magnitude = f32(hi) * 4294967296.0 + f32(lo);
  out[i] = select(magnitude, -magnitude, negative) / fixedScale(gmax[0] * f32(P(3u)));
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
  dispatch({
    kernel: kernel("fixed_point_to_float", TO_FLOAT_WGSL),
    buffers: [acc.buffer, gmax.buffer, out.buffer],
    params: new Params().u32(out.size, channels, texels, terms).bytes(),
    workgroups: grid(out.size),
  });
  return out;
}

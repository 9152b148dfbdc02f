/**
 * Deterministic float sums on the GPU without float atomics: each term is rounded toward zero
 * to a 64-bit two's-complement integer (two u32 words and a carry) and added with integer
 * atomics. Integer addition is associative, so the sum has the same bits whatever order the
 * GPU runs the terms in. The scale is a power of two chosen from a bound on |sum| (the largest
 * term times the number of terms), so a sum can never overflow and rounding is ~2⁻⁶² of that
 * bound, far below f32's. Used by the gradient scatters into images and tri-planes.
 * @module
 */

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

/** WGSL: `fixedScale(bound)` and `fixedToFloat(k, scale)`, the sum at words (2k, 2k + 1) of `acc: array<u32>`. */
export const READ_FIXED_WGSL = `${FIXED_SCALE_WGSL}
fn fixedToFloat(k: u32, scale: f32) -> f32 {
  var lo = acc[2u * k];
  var hi = acc[2u * k + 1u];
  let negative = (hi >> 31u) == 1u;
  if (negative) {
    lo = ~lo + 1u;
    hi = ~hi + select(0u, 1u, lo == 0u);
  }
  let magnitude = f32(hi) * 4294967296.0 + f32(lo);
  return select(magnitude, -magnitude, negative) / scale;
}`;

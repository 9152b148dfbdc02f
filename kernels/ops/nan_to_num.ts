/**
 * Gradient sanitising as the original's training loop does it before every
 * optimiser step: `nan_to_num(grad, nan=0, posinf=1e5, neginf=−1e5)`. Finite
 * values pass unchanged (it is not a clamp).
 *
 * NaN and ±Inf are recognised by their bit patterns (exponent all ones), not
 * by float comparisons, which shader compilers may assume NaN-free.
 * @module
 */
import type { Tensor } from "../tensor/tensor.ts";
import { ELEMENT_MAIN, paramsDecl } from "./params.ts";
import { defineOp } from "./op.ts";

/** WGSL: whether an f32 is NaN or ±Inf, from its bits. */
export const NON_FINITE_WGSL = `
fn isNonFinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u; }`;

/**
 * WGSL `nanToNum(x)`: NaN, +Inf and −Inf replaced by the parameter words `first`,
 * `first + 1` and `first + 2` (f32).
 */
export function nanToNumWgsl(first: number): string {
  return `${NON_FINITE_WGSL}
fn nanToNum(v: f32) -> f32 {
  if (!isNonFinite(v)) { return v; }
  let bits = bitcast<u32>(v);
  if ((bits & 0x007fffffu) != 0u) { return PF(${first}u); }
  if ((bits & 0x80000000u) != 0u) { return PF(${first + 2}u); }
  return PF(${first + 1}u);
}`;
}

/** The replacements [nan, posinf, neginf], defaults filled in (the original's 0, ±1e5). */
export function nanToNumReplacements(
  { nan = 0, posinf = 1e5, neginf = -1e5 }: NanToNumOptions = {},
): [number, number, number] {
  return [nan, posinf, neginf];
}

/** The float64 twin of the WGSL `nanToNum`. */
export function nanToNumValue(v: number, options: NanToNumOptions = {}): number {
  const [nan, posinf, neginf] = nanToNumReplacements(options);
  return Number.isNaN(v) ? nan : v === Infinity ? posinf : v === -Infinity ? neginf : v;
}

const NAN_TO_NUM = `// nan_to_num
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
${paramsDecl(2, 4)}
${nanToNumWgsl(1)}
${ELEMENT_MAIN}
  y[i] = nanToNum(x[i]);
}`;

/** Replacement values (torch's `nan_to_num` arguments). */
export interface NanToNumOptions {
  nan?: number;
  posinf?: number;
  neginf?: number;
}

const sanitize = defineOp<[number, number, number]>({
  name: "nan_to_num",
  shape: ([x]) => x.shape,
  cpu: ([x], [y], [nan, posinf, neginf]) => {
    const src = x.cpuData;
    const dst = y.cpuData;
    for (let i = 0; i < x.size; i++) dst[i] = nanToNumValue(src[i], { nan, posinf, neginf });
  },
  gpu: { wgsl: NAN_TO_NUM, params: (words, _, __, replacements) => words.f32(...replacements) },
});

/** A copy of `x` with NaN → nan, +Inf → posinf, −Inf → neginf (defaults: the original's 0, ±1e5). */
export function nanToNum(x: Tensor, options: NanToNumOptions = {}): Tensor {
  return sanitize([x], nanToNumReplacements(options));
}

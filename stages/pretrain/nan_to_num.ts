/**
 * Gradient sanitising as the original's training loop does it before every
 * optimiser step: `nan_to_num(grad, nan=0, posinf=1e5, neginf=−1e5)`. Finite
 * values pass unchanged (it is not a clamp).
 *
 * NaN and ±Inf are recognised by their bit patterns (exponent all ones), not
 * by float comparisons, which shader compilers may assume NaN-free.
 * @module
 */
import { Tensor } from "../../kernels/mod.ts";
import { kernel } from "../../kernels/runtime/kernel_cache.ts";
import { dispatch } from "../../kernels/runtime/commands.ts";
import { ELEMENT_MAIN, grid, Params, paramsDecl } from "../../kernels/ops/params.ts";

/** WGSL: whether an f32 is NaN or ±Inf, from its bits. */
export const NON_FINITE_WGSL = `
fn isNonFinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u; }`;

const NAN_TO_NUM = `// nan_to_num
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
${paramsDecl(2, 4)}
${NON_FINITE_WGSL}
${ELEMENT_MAIN}
  let v = x[i];
  var out = v;
  if (isNonFinite(v)) {
    let bits = bitcast<u32>(v);
    if ((bits & 0x007fffffu) != 0u) { out = PF(1u); }
    else if ((bits & 0x80000000u) != 0u) { out = PF(3u); }
    else { out = PF(2u); }
  }
  y[i] = out;
}`;

/** Replacement values (torch's `nan_to_num` arguments). */
export interface NanToNumOptions {
  nan?: number;
  posinf?: number;
  neginf?: number;
}

/** A copy of `x` with NaN → nan, +Inf → posinf, −Inf → neginf (defaults: the original's 0, ±1e5). */
export function nanToNum(x: Tensor, options: NanToNumOptions = {}): Tensor {
  const { nan = 0, posinf = 1e5, neginf = -1e5 } = options;
  if (x.device === "cpu") {
    const data = Float64Array.from(
      x.cpuData.subarray(0, x.size),
      (v) => Number.isNaN(v) ? nan : v === Infinity ? posinf : v === -Infinity ? neginf : v,
    );
    return Tensor.fromData(data, x.shape, "cpu");
  }
  const y = Tensor.empty(x.shape);
  dispatch({
    kernel: kernel("nan_to_num", NAN_TO_NUM),
    buffers: [x.buffer, y.buffer],
    params: new Params().u32(x.size).f32(nan, posinf, neginf).bytes(),
    workgroups: grid(x.size),
  });
  return y;
}

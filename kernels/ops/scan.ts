/**
 * Cumulative sums and products along one axis (inclusive or exclusive,
 * forward or reverse). One thread walks one row in order, so results are
 * bit-identical run to run; rows are short in our uses (samples per ray).
 *
 * Backward rules are written with these ops, so they differentiate again:
 * cumsum's adjoint is the reversed cumsum; cumprod's gradient is
 * reversed-cumsum(g·y)/x, which needs x ≠ 0 (the renderer's transmittance
 * factors are 1 − α + 1e−10 > 0).
 */
import { record } from "../tensor/autograd.ts";
import { Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch } from "../runtime/commands.ts";
import { flatIndex, grid, Params, paramsDecl, WG } from "./params.ts";
import { div, mul } from "./elementwise.ts";
import { axisLayout } from "./sort.ts";

/** Options of `cumsum` / `cumprod`. */
export interface ScanOptions {
  /** Element k combines elements before k only (k = 0 gets the identity). */
  exclusive?: boolean;
  /** Run from the end of the axis towards the start. */
  reverse?: boolean;
}

type ScanKind = "sum" | "prod";

function scanSource(kind: ScanKind): string {
  const op = kind === "sum" ? "+" : "*";
  return `// cum${kind}
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${paramsDecl(2, 5)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = ${flatIndex()};
  if (r >= P(0u)) { return; }
  let L = P(1u); let inner = P(2u); let exclusive = P(3u) == 1u; let reverse = P(4u) == 1u;
  let base = (r / inner) * L * inner + r % inner;
  var acc = ${kind === "sum" ? "0.0" : "1.0"};
  for (var s = 0u; s < L; s++) {
    let k = select(s, L - 1u - s, reverse);
    let v = src[base + k * inner];
    if (exclusive) { out[base + k * inner] = acc; acc = acc ${op} v; }
    else { acc = acc ${op} v; out[base + k * inner] = acc; }
  }
}`;
}

function scanRaw(kind: ScanKind, x: Tensor, axis: number, o: ScanOptions): Tensor {
  x.assertLive();
  const { outer, len, inner } = axisLayout(x.shape, axis);
  const out = Tensor.empty(x.shape, x.device);
  const rows = outer * inner;
  if (x.device === "cpu") {
    const src = x.cpuData;
    const dst = out.cpuData;
    for (let r = 0; r < rows; r++) {
      const base = Math.floor(r / inner) * len * inner + (r % inner);
      let acc = kind === "sum" ? 0 : 1;
      for (let s = 0; s < len; s++) {
        const k = o.reverse ? len - 1 - s : s;
        const v = src[base + k * inner];
        if (o.exclusive) {
          dst[base + k * inner] = acc;
          acc = kind === "sum" ? acc + v : acc * v;
        } else {
          acc = kind === "sum" ? acc + v : acc * v;
          dst[base + k * inner] = acc;
        }
      }
    }
    return out;
  }
  if (rows === 0 || len === 0) return out;
  dispatch({
    kernel: kernel(`cum${kind}`, () => scanSource(kind), ""),
    buffers: [x.buffer, out.buffer],
    params: new Params().u32(rows, len, inner, o.exclusive ? 1 : 0, o.reverse ? 1 : 0).bytes(),
    workgroups: grid(rows),
  });
  return out;
}

/** Cumulative sum along `axis`. */
export function cumsum(x: Tensor, axis: number, options: ScanOptions = {}): Tensor {
  const out = scanRaw("sum", x, axis, options);
  return record(out, {
    name: "cumsum",
    inputs: [x],
    saved: [],
    backward: (g) => [cumsum(g, axis, { exclusive: options.exclusive, reverse: !options.reverse })],
  });
}

/** Cumulative product along `axis` (its gradient divides by x: x must be nonzero). */
export function cumprod(x: Tensor, axis: number, options: ScanOptions = {}): Tensor {
  const out = scanRaw("prod", x, axis, options);
  return record(out, {
    name: "cumprod",
    inputs: [x],
    saved: [x, out],
    backward: (g) => [
      div(
        cumsum(mul(g, out), axis, { exclusive: options.exclusive, reverse: !options.reverse }),
        x,
      ),
    ],
  });
}

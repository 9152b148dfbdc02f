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
import type { Tensor } from "../tensor/tensor.ts";
import { flatIndex, paramsDecl, WG } from "./params.ts";
import { defineOp, type OpDeclaration } from "./op.ts";
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

/** A scan's axis and options. */
interface ScanAttrs extends ScanOptions {
  axis: number;
}

/** What cumsum and cumprod share: the shape rule, the CPU twin (the kernel's row walk), the kernel. */
function scanOf(kind: ScanKind): Pick<OpDeclaration<ScanAttrs>, "shape" | "cpu" | "gpu"> {
  const combine = kind === "sum"
    ? (a: number, b: number) => a + b
    : (a: number, b: number) => a * b;
  return {
    shape: ([x], { axis }) => {
      axisLayout(x.shape, axis);
      return x.shape;
    },
    cpu: ([x], [out], { axis, exclusive, reverse }) => {
      const { outer, len, inner } = axisLayout(x.shape, axis);
      const src = x.cpuData;
      const dst = out.cpuData;
      for (let r = 0; r < outer * inner; r++) {
        const base = Math.floor(r / inner) * len * inner + (r % inner);
        let acc = kind === "sum" ? 0 : 1;
        for (let s = 0; s < len; s++) {
          const k = reverse ? len - 1 - s : s;
          const v = src[base + k * inner];
          if (exclusive) {
            dst[base + k * inner] = acc;
            acc = combine(acc, v);
          } else {
            acc = combine(acc, v);
            dst[base + k * inner] = acc;
          }
        }
      }
    },
    gpu: {
      wgsl: scanSource(kind),
      threads: ([x], _, { axis }) => {
        const { outer, inner } = axisLayout(x.shape, axis);
        return outer * inner;
      },
      params: (words, [x], _, { axis, exclusive, reverse }) => {
        const { len, inner } = axisLayout(x.shape, axis);
        return words.u32(len, inner, exclusive ? 1 : 0, reverse ? 1 : 0);
      },
    },
  };
}

/** The adjoint of a scan: the same scan run the other way. */
const reversed = (g: Tensor, { axis, exclusive, reverse }: ScanAttrs) =>
  cumsum(g, axis, { exclusive, reverse: !reverse });

const cumulativeSum = defineOp<ScanAttrs>({
  name: "cumsum",
  ...scanOf("sum"),
  backward: (g, _, __, attrs) => [reversed(g, attrs)],
});

const cumulativeProduct = defineOp<ScanAttrs>({
  name: "cumprod",
  ...scanOf("prod"),
  backward: (g, [x], [y], attrs) => [div(reversed(mul(g, y), attrs), x)],
  saved: ([x], [y]) => [x, y],
});

/** Cumulative sum along `axis`. */
export function cumsum(x: Tensor, axis: number, options: ScanOptions = {}): Tensor {
  return cumulativeSum([x], { axis, ...options });
}

/** Cumulative product along `axis` (its gradient divides by x: x must be nonzero). */
export function cumprod(x: Tensor, axis: number, options: ScanOptions = {}): Tensor {
  return cumulativeProduct([x], { axis, ...options });
}

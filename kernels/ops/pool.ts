/**
 * 2-D pooling over NCHW tensors, as PyTorch's `max_pool2d` and `avg_pool2d`
 * with `ceil_mode=False` (dilation 1).
 *
 * Every kernel is a gather (one thread per element it writes), so results are
 * deterministic without float atomics:
 *
 *   maxPool2d(x)          → values + the flat in-plane index of each window's
 *                           first maximum (PyTorch's scan order, row-major)
 *   maxPoolScatter(g)     : each input element sums ∂out of the windows whose
 *                           argmax it is (the backward of maxPool2d); its own
 *                           backward is `maxPoolSelect` (read ∂ at the argmax)
 *   avgPool2d(x)          ↔ avgPoolScatter(g): an adjoint pair, each the
 *                           other's backward, so gradients of any order work.
 *
 * Max-pool indices travel as f32 integers (exact below 2²⁴ pixels per plane),
 * like the other index-producing ops (sort, searchsorted).
 */
import type { Tensor } from "../tensor/tensor.ts";
import { ELEMENT_MAIN, type Params, paramsDecl } from "./params.ts";
import { defineOp, type Op } from "./op.ts";

/** Options of `maxPool2d` and `avgPool2d`. */
export interface Pool2dOptions {
  /** Window size, one for both axes or [kh, kw]. */
  kernelSize: number | [number, number];
  /** Stride (default: the kernel size, as PyTorch), one or [sy, sx]. */
  stride?: number | [number, number];
  /** Implicit padding on each side (default 0), one or [py, px]; at most half the kernel. */
  padding?: number | [number, number];
}

/** Options of `avgPool2d`. */
export interface AvgPool2dOptions extends Pool2dOptions {
  /**
   * Whether zero padding counts in the divisor (PyTorch default true). With
   * false, border windows divide by the number of real pixels (pytorch-fid's
   * Inception blocks).
   */
  countIncludePad?: boolean;
}

/** Sizes of one pooling: x [n, c, h, w] → y [n, c, oh, ow]. */
interface PoolGeometry {
  planes: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  sy: number;
  sx: number;
  py: number;
  px: number;
}

function pair(v: number | [number, number], what: string): [number, number] {
  const p: [number, number] = typeof v === "number" ? [v, v] : v;
  if (!p.every((x) => Number.isInteger(x) && x >= 0)) {
    throw new Error(`pool2d: ${what} must be integers ≥ 0, got ${v}`);
  }
  return p;
}

function poolGeometry(shape: readonly number[], o: Pool2dOptions): PoolGeometry {
  if (shape.length !== 4) throw new Error(`pool2d: needs x [N, C, H, W], got [${shape}]`);
  const [n, c, h, w] = shape;
  const [kh, kw] = pair(o.kernelSize, "kernelSize");
  const [sy, sx] = pair(o.stride ?? o.kernelSize, "stride");
  const [py, px] = pair(o.padding ?? 0, "padding");
  if (kh < 1 || kw < 1 || sy < 1 || sx < 1) {
    throw new Error(`pool2d: kernel and stride must be ≥ 1, got ${o.kernelSize} / ${o.stride}`);
  }
  if (2 * py > kh || 2 * px > kw) {
    throw new Error(`pool2d: padding ${o.padding} exceeds half the kernel ${o.kernelSize}`);
  }
  const oh = Math.floor((h + 2 * py - kh) / sy) + 1;
  const ow = Math.floor((w + 2 * px - kw) / sx) + 1;
  if (oh < 1 || ow < 1) {
    throw new Error(
      `pool2d: kernel ${kh}×${kw} larger than the padded input ${h + 2 * py}×${w + 2 * px}`,
    );
  }
  if (h * w >= 1 << 24) throw new Error(`pool2d: ${h}×${w} planes exceed f32-exact indices`);
  return { planes: n * c, h, w, oh, ow, kh, kw, sy, sx, py, px };
}

/** The shape of the pooling's input, for planes [N, C, …] like `like`'s. */
const inShape = (like: Tensor, g: PoolGeometry) => [like.shape[0], like.shape[1], g.h, g.w];
/** The shape of the pooling's output, for planes [N, C, …] like `like`'s. */
const outShape = (like: Tensor, g: PoolGeometry) => [like.shape[0], like.shape[1], g.oh, g.ow];

/** The uniform words after the item count: the geometry. */
function geometryWords(words: Params, _: unknown, __: unknown, g: PoolGeometry): Params {
  return words.u32(g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.sy, g.sx, g.py, g.px);
}

/** WGSL prelude: names for the geometry words written by `geometryWords`. */
const GEOMETRY_WGSL = `
  let H = i32(P(1u)); let W = i32(P(2u)); let OH = i32(P(3u)); let OW = i32(P(4u));
  let KH = i32(P(5u)); let KW = i32(P(6u)); let SY = i32(P(7u)); let SX = i32(P(8u));
  let PY = i32(P(9u)); let PX = i32(P(10u));`;

/** The output windows that contain input row/column `i`: [first, last] (may be empty). */
function windowsContaining(
  i: number,
  k: number,
  s: number,
  p: number,
  out: number,
): [number, number] {
  // o·s − p ≤ i < o·s − p + k
  const first = Math.max(0, Math.ceil((i + p - k + 1) / s));
  const last = Math.min(out - 1, Math.floor((i + p) / s));
  return [first, last];
}

/** Calls `fn` with the in-plane index of every real pixel of output element `i`'s window. */
function eachInWindow(g: PoolGeometry, i: number, fn: (at: number) => void): void {
  const o = i % (g.oh * g.ow);
  const y0 = Math.floor(o / g.ow) * g.sy - g.py;
  const x0 = (o % g.ow) * g.sx - g.px;
  for (let y = Math.max(y0, 0); y < Math.min(y0 + g.kh, g.h); y++) {
    for (let x = Math.max(x0, 0); x < Math.min(x0 + g.kw, g.w); x++) fn(y * g.w + x);
  }
}

/** Calls `fn` with the flat index and position of every output window holding input element `i`. */
function eachWindowOf(
  g: PoolGeometry,
  i: number,
  fn: (o: number, oy: number, ox: number) => void,
): void {
  const p = i % (g.h * g.w);
  const [oy0, oy1] = windowsContaining(Math.floor(p / g.w), g.kh, g.sy, g.py, g.oh);
  const [ox0, ox1] = windowsContaining(p % g.w, g.kw, g.sx, g.px, g.ow);
  const base = Math.floor(i / (g.h * g.w)) * g.oh * g.ow;
  for (let oy = oy0; oy <= oy1; oy++) {
    for (let ox = ox0; ox <= ox1; ox++) fn(base + oy * g.ow + ox, oy, ox);
  }
}

/** WGSL: the window range of `windowsContaining` (i32 arithmetic; `i + p − k + 1` may be negative). */
const WINDOWS_WGSL = `
fn firstWindow(i: i32, k: i32, s: i32, p: i32) -> i32 {
  let t = i + p - k + 1;
  return select(0, (t + s - 1) / s, t > 0);
}
fn lastWindow(i: i32, s: i32, p: i32, count: i32) -> i32 {
  return min(count - 1, (i + p) / s);
}`;

/** WGSL: the divisor of window (oy, ox), PyTorch's rule (ceil_mode false). */
const DIVISOR_WGSL = `
fn divisor(oy: i32, ox: i32, H: i32, W: i32, KH: i32, KW: i32, SY: i32, SX: i32, PY: i32, PX: i32, includePad: bool) -> f32 {
  let y0 = oy * SY - PY;
  let x0 = ox * SX - PX;
  if (includePad) {
    return f32((min(y0 + KH, H + PY) - y0) * (min(x0 + KW, W + PX) - x0));
  }
  return f32((min(y0 + KH, H) - max(y0, 0)) * (min(x0 + KW, W) - max(x0, 0)));
}`;

/**
 * A pooling kernel: one thread per element it writes, reading `inputs` and writing `outputs`
 * (f32 arrays, bound in that order), with the geometry's names in scope.
 */
function poolKernel(
  name: string,
  inputs: string[],
  body: string,
  { outputs = ["out"], extraWords = 0 } = {},
): string {
  const bindings = [
    ...inputs.map((v) => `var<storage, read> ${v}`),
    ...outputs.map((v) => `var<storage, read_write> ${v}`),
  ];
  return `// ${name}
${bindings.map((b, k) => `@group(0) @binding(${k}) ${b}: array<f32>;`).join("\n")}
${paramsDecl(bindings.length, 11 + extraWords)}
${WINDOWS_WGSL}
${DIVISOR_WGSL}
${ELEMENT_MAIN}
  ${GEOMETRY_WGSL}
${body}
}`;
}

/** WGSL: `body` for every real pixel `v` (at y, x) of output element i's window. */
const inWindow = (body: string) =>
  `  let plane = i32(i) / (OH * OW);
  let o = i32(i) % (OH * OW);
  let oy = o / OW;
  let ox = o % OW;
  let y0 = oy * SY - PY;
  let x0 = ox * SX - PX;
  let base = u32(plane * H * W);
  for (var y = max(y0, 0); y < min(y0 + KH, H); y++) {
    for (var x = max(x0, 0); x < min(x0 + KW, W); x++) {
      let v = src[base + u32(y * W + x)];
      ${body}
    }
  }`;

/** WGSL: `body` for every output window (oy, ox; flat index `w`) holding input element i (at p). */
const windowsOf = (body: string) =>
  `  let plane = i32(i) / (H * W);
  let p = i32(i) % (H * W);
  let y = p / W;
  let x = p % W;
  let base = u32(plane * OH * OW);
  for (var oy = firstWindow(y, KH, SY, PY); oy <= lastWindow(y, SY, PY, OH); oy++) {
    for (var ox = firstWindow(x, KW, SX, PX); ox <= lastWindow(x, SX, PX, OW); ox++) {
      let w = base + u32(oy * OW + ox);
      ${body}
    }
  }`;

// ---------------------------------------------------------------------------
// Max pooling

const MAX_FORWARD_WGSL = poolKernel(
  "max_pool2d",
  ["src"],
  `  var best = -3.4028234663852886e38;
  var where_ = -1;
${
    inWindow(
      // Strictly greater keeps the first maximum in scan order (PyTorch); NaN wins.
      "if (v > best || v != v || where_ < 0) { best = v; where_ = y * W + x; }",
    )
  }
  out[i] = best;
  argmax[i] = f32(where_);`,
  { outputs: ["out", "argmax"] },
);

const MAX_SCATTER_WGSL = poolKernel(
  "max_pool2d_scatter",
  ["g", "argmax"],
  `  var acc = 0.0;
${windowsOf("if (i32(argmax[w]) == p) { acc += g[w]; }")}
  out[i] = acc;`,
);

const MAX_SELECT_WGSL = poolKernel(
  "max_pool2d_select",
  ["src", "argmax"],
  `  let plane = i32(i) / (OH * OW);
  out[i] = src[u32(plane * H * W) + u32(argmax[i])];`,
);

/** Values and first-argmax indices of every window; the argmax reaches only the backward. */
const maxPool = defineOp<PoolGeometry>({
  name: "max_pool2d",
  shape: ([x], g) => outShape(x, g),
  outputs: 2,
  cpu: ([x], [values, argmax], g) => {
    const src = x.cpuData;
    for (let i = 0; i < values.size; i++) {
      const base = Math.floor(i / (g.oh * g.ow)) * g.h * g.w;
      let best = -Infinity;
      let at = -1;
      eachInWindow(g, i, (p) => {
        const val = src[base + p];
        if (val > best || Number.isNaN(val) || at < 0) [best, at] = [val, p];
      });
      values.cpuData[i] = best;
      argmax.cpuData[i] = at;
    }
  },
  gpu: { wgsl: MAX_FORWARD_WGSL, params: geometryWords },
  saved: (_, [, argmax]) => [argmax],
  backward: (grad, _, [, argmax], g) => [maxPoolScatter([grad, argmax], g)],
});

/** ∂x of max pooling: each input element sums ∂out of the windows whose first argmax it is. */
const maxPoolScatter: Op<PoolGeometry> = defineOp({
  name: "max_pool2d_scatter",
  shape: ([grad], g) => inShape(grad, g),
  cpu: ([grad, argmax], [out], g) => {
    for (let i = 0; i < out.size; i++) {
      const p = i % (g.h * g.w);
      let acc = 0;
      eachWindowOf(g, i, (o) => {
        if (argmax.cpuData[o] === p) acc += grad.cpuData[o];
      });
      out.cpuData[i] = acc;
    }
  },
  gpu: { wgsl: MAX_SCATTER_WGSL, params: geometryWords },
  differentiable: 1,
  saved: ([, argmax]) => [argmax],
  backward: (gg, [, argmax], _, g) => [maxPoolSelect([gg, argmax], g)],
});

/** Reads `x` at each window's argmax: max pooling with the decisions already made. */
const maxPoolSelect: Op<PoolGeometry> = defineOp({
  name: "max_pool2d_select",
  shape: ([x], g) => outShape(x, g),
  cpu: ([x, argmax], [out], g) => {
    for (let i = 0; i < out.size; i++) {
      out.cpuData[i] = x.cpuData[Math.floor(i / (g.oh * g.ow)) * g.h * g.w + argmax.cpuData[i]];
    }
  },
  gpu: { wgsl: MAX_SELECT_WGSL, params: geometryWords },
  differentiable: 1,
  saved: ([, argmax]) => [argmax],
  backward: (gg, [, argmax], _, g) => [maxPoolScatter([gg, argmax], g)],
});

/**
 * `max_pool2d(x, kernelSize, stride, padding)` of x [N, C, H, W] (padding acts
 * as −∞). The gradient goes to the first maximum of each window in row-major
 * scan order, as PyTorch's; elements that win several windows sum them.
 */
export function maxPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  return maxPool([x], poolGeometry(x.shape, options));
}

// ---------------------------------------------------------------------------
// Average pooling

function divisor64(oy: number, ox: number, g: PoolGeometry, includePad: boolean): number {
  const y0 = oy * g.sy - g.py;
  const x0 = ox * g.sx - g.px;
  if (includePad) {
    return (Math.min(y0 + g.kh, g.h + g.py) - y0) * (Math.min(x0 + g.kw, g.w + g.px) - x0);
  }
  return (Math.min(y0 + g.kh, g.h) - Math.max(y0, 0)) *
    (Math.min(x0 + g.kw, g.w) - Math.max(x0, 0));
}

const DIVIDE = "divisor(oy, ox, H, W, KH, KW, SY, SX, PY, PX, P(11u) == 1u)";

const AVG_FORWARD_WGSL = poolKernel(
  "avg_pool2d",
  ["src"],
  `  var acc = 0.0;
${inWindow("acc += v;")}
  out[i] = acc / ${DIVIDE};`,
  { extraWords: 1 },
);

const AVG_SCATTER_WGSL = poolKernel(
  "avg_pool2d_scatter",
  ["g"],
  `  var acc = 0.0;
${windowsOf(`acc += g[w] / ${DIVIDE};`)}
  out[i] = acc;`,
  { extraWords: 1 },
);

/** An average pooling's geometry and divisor rule. */
interface AvgPooling extends PoolGeometry {
  includePad: boolean;
}

function avgWords(words: Params, _: unknown, __: unknown, a: AvgPooling): Params {
  return geometryWords(words, _, __, a).u32(a.includePad ? 1 : 0);
}

const avgPool: Op<AvgPooling> = defineOp({
  name: "avg_pool2d",
  shape: ([x], a) => outShape(x, a),
  cpu: ([x], [out], a) => {
    for (let i = 0; i < out.size; i++) {
      const base = Math.floor(i / (a.oh * a.ow)) * a.h * a.w;
      const o = i % (a.oh * a.ow);
      let acc = 0;
      eachInWindow(a, i, (p) => (acc += x.cpuData[base + p]));
      out.cpuData[i] = acc / divisor64(Math.floor(o / a.ow), o % a.ow, a, a.includePad);
    }
  },
  gpu: { wgsl: AVG_FORWARD_WGSL, params: avgWords },
  backward: (grad, _, __, a) => [avgPoolScatter([grad], a)],
});

/** The adjoint of average pooling: each input element gathers ∂out/divisor of its windows. */
const avgPoolScatter: Op<AvgPooling> = defineOp({
  name: "avg_pool2d_scatter",
  shape: ([grad], a) => inShape(grad, a),
  cpu: ([grad], [out], a) => {
    for (let i = 0; i < out.size; i++) {
      let acc = 0;
      eachWindowOf(
        a,
        i,
        (o, oy, ox) => (acc += grad.cpuData[o] / divisor64(oy, ox, a, a.includePad)),
      );
      out.cpuData[i] = acc;
    }
  },
  gpu: { wgsl: AVG_SCATTER_WGSL, params: avgWords },
  backward: (gg, _, __, a) => [avgPool([gg], a)],
});

/**
 * `avg_pool2d(x, kernelSize, stride, padding, count_include_pad)` of
 * x [N, C, H, W]. Gradients of any order (the backward is the adjoint gather).
 */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  return avgPool([x], {
    ...poolGeometry(x.shape, options),
    includePad: options.countIncludePad ?? true,
  });
}

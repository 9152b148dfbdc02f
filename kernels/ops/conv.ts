/**
 * 2-D convolution (NCHW, weights [Cout, Cin/groups, kh, kw]) as three ops
 * closed under differentiation, so gradients of any order (R1) are
 * convolutions again:
 *
 *   conv2d(x, w)                 dx = conv2dInputGrad(g, w),  dw = conv2dWeightGrad(x, g)
 *   conv2dInputGrad(gy, w)       dgy = conv2d(gg, w),         dw = conv2dWeightGrad(gg, gy)
 *   conv2dWeightGrad(x, gy)      dx = conv2dInputGrad(gy, gg), dgy = conv2d(x, gg)
 *
 * On the GPU each is an implicit GEMM (`gemm.ts`) whose operands are gathered
 * from the tensors on the fly. Per group g (workgroup z):
 *   forward      M = Cout/G,  N = batch·OH·OW, K = Cin/G·kh·kw
 *   input grad   M = Cin/G,   N = batch·H·W,   K = Cout/G·kh·kw
 *   weight grad  M = Cout/G,  N = Cin/G·kh·kw, K = batch·OH·OW (split over K, partial
 *                sums reduced in a fixed order afterwards)
 * Kernel size, stride and padding are compile-time constants; tensor sizes are
 * parameters. Bias is not part of conv (callers add it with broadcasting).
 */
import { noGrad } from "../tensor/autograd.ts";
import { numel, Tensor } from "../tensor/tensor.ts";
import { sum } from "./reduce.ts";
import { defineOp, type Op } from "./op.ts";
import { permute, reshape } from "./movement.ts";
import {
  boundsChecks,
  chooseSplits,
  chooseTile,
  type GemmOperand,
  type GemmOutput,
  type GemmSpec,
  type GemmTile,
  type GemmTuning,
  launchGemm,
} from "./gemm.ts";

/** Options of the convolutions. */
export interface Conv2dOptions {
  /** Stride (default 1), one for both axes or [sy, sx]. */
  stride?: number | [number, number];
  /** Zero padding on each side (default 0), one for both axes or [py, px]. */
  padding?: number | [number, number];
  /** Channel groups (default 1); x [1, N·Cin, H, W] with groups N runs N separate convolutions. */
  groups?: number;
  /** GEMM knobs for benchmarks (default: production); the gradients use them too. */
  tuning?: GemmTuning;
}

/** Options of `convTranspose2d` (PyTorch's conv_transpose2d). */
export interface ConvTranspose2dOptions extends Conv2dOptions {
  /** Extra rows/columns on the bottom/right of the output (< stride), one or [oy, ox]. */
  outputPadding?: number | [number, number];
}

/** Every size of one convolution: x [n, cin, h, w] * w [cout, cin/g, kh, kw] → y [n, cout, oh, ow]. */
interface ConvGeometry {
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
  sy: number;
  sx: number;
  py: number;
  px: number;
  groups: number;
}

function pair(
  v: number | [number, number] | undefined,
  fallback: number,
  what: string,
): [number, number] {
  const p: [number, number] = v === undefined
    ? [fallback, fallback]
    : typeof v === "number"
    ? [v, v]
    : v;
  if (!p.every((x) => Number.isInteger(x) && x >= 0)) {
    throw new Error(`conv2d: ${what} must be integers ≥ 0, got ${v}`);
  }
  return p;
}

function geometry(
  xShape: readonly number[],
  wShape: readonly number[],
  o: Conv2dOptions,
): ConvGeometry {
  if (xShape.length !== 4 || wShape.length !== 4) {
    throw new Error(
      `conv2d: needs x [N, C, H, W] and w [Cout, Cin/groups, kh, kw], got [${xShape}] and [${wShape}]`,
    );
  }
  const [n, cin, h, w] = xShape;
  const [cout, cinG, kh, kw] = wShape;
  const groups = o.groups ?? 1;
  const [sy, sx] = pair(o.stride, 1, "stride");
  const [py, px] = pair(o.padding, 0, "padding");
  if (sy < 1 || sx < 1) throw new Error(`conv2d: stride must be ≥ 1, got ${o.stride}`);
  if (!Number.isInteger(groups) || groups < 1 || cin !== cinG * groups || cout % groups !== 0) {
    throw new Error(
      `conv2d: x has ${cin} channels, w [${wShape}] with groups=${groups} needs ${cinG * groups} ` +
        `(and Cout ${cout} divisible by groups)`,
    );
  }
  const oh = Math.floor((h + 2 * py - kh) / sy) + 1;
  const ow = Math.floor((w + 2 * px - kw) / sx) + 1;
  if (oh < 1 || ow < 1) {
    throw new Error(
      `conv2d: kernel ${kh}×${kw} larger than the padded input ${h + 2 * py}×${w + 2 * px}`,
    );
  }
  return { n, cin, h, w, cout, kh, kw, oh, ow, sy, sx, py, px, groups };
}

const outShape = (g: ConvGeometry) => [g.n, g.cout, g.oh, g.ow];
const inShape = (g: ConvGeometry) => [g.n, g.cin, g.h, g.w];

/** The geometry as profiles name it (bench/conv_shapes_torch.py reads this form back). */
const shapeName = (g: ConvGeometry) =>
  `N${g.n} C${g.cin} H${g.h} W${g.w} O${g.cout} k${g.kh}x${g.kw} s${g.sy}x${g.sx} p${g.py}x${g.px} g${g.groups}`;
const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

function expectShape(t: Tensor, shape: number[], what: string): void {
  if (!sameShape(t.shape, shape)) {
    throw new Error(`${what}: expected shape [${shape}], got [${t.shape}]`);
  }
}

// ---------------------------------------------------------------------------
// float64 CPU reference: one direct loop over every (output pixel, tap) pair.

type Contraction = "forward" | "input" | "weight";

/** y += w ⋆ x (forward), x += wᵀ ⋆ y (input grad) or w += y ⋆ x (weight grad), direct loops. */
function convCpu(
  kind: Contraction,
  g: ConvGeometry,
  X: Float64Array,
  Wt: Float64Array,
  Y: Float64Array,
): void {
  const cinG = g.cin / g.groups;
  const coutG = g.cout / g.groups;
  for (let b = 0; b < g.n; b++) {
    for (let co = 0; co < g.cout; co++) {
      const grp = Math.floor(co / coutG);
      for (let ci = 0; ci < cinG; ci++) {
        const xPlane = (b * g.cin + grp * cinG + ci) * g.h * g.w;
        for (let ky = 0; ky < g.kh; ky++) {
          for (let kx = 0; kx < g.kw; kx++) {
            const wi = ((co * cinG + ci) * g.kh + ky) * g.kw + kx;
            let wAcc = 0;
            for (let oy = 0; oy < g.oh; oy++) {
              const iy = oy * g.sy - g.py + ky;
              if (iy < 0 || iy >= g.h) continue;
              const yRow = ((b * g.cout + co) * g.oh + oy) * g.ow;
              for (let ox = 0; ox < g.ow; ox++) {
                const ix = ox * g.sx - g.px + kx;
                if (ix < 0 || ix >= g.w) continue;
                const xi = xPlane + iy * g.w + ix;
                if (kind === "forward") Y[yRow + ox] += Wt[wi] * X[xi];
                else if (kind === "input") X[xi] += Wt[wi] * Y[yRow + ox];
                else wAcc += X[xi] * Y[yRow + ox];
              }
            }
            if (kind === "weight") Wt[wi] += wAcc;
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// GPU: implicit-GEMM operand and output descriptions.

const CONV_PARAMS = ["Cin", "H", "W", "Cout", "OH", "OW", "CinG", "CoutG", "splitStride"];

function convParams(g: ConvGeometry, splitStride = 0): number[] {
  return [g.cin, g.h, g.w, g.cout, g.oh, g.ow, g.cin / g.groups, g.cout / g.groups, splitStride];
}

function prelude(g: ConvGeometry): string {
  return `const KH = ${g.kh}u; const KW = ${g.kw}u; const KHW = ${g.kh * g.kw}u;
const SY = ${g.sy}; const SX = ${g.sx}; const PY = ${g.py}; const PX = ${g.px};`;
}

/** 1×1, stride 1, no padding: the input pixels are the output pixels. */
const isPointwise = (g: ConvGeometry) =>
  g.kh === 1 && g.kw === 1 && g.sy === 1 && g.sx === 1 && g.py === 0 && g.px === 0;

/** The workgroup's conv group (by default its batch entry) and the plane sizes. */
const groupSetup = (grp = "batch") => `let grp = ${grp}; let HW = H * W; let OHW = OH * OW;`;

const arr = (w: number) => (w === 4 ? "array<vec4f>" : "array<f32>");

/** Plain row-major [rows, K] matrix rows `base + f·K + k` (weights in the forward pass). */
function rowMajorOperand(name: string, width: 1 | 4, base: string): GemmOperand {
  return {
    width,
    fast: "k",
    setupFree: (f, v) => `let ${v} = ${base} + ${f} * K;`,
    load: (v, _kv, k) => (width === 4 ? `${name}[(${v} + ${k}) / 4u]` : `${name}[${v} + ${k}]`),
  };
}

/** Output [n, C, P] (P pixels per plane) for GEMM rows = channels of the group, columns = (image, pixel). */
function planesOutput(
  width: 1 | 4,
  channels: string,
  channelsPerGroup: string,
  pixels: string,
): GemmOutput {
  return {
    width,
    setupRow: (m, v) => `let ${v} = (grp * ${channelsPerGroup} + ${m}) * ${pixels};`,
    setupCol: (n, v) =>
      `let ${v} = (${n} / ${pixels}) * ${channels} * ${pixels} + ${n} % ${pixels};`,
    index: (row, col) => (width === 4 ? `(${row} + ${col}) / 4u` : `${row} + ${col}`),
  };
}

/**
 * Tap-major K order, k = tap·C + c (needs C % BK == 0): a K step then covers one kernel tap, so
 * the window position and its padding test are worked out once per step, not per element,
 * and each element costs one add. The weights are permuted to match (a small copy).
 */
const tapMajor = (channels: number, g: ConvGeometry, tile: GemmTile, tuning: GemmTuning) =>
  channels % tile.bk === 0 && !isPointwise(g) && (tuning.tapMajor ?? true);

function forwardSpec(g: ConvGeometry, tile: GemmTile, tuning: GemmTuning): GemmSpec {
  const M = g.cout / g.groups;
  const N = g.n * g.oh * g.ow;
  const K = (g.cin / g.groups) * g.kh * g.kw;
  const pointwise = isPointwise(g);
  const byTap = tapMajor(g.cin / g.groups, g, tile, tuning);
  const pixWidth = (g.oh * g.ow) % 4 === 0 ? 4 : 1;
  const bWidth = pointwise ? pixWidth : 1;
  // Channel-major: the weights as they are, rows [co] of K = CinG·taps. Tap-major: permuted to
  // [G, taps, CinG, CoutG], i.e. stored K×M (vec4 along co, stored into shared memory as is).
  const aWidth = (byTap ? M : K) % 4 === 0 ? 4 : 1;
  const weights: GemmOperand = byTap
    ? {
      width: aWidth,
      fast: "free",
      setupFree: (f, v) => `let ${v} = grp * K * CoutG + ${f};`,
      load: (
        v,
        _kv,
        k,
      ) => (aWidth === 4 ? `w[(${v} + ${k} * CoutG) / 4u]` : `w[${v} + ${k} * CoutG]`),
    }
    : rowMajorOperand("w", aWidth, "grp * CoutG * K");
  const x: GemmOperand = pointwise
    ? {
      width: bWidth,
      fast: "free",
      setupFree: (f, v) => `let ${v} = (${f} / HW) * Cin * HW + grp * CinG * HW + ${f} % HW;`,
      load: (v, _kv, k) => (bWidth === 4 ? `x[(${v} + ${k} * HW) / 4u]` : `x[${v} + ${k} * HW]`),
    }
    : byTap
    ? {
      width: 1,
      fast: "free",
      setupFree: (f, v) =>
        `let ${v}_pix = ${f} % OHW;
  let ${v}_iy = i32(${v}_pix / OW) * SY - PY;
  let ${v}_ix = i32(${v}_pix % OW) * SX - PX;
  let ${v}_base = i32((${f} / OHW) * Cin * HW + grp * CinG * HW) + ${v}_iy * i32(W) + ${v}_ix;`,
      setupTile: (k0, tv) =>
        `let ${tv}tap = ${k0} / CinG;
    let ${tv}ky = i32(${tv}tap / KW);
    let ${tv}kx = i32(${tv}tap % KW);
    let ${tv}off = i32((${k0} % CinG) * HW) + ${tv}ky * i32(W) + ${tv}kx;`,
      load: (v, _kv, k, tv) =>
        `select(0.0, x[u32(${v}_base + ${tv}off + i32((${k} - k0) * HW))], ` +
        `u32(${v}_iy + ${tv}ky) < H && u32(${v}_ix + ${tv}kx) < W)`,
    }
    : {
      width: 1,
      fast: "free",
      setupFree: (f, v) =>
        `let ${v}_pix = ${f} % OHW;
  let ${v}_iy = i32(${v}_pix / OW) * SY - PY;
  let ${v}_ix = i32(${v}_pix % OW) * SX - PX;
  let ${v}_base = i32((${f} / OHW) * Cin * HW + grp * CinG * HW) + ${v}_iy * i32(W) + ${v}_ix;`,
      setupK: (k, kv) =>
        `let ${kv}r = ${k} % KHW;
    let ${kv}ky = i32(${kv}r / KW);
    let ${kv}kx = i32(${kv}r % KW);
    let ${kv}off = i32((${k} / KHW) * HW) + ${kv}ky * i32(W) + ${kv}kx;`,
      load: (v, kv) =>
        `select(0.0, x[u32(${v}_base + ${kv}off)], u32(${v}_iy + ${kv}ky) < H && u32(${v}_ix + ${kv}kx) < W)`,
    };
  const y = planesOutput(pixWidth, "Cout", "CoutG", "OHW");
  const op = byTap ? "conv2d_tap_major" : "conv2d";
  return convGemm(op, weights, { name: "x", operand: x }, y, g, tile, tuning, [M, N, K]);
}

/** B's per-thread setup in the input gradients: input pixel f, shifted by the padding. */
const inputPixelSetup = (f: string, v: string) =>
  `let ${v}_pix = ${f} % HW;
  let ${v}_ty = ${v}_pix / W + u32(PY);
  let ${v}_tx = ${v}_pix % W + u32(PX);
  let ${v}_base = (${f} / HW) * Cout * OHW + grp * CoutG * OHW;`;

/**
 * gy at output channel `co` (of the group) and the output pixel whose tap (ky, kx) reads input
 * pixel `v`; 0 where there is none. Unsigned wrap-around turns "above the image" into "far
 * below it", failing `< OH`.
 */
function outputGradAt(v: string, ky: string, kx: string, co: string, strided: boolean): string {
  const ty = `(${v}_ty - ${ky})`;
  const tx = `(${v}_tx - ${kx})`;
  const oy = strided ? `(${ty} / u32(SY))` : ty;
  const ox = strided ? `(${tx} / u32(SX))` : tx;
  const exact = strided ? ` && ${ty} % u32(SY) == 0u && ${tx} % u32(SX) == 0u` : "";
  return `select(0.0, gy[${v}_base + ${co} * OHW + ${oy} * OW + ${ox}], ${oy} < OH && ${ox} < OW${exact})`;
}

/**
 * A convolution GEMM over one group (workgroup z): weights `w` as A, the gathered tensor `src`
 * (x or gy, bound under that name) as B, the output C written as `out` says.
 */
function convGemm(
  op: string,
  w: GemmOperand,
  src: { name: "x" | "gy"; operand: GemmOperand },
  out: GemmOutput,
  g: ConvGeometry,
  tile: GemmTile,
  tuning: GemmTuning,
  [M, N, K]: [number, number, number],
): GemmSpec {
  return {
    op,
    tile,
    a: w,
    b: src.operand,
    out,
    bindings: `@group(0) @binding(0) var<storage, read> ${src.name}: ${arr(src.operand.width)};
@group(0) @binding(1) var<storage, read> w: ${arr(w.width)};
@group(0) @binding(2) var<storage, read_write> C: ${arr(out.width)};`,
    bindingCount: 3,
    extraParams: CONV_PARAMS,
    batchSetup: groupSetup(),
    prelude: prelude(g),
    ...boundsChecks(M, N, K, tile, tuning),
    rowsFirstStaging: tuning.rowsFirstStaging,
  };
}

function inputGradSpec(g: ConvGeometry, tile: GemmTile, tuning: GemmTuning): GemmSpec {
  const M = g.cin / g.groups;
  const N = g.n * g.h * g.w;
  const K = (g.cout / g.groups) * g.kh * g.kw;
  const pixWidth = (g.h * g.w) % 4 === 0 ? 4 : 1;
  const byTap = tapMajor(g.cout / g.groups, g, tile, tuning);
  const strided = g.sy > 1 || g.sx > 1;
  if (byTap) return inputGradTapMajorSpec(g, tile, tuning, M, N, K, pixWidth, strided);
  // A(ci, k = (co, tap)) = w[grp·CoutG + co, ci, tap]: the weights read transposed.
  const w: GemmOperand = {
    width: 1,
    fast: "k",
    setupFree: (f, v) => `let ${v} = grp * CoutG * CinG * KHW + ${f} * KHW;`,
    setupK: (k, kv) => `let ${kv} = (${k} / KHW) * CinG * KHW + ${k} % KHW;`,
    load: (v, kv) => `w[${v} + ${kv}]`,
  };
  // B(k = (co, ky, kx), (b, iy, ix)) = gy[b, grp·CoutG + co, oy, ox] where iy = oy·s − p + ky.
  const gy: GemmOperand = {
    width: 1,
    fast: "free",
    setupFree: inputPixelSetup,
    setupK: (k, kv) =>
      `let ${kv}r = ${k} % KHW;
    let ${kv}co = ${k} / KHW;
    let ${kv}ky = ${kv}r / KW;
    let ${kv}kx = ${kv}r % KW;`,
    load: (v, kv) => outputGradAt(v, `${kv}ky`, `${kv}kx`, `${kv}co`, strided),
  };
  const dx = planesOutput(pixWidth, "Cin", "CinG", "HW");
  const src = { name: "gy" as const, operand: gy };
  return convGemm("conv2d_input_grad", w, src, dx, g, tile, tuning, [M, N, K]);
}

/** A(ci, k) of the input gradients: the weights permuted to [G, taps, CoutG, CinG], ci fastest. */
function tapMajorWeights(width: 1 | 4): GemmOperand {
  return {
    width,
    fast: "free",
    setupFree: (f, v) => `let ${v} = grp * K * CinG + ${f};`,
    load: (v, _kv, k) => (width === 4 ? `w[(${v} + ${k} * CinG) / 4u]` : `w[${v} + ${k} * CinG]`),
  };
}

/**
 * Input gradient with k = tap·CoutG + co. A(ci, k) comes from the weights permuted to
 * [G, kh·kw, CoutG, CinG] (contiguous along ci: vec4 loads straight into shared memory).
 */
function inputGradTapMajorSpec(
  g: ConvGeometry,
  tile: GemmTile,
  tuning: GemmTuning,
  M: number,
  N: number,
  K: number,
  pixWidth: 1 | 4,
  strided: boolean,
): GemmSpec {
  const aWidth = M % 4 === 0 ? 4 : 1;
  const w = tapMajorWeights(aWidth);
  const gy: GemmOperand = {
    width: 1,
    fast: "free",
    setupFree: inputPixelSetup,
    setupTile: (k0, tv) =>
      `let ${tv}tap = ${k0} / CoutG;
    let ${tv}ky = ${tv}tap / KW;
    let ${tv}kx = ${tv}tap % KW;
    let ${tv}co = ${k0} % CoutG;`,
    load: (v, _kv, k, tv) =>
      outputGradAt(v, `${tv}ky`, `${tv}kx`, `(${tv}co + ${k} - k0)`, strided),
  };
  const dx = planesOutput(pixWidth, "Cin", "CinG", "HW");
  const op = "conv2d_input_grad_tap_major";
  return convGemm(op, w, { name: "gy", operand: gy }, dx, g, tile, tuning, [M, N, K]);
}

/**
 * The input gradient of a strided convolution by output phases: the input pixels (iy, ix) ≡
 * (RY, RX) mod (SY, SX) receive only from the taps ky ≡ RY + PY (mod SY), kx ≡ RX + PX (mod SX).
 * So each phase is a dense GEMM over its own pixels and taps, where the plain strided gradient
 * gathers every tap for every pixel and multiplies most by zero (3/4 of them at stride 2 with 3×3
 * kernels). All SY·SX phases run in one dispatch, workgroup z = group·SY·SX + phase, each entry
 * sized to its phase (its own N and K). K = tap·CoutG + co over the phase's taps; the weights are
 * permuted to [G, kh·kw, CoutG, CinG] once, and a phase reads its taps from them.
 */
function inputGradPhaseSpec(
  g: ConvGeometry,
  tile: GemmTile,
  tuning: GemmTuning,
  phases: PhaseSizes[],
  [M, nMax, kMax]: [number, number, number],
): GemmSpec {
  const aWidth = M % 4 === 0 ? 4 : 1;
  // A(ci, k = t·CoutG + co) = w[grp, tap (KY0 + SY·(t / NKX), KX0 + SX·(t % NKX)), co, ci].
  const w: GemmOperand = {
    width: aWidth,
    fast: "free",
    setupFree: (f, v) => `let ${v} = grp * KHW * CoutG * CinG + ${f};`,
    setupTile: (k0, tv) =>
      `let ${tv}t = ${k0} / CoutG;
    let ${tv}tap = (KY0 + u32(SY) * (${tv}t / NKX)) * KW + KX0 + u32(SX) * (${tv}t % NKX);
    let ${tv}off = (${tv}tap * CoutG + ${k0} % CoutG) * CinG;`,
    load: (v, _kv, k, tv) => {
      const at = `${v} + ${tv}off + (${k} - k0) * CinG`;
      return aWidth === 4 ? `w[(${at}) / 4u]` : `w[${at}]`;
    },
  };
  // Column f = (image, a, b): input pixel (RY + SY·a, RX + SX·b); tap t: output pixel
  // (a + dy, b + dx) with dy = (RY + PY − ky) / SY exact (negative ones wrap and fail `< OH`).
  const gy: GemmOperand = {
    width: 1,
    fast: "free",
    setupFree: (f, v) =>
      `let ${v}_p = ${f} % PHW;
  let ${v}_a = ${v}_p / PW;
  let ${v}_b = ${v}_p % PW;
  let ${v}_base = (${f} / PHW) * Cout * OHW + grp * CoutG * OHW;`,
    setupTile: (k0, tv) =>
      `let ${tv}tap = ${k0} / CoutG;
    let ${tv}dy = u32((i32(RY) + PY - i32(KY0 + u32(SY) * (${tv}tap / NKX))) / SY);
    let ${tv}dx = u32((i32(RX) + PX - i32(KX0 + u32(SX) * (${tv}tap % NKX))) / SX);
    let ${tv}co = ${k0} % CoutG;`,
    load: (v, _kv, k, tv) => {
      const oy = `(${v}_a + ${tv}dy)`;
      const ox = `(${v}_b + ${tv}dx)`;
      return `select(0.0, gy[${v}_base + (${tv}co + ${k} - k0) * OHW + ${oy} * OW + ${ox}], ` +
        `${oy} < OH && ${ox} < OW)`;
    },
  };
  // dx pixels of the phase only: column (image, a, b) is pixel (RY + SY·a, RX + SX·b).
  const dx: GemmOutput = {
    width: 1,
    setupRow: (m, v) => `let ${v} = (grp * CinG + ${m}) * HW;`,
    setupCol: (n, v) =>
      `let ${v} = (${n} / PHW) * Cin * HW + (RY + u32(SY) * ((${n} % PHW) / PW)) * W + ` +
      `RX + u32(SX) * ((${n} % PHW) % PW);`,
    index: (row, col) => `${row} + ${col}`,
  };
  // Bounds checks where any phase needs them.
  const checks = phases.map((p) => boundsChecks(M, p.N, p.K, tile, tuning));
  const src = { name: "gy" as const, operand: gy };
  const phaseCount = g.sy * g.sx;
  return {
    ...convGemm("conv2d_input_grad_phase", w, src, dx, g, tile, tuning, [M, nMax, kMax]),
    checkM: checks.some((c) => c.checkM),
    checkN: checks.some((c) => c.checkN),
    checkK: checks.some((c) => c.checkK),
    extraParams: [...CONV_PARAMS, "images"],
    sizesPerBatch: true,
    batchSetup: `${groupSetup(`batch / ${phaseCount}u`)} let phase = batch % ${phaseCount}u;
  let RY = phase / u32(SX); let RX = phase % u32(SX);
  let KY0 = (RY + u32(PY)) % u32(SY); let KX0 = (RX + u32(PX)) % u32(SX);
  let NKY = (KH - KY0 + u32(SY) - 1u) / u32(SY); let NKX = (KW - KX0 + u32(SX) - 1u) / u32(SX);
  let PH = select(0u, (H - RY + u32(SY) - 1u) / u32(SY), H > RY);
  let PW = select(0u, (W - RX + u32(SX) - 1u) / u32(SX), W > RX);
  let PHW = PH * PW;
  let N = images * PHW; let K = CoutG * NKY * NKX; let nTiles = (N + ${tile.bn}u - 1u) / ${tile.bn}u;`,
  };
}

/** One phase's GEMM sizes: N = its input pixels, K = its taps · CoutG. */
interface PhaseSizes {
  N: number;
  K: number;
}

/** The GEMM sizes of every phase (ry, rx), ry-major as the kernel numbers them. */
function phaseSizes(g: ConvGeometry): PhaseSizes[] {
  const sizes: PhaseSizes[] = [];
  for (let ry = 0; ry < g.sy; ry++) {
    for (let rx = 0; rx < g.sx; rx++) {
      const ph = Math.max(0, Math.ceil((g.h - ry) / g.sy));
      const pw = Math.max(0, Math.ceil((g.w - rx) / g.sx));
      const nky = Math.ceil((g.kh - ((ry + g.py) % g.sy)) / g.sy);
      const nkx = Math.ceil((g.kw - ((rx + g.px) % g.sx)) / g.sx);
      sizes.push({ N: g.n * ph * pw, K: (g.cout / g.groups) * nky * nkx });
    }
  }
  return sizes;
}

/**
 * Whether a strided input gradient runs by phases: every phase must have taps (kernel ≥ stride)
 * and the tap-major K order must apply (CoutG a multiple of the tile depth).
 */
const byPhases = (g: ConvGeometry, tile: GemmTile, tuning: GemmTuning) =>
  (g.sy > 1 || g.sx > 1) && g.kh >= g.sy && g.kw >= g.sx &&
  tapMajor(g.cout / g.groups, g, tile, tuning);

/** The strided input gradient as one dispatch of SY·SX phase GEMMs, each writing its pixels of dx. */
function inputGradByPhases(
  gy: Tensor,
  w: Tensor,
  g: ConvGeometry,
  tuning: GemmTuning,
  dx: Tensor,
): void {
  const phases = phaseSizes(g);
  const M = g.cin / g.groups;
  const N = Math.max(...phases.map((p) => p.N));
  const K = Math.max(...phases.map((p) => p.K));
  const batch = g.groups * phases.length;
  const tile = chooseTile(M, N, batch, tuning);
  const wk = weightsTapMajor(w, g, [0, 3, 1, 2]);
  const spec = inputGradPhaseSpec(g, tile, tuning, phases, [M, N, K]);
  launchGemm(spec, [gy.buffer, wk.buffer, dx.buffer], {
    M,
    N,
    K,
    batch,
    splits: 1,
    kChunk: K,
    extra: [...convParams(g), g.n],
    shape: () => `${shapeName(g)} phases`,
    flops: g.groups * phases.reduce((f, p) => f + 2 * M * p.N * p.K, 0),
  });
  wk.dispose();
}

function weightGradSpec(
  g: ConvGeometry,
  tile: GemmTile,
  tuning: GemmTuning,
  kChunk: number,
): GemmSpec {
  const M = g.cout / g.groups;
  const N = (g.cin / g.groups) * g.kh * g.kw;
  const K = g.n * g.oh * g.ow;
  const pixWidth = (g.oh * g.ow) % 4 === 0 ? 4 : 1;
  const pointwise = isPointwise(g);
  // A(co, k = (b, pixel)) = gy[b, grp·CoutG + co, pixel].
  const gy: GemmOperand = {
    width: pixWidth,
    fast: "k",
    setupFree: (f, v) => `let ${v} = (grp * CoutG + ${f}) * OHW;`,
    setupK: (k, kv) => `let ${kv} = (${k} / OHW) * Cout * OHW + ${k} % OHW;`,
    load: (v, kv) => (pixWidth === 4 ? `gy[(${v} + ${kv}) / 4u]` : `gy[${v} + ${kv}]`),
  };
  // B(k = (b, oy, ox), (ci, ky, kx)) = x[b, grp·CinG + ci, oy·s − p + ky, ox·s − p + kx].
  const x: GemmOperand = pointwise
    ? {
      width: pixWidth,
      fast: "k",
      setupFree: (f, v) => `let ${v} = (grp * CinG + ${f}) * HW;`,
      setupK: (k, kv) => `let ${kv} = (${k} / HW) * Cin * HW + ${k} % HW;`,
      load: (v, kv) => (pixWidth === 4 ? `x[(${v} + ${kv}) / 4u]` : `x[${v} + ${kv}]`),
    }
    : {
      width: 1,
      fast: "k",
      setupFree: (f, v) =>
        `let ${v}_r = ${f} % KHW;
  let ${v}_ky = i32(${v}_r / KW);
  let ${v}_kx = i32(${v}_r % KW);
  let ${v}_off = i32((grp * CinG + ${f} / KHW) * HW) + ${v}_ky * i32(W) + ${v}_kx;`,
      setupK: (k, kv) =>
        `let ${kv}pix = ${k} % OHW;
    let ${kv}iy = i32(${kv}pix / OW) * SY - PY;
    let ${kv}ix = i32(${kv}pix % OW) * SX - PX;
    let ${kv}base = i32((${k} / OHW) * Cin * HW) + ${kv}iy * i32(W) + ${kv}ix;`,
      load: (v, kv) =>
        `select(0.0, x[u32(${kv}base + ${v}_off)], u32(${kv}iy + ${v}_ky) < H && u32(${kv}ix + ${v}_kx) < W)`,
    };
  const outWidth = N % 4 === 0 ? 4 : 1;
  const checks = boundsChecks(M, N, K, tile, tuning);
  return {
    op: "conv2d_weight_grad",
    tile,
    a: gy,
    b: x,
    out: {
      width: outWidth,
      setupRow: (m, v) => `let ${v} = split * splitStride + (grp * CoutG + ${m}) * N;`,
      setupCol: (n, v) => `let ${v} = ${n};`,
      index: (row, col) => (outWidth === 4 ? `(${row} + ${col}) / 4u` : `${row} + ${col}`),
    },
    bindings: `@group(0) @binding(0) var<storage, read> gy: ${arr(pixWidth)};
@group(0) @binding(1) var<storage, read> x: ${arr(x.width)};
@group(0) @binding(2) var<storage, read_write> C: ${arr(outWidth)};`,
    bindingCount: 3,
    extraParams: CONV_PARAMS,
    batchSetup: groupSetup(),
    prelude: prelude(g),
    ...checks,
    checkK: checks.checkK || kChunk % tile.bk !== 0,
    // Both operands are k-fast gathers; rows-first staging was faster here (conflict-free shared
    // stores outweigh less coalesced reads: docs/runtime_notes.md).
    rowsFirstStaging: tuning.rowsFirstStaging ?? true,
  };
}

// ---------------------------------------------------------------------------
// Raw (non-recording) launchers.

/** Weights [G·CoutG, CinG, kh, kw] as [G, CoutG, CinG, taps] permuted by `axes`: a tap-major K order. */
function weightsTapMajor(w: Tensor, g: ConvGeometry, axes: number[]): Tensor {
  return noGrad(() =>
    permute(reshape(w, [g.groups, g.cout / g.groups, g.cin / g.groups, g.kh * g.kw]), axes)
  );
}

/** One GEMM per group over the whole reduction (no split), as the forward and input gradient run. */
function launchWhole(
  spec: GemmSpec,
  buffers: GPUBuffer[],
  [M, N, K]: [number, number, number],
  g: ConvGeometry,
): void {
  const extra = convParams(g);
  const shape = () => shapeName(g);
  launchGemm(spec, buffers, { M, N, K, batch: g.groups, splits: 1, kChunk: K, extra, shape });
}

function forwardGpu(x: Tensor, w: Tensor, g: ConvGeometry, tuning: GemmTuning): Tensor {
  const out = Tensor.empty(outShape(g));
  const M = g.cout / g.groups;
  const N = g.n * g.oh * g.ow;
  const K = (g.cin / g.groups) * g.kh * g.kw;
  if (out.size === 0) return out;
  const tile = chooseTile(M, N, g.groups, tuning);
  const spec = forwardSpec(g, tile, tuning);
  // Tap-major: [G, taps, CinG, CoutG].
  const wk = spec.op === "conv2d_tap_major" ? weightsTapMajor(w, g, [0, 3, 2, 1]) : w;
  launchWhole(spec, [x.buffer, wk.buffer, out.buffer], [M, N, K], g);
  if (wk !== w) wk.dispose();
  return out;
}

function inputGradGpu(gy: Tensor, w: Tensor, g: ConvGeometry, tuning: GemmTuning): Tensor {
  const dx = Tensor.empty(inShape(g));
  const M = g.cin / g.groups;
  const N = g.n * g.h * g.w;
  const K = (g.cout / g.groups) * g.kh * g.kw;
  if (dx.size === 0) return dx;
  const tile = chooseTile(M, N, g.groups, tuning);
  if (byPhases(g, tile, tuning)) {
    inputGradByPhases(gy, w, g, tuning, dx);
    return dx;
  }
  const spec = inputGradSpec(g, tile, tuning);
  // Tap-major: [G, taps, CoutG, CinG].
  const wk = spec.op === "conv2d_input_grad_tap_major" ? weightsTapMajor(w, g, [0, 3, 1, 2]) : w;
  launchWhole(spec, [gy.buffer, wk.buffer, dx.buffer], [M, N, K], g);
  if (wk !== w) wk.dispose();
  return dx;
}

function weightGradGpu(
  x: Tensor,
  gy: Tensor,
  g: ConvGeometry,
  wShape: readonly number[],
  tuning: GemmTuning,
): Tensor {
  const M = g.cout / g.groups;
  const N = (g.cin / g.groups) * g.kh * g.kw;
  const K = g.n * g.oh * g.ow;
  const size = numel(wShape);
  if (size === 0) return Tensor.empty(wShape, "gpu");
  const tile = chooseTile(M, N, g.groups, tuning, true);
  const tiles = Math.ceil(M / tile.bm) * Math.ceil(N / tile.bn) * g.groups;
  // The reduction axis (batch·pixels) is long and the output small: split it, and bound the
  // partial sums' memory (≤ 2²⁶ floats, well inside every adapter's binding limit).
  let { splits, kChunk } = chooseSplits(tiles, K, tile.bk);
  const maxSplits = Math.max(1, Math.floor(2 ** 26 / size));
  if (splits > maxSplits) {
    kChunk = Math.ceil(Math.ceil(K / maxSplits) / tile.bk) * tile.bk;
    splits = Math.ceil(K / kChunk);
  }
  const partial = Tensor.empty(splits > 1 ? [splits, ...wShape] : wShape, "gpu");
  launchGemm(weightGradSpec(g, tile, tuning, kChunk), [gy.buffer, x.buffer, partial.buffer], {
    M,
    N,
    K,
    batch: g.groups,
    splits,
    kChunk,
    extra: convParams(g, size),
    shape: () => shapeName(g),
  });
  if (splits === 1) return partial;
  // Fixed-order sum over the splits: deterministic, unlike float atomics.
  const dw = reshape(sum(partial, 0), wShape);
  partial.dispose();
  return dw;
}

// ---------------------------------------------------------------------------
// The differentiable ops: three declarations, each with the other two in its backward.

/** What a convolution op is told besides its two tensors. */
interface ConvCall {
  g: ConvGeometry;
  wShape: readonly number[];
  options: Conv2dOptions;
}

const tuningOf = (c: ConvCall) => c.options.tuning ?? {};

/** Each input's gradient reads the other input. */
const otherInputs = ([a, b]: readonly Tensor[]) => [
  ...(a.requiresGrad ? [b] : []),
  ...(b.requiresGrad ? [a] : []),
];

const forwardOp: Op<ConvCall> = defineOp({
  name: "conv2d",
  shape: (_, { g }) => outShape(g),
  cpu: ([x, w], [y], { g }) => convCpu("forward", g, x.cpuData, w.cpuData, y.cpuData),
  gpu: ([x, w], c) => forwardGpu(x, w, c.g, tuningOf(c)),
  saved: otherInputs,
  backward: (gy, [x, w], _, { options }) => [
    x.requiresGrad ? conv2dInputGrad(gy, w, x.shape, options) : null,
    w.requiresGrad ? conv2dWeightGrad(x, gy, w.shape, options) : null,
  ],
});

const inputGradOp: Op<ConvCall> = defineOp({
  name: "conv2d_input_grad",
  shape: (_, { g }) => inShape(g),
  cpu: ([gy, w], [dx], { g }) => convCpu("input", g, dx.cpuData, w.cpuData, gy.cpuData),
  gpu: ([gy, w], c) => inputGradGpu(gy, w, c.g, tuningOf(c)),
  saved: otherInputs,
  backward: (gg, [gy, w], _, { options }) => [
    gy.requiresGrad ? conv2d(gg, w, options) : null,
    w.requiresGrad ? conv2dWeightGrad(gg, gy, w.shape, options) : null,
  ],
});

const weightGradOp: Op<ConvCall> = defineOp({
  name: "conv2d_weight_grad",
  shape: (_, { wShape }) => wShape,
  cpu: ([x, gy], [dw], { g }) => convCpu("weight", g, x.cpuData, dw.cpuData, gy.cpuData),
  gpu: ([x, gy], c) => weightGradGpu(x, gy, c.g, c.wShape, tuningOf(c)),
  saved: otherInputs,
  backward: (gg, [x, gy], _, { options }) => [
    x.requiresGrad ? conv2dInputGrad(gy, gg, x.shape, options) : null,
    gy.requiresGrad ? conv2d(x, gg, options) : null,
  ],
});

/**
 * 2-D cross-correlation (PyTorch's conv2d without bias): x [N, Cin, H, W],
 * w [Cout, Cin/groups, kh, kw] → [N, Cout, OH, OW], OH = ⌊(H + 2p − kh)/s⌋ + 1.
 */
export function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  return forwardOp([x, w], { g: geometry(x.shape, w.shape, options), wShape: w.shape, options });
}

/**
 * The gradient of conv2d w.r.t. its input (= conv_transpose2d): gy [N, Cout, OH, OW],
 * w [Cout, Cin/groups, kh, kw] → [N, Cin, H, W] = `xShape`.
 */
export function conv2dInputGrad(
  gy: Tensor,
  w: Tensor,
  xShape: readonly number[],
  options: Conv2dOptions = {},
): Tensor {
  const g = geometry(xShape, w.shape, options);
  expectShape(gy, outShape(g), "conv2dInputGrad: gy");
  return inputGradOp([gy, w], { g, wShape: w.shape, options });
}

/**
 * The gradient of conv2d w.r.t. its weights: x [N, Cin, H, W],
 * gy [N, Cout, OH, OW] → [Cout, Cin/groups, kh, kw] = `wShape`.
 */
export function conv2dWeightGrad(
  x: Tensor,
  gy: Tensor,
  wShape: readonly number[],
  options: Conv2dOptions = {},
): Tensor {
  const g = geometry(x.shape, wShape, options);
  expectShape(gy, outShape(g), "conv2dWeightGrad: gy");
  return weightGradOp([x, gy], { g, wShape, options });
}

/**
 * PyTorch's conv_transpose2d without bias: x [N, Cin, H, W], w [Cin, Cout/groups, kh, kw]
 * → [N, Cout, (H−1)·s − 2p + kh + outputPadding, …]. It is conv2d's input gradient.
 */
export function convTranspose2d(
  x: Tensor,
  w: Tensor,
  options: ConvTranspose2dOptions = {},
): Tensor {
  if (x.rank !== 4 || w.rank !== 4) {
    throw new Error(
      `convTranspose2d: needs x [N, C, H, W] and w [Cin, Cout/groups, kh, kw], got [${x.shape}], [${w.shape}]`,
    );
  }
  const groups = options.groups ?? 1;
  const [sy, sx] = pair(options.stride, 1, "stride");
  const [py, px] = pair(options.padding, 0, "padding");
  const [oy, ox] = pair(options.outputPadding, 0, "outputPadding");
  if (oy >= sy || ox >= sx) {
    throw new Error(`convTranspose2d: outputPadding ${[oy, ox]} must be < stride ${[sy, sx]}`);
  }
  const [n, , h, wd] = x.shape;
  const [, coutG, kh, kw] = w.shape;
  const shape = [
    n,
    coutG * groups,
    (h - 1) * sy - 2 * py + kh + oy,
    (wd - 1) * sx - 2 * px + kw + ox,
  ];
  const { tuning } = options;
  return conv2dInputGrad(x, w, shape, { stride: [sy, sx], padding: [py, px], groups, tuning });
}

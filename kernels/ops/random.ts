/**
 * Counter-based random numbers (Philox4x32-10) that are bit-identical on every
 * adapter and on the CPU backend.
 *
 * Element i of draw d from a generator with seed s is a pure function of
 * (s, d, i): no state on the GPU, any order of evaluation. Uniforms are
 * 24-bit integers times 2⁻²⁴ (exact). Normals come from the inverse normal CDF
 * through a table in 20-bit fixed point interpolated with integer arithmetic
 * only, then converted exactly — no transcendental function runs on the GPU,
 * so no adapter's rounding can change a bit.
 */
import { type Device, numel, Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch, uploadBuffer } from "../runtime/commands.ts";
import { ELEMENT_MAIN, grid, Params, paramsDecl } from "./params.ts";

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** 32×32 → 64-bit product as [hi, lo] from 16-bit halves (WGSL has no 64-bit integers). */
function mulHiLo(a: number, b: number): [number, number] {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const hi = (p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
  const lo = Math.imul(a, b) >>> 0;
  return [hi, lo];
}

/** Philox4x32-10, first output word, for counter (c0, c1, 0, 0) and key (k0, k1). */
export function philox(c0: number, c1: number, k0: number, k1: number): number {
  let x0 = c0 >>> 0, x1 = c1 >>> 0, x2 = 0, x3 = 0;
  for (let r = 0; r < 10; r++) {
    const [h0, l0] = mulHiLo(M0, x0);
    const [h1, l1] = mulHiLo(M1, x2);
    const n0 = (h1 ^ x1 ^ k0) >>> 0;
    const n2 = (h0 ^ x3 ^ k1) >>> 0;
    x0 = n0;
    x1 = l1;
    x2 = n2;
    x3 = l0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return x0;
}

/** WGSL of `philox(c0, c1, k0, k1) -> u32` (the same function as `philox`), for kernels that draw in place. */
export const PHILOX_WGSL = `
fn mulHiLo(a: u32, b: u32) -> vec2u {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2u(p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u), a * b);
}
fn philox(c0: u32, c1: u32, key0: u32, key1: u32) -> u32 {
  var x0 = c0; var x1 = c1; var x2 = 0u; var x3 = 0u; var k0 = key0; var k1 = key1;
  for (var r = 0u; r < 10u; r++) {
    let a = mulHiLo(${M0}u, x0);
    let b = mulHiLo(${M1}u, x2);
    let n0 = b.x ^ x1 ^ k0;
    let n2 = a.x ^ x3 ^ k1;
    x0 = n0; x1 = b.y; x2 = n2; x3 = a.y;
    k0 = k0 + ${W0}u; k1 = k1 + ${W1}u;
  }
  return x0;
}`;

// ---- Inverse normal CDF table -------------------------------------------------
// A 32-bit draw v maps to p = (q + ½)/2³² with q = v (lower half, negative
// normal) or q = 2³² − 1 − v (upper half, positive). Magnitudes |Φ⁻¹(p(q))| are
// tabulated: exactly for q < 1024, and per octave [2ᴸ, 2ᴸ⁺¹) (L = 10…30) at
// 1024 equal steps, linearly interpolated with the remaining L − 10 bits.

const FIXED = 2 ** 20;
const DIRECT = 1024;
const STEPS = 1024;

/** Acklam's rational approximation of Φ⁻¹ (relative error < 1.2e−9), p in (0, 1). */
function inverseNormalCdf(p: number): number {
  const a = [
    -39.69683028665376,
    220.9460984245205,
    -275.9285104469687,
    138.357751867269,
    -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406,
    161.5858368580409,
    -155.6989798598866,
    66.80131188771972,
    -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293,
    -0.3223964580411365,
    -2.400758277161838,
    -2.549732539343734,
    4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -inverseNormalCdf(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

let table: Int32Array | null = null;
/** The fixed-point magnitude table (built once, identical everywhere). */
export function normalTable(): Int32Array {
  if (table) return table;
  const t = new Int32Array(DIRECT + 21 * (STEPS + 1));
  const mag = (q: number) => Math.round(Math.abs(inverseNormalCdf((q + 0.5) / 2 ** 32)) * FIXED);
  for (let q = 0; q < DIRECT; q++) t[q] = mag(q);
  for (let L = 10; L <= 30; L++) {
    for (let k = 0; k <= STEPS; k++) {
      t[DIRECT + (L - 10) * (STEPS + 1) + k] = mag(2 ** L + k * 2 ** (L - 10));
    }
  }
  table = t;
  return t;
}

/** Uniform in [0, 1) from a 32-bit draw. */
export function uniformFromBits(v: number): number {
  return (v >>> 8) * 2 ** -24;
}

/** Standard normal from a 32-bit draw (CPU twin of the WGSL). */
export function normalFromBits(v: number): number {
  const t = normalTable();
  const upper = v >= 2 ** 31;
  const q = upper ? 0xffffffff - v : v;
  let mag: number;
  if (q < DIRECT) mag = t[q];
  else {
    const L = 31 - Math.clz32(q);
    const s = L - 10;
    const k = (q - 2 ** L) >>> s;
    const f = q & ((1 << s) - 1);
    const base = DIRECT + s * (STEPS + 1) + k;
    mag = t[base] + Math.floor(((t[base + 1] - t[base]) * f) / 2 ** s);
  }
  return (upper ? mag : -mag) / FIXED;
}

const NORMAL_WGSL = `
fn normalFromBits(v: u32) -> f32 {
  let upper = v >= 0x80000000u;
  let q = select(v, 0xffffffffu - v, upper);
  var mag: i32;
  if (q < ${DIRECT}u) {
    mag = table[q];
  } else {
    let L = firstLeadingBit(q);
    let s = L - 10u;
    let k = (q - (1u << L)) >> s;
    let f = i32(q & ((1u << s) - 1u));
    let base = ${DIRECT}u + s * ${STEPS + 1}u + k;
    mag = table[base] + (((table[base + 1u] - table[base]) * f) >> s);
  }
  return f32(select(-mag, mag, upper)) * ${1 / FIXED};
}`;

type Distribution = "uniform" | "normal";

function randomSource(dist: Distribution): string {
  const tableDecl = dist === "normal"
    ? `@group(0) @binding(1) var<storage, read> table: array<i32>;`
    : "";
  // 2⁻²⁴ scaling of a 24-bit integer: exact.
  const value = dist === "normal" ? "normalFromBits(bits)" : `f32(bits >> 8u) * ${2 ** -24}`;
  return `// random_${dist}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
${tableDecl}
${paramsDecl(dist === "normal" ? 2 : 1, 4)}
${PHILOX_WGSL}
${dist === "normal" ? NORMAL_WGSL : ""}
${ELEMENT_MAIN}
  let bits = philox(i, P(1u), P(2u), P(3u));
  out[i] = ${value};
}`;
}

let tableBuffer: GPUBuffer | null = null;

function draw(
  dist: Distribution,
  shape: readonly number[],
  seed: number,
  drawIndex: number,
  device: Device,
): Tensor {
  const n = numel(shape);
  const k0 = seed >>> 0;
  const k1 = Math.floor(seed / 2 ** 32) >>> 0;
  const out = Tensor.empty(shape, device);
  if (device === "cpu") {
    const data = out.cpuData;
    for (let i = 0; i < n; i++) {
      const bits = philox(i, drawIndex >>> 0, k0, k1);
      data[i] = dist === "normal" ? normalFromBits(bits) : uniformFromBits(bits);
    }
    return out;
  }
  if (n === 0) return out;
  const buffers = [out.buffer];
  if (dist === "normal") buffers.push(tableBuffer ??= uploadBuffer(normalTable()));
  dispatch({
    kernel: kernel(`random_${dist}`, () => randomSource(dist), ""),
    buffers,
    params: new Params().u32(n, drawIndex >>> 0, k0, k1).bytes(),
    workgroups: grid(n),
  });
  return out;
}

/** Serializable generator state (for checkpoints). */
export interface RngState {
  seed: number;
  draws: number;
}

/**
 * Where a model's random numbers come from, in call order: a seeded `Rng` in
 * training, or a replay of recorded values (the reference fixtures record
 * every draw of the original code).
 */
export interface RandomSource {
  /** Uniform [0, 1) values. */
  uniform(shape: readonly number[], device?: Device): Tensor;
  /** Standard normal values. */
  normal(shape: readonly number[], device?: Device): Tensor;
  /** `count` integers in [0, high) on the host (as torch.randint draws them one by one). */
  integers(count: number, high: number): number[];
}

/**
 * A seeded stream of random tensors: each call is one "draw", and element i of
 * draw d depends only on (seed, d, i), on every adapter.
 */
export class Rng implements RandomSource {
  seed: number;
  draws: number;
  constructor(seed: number, draws = 0) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new Error(`seed must be a non-negative integer, got ${seed}`);
    }
    this.seed = seed;
    this.draws = draws;
  }
  /** Uniform [0, 1) values. */
  uniform(shape: readonly number[], device: Device = "gpu"): Tensor {
    return draw("uniform", shape, this.seed, this.draws++, device);
  }
  /** Standard normal values. */
  normal(shape: readonly number[], device: Device = "gpu"): Tensor {
    return draw("normal", shape, this.seed, this.draws++, device);
  }
  /** ⌊u·high⌋ of one uniform draw of `count` values (on the CPU backend: bit-identical to the GPU). */
  integers(count: number, high: number): number[] {
    const u = draw("uniform", [count], this.seed, this.draws++, "cpu");
    const out = Array.from(u.cpuData, (v) => Math.floor(v * high));
    u.dispose();
    return out;
  }
  state(): RngState {
    return { seed: this.seed, draws: this.draws };
  }
  static fromState(s: RngState): Rng {
    return new Rng(s.seed, s.draws);
  }
}

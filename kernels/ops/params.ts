/**
 * Kernel parameters: a small uniform block of u32/f32 words, and the dispatch
 * grid for one-thread-per-element kernels (2-D when the element count exceeds
 * one dimension's workgroup limit).
 */
import { gpu } from "../runtime/device.ts";

/** Accumulates 32-bit words (u32 or f32) for a kernel's uniform block. */
export class Params {
  private words: number[] = [];
  private kinds: ("u" | "f")[] = [];
  u32(...values: number[]): this {
    for (const v of values) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
        throw new Error(`u32 param out of range: ${v}`);
      }
      this.words.push(v);
      this.kinds.push("u");
    }
    return this;
  }
  i32(...values: number[]): this {
    for (const v of values) {
      if (!Number.isInteger(v)) throw new Error(`i32 param not an integer: ${v}`);
      this.words.push(v >>> 0);
      this.kinds.push("u");
    }
    return this;
  }
  f32(...values: number[]): this {
    for (const v of values) {
      this.words.push(v);
      this.kinds.push("f");
    }
    return this;
  }
  get length(): number {
    return this.words.length;
  }
  /** Packed bytes, padded to whole vec4s. */
  bytes(): Uint32Array {
    const n = Math.max(4, Math.ceil(this.words.length / 4) * 4);
    const out = new Uint32Array(n);
    const f = new Float32Array(out.buffer);
    this.words.forEach((w, i) => {
      if (this.kinds[i] === "f") f[i] = w;
      else out[i] = w;
    });
    return out;
  }
}

/** WGSL declaration of a uniform block of `words` 32-bit words, read as `P(i)` (u32) or `PF(i)` (f32). */
export function paramsDecl(binding: number, words: number): string {
  const vec4s = Math.max(1, Math.ceil(words / 4));
  return `struct ParamBlock { v: array<vec4<u32>, ${vec4s}> }
@group(0) @binding(${binding}) var<uniform> params: ParamBlock;
fn P(i: u32) -> u32 { return params.v[i / 4u][i % 4u]; }
fn PF(i: u32) -> f32 { return bitcast<f32>(params.v[i / 4u][i % 4u]); }
fn PI(i: u32) -> i32 { return bitcast<i32>(params.v[i / 4u][i % 4u]); }`;
}

/** Threads per workgroup of element-wise style kernels. */
export const WG = 256;

/** Workgroup grid covering `threads` threads of `wg` each; kernels recover the index with `flatIndex`. */
export function grid(threads: number, wg = WG): [number, number] {
  const groups = Math.ceil(threads / wg);
  const max = gpu().limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}

/** WGSL: the flat thread index for a `grid` dispatch (needs `nwg: vec3u` = num_workgroups). */
export function flatIndex(wg = WG): string {
  return `(gid.x + gid.y * nwg.x * ${wg}u)`;
}

/**
 * WGSL opening the entry point of a one-thread-per-element kernel on a `grid`
 * dispatch: defines the element index `i` and returns past the count `P(0)`.
 * The kernel's body follows and closes the brace.
 */
export const ELEMENT_MAIN = `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = ${flatIndex()};
  if (i >= P(0u)) { return; }`;

/** 0, 1, …, n − 1: for writing out unrolled WGSL (a line per channel, tap or output). */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

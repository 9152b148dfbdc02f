/**
 * Reductions (sum, max) over any set of axes, in a fixed order so results are
 * bit-identical run to run. Small reductions use one thread per output; long
 * ones a workgroup per output with a tree in shared memory.
 *
 * Here: `sum` and the pair of adjoints it belongs to, `expand` (broadcasting, whose backward
 * is a sum) and `sumTo` (a broadcast gradient summed back, whose backward is an expand), so
 * they need no op above them. `mean` and `max` (backward rules of element-wise ops) are in
 * mean_max.ts.
 */
import { record } from "../tensor/autograd.ts";
import { contiguousStrides, numel, Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch } from "../runtime/commands.ts";
import { flatIndex, grid, Params, paramsDecl, WG } from "./params.ts";
import { gatherRaw, reshape, sameShape } from "./movement.ts";

export type ReduceKind = "sum" | "max";

/** Normalises axes (negative allowed; undefined = all) to a sorted unique list. */
export function normalizeAxes(axes: number | number[] | undefined, rank: number): number[] {
  const list = axes === undefined ? [...Array(rank).keys()] : Array.isArray(axes) ? axes : [axes];
  const out = [
    ...new Set(list.map((a) => {
      const b = a < 0 ? a + rank : a;
      if (b < 0 || b >= rank) throw new Error(`axis ${a} out of range for rank ${rank}`);
      return b;
    })),
  ];
  return out.sort((a, b) => a - b);
}

/** Groups of merged axes: [size, reduced?] alternating, for a contiguous tensor. */
function mergedLayout(
  shape: readonly number[],
  axes: number[],
): { sizes: number[]; reduced: boolean[] } {
  const sizes: number[] = [];
  const reduced: boolean[] = [];
  shape.forEach((d, i) => {
    if (d === 1) return;
    const r = axes.includes(i);
    if (reduced.length && reduced[reduced.length - 1] === r) sizes[sizes.length - 1] *= d;
    else {
      sizes.push(d);
      reduced.push(r);
    }
  });
  return { sizes, reduced };
}

function reduceSource(kind: ReduceKind, reduced: boolean[], perWorkgroup: boolean): string {
  const rank = reduced.length;
  // Params: [outCount, reduceCount, sizes(rank), strides(rank), chunks, chunkLength]
  const words = 4 + 2 * rank;
  const init = kind === "sum" ? "0.0" : "-3.4028234663852886e38";
  const combine = (a: string, b: string) => (kind === "sum" ? `${a} + ${b}` : `max(${a}, ${b})`);
  const keptDims = reduced.map((r, i) => (!r ? i : -1)).filter((i) => i >= 0);
  const redDims = reduced.map((r, i) => (r ? i : -1)).filter((i) => i >= 0);
  const decompose = (dims: number[], v: string, acc: string) => {
    const out: string[] = [`var ${v}rem = ${v};`];
    for (let k = dims.length - 1; k >= 0; k--) {
      const d = dims[k];
      if (k > 0) {
        out.push(
          `${acc} += (${v}rem % P(${2 + d}u)) * P(${2 + rank + d}u); ${v}rem = ${v}rem / P(${
            2 + d
          }u);`,
        );
      } else out.push(`${acc} += ${v}rem * P(${2 + rank + d}u);`);
    }
    return out.join("\n    ");
  };
  const head = `@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${paramsDecl(2, words)}`;
  const redOffset = redDims.length === 1
    ? `let off = base + r * P(${2 + rank + redDims[0]}u);`
    : `var off = base;\n    ${decompose(redDims, "r", "off")}`;
  if (!perWorkgroup) {
    return `// reduce_${kind}
${head}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = ${flatIndex()};
  if (o >= P(0u)) { return; }
  var base = 0u;
  ${decompose(keptDims, "o", "base")}
  var acc = ${init};
  for (var r = 0u; r < P(1u); r++) {
    ${redOffset}
    acc = ${combine("acc", "src[off]")};
  }
  out[o] = acc;
}`;
  }
  // Workgroup w reduces chunk w % chunks of output w / chunks and writes out[w].
  return `// reduce_${kind}_wg
${head}
var<workgroup> partial: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
  let w = wid.x + wid.y * nwg.x;
  let chunks = P(${2 + 2 * rank}u);
  let o = w / chunks;
  let rBegin = (w % chunks) * P(${3 + 2 * rank}u);
  let rEnd = min(P(1u), rBegin + P(${3 + 2 * rank}u));
  var base = 0u;
  ${keptDims.length ? decompose(keptDims, "o", "base") : ""}
  var acc = ${init};
  for (var r = rBegin + lid; r < rEnd; r += ${WG}u) {
    ${redOffset}
    acc = ${combine("acc", "src[off]")};
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { partial[lid] = ${combine("partial[lid]", "partial[lid + s]")}; }
    workgroupBarrier();
  }
  if (lid == 0u && o < P(0u)) { out[w] = partial[0]; }
}`;
}

/** The reduction kernel over sorted `axes`, keeping them as size 1. */
export function reduceRaw(kind: ReduceKind, x: Tensor, axes: number[]): Tensor {
  x.assertLive();
  const outShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const outCount = numel(outShape);
  const redCount = axes.reduce((n, a) => n * x.shape[a], 1);
  if (x.device === "cpu") return reduceOnCpu(kind, x, axes, outShape);
  if (outCount === 0) return Tensor.empty(outShape, x.device);
  const { sizes, reduced } = mergedLayout(x.shape, axes);
  if (redCount === 0) throw new Error(`${kind}: reduction over an empty axis`);
  if (sizes.length === 0) {
    // Every axis has size 1: a copy.
    sizes.push(1);
    reduced.push(false);
  }
  const strides = contiguousStrides(sizes);
  const perWorkgroup = redCount >= 512 && outCount <= 65536;
  const chunks = perWorkgroup ? chunkCount(outCount, redCount) : 1;
  const chunkLength = Math.ceil(redCount / chunks);
  // With several chunks per output, a second pass reduces the partials [outCount, chunks].
  const out = Tensor.empty(chunks > 1 ? [outCount, chunks] : outShape, x.device);
  const p = new Params().u32(outCount, redCount, ...sizes, ...strides, chunks, chunkLength);
  dispatch({
    kernel: kernel(
      `reduce_${kind}`,
      () => reduceSource(kind, reduced, perWorkgroup),
      `${reduced.map(Number).join("")}|${perWorkgroup}`,
    ),
    buffers: [x.buffer, out.buffer],
    params: p.bytes(),
    workgroups: perWorkgroup ? grid(outCount * chunks, 1) : grid(outCount),
    // The merged axes, the reduced ones marked Σ; how many chunks each output's sum runs in.
    shape: () =>
      sizes.map((d, i) => (reduced[i] ? `Σ${d}` : d)).join("×") +
      (chunks > 1 ? ` in ${chunks}` : ""),
  });
  if (chunks === 1) return out;
  const folded = reduceRaw(kind, out, [1]);
  out.dispose();
  const result = folded.viewAs(outShape);
  folded.dispose();
  return result;
}

function reduceOnCpu(kind: ReduceKind, x: Tensor, axes: number[], outShape: number[]): Tensor {
  const out = Tensor.empty(outShape, x.device);
  const src = x.cpuData;
  const dst = out.cpuData;
  dst.fill(kind === "sum" ? 0 : -Infinity);
  const outStrides = contiguousStrides(outShape);
  const idx = new Array<number>(x.rank).fill(0);
  for (let i = 0; i < x.size; i++) {
    let o = 0;
    for (let d = 0; d < x.rank; d++) if (!axes.includes(d)) o += idx[d] * outStrides[d];
    dst[o] = kind === "sum" ? dst[o] + src[i] : Math.max(dst[o], src[i]);
    for (let d = x.rank - 1; d >= 0; d--) {
      if (++idx[d] < x.shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * Chunks each output's reduction is split into: a few outputs over many
 * elements would otherwise leave all but a few workgroups of the GPU idle.
 * Chunks hold at least 16 elements per thread, and the dispatch aims for
 * ~1,024 workgroups; the split is fixed by the sizes, so results stay bit-identical.
 */
function chunkCount(outCount: number, redCount: number): number {
  const byLength = Math.floor(redCount / (16 * WG));
  const byOccupancy = Math.ceil(1024 / outCount);
  return Math.max(1, Math.min(byLength, byOccupancy));
}

/** Options of reductions. */
export interface ReduceOptions {
  /** Keep reduced axes with size 1 (default false). */
  keepDims?: boolean;
}

/** `out` (reduced axes kept as size 1) without the reduced axes unless `keepDims`. */
export function finish(out: Tensor, x: Tensor, axes: number[], keepDims: boolean): Tensor {
  if (keepDims) return out;
  return reshape(out, x.shape.filter((_, i) => !axes.includes(i)));
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Tensor, axes?: number | number[], options: ReduceOptions = {}): Tensor {
  const ax = normalizeAxes(axes, x.rank);
  const out = record(reduceRaw("sum", x, ax), {
    name: "sum",
    inputs: [x],
    saved: [],
    backward: (g) => [expand(g, x.shape)],
  });
  return finish(out, x, ax, options.keepDims ?? false);
}

/** Sums a broadcast gradient back to `shape` (the adjoint of broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const s = axes.length ? sum(g, axes, { keepDims: true }) : g;
  return reshape(s, shape);
}

/** Broadcasts to `shape` (NumPy rules: leading axes added, size-1 axes repeated). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(x.shape, shape)) return x;
  const lead = shape.length - x.rank;
  if (lead < 0) throw new Error(`cannot expand [${x.shape}] to [${shape}]`);
  const strides = contiguousStrides(x.shape);
  const axes = shape.map((d, i) => {
    const j = i - lead;
    const own = j >= 0 ? x.shape[j] : 1;
    if (own !== 1 && own !== d) throw new Error(`cannot expand [${x.shape}] to [${shape}]`);
    return { size: d, srcSize: d, srcStride: own === 1 ? 0 : strides[j], mul: 1, shift: 0, div: 1 };
  });
  const out = gatherRaw(x, axes);
  return record(out, {
    name: "expand",
    inputs: [x],
    saved: [],
    backward: (g) => [sumTo(g, x.shape)],
  });
}

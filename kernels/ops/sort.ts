/**
 * Short sorts and index-driven gathers along one axis, for per-ray sample
 * lists (the renderer merges coarse and fine samples by depth).
 *
 * Indices are f32 tensors holding integers (exact below 2²⁴), so they compose
 * with the element-wise ops (clamping, offsets) like any other tensor.
 *
 * - `argsort`: stable ascending order; one thread per element counts the
 *   elements that precede it (O(L) per element, fine for L ≲ 256), so there is
 *   no data-dependent control flow and the result is the same on every adapter.
 * - `takeAlongAxis` (torch.gather) and `scatterAddAlongAxis` are an adjoint
 *   pair; the scatter is written as a gather (each output element loops over
 *   the index axis in order), so it needs no atomics and is deterministic.
 */
import { noGrad } from "../tensor/autograd.ts";
import { numel, type Tensor } from "../tensor/tensor.ts";
import { ELEMENT_MAIN, type Params, paramsDecl } from "./params.ts";
import { expand } from "./reduce.ts";
import { defineOp, type OpDeclaration } from "./op.ts";

/** A shape split around one axis: the sizes before it, along it and after it. */
export interface AxisLayout {
  outer: number;
  len: number;
  inner: number;
  /** The axis, non-negative. */
  axis: number;
}

/** Splits `shape` around `axis` into (outer, length, inner). */
export function axisLayout(shape: readonly number[], axis: number): AxisLayout {
  const ax = axis < 0 ? axis + shape.length : axis;
  if (ax < 0 || ax >= shape.length) {
    throw new Error(`axis ${axis} out of range for rank ${shape.length}`);
  }
  return {
    outer: numel(shape.slice(0, ax)),
    len: shape[ax],
    inner: numel(shape.slice(ax + 1)),
    axis: ax,
  };
}

const ARGSORT_WGSL = `// argsort
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${paramsDecl(2, 3)}
${ELEMENT_MAIN}
  let L = P(1u); let inner = P(2u);
  let inn = i % inner;
  let k = (i / inner) % L;
  let o = i / (inner * L);
  let base = o * L * inner + inn;
  let v = src[i];
  var rank = 0u;
  for (var j = 0u; j < L; j++) {
    let u = src[base + j * inner];
    if (u < v || (u == v && j < k)) { rank++; }
  }
  out[base + rank * inner] = f32(k);
}`;

const argsortOp = defineOp<AxisLayout>({
  name: "argsort",
  shape: ([x]) => x.shape,
  cpu: ([x], [out], { outer, len, inner }) => {
    const src = x.cpuData;
    const dst = out.cpuData;
    for (let o = 0; o < outer; o++) {
      for (let inn = 0; inn < inner; inn++) {
        const at = (j: number) => src[o * len * inner + j * inner + inn];
        const order = [...Array(len).keys()].sort((a, b) => at(a) - at(b) || a - b);
        order.forEach((k, r) => (dst[o * len * inner + r * inner + inn] = k));
      }
    }
  },
  gpu: { wgsl: ARGSORT_WGSL, params: (words, _, __, { len, inner }) => words.u32(len, inner) },
});

/** Indices that sort `x` ascending along `axis` (stable); no gradient. */
export function argsort(x: Tensor, axis = -1): Tensor {
  return argsortOp([x], axisLayout(x.shape, axis));
}

const TAKE_WGSL = `// take_along_axis
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${paramsDecl(3, 4)}
${ELEMENT_MAIN}
  let Lout = P(1u); let inner = P(2u); let Lsrc = P(3u);
  let inn = i % inner;
  let o = i / (inner * Lout);
  let j = u32(clamp(i32(round(idx[i])), 0, i32(Lsrc) - 1));
  out[i] = src[(o * Lsrc + j) * inner + inn];
}`;

const SCATTER_WGSL = `// scatter_add_along_axis
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${paramsDecl(3, 4)}
${ELEMENT_MAIN}
  let Lout = P(1u); let inner = P(2u); let Lsrc = P(3u);
  let inn = i % inner;
  let j = (i / inner) % Lout;
  let o = i / (inner * Lout);
  var acc = 0.0;
  for (var k = 0u; k < Lsrc; k++) {
    let at = (o * Lsrc + k) * inner + inn;
    let t = u32(clamp(i32(round(idx[at])), 0, i32(Lout) - 1));
    if (t == j) { acc += src[at]; }
  }
  out[i] = acc;
}`;

/**
 * Calls `fn(e, at)` for each element `e` of the indices `idx` with the element `at` it points
 * to: the same place off `axis`, the (clamped) index along it, in a tensor whose axis is `length` long.
 */
function eachIndexed(
  idx: Tensor,
  axis: number,
  length: number,
  fn: (e: number, at: number) => void,
): void {
  const { len, inner } = axisLayout(idx.shape, axis);
  const ix = idx.cpuData;
  for (let e = 0; e < idx.size; e++) {
    const t = Math.min(Math.max(Math.round(ix[e]), 0), length - 1);
    fn(e, (Math.floor(e / (inner * len)) * length + t) * inner + (e % inner));
  }
}

/** A gather or scatter of `src` by indices `idx` along `axis` (non-negative). */
interface Indexed {
  axis: number;
}

/** The uniform words of a gather or scatter: the output's axis length and inner size, the source's axis length. */
function indexedParams(
  words: Params,
  [src]: readonly Tensor[],
  [out]: readonly Tensor[],
  { axis }: Indexed,
): Params {
  const { len, inner } = axisLayout(out.shape, axis);
  return words.u32(len, inner, src.shape[axis]);
}

/** The gather: `takeAlongAxis` and `permuteAlongAxis` compute the same values. */
const GATHER: Pick<OpDeclaration<Indexed>, "shape" | "cpu" | "gpu"> = {
  // The indices come expanded to the output's shape.
  shape: ([, idx]) => idx.shape,
  cpu: ([src, idx], [out], { axis }) => {
    const [s, d] = [src.cpuData, out.cpuData];
    eachIndexed(idx, axis, src.shape[axis], (e, at) => (d[e] = s[at]));
  },
  gpu: { name: "take_along_axis", wgsl: TAKE_WGSL, params: indexedParams },
};

const take = defineOp<Indexed>({
  name: "take_along_axis",
  ...GATHER,
  differentiable: 1,
  saved: ([, idx]) => [idx],
  backward: (g, [x, idx], _, { axis }) => [scatterAddAlongAxis(g, idx, x.shape[axis], axis)],
});

const scatterAdd = defineOp<Indexed & { length: number }>({
  name: "scatter_add_along_axis",
  shape: ([src], { axis, length }) => src.shape.map((d, i) => (i === axis ? length : d)),
  cpu: ([src, idx], [out], { axis }) => {
    const [s, d] = [src.cpuData, out.cpuData];
    eachIndexed(idx, axis, out.shape[axis], (e, at) => (d[at] += s[e]));
  },
  gpu: { wgsl: SCATTER_WGSL, params: indexedParams },
  differentiable: 1,
  saved: ([, idx]) => [idx],
  backward: (g, [, idx], _, { axis }) => [takeAlongAxis(g, idx, axis)],
});

/** The shape of `takeAlongAxis(x, indices, axis)`: x's, with the axis length of `indices`. */
function takeShape(x: Tensor, indices: Tensor, ax: number): number[] {
  if (indices.rank !== x.rank) {
    throw new Error(
      `takeAlongAxis: indices rank ${indices.rank} differs from input rank ${x.rank}`,
    );
  }
  return x.shape.map((d, i) => {
    if (i === ax) return indices.shape[i];
    if (indices.shape[i] !== 1 && indices.shape[i] !== d) {
      throw new Error(
        `takeAlongAxis: indices [${indices.shape}] do not broadcast against [${x.shape}] off axis ${ax}`,
      );
    }
    return d;
  });
}

/**
 * out[…, j, …] = x[…, indices[…, j, …], …] along `axis` (torch.gather). Size-1
 * axes of `indices` broadcast; indices are clamped to the axis.
 */
export function takeAlongAxis(x: Tensor, indices: Tensor, axis: number): Tensor {
  const { axis: ax } = axisLayout(x.shape, axis);
  const outShape = takeShape(x, indices, ax);
  return take([x, noGrad(() => expand(indices, outShape))], { axis: ax });
}

/**
 * The adjoint of `takeAlongAxis`: out[…, t, …] = Σ_{k: indices[…, k, …] = t} src[…, k, …],
 * with `length` entries along `axis`; `indices` has src's shape.
 */
export function scatterAddAlongAxis(
  src: Tensor,
  indices: Tensor,
  length: number,
  axis: number,
): Tensor {
  const { axis: ax } = axisLayout(src.shape, axis);
  if (indices.shape.join() !== src.shape.join()) {
    throw new Error(
      `scatterAddAlongAxis: indices [${indices.shape}] must have the source shape [${src.shape}]`,
    );
  }
  return scatterAdd([src, indices], { axis: ax, length });
}

const INVERT_WGSL = `// invert_permutation
@group(0) @binding(0) var<storage, read> order: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${paramsDecl(2, 3)}
${ELEMENT_MAIN}
  let L = P(1u); let inner = P(2u);
  let inn = i % inner;
  let j = (i / inner) % L;
  let o = i / (inner * L);
  let t = u32(clamp(i32(round(order[i])), 0, i32(L) - 1));
  out[(o * L + t) * inner + inn] = f32(j);
}`;

const invert = defineOp<AxisLayout>({
  name: "invert_permutation",
  shape: ([order]) => order.shape,
  cpu: ([order], [out], { axis, len, inner }) => {
    const dst = out.cpuData;
    eachIndexed(order, axis, len, (e, at) => (dst[at] = Math.floor(e / inner) % len));
  },
  gpu: { wgsl: INVERT_WGSL, params: (words, _, __, { len, inner }) => words.u32(len, inner) },
});

/**
 * The inverse of permutations `order` along `axis` (each index exactly once along it):
 * inv[…, order[…, j, …], …] = j. Every target is written once, so no atomics.
 */
export function invertPermutation(order: Tensor, axis: number): Tensor {
  return invert([order], axisLayout(order.shape, axis));
}

/** The gather by a permutation: its backward gathers by the inverse permutation. */
const permute = defineOp<Indexed & { order: Tensor }>({
  name: "permute_along_axis",
  ...GATHER,
  differentiable: 1,
  saved: (_, __, { order }) => [order],
  backward: (g, _, __, { axis, order }) => [
    permuteAlongAxis(g, noGrad(() => invertPermutation(order, axis)), axis),
  ],
});

/**
 * `x` reordered along `axis` by permutations `order` (each index exactly once along the axis,
 * as `argsort` gives; size-1 axes broadcast). The same values as `takeAlongAxis`, but its
 * backward is a gather by the inverse permutation, not a scatter-add (which loops over the
 * whole axis for every element).
 */
export function permuteAlongAxis(x: Tensor, order: Tensor, axis: number): Tensor {
  const { axis: ax } = axisLayout(x.shape, axis);
  if (order.rank !== x.rank || order.shape[ax] !== x.shape[ax]) {
    throw new Error(
      `permuteAlongAxis: a permutation [${order.shape}] must have the length of axis ${ax} of [${x.shape}]`,
    );
  }
  const idx = noGrad(() => expand(order, takeShape(x, order, ax)));
  const out = permute([x, idx], { axis: ax, order });
  if (idx !== order) idx.dispose();
  return out;
}

/** `x` sorted ascending along `axis` (stable) and the indices that sort it; differentiable in the values. */
export function sortAlongAxis(x: Tensor, axis = -1): { values: Tensor; indices: Tensor } {
  const indices = argsort(x, axis);
  return { values: permuteAlongAxis(x, indices, axis), indices };
}

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
import { noGrad, record } from "../tensor/autograd.ts";
import { numel, Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch } from "../runtime/commands.ts";
import { ELEMENT_MAIN, grid, Params, paramsDecl } from "./params.ts";
import { expand } from "./reduce.ts";

/** One thread per element of the last of `tensors` (the output): `words` = [count, sizes…]. */
function launchAlongAxis(name: string, source: string, tensors: Tensor[], words: number[]): void {
  dispatch({
    kernel: kernel(name, source),
    buffers: tensors.map((t) => t.buffer),
    params: new Params().u32(...words).bytes(),
    workgroups: grid(words[0]),
  });
}

/** Splits `shape` around `axis` into (outer, length, inner). */
export function axisLayout(
  shape: readonly number[],
  axis: number,
): { outer: number; len: number; inner: number; axis: number } {
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

/** Indices that sort `x` ascending along `axis` (stable); no gradient. */
export function argsort(x: Tensor, axis = -1): Tensor {
  x.assertLive();
  const { outer, len, inner } = axisLayout(x.shape, axis);
  const out = Tensor.empty(x.shape, x.device);
  if (x.device === "cpu") {
    const src = x.cpuData;
    const dst = out.cpuData;
    for (let o = 0; o < outer; o++) {
      for (let inn = 0; inn < inner; inn++) {
        const at = (j: number) => src[o * len * inner + j * inner + inn];
        const order = [...Array(len).keys()].sort((a, b) => at(a) - at(b) || a - b);
        order.forEach((k, r) => (dst[o * len * inner + r * inner + inn] = k));
      }
    }
    return out;
  }
  if (x.size === 0) return out;
  launchAlongAxis("argsort", ARGSORT_WGSL, [x, out], [x.size, len, inner]);
  return out;
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

function runIndexed(
  name: "take_along_axis" | "scatter_add_along_axis",
  src: Tensor,
  idx: Tensor,
  outShape: number[],
  axis: number,
): Tensor {
  src.assertLive();
  idx.assertLive();
  if (src.device !== idx.device) throw new Error(`${name}: tensors on different devices`);
  const out = Tensor.empty(outShape, src.device);
  const { inner, len: lOut } = axisLayout(outShape, axis);
  const lSrc = src.shape[axisLayout(src.shape, axis).axis];
  const n = numel(outShape);
  if (src.device === "cpu") {
    const s = src.cpuData;
    const ix = idx.cpuData;
    const d = out.cpuData;
    if (name === "take_along_axis") {
      for (let i = 0; i < n; i++) {
        const inn = i % inner;
        const o = Math.floor(i / (inner * lOut));
        const j = Math.min(Math.max(Math.round(ix[i]), 0), lSrc - 1);
        d[i] = s[(o * lSrc + j) * inner + inn];
      }
    } else {
      d.fill(0);
      for (let at = 0; at < src.size; at++) {
        const inn = at % inner;
        const o = Math.floor(at / (inner * lSrc));
        const t = Math.min(Math.max(Math.round(ix[at]), 0), lOut - 1);
        d[(o * lOut + t) * inner + inn] += s[at];
      }
    }
    return out;
  }
  if (n === 0) return out;
  launchAlongAxis(name, name === "take_along_axis" ? TAKE_WGSL : SCATTER_WGSL, [src, idx, out], [
    n,
    lOut,
    inner,
    lSrc,
  ]);
  return out;
}

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
  const idx = noGrad(() => expand(indices, outShape));
  const out = runIndexed("take_along_axis", x, idx, outShape, ax);
  return record(out, {
    name: "take_along_axis",
    inputs: [x],
    saved: [idx],
    backward: (g) => [scatterAddAlongAxis(g, idx, x.shape[ax], ax)],
  });
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
  const outShape = src.shape.map((d, i) => (i === ax ? length : d));
  const out = runIndexed("scatter_add_along_axis", src, indices, outShape, ax);
  return record(out, {
    name: "scatter_add_along_axis",
    inputs: [src],
    saved: [indices],
    backward: (g) => [takeAlongAxis(g, indices, ax)],
  });
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

/**
 * The inverse of permutations `order` along `axis` (each index exactly once along it):
 * inv[…, order[…, j, …], …] = j. Every target is written once, so no atomics.
 */
export function invertPermutation(order: Tensor, axis: number): Tensor {
  order.assertLive();
  const { outer, len, inner } = axisLayout(order.shape, axis);
  const out = Tensor.empty(order.shape, order.device);
  if (order.device === "cpu") {
    const src = order.cpuData;
    const dst = out.cpuData;
    for (let i = 0; i < outer * len * inner; i++) {
      const inn = i % inner;
      const j = Math.floor(i / inner) % len;
      const o = Math.floor(i / (inner * len));
      const t = Math.min(Math.max(Math.round(src[i]), 0), len - 1);
      dst[(o * len + t) * inner + inn] = j;
    }
    return out;
  }
  if (order.size === 0) return out;
  launchAlongAxis("invert_permutation", INVERT_WGSL, [order, out], [order.size, len, inner]);
  return out;
}

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
  const outShape = takeShape(x, order, ax);
  const idx = noGrad(() => expand(order, outShape));
  const out = runIndexed("take_along_axis", x, idx, outShape, ax);
  if (idx !== order) idx.dispose();
  return record(out, {
    name: "permute_along_axis",
    inputs: [x],
    saved: [order],
    backward: (g) => [permuteAlongAxis(g, noGrad(() => invertPermutation(order, ax)), ax)],
  });
}

/** `x` sorted ascending along `axis` (stable) and the indices that sort it; differentiable in the values. */
export function sortAlongAxis(x: Tensor, axis = -1): { values: Tensor; indices: Tensor } {
  const indices = argsort(x, axis);
  return { values: permuteAlongAxis(x, indices, axis), indices };
}

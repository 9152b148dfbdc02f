/**
 * Movement ops: reshape (a view), permute, slice, pad, concat (expand, whose adjoint is a sum,
 * sits with the sums in reduce.ts).
 *
 * Two kernels serve them all: a gather that computes every output element
 * from one source element (or zero when out of range) — permutation, broadcast,
 * strided slices, padding and the strided scatter that is a slice's adjoint —
 * and a region write used by concat. Each op's backward is another movement op, so gradients
 * of any order stay differentiable.
 */
import { record } from "../tensor/autograd.ts";
import { contiguousStrides, numel, Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch } from "../runtime/commands.ts";
import { ELEMENT_MAIN, grid, Params, paramsDecl } from "./params.ts";

/** Per output axis: source coordinate = (c·mul − shift) / div, valid when exact and in range. */
export interface GatherAxis {
  size: number;
  srcSize: number;
  srcStride: number;
  mul: number;
  shift: number;
  div: number;
}

/** An axis that reads source coordinate = output coordinate, always in range. */
function isPlain(a: GatherAxis): boolean {
  return a.mul === 1 && a.shift === 0 && a.div === 1 && a.size <= a.srcSize;
}

/**
 * The same gather over fewer axes: plain axes of size 1 are dropped, and a plain axis merges
 * into the plain axis outside it when both read one contiguous run of the source (broadcast
 * axes, stride 0, included). Each axis left costs the kernel integer divisions per element.
 */
function simplifyAxes(axes: GatherAxis[]): GatherAxis[] {
  const out: GatherAxis[] = [];
  for (const a of axes) {
    if (a.size === 1 && isPlain(a)) continue;
    const outer = out[out.length - 1];
    if (
      outer && isPlain(outer) && isPlain(a) && a.size === a.srcSize &&
      outer.srcStride === a.srcStride * a.srcSize
    ) {
      out[out.length - 1] = {
        size: outer.size * a.size,
        srcSize: outer.srcSize * a.srcSize,
        srcStride: a.srcStride,
        mul: 1,
        shift: 0,
        div: 1,
      };
    } else out.push(a);
  }
  return out.length ? out : [{ size: 1, srcSize: 1, srcStride: 0, mul: 1, shift: 0, div: 1 }];
}

function gatherSource(plain: boolean[]): string {
  // Params per axis: size, srcSize, srcStride, mul, shift(i32), div; then total.
  const rank = plain.length;
  const words = 1 + 6 * rank;
  const lines = [
    `// gather`,
    `@group(0) @binding(0) var<storage, read> src: array<f32>;`,
    `@group(0) @binding(1) var<storage, read_write> out: array<f32>;`,
    paramsDecl(2, words),
    ELEMENT_MAIN,
    `  var rem = i;`,
    `  var off = 0u;`,
    `  var ok = true;`,
  ];
  for (let d = rank - 1; d >= 0; d--) {
    const b = 1 + 6 * d;
    lines.push(`  {`);
    if (plain[d]) {
      lines.push(`    off += (rem % P(${b}u)) * P(${b + 2}u); rem = rem / P(${b}u);`);
    } else {
      lines.push(`    let c = i32(rem % P(${b}u)); rem = rem / P(${b}u);`);
      lines.push(`    let t = c * PI(${b + 3}u) - PI(${b + 4}u);`);
      lines.push(`    let dv = PI(${b + 5}u);`);
      lines.push(`    let s = t / dv;`);
      lines.push(`    ok = ok && t >= 0 && s * dv == t && s < PI(${b + 1}u);`);
      lines.push(`    off += u32(max(s, 0)) * P(${b + 2}u);`);
    }
    lines.push(`  }`);
  }
  lines.push(`  out[i] = select(0.0, src[min(off, arrayLength(&src) - 1u)], ok);`);
  lines.push(`}`);
  return lines.join("\n");
}

/** The gather kernel: each output element reads one source element (or 0), per `axes`. */
export function gatherRaw(x: Tensor, axes: GatherAxis[]): Tensor {
  x.assertLive();
  const outShape = axes.map((a) => a.size);
  const out = Tensor.empty(outShape, x.device, x.dtype);
  const n = numel(outShape);
  if (x.device === "cpu") {
    const src = x.cpuData;
    const dst = out.cpuData;
    const idx = new Array<number>(axes.length).fill(0);
    for (let i = 0; i < n; i++) {
      let off = 0;
      let ok = true;
      axes.forEach((a, d) => {
        const t = idx[d] * a.mul - a.shift;
        const s = Math.floor(t / a.div);
        ok &&= t >= 0 && s * a.div === t && s < a.srcSize;
        off += Math.max(s, 0) * a.srcStride;
      });
      dst[i] = ok ? src[off] : 0;
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d] < outShape[d]) break;
        idx[d] = 0;
      }
    }
    return out;
  }
  if (n === 0 || x.size === 0) {
    if (n && x.size === 0) throw new Error("gather from an empty tensor");
    return out;
  }
  const simple = simplifyAxes(axes);
  const plain = simple.map(isPlain);
  const p = new Params().u32(n);
  for (const a of simple) p.u32(a.size, a.srcSize, a.srcStride).i32(a.mul, a.shift, a.div);
  dispatch({
    kernel: kernel("gather", () => gatherSource(plain), plain.map(Number).join("")),
    buffers: [x.buffer, out.buffer],
    params: p.bytes(),
    workgroups: grid(n),
    // Per axis, outermost first: size, then @ the source stride (and any non-plain mapping).
    shape: () =>
      simple.map((a) =>
        `${a.size}@${a.srcStride}` +
        (isPlain(a) ? "" : `(×${a.mul}${a.shift < 0 ? "+" : "−"}${Math.abs(a.shift)})/${a.div}`)
      ).join(" "),
  });
  return out;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A view with a new shape (one axis may be −1). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const resolved = shape.map((d) => (d === -1 ? x.size / known : d));
  if (numel(resolved) !== x.size || resolved.some((d) => !Number.isInteger(d))) {
    throw new Error(`cannot reshape [${x.shape.join(", ")}] to [${shape.join(", ")}]`);
  }
  if (sameShape(resolved, x.shape)) return x;
  return record(x.viewAs(resolved), {
    name: "reshape",
    inputs: [x],
    saved: [],
    backward: (g) => [reshape(g, x.shape)],
  });
}

/** Reorders axes: output axis i is input axis perm[i]. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new Error(`invalid permutation [${perm.join(", ")}] for rank ${x.rank}`);
  }
  if (perm.every((p, i) => p === i)) return x;
  const strides = contiguousStrides(x.shape);
  const out = gatherRaw(
    x,
    perm.map((p) => ({
      size: x.shape[p],
      srcSize: x.shape[p],
      srcStride: strides[p],
      mul: 1,
      shift: 0,
      div: 1,
    })),
  );
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return record(out, {
    name: "permute",
    inputs: [x],
    saved: [],
    backward: (g) => [permute(g, inverse)],
  });
}

/** Swaps two axes. */
export function transpose(x: Tensor, a: number, b: number): Tensor {
  const perm = [...Array(x.rank).keys()];
  const ia = a < 0 ? a + x.rank : a;
  const ib = b < 0 ? b + x.rank : b;
  [perm[ia], perm[ib]] = [perm[ib], perm[ia]];
  return permute(x, perm);
}

/** Per-axis range [start, end) with step, or null for the whole axis. */
export type SliceRange = [number, number, number?] | null;

/** A strided slice (start/end clamped like Python; negative indices count from the end). */
export function slice(x: Tensor, ranges: SliceRange[]): Tensor {
  const strides = contiguousStrides(x.shape);
  const spec = x.shape.map((d, i) => {
    const r = ranges[i];
    if (!r) return { start: 0, step: 1, size: d };
    const step = r[2] ?? 1;
    if (!Number.isInteger(step) || step < 1) {
      throw new Error(`slice step must be a positive integer`);
    }
    const norm = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
    const start = norm(r[0]);
    const end = norm(r[1]);
    return { start, step, size: Math.max(0, Math.ceil((end - start) / step)) };
  });
  if (spec.every((s, i) => s.start === 0 && s.step === 1 && s.size === x.shape[i])) return x;
  const out = gatherRaw(
    x,
    spec.map((s, i) => ({
      size: s.size,
      srcSize: x.shape[i],
      srcStride: strides[i],
      mul: s.step,
      shift: -s.start,
      div: 1,
    })),
  );
  return record(out, {
    name: "slice",
    inputs: [x],
    saved: [],
    backward: (g) => [unslice(g, x.shape, spec.map((s) => [s.start, s.step]))],
  });
}

/** The adjoint of `slice`: places `g` at start + k·step along each axis of a zero tensor of `shape`. */
function unslice(g: Tensor, shape: readonly number[], spec: [number, number][]): Tensor {
  const strides = contiguousStrides(g.shape);
  const out = gatherRaw(
    g,
    shape.map((d, i) => ({
      size: d,
      srcSize: g.shape[i],
      srcStride: strides[i],
      mul: 1,
      shift: spec[i][0],
      div: spec[i][1],
    })),
  );
  const ranges: SliceRange[] = spec.map((
    [start, step],
    i,
  ) => [start, start + step * g.shape[i], step]);
  return record(out, {
    name: "unslice",
    inputs: [g],
    saved: [],
    backward: (gg) => [slice(gg, ranges)],
  });
}

/** Zero padding: pads[i] = [before, after] for axis i (missing axes unpadded; negative crops). */
export function pad(x: Tensor, pads: [number, number][]): Tensor {
  const full = x.shape.map((_, i) => pads[i] ?? [0, 0]);
  if (full.every(([a, b]) => a === 0 && b === 0)) return x;
  // Crop first (negative pads), then pad with the slice adjoint.
  const cropped = slice(
    x,
    full.map(([a, b], i) => [Math.max(-a, 0), x.shape[i] - Math.max(-b, 0)]),
  );
  const shape = cropped.shape.map((d, i) => d + Math.max(full[i][0], 0) + Math.max(full[i][1], 0));
  return unslice(cropped, shape, full.map(([a]) => [Math.max(a, 0), 1]));
}

function regionWriteSource(rank: number): string {
  const words = 2 + 2 * rank;
  const lines = [
    `// region_write`,
    `@group(0) @binding(0) var<storage, read> src: array<f32>;`,
    `@group(0) @binding(1) var<storage, read_write> out: array<f32>;`,
    paramsDecl(2, words),
    ELEMENT_MAIN,
    `  var rem = i;`,
    `  var off = P(1u);`,
  ];
  for (let d = rank - 1; d >= 0; d--) {
    lines.push(`  off += (rem % P(${2 + d}u)) * P(${2 + rank + d}u); rem = rem / P(${2 + d}u);`);
  }
  lines.push(`  out[off] = src[i];`, `}`);
  return lines.join("\n");
}

/** Concatenates tensors along `axis` (all other axes equal). */
export function concat(xs: Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new Error("concat of no tensors");
  const rank = xs[0].rank;
  const ax = axis < 0 ? axis + rank : axis;
  for (const t of xs) {
    if (t.rank !== rank || t.shape.some((d, i) => i !== ax && d !== xs[0].shape[i])) {
      throw new Error(
        `concat: shapes ${xs.map((t) => `[${t.shape}]`).join(", ")} differ off axis ${ax}`,
      );
    }
  }
  if (xs.length === 1) return xs[0];
  const outShape = [...xs[0].shape];
  outShape[ax] = xs.reduce((n, t) => n + t.shape[ax], 0);
  const device = xs[0].device;
  const out = Tensor.empty(outShape, device, xs[0].dtype);
  const outStrides = contiguousStrides(outShape);
  let offset = 0;
  for (const t of xs) {
    t.assertLive();
    if (t.device !== device) throw new Error("concat: tensors on different devices");
    const base = offset * outStrides[ax];
    if (device === "cpu") {
      const src = t.cpuData;
      const dst = out.cpuData;
      const idx = new Array<number>(rank).fill(0);
      for (let i = 0; i < t.size; i++) {
        let off = base;
        for (let d = 0; d < rank; d++) off += idx[d] * outStrides[d];
        dst[off] = src[i];
        for (let d = rank - 1; d >= 0; d--) {
          if (++idx[d] < t.shape[d]) break;
          idx[d] = 0;
        }
      }
    } else if (t.size) {
      const at = offset;
      dispatch({
        kernel: kernel("concat", () => regionWriteSource(rank), String(rank)),
        buffers: [t.buffer, out.buffer],
        params: new Params().u32(t.size, base, ...t.shape, ...outStrides).bytes(),
        workgroups: grid(t.size),
        shape: () => `${t.shape.join("×")} at ${at} of axis ${ax} of ${out.shape.join("×")}`,
      });
    }
    offset += t.shape[ax];
  }
  const starts: number[] = [];
  offset = 0;
  for (const t of xs) {
    starts.push(offset);
    offset += t.shape[ax];
  }
  return record(out, {
    name: "concat",
    inputs: xs,
    saved: [],
    backward: (g) =>
      xs.map((t, k) => {
        const r: SliceRange[] = t.shape.map(() => null);
        r[ax] = [starts[k], starts[k] + t.shape[ax]];
        return slice(g, r);
      }),
  });
}

/** Stacks equally shaped tensors along a new axis. */
export function stack(xs: Tensor[], axis = 0): Tensor {
  return concat(
    xs.map((t) => reshape(t, [...t.shape.slice(0, axis), 1, ...t.shape.slice(axis)])),
    axis,
  );
}

/**
 * `searchsorted` (as torch.searchsorted): for rows of ascending values and
 * rows of queries with the same leading axes, the insertion index of each
 * query. `right: true` gives the count of entries ≤ the query, `false` the
 * count of entries < it. Indices come back as f32 integers (see sort.ts); no
 * gradient (the result is piecewise constant).
 */
import { numel, Tensor } from "../tensor/tensor.ts";
import { kernel } from "../runtime/kernel_cache.ts";
import { dispatch } from "../runtime/commands.ts";
import { ELEMENT_MAIN, grid, Params, paramsDecl } from "./params.ts";

const SEARCH_WGSL = `// searchsorted
@group(0) @binding(0) var<storage, read> sorted: array<f32>;
@group(0) @binding(1) var<storage, read> query: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${paramsDecl(3, 4)}
${ELEMENT_MAIN}
  let K = P(1u); let Q = P(2u); let right = P(3u) == 1u;
  let base = (i / Q) * K;
  let v = query[i];
  var lo = 0u;
  var hi = K;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    let s = sorted[base + mid];
    if (s < v || (right && s == v)) { lo = mid + 1u; } else { hi = mid; }
  }
  out[i] = f32(lo);
}`;

/** Insertion indices of `values` [..., Q] into the ascending rows of `sorted` [..., K]. */
export function searchsorted(sorted: Tensor, values: Tensor, { right = false } = {}): Tensor {
  sorted.assertLive();
  values.assertLive();
  const lead = sorted.shape.slice(0, -1);
  if (values.rank !== sorted.rank || values.shape.slice(0, -1).join() !== lead.join()) {
    throw new Error(`searchsorted: leading axes of [${sorted.shape}] and [${values.shape}] differ`);
  }
  const k = sorted.shape[sorted.rank - 1];
  const q = values.shape[values.rank - 1];
  const out = Tensor.empty(values.shape, values.device);
  const n = numel(values.shape);
  if (values.device === "cpu") {
    const s = sorted.cpuData;
    const v = values.cpuData;
    const d = out.cpuData;
    for (let i = 0; i < n; i++) {
      const base = Math.floor(i / q) * k;
      let lo = 0;
      let hi = k;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const e = s[base + mid];
        if (e < v[i] || (right && e === v[i])) lo = mid + 1;
        else hi = mid;
      }
      d[i] = lo;
    }
    return out;
  }
  if (n === 0) return out;
  dispatch({
    kernel: kernel("searchsorted", SEARCH_WGSL),
    buffers: [sorted.buffer, values.buffer, out.buffer],
    params: new Params().u32(n, k, q, right ? 1 : 0).bytes(),
    workgroups: grid(n),
  });
  return out;
}

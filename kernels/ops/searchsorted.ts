/**
 * `searchsorted` (as torch.searchsorted): for rows of ascending values and
 * rows of queries with the same leading axes, the insertion index of each
 * query. `right: true` gives the count of entries ≤ the query, `false` the
 * count of entries < it. Indices come back as f32 integers (see sort.ts); no
 * gradient (the result is piecewise constant).
 */
import type { Tensor } from "../tensor/tensor.ts";
import { ELEMENT_MAIN, paramsDecl } from "./params.ts";
import { defineOp } from "./op.ts";

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

/** Rows of `sorted` [..., K] and of `values` [..., Q] (the same leading axes): K and Q. */
function rowLengths([sorted, values]: readonly Tensor[]): { k: number; q: number } {
  return { k: sorted.shape[sorted.rank - 1], q: values.shape[values.rank - 1] };
}

const search = defineOp<{ right: boolean }>({
  name: "searchsorted",
  shape: ([sorted, values]) => {
    const lead = sorted.shape.slice(0, -1);
    if (values.rank !== sorted.rank || values.shape.slice(0, -1).join() !== lead.join()) {
      throw new Error(
        `searchsorted: leading axes of [${sorted.shape}] and [${values.shape}] differ`,
      );
    }
    return values.shape;
  },
  cpu: (inputs, [out], { right }) => {
    const { k, q } = rowLengths(inputs);
    const s = inputs[0].cpuData;
    const v = inputs[1].cpuData;
    const d = out.cpuData;
    for (let i = 0; i < out.size; i++) {
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
  },
  gpu: {
    wgsl: SEARCH_WGSL,
    params: (words, inputs, _, { right }) => {
      const { k, q } = rowLengths(inputs);
      return words.u32(k, q, right ? 1 : 0);
    },
  },
});

/** Insertion indices of `values` [..., Q] into the ascending rows of `sorted` [..., K]. */
export function searchsorted(sorted: Tensor, values: Tensor, { right = false } = {}): Tensor {
  return search([sorted, values], { right });
}

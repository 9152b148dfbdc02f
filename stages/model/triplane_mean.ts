/**
 * The decoder's input, differentiable: the tri-plane features at each point, summed over the
 * plane sets and averaged over the three planes (`mean(sampleTriplanes(…), 1)`), [N, M, C].
 *
 * Forward: one kernel, one thread per point, that reads every bilinear tap of every plane
 * (channels-last, as the point decoder) without materialising the per-plane features.
 *
 * Backward into the planes: each (point, plane, tap, channel) adds `∂out · weight / 3` to a
 * texel. The adds are made deterministic without float atomics as `gridSample`'s are
 * (fixed_point_sum.ts, the scale bounded by max|∂out| times the points), with its bilinear taps,
 * but into a channels-last accumulator with one thread per channel, so the 32 channels of a tap
 * are 32 neighbouring words: a warp's atomics land in one or two cache lines instead of 32
 * (BENCHMARKS.md); the sums are then read back channel-first. The points carry no gradient (ray samples).
 * @module
 */
import {
  abs,
  ADD_FIXED_WGSL,
  BILINEAR_WGSL,
  dispatch,
  ELEMENT_MAIN,
  fixedPointToFloat,
  grid,
  isGradEnabled,
  kernel,
  max,
  mean,
  numel,
  Params,
  paramsDecl,
  permute,
  range,
  record,
  Tensor,
  zeros,
} from "../../kernels/mod.ts";
import { planeTapsWgsl, texelType } from "./point_decoder.ts";
import { PLANE_COORDINATES, sampleTriplanes, type TriplaneOptions } from "./triplane.ts";

/** WGSL of the forward: points [N·M, 3] → features [N·M, C]. Params: count, M, 2/boxWarp, (H, W) per set. */
function forwardSource(c: number, axes: [number, number][], planeSets: number): string {
  const lines = [
    `// triplane_mean`,
    `@group(0) @binding(0) var<storage, read> points: array<f32>;`,
    ...range(planeSets).map((l) =>
      `@group(0) @binding(${1 + l}) var<storage, read> plane${l}: array<${texelType(c)}>;`
    ),
    `@group(0) @binding(${1 + planeSets}) var<storage, read_write> out: array<f32>;`,
    paramsDecl(2 + planeSets, 3 + 2 * planeSets),
    ELEMENT_MAIN,
    `  let n = i / P(1u);`,
    `  let g = vec3f(points[3u * i], points[3u * i + 1u], points[3u * i + 2u]) * PF(2u);`,
    ...range(c).map((ch) => `  var feat${ch} = 0.0;`),
    ...range(planeSets).map((l) =>
      `  {
    let H = P(${3 + 2 * l}u); let W = P(${4 + 2 * l}u);
${planeTapsWgsl({ c, axes }, `plane${l}`, { planes: "3u", taps: "4u" }, "    ")}
  }`
    ),
    ...range(c).map((ch) => `  out[i * ${c}u + ${ch}u] = feat${ch} * ${1 / 3};`),
    `}`,
  ];
  return lines.join("\n");
}

/**
 * WGSL of the scatter into one plane set: one thread per (point, plane, tap, channel), in that
 * order from slowest to fastest. Params: threads, C, H, W, M, 2/boxWarp, the plane's two axes
 * packed 2 bits per plane (x, then y).
 */
const SCATTER_WGSL = `// triplane_mean_grad_scatter
@group(0) @binding(0) var<storage, read> gout: array<f32>;
@group(0) @binding(1) var<storage, read> points: array<f32>;
@group(0) @binding(2) var<storage, read> gmax: array<f32>;
@group(0) @binding(3) var<storage, read_write> acc: array<atomic<u32>>;
${paramsDecl(4, 8)}
${BILINEAR_WGSL}
${ADD_FIXED_WGSL}
${ELEMENT_MAIN}
  let C = P(1u); let H = P(2u); let W = P(3u); let M = P(4u);
  let ch = i % C;
  let item = i / C;
  let t = item % 4u;
  let p = (item / 4u) % 3u;
  let pt = item / 12u;
  let n = pt / M;
  let g = vec3f(points[3u * pt], points[3u * pt + 1u], points[3u * pt + 2u]) * PF(5u);
  let ga = g[(P(6u) >> (2u * p)) & 3u];
  let gb = g[(P(7u) >> (2u * p)) & 3u];
  let q = position(ga, gb, W, H);
  let x = q.x0 + i32(t & 1u);
  let y = q.y0 + i32(t >> 1u);
  if (!inside(x, y, W, H)) { return; }
  let wgt = tapWeight(q, t);
  let scale = fixedScale(gmax[0] * f32(M));
  addFixed((((n * 3u + p) * H + u32(y)) * W + u32(x)) * C + ch, gout[pt * C + ch] * ${
  1 / 3
} * wgt * scale);
}`;

/** ∂L/∂planes of one plane set, [N, 3, C, H, W], for ∂L/∂features `gOut` [N, M, C]. */
function planeGrad(
  gOut: Tensor,
  gmax: Tensor,
  points: Tensor,
  planeShape: readonly number[],
  options: TriplaneOptions,
): Tensor {
  const [, , c, h, w] = planeShape;
  const [n, m] = points.shape;
  const axes = PLANE_COORDINATES[options.planeAxes];
  const bits = (which: 0 | 1) => axes.reduce((b, a, p) => b | (a[which] << (2 * p)), 0);
  const threads = n * m * 12 * c;
  if (threads >= 2 ** 32) {
    throw new Error(
      `sampleTriplaneMean: ${
        n * m
      } points × 12 taps × ${c} channels is more threads than one dispatch indexes (2³²)`,
    );
  }
  const acc = zeros([2 * numel(planeShape)]);
  dispatch({
    kernel: kernel("triplane_mean_grad_scatter", SCATTER_WGSL),
    buffers: [gOut.buffer, points.buffer, gmax.buffer, acc.buffer],
    params: new Params().u32(threads, c, h, w, m).f32(2 / options.boxWarp)
      .u32(bits(0), bits(1)).bytes(),
    workgroups: grid(threads),
  });
  const out = fixedPointToFloat(acc, gmax, planeShape, { channels: c, texels: h * w, terms: m });
  acc.dispose();
  return out;
}

/**
 * The tri-plane features at `points` [N, M, 3], summed over `planes` (tri-planes
 * [N, 3, C, H, W] of any resolutions) and averaged over the three planes → [N, M, C].
 * Differentiable in the planes; on the CPU backend, composed of `sampleTriplanes` and `mean`.
 */
export function sampleTriplaneMean(
  planes: Tensor[],
  points: Tensor,
  options: TriplaneOptions,
): Tensor {
  if (planes.length === 0) throw new Error("sampleTriplaneMean: no tri-planes given");
  if (points.device === "cpu") return mean(sampleTriplanes(planes, points, options), 1);
  const [n, m] = points.shape;
  const c = planes[0].shape[2];
  for (const p of planes) {
    if (p.rank !== 5 || p.shape[0] !== n || p.shape[1] !== 3 || p.shape[2] !== c) {
      throw new Error(`tri-planes must be [${n}, 3, ${c}, H, W], got [${p.shape.join(", ")}]`);
    }
  }
  if (points.rank !== 3 || points.shape[2] !== 3) {
    throw new Error(`points must be [${n}, M, 3], got [${points.shape.join(", ")}]`);
  }
  if (points.requiresGrad && isGradEnabled()) {
    throw new Error("sampleTriplaneMean: the points carry no gradient (ray samples)");
  }
  const out = Tensor.empty([n, m, c]);
  if (n * m > 0) {
    const channelsLast = planes.map((p) => permute(p, [0, 1, 3, 4, 2]));
    const params = new Params().u32(n * m, m).f32(2 / options.boxWarp);
    for (const p of planes) params.u32(p.shape[3], p.shape[4]);
    const axes = PLANE_COORDINATES[options.planeAxes];
    dispatch({
      kernel: kernel("triplane_mean", forwardSource(c, axes, planes.length)),
      buffers: [points.buffer, ...channelsLast.map((t) => t.buffer), out.buffer],
      params: params.bytes(),
      workgroups: grid(n * m),
    });
    for (const t of channelsLast) t.dispose();
  }
  return record(out, {
    name: "triplane_mean",
    inputs: planes,
    saved: [points],
    backward: (g) => {
      if (g.requiresGrad) throw new Error("sampleTriplaneMean: no second derivatives");
      if (n * m === 0) return planes.map((p) => p.requiresGrad ? zeros(p.shape) : null);
      const gmax = max(abs(g));
      const grads = planes.map((p) =>
        p.requiresGrad ? planeGrad(g, gmax, points, p.shape, options) : null
      );
      gmax.dispose();
      return grads;
    },
  });
}

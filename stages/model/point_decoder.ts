/**
 * The point decoder: tri-plane sampling and the OSG decoder in one kernel, one thread per point,
 * without materialising the sampled features [N, 3, M, C], their sum and mean, or the decoder's
 * hidden layer. Same function as `sampleTriplanes` + `OSGDecoder.forward` (no gradients); the
 * renderer uses it for every decode that records no gradient on the GPU.
 *
 * Threads per point rather than per ray (the fused renderer's choice) keep enough work in
 * flight (a 512² image is 25 M points, against 262 k rays with serial sample loops). The
 * per-point features and outputs are scalar variables, written out channel by channel: as
 * arrays indexed in loops, the GPU compiler keeps them in local memory, far slower
 * (BENCHMARKS.md).
 * @module
 */
import {
  concat,
  dispatch,
  gpu,
  grid,
  kernel,
  mul,
  noGrad,
  Params,
  paramsDecl,
  permute,
  range,
  reshape,
  Tensor,
} from "../../kernels/mod.ts";
import type { DecodedSamples, OSGDecoder } from "./decoder.ts";
import { PLANE_COORDINATES, type TriplaneOptions } from "./triplane.ts";

/** What the kernel's WGSL depends on. */
export interface PointDecoderShape {
  /** Channels per plane. */
  c: number;
  /** Decoder hidden width. */
  hidden: number;
  /** Decoder feature outputs (besides density). */
  out: number;
  /** Tri-planes whose features are summed (Mimic3D's 3-D branch: 2). */
  planeSets: number;
  /** For each plane, the point coordinates giving its (x, y). */
  axes: [number, number][];
  /** Decoder weights copied to workgroup memory (when they fit). */
  sharedWeights: boolean;
}

/** Floats in the packed decoder weights (`packDecoder`). */
/** Offsets of W1, b1, W2, b2 in the packed decoder weights (`packDecoder`), and their count. */
export function packedDecoderLayout(k: Pick<PointDecoderShape, "c" | "hidden" | "out">) {
  const b1 = k.hidden * k.c, w2 = b1 + k.hidden, b2 = w2 + (1 + k.out) * k.hidden;
  return { w1: 0, b1, w2, b2, size: b2 + 1 + k.out };
}

/** WGSL: `wt(i)`, packed decoder weight i, from workgroup memory where the weights fit. */
export function decoderWeightsWgsl(k: PointDecoderShape): string {
  return k.sharedWeights
    ? `var<workgroup> wsh: array<f32, ${packedDecoderLayout(k).size}>;
fn wt(i: u32) -> f32 { return wsh[i]; }`
    : `fn wt(i: u32) -> f32 { return weights[i]; }`;
}

/** WGSL: a workgroup's copy of the weights into `wsh`, the first statements of `main`. */
export function loadDecoderWeightsWgsl(k: PointDecoderShape, workgroupSize: number): string {
  return k.sharedWeights
    ? `  for (var w = lid; w < ${
      packedDecoderLayout(k).size
    }u; w += ${workgroupSize}u) { wsh[w] = weights[w]; }
  workgroupBarrier();`
    : "";
}

/** WGSL: the decoder's activations, overflow-safe. */
export const ACTIVATIONS_WGSL =
  `fn softplus(x: f32) -> f32 { return select(log(1.0 + exp(x)), x, x > 20.0); }
fn sigmoid(x: f32) -> f32 { return select(exp(x) / (1.0 + exp(x)), 1.0 / (1.0 + exp(-x)), x >= 0.0); }`;

/**
 * WGSL: the bilinear taps of one tri-plane at `g` (the point scaled to [−1, 1]) of batch item
 * `n`, added to `feat0…feat{C−1}`; expects `H`, `W` in scope. Trip counts are given as WGSL
 * expressions (literals, or parameters so that CPU compilers keep the loops).
 */
export function planeTapsWgsl(
  k: { c: number; axes: [number, number][] },
  plane: string,
  trips: { planes: string; taps: string },
  indent: string,
): string {
  // Plane p samples coordinates (axes0[p], axes1[p]) of g, packed 2 bits per plane.
  const axisBits = (which: 0 | 1) => k.axes.reduce((bits, a, p) => bits | (a[which] << (2 * p)), 0);
  return `for (var p = 0u; p < ${trips.planes}; p++) {
  let ga = g[(${axisBits(0)}u >> (2u * p)) & 3u];
  let gb = g[(${axisBits(1)}u >> (2u * p)) & 3u];
  let px = clamp(((ga + 1.0) * f32(W) - 1.0) * 0.5, -2.0, f32(W) + 1.0);
  let py = clamp(((gb + 1.0) * f32(H) - 1.0) * 0.5, -2.0, f32(H) + 1.0);
  let fx = floor(px); let fy = floor(py);
  let wx = px - fx; let wy = py - fy;
  let x0 = i32(fx); let y0 = i32(fy);
  for (var t = 0u; t < ${trips.taps}; t++) {
    let x = x0 + i32(t & 1u);
    let y = y0 + i32(t >> 1u);
    if (x < 0 || y < 0 || x >= i32(W) || y >= i32(H)) { continue; }
    let wgt = select(1.0 - wx, wx, (t & 1u) == 1u) * select(1.0 - wy, wy, t >= 2u);
    let base = (((n * 3u + p) * H + u32(y)) * W + u32(x)) * ${k.c}u;
${texelReads(plane, k.c, "    ")}
  }
}`.split("\n").map((line) => indent + line).join("\n");
}

/**
 * WGSL of the OSG decoder's layers on `feat0…feat{C−1}` (the averaged features): the hidden loop,
 * adding to `sigma` and, when `outputs` names them, to `${outputs}0…` (zeroed by the caller);
 * `featureWgsl` then maps each to its output.
 */
export function decoderLayersWgsl(k: PointDecoderShape, outputs: string | null): string {
  const { w1, b1, w2 } = packedDecoderLayout(k);
  return [
    `  for (var j = 0u; j < ${k.hidden}u; j++) {`,
    `    var h = 0.0;`,
    `    let w1 = ${w1}u + j * ${k.c}u;`,
    ...range(k.c).map((ch) => `    h += feat${ch} * wt(w1 + ${ch}u);`),
    `    h = softplus(h + wt(${b1}u + j));`,
    `    sigma += h * wt(${w2}u + j);`,
    ...(outputs === null
      ? []
      : range(k.out).map((o) => `    ${outputs}${o} += h * wt(${w2 + (o + 1) * k.hidden}u + j);`)),
    `  }`,
  ].join("\n");
}

/** WGSL: feature output `o` from its hidden-layer sum `sum` (MipNeRF's widened sigmoid). */
export function featureWgsl(k: PointDecoderShape, sum: string, o: number): string {
  return `sigmoid(${sum} + wt(${packedDecoderLayout(k).b2 + 1 + o}u)) * 1.002 - 0.001`;
}

/** WGSL type of a plane binding: channels read four at a time where C allows. */
export function texelType(c: number): string {
  return c % 4 === 0 ? "vec4<f32>" : "f32";
}

/**
 * WGSL statements adding `wgt` times the C channels of the texel at float index `base` of
 * binding `plane` (channels-last) to the scalars `feat0…feat{C−1}`.
 */
function texelReads(plane: string, c: number, indent: string): string {
  if (c % 4 !== 0) {
    return range(c).map((ch) => `${indent}feat${ch} += wgt * ${plane}[base + ${ch}u];`).join("\n");
  }
  return range(c / 4).map((v) =>
    `${indent}{ let t4 = ${plane}[base / 4u + ${v}u];\n` +
    range(4).map((e) => `${indent}  feat${4 * v + e} += wgt * t4.${"xyzw"[e]};`).join("\n") + " }"
  ).join("\n");
}

const WG_POINTS = 128;

/**
 * The kernel: points [N·M, 3] → sigma [N·M], features [N·M, out]. Bindings: points, the planes
 * channels-last [N, 3, H, W, C] per set, the packed weights, the two outputs, the parameters
 * (count, points per batch item, 2/boxWarp, (H, W) per set, points per thread).
 */
function pointDecodeSource(k: PointDecoderShape): string {
  const { c, out, planeSets } = k;
  const { b2: oB2 } = packedDecoderLayout(k);
  const lines = [
    `// decode_points`,
    `@group(0) @binding(0) var<storage, read> points: array<f32>;`,
  ];
  for (let l = 0; l < planeSets; l++) {
    lines.push(
      `@group(0) @binding(${1 + l}) var<storage, read> plane${l}: array<${texelType(c)}>;`,
    );
  }
  let b = 1 + planeSets;
  lines.push(`@group(0) @binding(${b++}) var<storage, read> weights: array<f32>;`);
  lines.push(`@group(0) @binding(${b++}) var<storage, read_write> sigmaOut: array<f32>;`);
  lines.push(`@group(0) @binding(${b++}) var<storage, read_write> featOut: array<f32>;`);
  const perThreadWord = 3 + 2 * planeSets;
  lines.push(paramsDecl(b, perThreadWord + 1));
  lines.push(decoderWeightsWgsl(k));
  lines.push(ACTIVATIONS_WGSL);
  const sampling = range(planeSets).map((l) => `
  {
    let H = P(${3 + 2 * l}u); let W = P(${4 + 2 * l}u);
${planeTapsWgsl(k, `plane${l}`, { planes: "3u", taps: "4u" }, "    ")}
  }`).join("");
  lines.push(`fn decodePoint(i: u32) {
  let n = i / P(1u);
  let g = vec3f(points[3u * i], points[3u * i + 1u], points[3u * i + 2u]) * PF(2u);
${range(c).map((ch) => `  var feat${ch} = 0.0;`).join("\n")}
${sampling}
${range(c).map((ch) => `  feat${ch} = feat${ch} * ${1 / 3};`).join("\n")}
  var sigma = 0.0;
${range(out).map((o) => `  var o${o} = 0.0;`).join("\n")}
${decoderLayersWgsl(k, "o")}
  sigmaOut[i] = sigma + wt(${oB2}u);
${
    range(out).map((o) => `  featOut[i * ${out}u + ${o}u] = ${featureWgsl(k, `o${o}`, o)};`).join(
      "\n",
    )
  }
}`);
  // Each workgroup decodes WG·PER points (thread t: points t, t + WG, …), so the weights it
  // copies to workgroup memory serve many points.
  lines.push(`@compute @workgroup_size(${WG_POINTS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
${loadDecoderWeightsWgsl(k, WG_POINTS)}
  let per = P(${perThreadWord}u);
  let first = (wid.x + wid.y * nwg.x) * ${WG_POINTS}u * per + lid;
  for (var k = 0u; k < per; k++) {
    let i = first + k * ${WG_POINTS}u;
    if (i >= P(0u)) { break; }
    decodePoint(i);
  }
}`);
  return lines.join("\n");
}

/** Decoder weights with their equalized-lr gains applied, packed [W1, b1, W2, b2]. */
export function packDecoder(decoder: OSGDecoder): Tensor {
  const parts = [decoder.hidden, decoder.output].flatMap((fc) => [
    reshape(mul(fc.weight, fc.weightGain), [-1]),
    mul(fc.bias!, fc.biasGain),
  ]);
  return concat(parts, 0);
}

/** The per-point shape for a decoder; `maxWorkgroupStorage` in bytes. */
export function pointDecoderShape(
  decoder: OSGDecoder,
  options: Pick<TriplaneOptions, "planeAxes">,
  planeSets: number,
  maxWorkgroupStorage: number,
): PointDecoderShape {
  const shape = {
    c: decoder.config.nFeatures,
    hidden: decoder.hiddenDim,
    out: decoder.config.outputDim,
    planeSets,
    axes: PLANE_COORDINATES[options.planeAxes],
  };
  return { ...shape, sharedWeights: packedDecoderLayout(shape).size * 4 <= maxWorkgroupStorage };
}

/**
 * Samples `planes` (tri-planes [N, 3, C, H, W] whose features are summed) at `points`
 * [N, M, 3] and decodes them, in one kernel on the GPU; no gradients.
 */
export function decodePoints(
  planes: Tensor[],
  decoder: OSGDecoder,
  points: Tensor,
  options: TriplaneOptions,
): DecodedSamples {
  return noGrad(() => {
    const [n, m] = points.shape;
    const shape = pointDecoderShape(
      decoder,
      options,
      planes.length,
      gpu().limits.maxComputeWorkgroupStorageSize,
    );
    for (const p of planes) {
      if (p.rank !== 5 || p.shape[0] !== n || p.shape[1] !== 3 || p.shape[2] !== shape.c) {
        throw new Error(`tri-planes must be [${n}, 3, ${shape.c}, H, W], got [${p.shape}]`);
      }
    }
    const channelsLast = planes.map((p) => permute(p, [0, 1, 3, 4, 2]));
    const weights = packDecoder(decoder);
    const count = n * m;
    const sigma = Tensor.empty([n, m, 1]);
    const rgb = Tensor.empty([n, m, shape.out]);
    const params = new Params().u32(count, m).f32(2 / options.boxWarp);
    for (const p of planes) params.u32(p.shape[3], p.shape[4]);
    // Enough workgroups to fill the GPU; up to 8 points a thread to share each weight copy.
    const perThread = Math.max(1, Math.min(8, Math.floor(count / (WG_POINTS * 4096))));
    params.u32(perThread);
    if (count > 0) {
      dispatch({
        kernel: kernel("decode_points", pointDecodeSource(shape)),
        buffers: [
          points.buffer,
          ...channelsLast.map((t) => t.buffer),
          weights.buffer,
          sigma.buffer,
          rgb.buffer,
        ],
        params: params.bytes(),
        workgroups: grid(Math.ceil(count / perThread), WG_POINTS),
      });
    }
    for (const t of [...channelsLast, weights]) t.dispose();
    return { rgb, sigma };
  });
}

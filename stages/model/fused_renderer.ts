/**
 * The inference renderer fused into one WGSL kernel: per ray (one thread), it
 * samples the tri-planes, runs the OSG decoder, composites the stratified
 * samples, draws the importance samples and composites all samples again —
 * without materialising any per-sample tensor, so any resolution renders
 * (Mimic3D's 3-D branch renders 512² directly from coarse 256² + detail 512²
 * planes). Rays go in chunks of dispatches. Same function as
 * `ImportanceRenderer.render` (no gradients); on the CPU backend it simply runs that.
 *
 * Work per ray: the coarse pass evaluates only the decoder's density row; the
 * final pass merges the (already sorted) stratified depths with the sorted
 * importance depths and re-evaluates the full decoder at every sample, in
 * depth order, compositing on the fly (the coarse colours are recomputed
 * rather than stored). Planes are read channels-last, so each bilinear tap
 * reads C contiguous floats; decoder weights sit in workgroup memory when they fit.
 * Random numbers: injected tensors, or Philox drawn in-kernel exactly as
 * `rng.uniform` would (same seed, draw and element index), so fused and
 * unfused renders from the same Rng state agree.
 */
import {
  clamp,
  concat,
  dispatch,
  gpu,
  kernel,
  max,
  neg,
  noGrad,
  Params,
  paramsDecl,
  permute,
  PHILOX_WGSL,
  range,
  reshape,
  type Rng,
  slice,
  Tensor,
} from "../../kernels/mod.ts";
import type { OSGDecoder } from "./decoder.ts";
import { ImportanceRenderer, type RenderOptions, type RenderRandom } from "./renderer.ts";
import {
  ACTIVATIONS_WGSL,
  decoderLayersWgsl,
  decoderWeightsWgsl,
  featureWgsl,
  loadDecoderWeightsWgsl,
  packDecoder,
  packedDecoderLayout,
  planeTapsWgsl,
  type PointDecoderShape,
  pointDecoderShape,
  texelType,
} from "./point_decoder.ts";

/** What the fused renderer returns (the same as the unfused one, without intermediates). */
export interface FusedRenderResult {
  /** [N, M, C] in [−1, 1]. */
  rgb: Tensor;
  /** [N, M, 1]. */
  depth: Tensor;
  /** [N, M, 1]. */
  weightsSum: Tensor;
}

/** Options of `renderFused`. */
export interface FusedRenderOptions {
  /** Rays per dispatch (bounds the time of one dispatch; memory does not grow with it). */
  chunkRays?: number;
}

/**
 * Everything the fused kernel's WGSL depends on. The source is a pure function
 * of it, so the browser viewer compiles exactly the string this module does.
 */
export interface FusedKernelShape extends PointDecoderShape {
  /** Stratified samples per ray. */
  d: number;
  /** Importance samples per ray. */
  q: number;
  whiteBack: boolean;
  /** Random numbers from a buffer (true) or Philox in-kernel (false). */
  injected: boolean;
}

/** Threads per workgroup of the fused kernel (one ray per thread). */
export const FUSED_WORKGROUP_SIZE = 128;
const WG_FUSED = FUSED_WORKGROUP_SIZE;

/** Parameter words the caller rewrites per chunk of rays. */
export const FUSED_PARAM_WORDS = { count: 0, offset: 1 } as const;

/**
 * The kernel's WGSL. Bindings: 0 rays [R, 6] (origin, direction), 1…planeSets
 * the planes channels-last [N, 3, H, W, C], then the packed decoder weights,
 * the uniforms (if injected), the result [R, out + 4] (features, depth,
 * weight sum, nearest, farthest sample), then the parameter block.
 */
export function fusedRenderSource(k: FusedKernelShape): string {
  const { d, q, c, out, planeSets } = k;
  const { b2: oB2 } = packedDecoderLayout(k);
  const kBins = d - 3; // pdf entries; cdf has kBins + 1
  const stride = out + 4;
  const lines: string[] = [];
  lines.push(`// fused_render`);
  lines.push(`@group(0) @binding(0) var<storage, read> rays: array<f32>;`);
  for (let l = 0; l < planeSets; l++) {
    lines.push(
      `@group(0) @binding(${1 + l}) var<storage, read> plane${l}: array<${texelType(c)}>;`,
    );
  }
  let b = 1 + planeSets;
  lines.push(`@group(0) @binding(${b++}) var<storage, read> weights: array<f32>;`);
  if (k.injected) lines.push(`@group(0) @binding(${b++}) var<storage, read> rnd: array<f32>;`);
  lines.push(`@group(0) @binding(${b++}) var<storage, read_write> result: array<f32>;`);
  // Params: count, offset, raysPerSample, totalRays, start, delta, coordScale, draw, k0, k1,
  // (H, W) per set, then the trip counts of the tap and plane loops (see `fusedRenderParams`).
  const tapsWord = 10 + 2 * planeSets;
  lines.push(paramsDecl(b, tapsWord + 2));
  if (!k.injected) lines.push(PHILOX_WGSL);
  lines.push(decoderWeightsWgsl(k));
  // Per-sample features and decoder outputs as scalars: as arrays indexed in loops, the GPU
  // compiler keeps them in local memory (BENCHMARKS.md).
  lines.push(range(c).map((ch) => `var<private> feat${ch}: f32;`).join("\n"));
  lines.push(range(out).map((o) => `var<private> col${o}: f32;`).join("\n"));
  lines.push(ACTIVATIONS_WGSL);
  lines.push(`fn uniformAt(stream: u32, i: u32) -> f32 {`);
  if (k.injected) {
    lines.push(`  return rnd[select(i, P(3u) * ${d}u + i, stream == 1u)];`);
  } else {
    lines.push(`  return f32(philox(i, P(7u) + stream, P(8u), P(9u)) >> 8u) * ${2 ** -24};`);
  }
  lines.push(`}`);
  for (let l = 0; l < planeSets; l++) {
    lines.push(`fn addPlanes${l}(n: u32, g: vec3f) {
  let H = P(${10 + 2 * l}u); let W = P(${11 + 2 * l}u);
${planeTapsWgsl(k, `plane${l}`, { planes: `P(${tapsWord + 1}u)`, taps: `P(${tapsWord}u)` }, "  ")}
}`);
  }
  const sampleCalls = Array.from({ length: planeSets }, (_, l) => `  addPlanes${l}(n, g);`);
  const decode = (full: boolean) =>
    `fn decode${full ? "Full" : "Sigma"}(pt: vec3f, n: u32) -> f32 {
${range(c).map((ch) => `  feat${ch} = 0.0;`).join("\n")}
  let g = pt * PF(6u);
${sampleCalls.join("\n")}
${range(c).map((ch) => `  feat${ch} = feat${ch} * ${1 / 3};`).join("\n")}
  var sigma = 0.0;
${full ? range(out).map((o) => `  col${o} = 0.0;`).join("\n") : ""}
${decoderLayersWgsl(k, full ? "col" : null)}
${full ? range(out).map((o) => `  col${o} = ${featureWgsl(k, `col${o}`, o)};`).join("\n") : ""}
  return sigma + wt(${oB2}u);
}`;
  lines.push(decode(false), decode(true));
  const importance = q > 0
    ? `
  // Coarse weights (in place of the densities), smoothed, as a pdf over the bins.
  var tr = 1.0;
  for (var k = 0u; k < ${d - 1}u; k++) {
    let s = softplus((sc[k] + sc[k + 1u]) * 0.5 - 1.0);
    let alpha = 1.0 - exp(-(s * (tc[k + 1u] - tc[k])));
    sc[k] = alpha * tr;
    tr = tr * ((1.0 - alpha) + 1e-10);
  }
  // max-pool(2, 1, pad 1) then avg-pool(2, 1) + 0.01; keep entries 1…D−3.
  var pw: array<f32, ${kBins}>;
  var total = 0.0;
  for (var i = 0u; i < ${kBins}u; i++) {
    let j = i + 1u;
    let m0 = max(sc[j - 1u], sc[j]);
    let m1 = max(sc[j], select(0.0, sc[j + 1u], j + 1u < ${d - 1}u));
    pw[i] = ((m0 + m1) * 0.5 + 0.01) + 1e-5;
    total += pw[i];
  }
  var cdf: array<f32, ${kBins + 1}>;
  cdf[0] = 0.0;
  var acc = 0.0;
  for (var i = 0u; i < ${kBins}u; i++) { acc += pw[i] / total; cdf[i + 1u] = acc; }
  var tf: array<f32, ${q}>;
  for (var s = 0u; s < ${q}u; s++) {
    let u = uniformAt(1u, r * ${q}u + s);
    var idx = 0u;
    for (var i = 0u; i <= ${kBins}u; i++) { if (cdf[i] <= u) { idx = i + 1u; } }
    let below = select(idx - 1u, 0u, idx == 0u);
    let above = min(idx, ${kBins}u);
    var den = cdf[above] - cdf[below];
    if (den < 1e-5) { den = 1.0; }
    let bb = (tc[below] + tc[below + 1u]) * 0.5;
    let ba = (tc[above] + tc[above + 1u]) * 0.5;
    tf[s] = bb + ((u - cdf[below]) / den) * (ba - bb);
  }
  // Insertion sort, its loop test not written as \`j > 0u && tf[j - 1u] > v\`:
  // through the GL backend that loop sorts wrongly (docs/adapters.md).
  for (var a = 1u; a < ${q}u; a++) {
    let v = tf[a];
    var j = a;
    while (j > 0u) {
      if (tf[j - 1u] <= v) { break; }
      tf[j] = tf[j - 1u];
      j--;
    }
    tf[j] = v;
  }`
    : "";
  const nextDepth = q > 0
    ? `    var t: f32;
    if (j >= ${q}u || (i < ${d}u && tc[i] <= tf[j])) { t = tc[i]; i++; } else { t = tf[j]; j++; }`
    : `    let t = tc[i]; i++;`;
  lines.push(`@compute @workgroup_size(${WG_FUSED})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3u) {
${loadDecoderWeightsWgsl(k, WG_FUSED)}
  let local = gid.x + gid.y * nwg.x * ${WG_FUSED}u;
  if (local >= P(0u)) { return; }
  let r = P(1u) + local;
  let n = r / P(2u);
  let o = vec3f(rays[6u * r], rays[6u * r + 1u], rays[6u * r + 2u]);
  let dir = vec3f(rays[6u * r + 3u], rays[6u * r + 4u], rays[6u * r + 5u]);
  let start = PF(4u); let delta = PF(5u);
  var tc: array<f32, ${d}>;
  var sc: array<f32, ${d}>;
  for (var k = 0u; k < ${d}u; k++) {
    tc[k] = (start + f32(k) * delta) + uniformAt(0u, r * ${d}u + k) * delta;
    sc[k] = decodeSigma(o + tc[k] * dir, n);
  }
${importance}
  // Final pass: all samples in depth order, composited on the fly.
${range(out).map((o) => `  var acc${o} = 0.0;\n  var prev${o} = 0.0;`).join("\n")}
  var tr2 = 1.0;
  var acc_depth = 0.0;
  var wsum = 0.0;
  var prev_t = 0.0;
  var prev_s = 0.0;
  var i = 0u;
  var j = 0u;
  for (var s = 0u; s < ${d + q}u; s++) {
${nextDepth}
    let sigma = decodeFull(o + t * dir, n);
    if (s > 0u) {
      let sm = softplus((prev_s + sigma) * 0.5 - 1.0);
      let alpha = 1.0 - exp(-(sm * (t - prev_t)));
      let w = alpha * tr2;
      tr2 = tr2 * ((1.0 - alpha) + 1e-10);
${range(out).map((o) => `      acc${o} += w * ((prev${o} + col${o}) * 0.5);`).join("\n")}
      acc_depth += w * ((prev_t + t) * 0.5);
      wsum += w;
    }
${range(out).map((o) => `    prev${o} = col${o};`).join("\n")}
    prev_t = t;
    prev_s = sigma;
  }
  let base = r * ${stride}u;
${
    range(out).map((o) =>
      `  result[base + ${o}u] = ${k.whiteBack ? `(acc${o} + 1.0 - wsum)` : `acc${o}`} * 2.0 - 1.0;`
    ).join("\n")
  }
  result[base + ${out}u] = select(3.4e38, acc_depth / wsum, wsum > 0.0);
  result[base + ${out + 1}u] = wsum;
  result[base + ${out + 2}u] = ${q > 0 ? `min(tc[0], tf[0])` : "tc[0]"};
  result[base + ${out + 3}u] = ${q > 0 ? `max(tc[${d - 1}], tf[${q - 1}])` : `tc[${d - 1}]`};
}`);
  return lines.join("\n");
}

/** The kernel shape for a decoder and rendering options; `maxWorkgroupStorage` in bytes. */
export function fusedKernelShape(
  decoder: OSGDecoder,
  options: RenderOptions,
  planeSets: number,
  { injected, maxWorkgroupStorage }: { injected: boolean; maxWorkgroupStorage: number },
): FusedKernelShape {
  return {
    d: options.depthResolution,
    q: options.depthResolutionImportance,
    ...pointDecoderShape(decoder, options, planeSets, maxWorkgroupStorage),
    whiteBack: options.whiteBack ?? false,
    injected,
  };
}

/** Where the fused kernel's random numbers come from, when drawn in-kernel. */
export interface FusedRandomState {
  /** The Rng's draw counter at the stratified draw (importance uses the next one). */
  drawIndex: number;
  seed: number;
}

/**
 * The parameter block of one dispatch: `count` rays from ray `offset`, of
 * `totalRays` rays in all, `raysPerSample` per batch item; planes' [H, W].
 */
export function fusedRenderParams(
  options: RenderOptions,
  chunk: { count: number; offset: number; raysPerSample: number; totalRays: number },
  planeSizes: [number, number][],
  random: FusedRandomState,
): Params {
  const d = options.depthResolution;
  const delta = (options.rayEnd - options.rayStart) / (d - 1);
  const p = new Params()
    .u32(chunk.count, chunk.offset, chunk.raysPerSample, chunk.totalRays)
    .f32(options.rayStart, delta, 2 / options.boxWarp)
    .u32(
      random.drawIndex >>> 0,
      random.seed >>> 0,
      Math.floor(random.seed / 2 ** 32) >>> 0,
    );
  for (const [h, w] of planeSizes) p.u32(h, w);
  // Bilinear taps and planes per point. Passed, not written into the WGSL, so that shader
  // compilers keep the loops: unrolled, the kernel compiles much more slowly on CPU adapters.
  return p.u32(4, 3);
}

/**
 * Renders rays `origins`/`directions` [N, M, 3] through `planes` (one
 * tri-plane [N, 3, C, H, W] or a list whose features are summed) with the
 * fused kernel. `random`: injected uniforms or an Rng (two draws, as the unfused renderer).
 */
export function renderFused(
  planes: Tensor | Tensor[],
  decoder: OSGDecoder,
  origins: Tensor,
  directions: Tensor,
  options: RenderOptions,
  random: RenderRandom,
  { chunkRays = 1 << 16 }: FusedRenderOptions = {},
): FusedRenderResult {
  return noGrad(() => {
    const list = Array.isArray(planes) ? planes : [planes];
    if (origins.device === "cpu") {
      const r = new ImportanceRenderer(options).render(list, decoder, origins, directions, random);
      return { rgb: r.rgb, depth: r.depth, weightsSum: r.weightsSum };
    }
    const [n, m] = origins.shape;
    const rays = n * m;
    const d = options.depthResolution;
    const q = options.depthResolutionImportance;
    if (q > 0 && d < 4) throw new Error("importance sampling needs at least 4 stratified samples");
    if (d < 2) throw new Error("at least 2 stratified samples per ray");
    const c = list[0].shape[2];
    for (const p of list) {
      if (p.rank !== 5 || p.shape[0] !== n || p.shape[1] !== 3 || p.shape[2] !== c) {
        throw new Error(`tri-planes must be [${n}, 3, ${c}, H, W], got [${p.shape}]`);
      }
    }
    if (c !== decoder.config.nFeatures) {
      throw new Error(`planes have ${c} channels, the decoder reads ${decoder.config.nFeatures}`);
    }
    const out = decoder.config.outputDim;
    const injected = !("uniform" in random);
    const shape = fusedKernelShape(decoder, options, list.length, {
      injected,
      maxWorkgroupStorage: gpu().limits.maxComputeWorkgroupStorageSize,
    });
    const channelsLast = list.map((p) => permute(p, [0, 1, 3, 4, 2]));
    const weights = packDecoder(decoder);
    const rayData = concat([reshape(origins, [rays, 3]), reshape(directions, [rays, 3])], 1);
    let rnd: Tensor | null = null;
    let drawIndex = 0;
    let seed = 0;
    if (injected) {
      const r = random as { stratified: Tensor; importance: Tensor };
      rnd = q > 0
        ? concat([reshape(r.stratified, [-1]), reshape(r.importance, [-1])], 0)
        : reshape(r.stratified, [-1]);
    } else {
      const rng = random as Rng;
      drawIndex = rng.draws;
      seed = rng.seed;
      rng.draws += q > 0 ? 2 : 1;
    }
    const result = Tensor.empty([rays, out + 4]);
    const k = kernel("fused_render", fusedRenderSource(shape));
    const planeSizes = list.map((pl) => [pl.shape[3], pl.shape[4]] as [number, number]);
    for (let offset = 0; offset < rays; offset += chunkRays) {
      const count = Math.min(chunkRays, rays - offset);
      const p = fusedRenderParams(
        options,
        { count, offset, raysPerSample: m, totalRays: rays },
        planeSizes,
        { drawIndex, seed },
      );
      const groups = Math.ceil(count / WG_FUSED);
      const maxX = gpu().limits.maxComputeWorkgroupsPerDimension;
      const gy = Math.ceil(groups / maxX);
      dispatch({
        kernel: k,
        buffers: [
          rayData.buffer,
          ...channelsLast.map((t) => t.buffer),
          weights.buffer,
          ...(rnd ? [rnd.buffer] : []),
          result.buffer,
        ],
        params: p.bytes(),
        workgroups: [Math.ceil(groups / gy), gy],
      });
    }
    const rgb = reshape(slice(result, [null, [0, out]]), [n, m, out]);
    const rawDepth = reshape(slice(result, [null, [out, out + 1]]), [n, m, 1]);
    const weightsSum = reshape(slice(result, [null, [out + 1, out + 2]]), [n, m, 1]);
    const lo = neg(max(neg(slice(result, [null, [out + 2, out + 3]]))));
    const hi = max(slice(result, [null, [out + 3, out + 4]]));
    const depth = clamp(rawDepth, lo, hi);
    for (const t of [...channelsLast, weights, rayData, result, lo, hi, rawDepth]) t.dispose();
    rnd?.dispose();
    return { rgb, depth, weightsSum };
  });
}

/**
 * The `eval` stage: a trained generator measured and shown.
 *
 * Inputs: `model` (an artifact with `G_ema.safetensors`, and `log.jsonl` /
 * `metrics.json` when it came from training), `data` (the prep artifact it
 * was trained on), `reference` (the dataset's `reference-stats` artifact).
 *
 * Outputs: `EVAL_OUTS` (`outs.ts`): `metrics.json` (every metric as
 * `{value, …protocol}` or `{unavailable: reason}`), geometry and consistency
 * details, grids, the turntable, a mesh per seed and `report.html` (one
 * self-contained file).
 *
 * Metrics: FID/KID per branch (random latents at random dataset cameras, as
 * the original), `fid50k_full` only under the paper's protocol; MMD/COV under
 * Chamfer distance and depth error against the procedural set's true shapes;
 * reprojection error between nearby views per branch.
 * @module
 */
import { join } from "node:path";
import { z } from "zod";
import { defineStage } from "../../pipeline/stage.ts";
import { writeFileAtomic } from "../../pipeline/atomic_fs.ts";
import { ImageDataset } from "../io/dataset_reader.ts";
import { loadGenerator } from "../io/generator_checkpoint.ts";
import type { TriplaneGenerator } from "../model/generator.ts";
import { PREP_OUTS } from "../prep/outs.ts";
import { TRAINED_OUTS } from "../io/trained_outs.ts";
import { IMITATE_OUTS } from "../imitate/outs.ts";
import { EVAL_OPTIONAL_OUTS, EVAL_OUTS } from "./outs.ts";
import { conditioningLabel, viewLabel } from "../render/cameras.ts";
import { latentForSeed } from "../render/seed_latent.ts";
import { reprojectionError, type ReprojectionResult } from "./consistency.ts";
import { datasetRig } from "./dataset_rig.ts";
import {
  drawGenerationInputs,
  fidAndKid,
  generatedFeatures,
  inceptionExtractor,
  isUnavailable,
  type MetricEntry,
  paperProtocolFid,
} from "./fid_kid.ts";
import { evaluateGeometry, type GeometryReport } from "./geometry_eval.ts";
import { loadInceptionWeights } from "./inception.ts";
import { writeOutputs } from "./outputs.ts";
import {
  inceptionKeying,
  inceptionWeightsFile,
  inceptionWeightsSchema,
} from "./inception_weights.ts";
import { NO_WEIGHTS_REASON, readReference } from "./reference_stats.ts";
import { readTrainingCurves, renderReport } from "./report.ts";
import { branchesOf, headlineBranch, SampleBatch } from "./sample_render.ts";
import { MIN_SAMPLES_PER_RAY, withSamplesPerRay } from "./samples_per_ray.ts";
import { measureBranchGap } from "../imitate/branch_gap.ts";
import { sampleCameras } from "../training/samples.ts";
import type { CameraRig } from "../render/cameras.ts";

/** The eval section of an experiment config (tiny defaults: CI on a CPU adapter). */
export const evalConfigSchema = z.strictObject({
  /** Generated images for FID/KID per branch (the paper: 50 000). */
  samples: z.number().int().nonnegative().default(16),
  /**
   * pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`: `auto` (downloaded on first use), a
   * path, or empty = FID/KID unavailable; `weightsCache`: where `auto` keeps it.
   */
  ...inceptionWeightsSchema,
  /** Reference images for FID (0 = the whole dataset); read by `reference-stats`. */
  referenceImages: z.number().int().nonnegative().default(0),
  /** Samples per generator call. */
  batch: z.number().int().positive().default(4),
  truncationPsi: z.number().default(1),
  /** Seeds of the grids, meshes and turntable (NumPy draws, as the original scripts). */
  seeds: z.array(z.number().int().nonnegative()).min(1).default([0, 1, 2]),
  /** Grid columns: yaw in degrees about the dataset's pivot. */
  yawsDeg: z.array(z.number()).min(1).default([-25, 0, 25]),
  turntableFrames: z.number().int().positive().default(8),
  /** Density grid side for meshes and geometry metrics (EG3D exports 512). */
  meshResolution: z.number().int().min(8).default(32),
  /** Raw-density iso-level (EG3D's 10). */
  meshLevel: z.number().default(10),
  /** Generated shapes and true shapes for MMD/COV. */
  geometryShapes: z.number().int().nonnegative().default(4),
  geometryReferences: z.number().int().nonnegative().default(8),
  /** Surface points per shape for Chamfer distances. */
  surfacePoints: z.number().int().positive().default(512),
  /** Identities and the yaw step (degrees) of the reprojection test. */
  consistencyPairs: z.number().int().nonnegative().default(2),
  consistencyYawDeg: z.number().positive().default(5),
  /**
   * Samples per ray of every render eval makes (FID, geometry, consistency, outputs): 0 = the
   * model's own; S splits as the trained 48 + 48 (samples_per_ray.ts: 20 = 10 + 10).
   */
  samplesPerRay: z.number().int().refine((s) => s === 0 || s >= MIN_SAMPLES_PER_RAY, {
    message: `0 (the model's own) or at least ${MIN_SAMPLES_PER_RAY}`,
  }).default(0),
  /** Paper dataset this run reproduces, for the report's comparison column. */
  paperDataset: z.enum(["none", "ffhq512", "afhq512"]).default("none"),
});

/** The parsed eval config. */
export type EvalConfig = z.output<typeof evalConfigSchema>;

/** The eval stage. */
export const evaluate = defineStage({
  name: "eval",
  // The code version is this module's import closure (pipeline/import_closure.ts).
  sources: [import.meta.url],
  config: evalConfigSchema,
  inputs: ["model", "data", "reference"],
  outs: EVAL_OUTS,
  optionalOuts: EVAL_OPTIONAL_OUTS,
  ...inceptionKeying,
  async run(ctx) {
    const c = ctx.config;
    const loaded = (await loadGenerator(ctx.inputs.model)).generator;
    const trainedRendering = loaded.config.rendering;
    const g = c.samplesPerRay ? withSamplesPerRay(loaded, c.samplesPerRay) : loaded;
    const datasetPath = join(ctx.inputs.data, PREP_OUTS.dataset);
    let labels: number[][];
    let datasetImages: number;
    {
      using dataset = await ImageDataset.open(datasetPath);
      labels = dataset.labels.map((l) => [...l]);
      datasetImages = dataset.imageCount;
    }
    const rig = datasetRig(labels);
    const phaseSeed = (phase: number) => (Math.imul(ctx.seed + 1, 0x9e3779b1) + phase) >>> 0;
    const metrics: Record<string, MetricEntry> = {};
    const unavailable: Record<string, string> = {};

    // FID / KID per branch.
    const fid = await measureFidKid(ctx, g, labels, datasetImages, phaseSeed(1));
    Object.assign(metrics, fid);

    // Geometry against the procedural set's true shapes.
    const truthPath = join(ctx.inputs.data, PREP_OUTS.groundTruth);
    const hasTruth = await Deno.stat(truthPath).then(() => true, () => false);
    let geometry: GeometryReport | { unavailable: string };
    if (!hasTruth) {
      geometry = {
        unavailable: "no ground-truth shapes: the dataset is a user zip (geometry metrics " +
          "need the procedural dataset's ground_truth.zip)",
      };
    } else if (c.geometryShapes === 0 || c.geometryReferences === 0) {
      geometry = { unavailable: "eval.geometryShapes or eval.geometryReferences is 0" };
    } else {
      ctx.log("geometry: extracting generated and true shapes");
      geometry = await evaluateGeometry(g, {
        truthPath,
        labels,
        shapes: c.geometryShapes,
        references: c.geometryReferences,
        meshResolution: c.meshResolution,
        meshLevel: c.meshLevel,
        surfacePoints: c.surfacePoints,
        truncationPsi: c.truncationPsi,
        batch: c.batch,
        seed: phaseSeed(2),
      });
    }
    if ("unavailable" in geometry) {
      for (const key of ["mmd_cd", "cov_cd", "depth_l1"]) {
        metrics[key] = { unavailable: geometry.unavailable };
      }
    } else Object.assign(metrics, geometry.metrics);

    // Multi-view consistency per branch.
    const consistency = await measureConsistency(g, rig, c, phaseSeed(3));
    Object.assign(metrics, consistency.metrics);

    // The imitate stage's own before/after measurement of the 3-D vs 2-D branch gap
    // (measured again when eval renders with other samples per ray).
    const gap = await readBranchGap(
      ctx.inputs.model,
      g,
      ctx.outDir,
      c.samplesPerRay ? labels : null,
    );
    Object.assign(metrics, gap.metrics);

    // Outputs people look at.
    ctx.log("rendering grids, meshes and the turntable");
    const outputs = await writeOutputs(g, {
      seeds: c.seeds,
      rig,
      truncationPsi: c.truncationPsi,
      yawsDeg: c.yawsDeg,
      turntableFrames: c.turntableFrames,
      meshResolution: c.meshResolution,
      meshLevel: c.meshLevel,
      renderSeed: phaseSeed(4),
    }, ctx.outDir);

    for (const [name, entry] of Object.entries(metrics)) {
      if (isUnavailable(entry)) unavailable[name] = entry.unavailable;
    }
    const metricsFile = {
      generator: {
        kind: g.config.kind,
        imgResolution: g.config.imgResolution,
        neuralRenderingResolution: g.config.neuralRenderingResolution,
        // Samples per ray of eval's renders, and the model's own when eval.samplesPerRay changed them.
        samplesPerRay: {
          stratified: g.config.rendering.depthResolution,
          importance: g.config.rendering.depthResolutionImportance,
          ...(c.samplesPerRay
            ? {
              trained: {
                stratified: trainedRendering.depthResolution,
                importance: trainedRendering.depthResolutionImportance,
              },
            }
            : {}),
        },
        branches: branchesOf(g),
        headlineBranch: headlineBranch(g),
      },
      datasetImages,
      rig,
      ...metrics,
    };
    await writeJson(join(ctx.outDir, EVAL_OUTS.metrics), metricsFile);
    await writeJson(join(ctx.outDir, EVAL_OUTS.geometry), geometry);
    await writeJson(join(ctx.outDir, EVAL_OUTS.consistency), consistency.details);

    const html = await renderReport({
      config: c,
      seed: ctx.seed,
      artifacts: {
        model: artifactIdOf(ctx.inputs.model),
        data: artifactIdOf(ctx.inputs.data),
        reference: artifactIdOf(ctx.inputs.reference),
      },
      generator: metricsFile.generator,
      metrics,
      unavailable,
      curves: await readTrainingCurves(ctx.inputs.model),
      outputs,
      branchGapGrid: gap.grid,
      outDir: ctx.outDir,
      trainedElsewhere: await Deno.readTextFile(join(ctx.inputs.model, TRAINED_OUTS.metrics))
        .then((text) => JSON.parse(text).shippedRun ?? null, () => null),
    });
    await writeFileAtomic(join(ctx.outDir, EVAL_OUTS.report), html);
    ctx.log("eval done", { unavailable: Object.keys(unavailable) });
  },
});

/**
 * `branch_gap_psnr` / `branch_gap_l1` (3-D direct render vs SR image, after imitation, with
 * the value before it) from a Mimic3D model artifact's `metrics.json`, and its comparison
 * grid copied beside the report. EG3D models have no 3-D branch: nothing. When eval renders
 * with other samples per ray (`labels` given), the gap is measured again at eval's sampling
 * with the imitate stage's seeds and views, its own value kept as `trainedSampling`.
 */
async function readBranchGap(
  modelDir: string,
  g: TriplaneGenerator,
  outDir: string,
  labels: number[][] | null,
): Promise<{ metrics: Record<string, MetricEntry>; grid: string | null }> {
  if (g.config.kind !== "mimic3d") return { metrics: {}, grid: null };
  const trained = await Deno.readTextFile(join(modelDir, TRAINED_OUTS.metrics))
    .then((text) => JSON.parse(text), () => ({}));
  const gap = trained.branchGap as
    | { before: { psnr: number; l1: number }; after: { psnr: number; l1: number }; seeds: number }
    | undefined;
  if (!gap) {
    const unavailable = "the model artifact did not measure it (not made by the imitate stage, " +
      "or imitate.output.gapSeeds was 0)";
    return {
      metrics: { branch_gap_psnr: { unavailable }, branch_gap_l1: { unavailable } },
      grid: null,
    };
  }
  const grid = EVAL_OUTS.branchGap;
  await Deno.copyFile(join(modelDir, IMITATE_OUTS.branchGap), join(outDir, grid));
  const views = `${gap.seeds} seeds × the sample views, images in [0, 1]`;
  if (labels) {
    const seeds = Array.from({ length: gap.seeds }, (_, i) => i);
    const cameras = sampleCameras({ length: labels.length, label: (i) => labels[i] });
    const { gap: now } = await measureBranchGap(g, seeds, cameras);
    const { depthResolution: stratified, depthResolutionImportance: importance } =
      g.config.rendering;
    const protocol = `3-D direct render vs SR image at ${stratified} + ${importance} samples ` +
      `per ray (eval.samplesPerRay), ${views}; trainedSampling = the imitate stage's value`;
    return {
      metrics: {
        branch_gap_psnr: { value: now.psnr, trainedSampling: gap.after.psnr, protocol },
        branch_gap_l1: { value: now.l1, trainedSampling: gap.after.l1, protocol },
      },
      grid,
    };
  }
  const protocol = `3-D direct render vs SR image, ${views}; before = start of the imitate stage`;
  return {
    metrics: {
      branch_gap_psnr: { value: gap.after.psnr, before: gap.before.psnr, protocol },
      branch_gap_l1: { value: gap.after.l1, before: gap.before.l1, protocol },
    },
    grid,
  };
}

/** FID and KID of each branch against the reference, or why not. */
async function measureFidKid(
  ctx: {
    config: EvalConfig;
    inputs: Readonly<Record<"reference", string>>;
    hashFile(path: string): Promise<string>;
    log(message: string): void;
    progress(total: number, unit?: string): { update(done: number): void; stop(): void };
  },
  g: TriplaneGenerator,
  labels: number[][],
  datasetImages: number,
  seed: number,
): Promise<Record<string, MetricEntry>> {
  const c = ctx.config;
  const branches = branchesOf(g);
  const names = branches.flatMap((b) => [`fid_${b}`, `kid_${b}`]);
  const none = (reason: string) => {
    const out: Record<string, MetricEntry> = {};
    for (const name of [...names, "fid50k_full"]) out[name] = { unavailable: reason };
    return out;
  };
  const reference = await readReference(ctx.inputs.reference);
  if (!reference.available) return none(reference.reason);
  if (!c.inceptionWeights) return none(NO_WEIGHTS_REASON);
  if (c.samples < 2) return none(`eval.samples is ${c.samples}: FID needs at least 2`);
  const weightsFile = await inceptionWeightsFile(c, ctx);
  const weightsSha256 = await ctx.hashFile(weightsFile);
  if (weightsSha256 !== reference.weightsSha256) {
    throw new Error(
      `eval.inceptionWeights (${weightsFile}) is not the weight file the reference ` +
        `statistics were computed with: features of two networks do not make an FID`,
    );
  }
  const extract = inceptionExtractor(await loadInceptionWeights(weightsFile));
  const inputs = drawGenerationInputs(labels, c.samples, g.config.zDim, seed);
  const out: Record<string, MetricEntry> = {};
  for (const branch of branches) {
    const bar = ctx.progress(c.samples, `img (${branch})`);
    const features = await generatedFeatures(g, extract, inputs, {
      branch,
      batch: c.batch,
      truncationPsi: c.truncationPsi,
      renderSeed: seed,
      onProgress: (done) => bar.update(done),
    });
    bar.stop();
    const result = fidAndKid(features, reference, {
      branch,
      truncationPsi: c.truncationPsi,
      cameras: "random dataset labels",
    }, seed);
    out[`fid_${branch}`] = result.fid;
    out[`kid_${branch}`] = result.kid;
  }
  out.fid50k_full = paperProtocolFid(out[`fid_${headlineBranch(g)}`], datasetImages);
  return out;
}

/** Reprojection error between nearby views of a few identities, per branch. */
async function measureConsistency(
  g: TriplaneGenerator,
  rig: CameraRig,
  c: EvalConfig,
  seed: number,
): Promise<{ metrics: Record<string, MetricEntry>; details: Record<string, unknown> }> {
  const metrics: Record<string, MetricEntry> = {};
  const details: Record<string, unknown> = {
    method: "pixels of view A lifted with A's rendered depth, projected into view B " +
      `(yaw +${c.consistencyYawDeg}°), compared where B's depth agrees (not occluded); ` +
      "mean |ΔRGB| in [0, 1] units",
  };
  if (g.config.kind !== "mimic3d") {
    metrics.reprojection_3d = { unavailable: "EG3D generator: no 3-D branch" };
  }
  if (c.consistencyPairs === 0) {
    for (const b of branchesOf(g)) {
      metrics[`reprojection_${b}`] = { unavailable: "eval.consistencyPairs is 0" };
    }
    return { metrics, details };
  }
  const seeds = Array.from({ length: c.consistencyPairs }, (_, i) => seed % 100000 + i);
  const z = new Float64Array(seeds.length * g.config.zDim);
  seeds.forEach((s, i) => z.set(latentForSeed(s, g.config.zDim), i * g.config.zDim));
  const batch = SampleBatch.create(g, z, seeds.map(() => conditioningLabel(rig)), {
    truncationPsi: c.truncationPsi,
    renderSeed: seed,
  });
  const rad = Math.PI / 180;
  const viewA = viewLabel({ yaw: 0, pitch: 0 }, rig);
  const viewB = viewLabel({ yaw: c.consistencyYawDeg * rad, pitch: 0 }, rig);
  try {
    for (const branch of branchesOf(g)) {
      const a = await batch.render(seeds.map(() => viewA), branch);
      const b = await batch.render(seeds.map(() => viewB), branch);
      const pairs: ReprojectionResult[] = a.map((va, i) => reprojectionError(va, b[i]));
      const valid = pairs.filter((p) => p.pixels > 0);
      details[branch] = { seeds, pairs };
      metrics[`reprojection_${branch}`] = valid.length > 0
        ? {
          value: valid.reduce((s, p) => s + p.meanAbsError, 0) / valid.length,
          pairs: valid.length,
          yawStepDeg: c.consistencyYawDeg,
          units: "mean |ΔRGB| in [0, 1]",
        }
        : {
          unavailable: "no pixel seen in both views (no foreground, or everything occluded)",
        };
    }
  } finally {
    batch.dispose();
  }
  return { metrics, details };
}

/** The store artifact id in an input path (`…/objects/<id>/out`), or the path itself. */
function artifactIdOf(dir: string): string {
  const match = dir.match(/objects[\\/]([0-9a-f]{16,})[\\/]out[\\/]?$/);
  return match ? match[1] : dir;
}

function writeJson(path: string, value: unknown): Promise<void> {
  return writeFileAtomic(path, JSON.stringify(value, jsonNumbers, 2) + "\n");
}

/** NaN/∞ have no JSON form: written as null rather than silently dropped. */
function jsonNumbers(_key: string, value: unknown): unknown {
  return typeof value === "number" && !Number.isFinite(value) ? null : value;
}

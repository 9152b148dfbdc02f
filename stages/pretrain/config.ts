/**
 * What the `pretrain` stage is asked for: the 2-D stage of Mimic3D (EG3D's
 * training with 3-D-aware convolutions, `aware3d: true`) or plain EG3D
 * (`aware3d: false`). Defaults are the paper's FFHQ-512 settings; the
 * experiment presets shrink them. Every knob is settable from the command line
 * (`--set pretrain.optim.gLr=0.002`).
 * @module
 */
import { z } from "zod";
import type { GeneratorConfig } from "../model/generator.ts";
import type { DiscriminatorConfig } from "../model/discriminator.ts";
import type { SuperresolutionKind } from "../model/superresolution.ts";
import type { LossConfig } from "../training/eg3d_loss.ts";

const positiveInt = z.number().int().positive();

/** The generator's architecture (EG3D's `G_kwargs`). */
const generatorSchema = z.strictObject({
  zDim: positiveInt.default(512),
  wDim: positiveInt.default(512),
  /** Mapping layers (EG3D FFHQ: 2). */
  mappingLayers: positiveInt.default(2),
  channelBase: positiveInt.default(32768),
  channelMax: positiveInt.default(512),
  /** Backbone / tri-plane resolution. */
  planeResolution: positiveInt.default(256),
  /** Channels per plane. */
  planeChannels: positiveInt.default(32),
  decoderOutputDim: positiveInt.default(32),
  /** Super-resolution class: 2X (in→2·in), 4X, 8XDC (in→4·in; FFHQ-512: 128→512). */
  superresolution: z.enum(["2X", "4X", "8XDC"]).default("8XDC"),
  /** SR block channels (null: the class's own, e.g. 256, 128 for 8XDC). */
  srChannels: z.tuple([positiveInt, positiveInt]).nullable().default(null),
  /** SR fp16 resolutions of the original: > 0 turns on its ±256 conv clamp (we stay in fp32). */
  srNumFp16Res: z.number().int().nonnegative().default(4),
}).prefault({});

/** Volume rendering of the raw image. */
const renderingSchema = z.strictObject({
  /** Neural rendering resolution (the raw image side). */
  resolution: positiveInt.default(64),
  depthResolution: positiveInt.default(48),
  depthResolutionImportance: z.number().int().nonnegative().default(48),
  rayStart: z.number().positive().default(2.25),
  rayEnd: z.number().positive().default(3.3),
  boxWarp: z.number().positive().default(1),
}).prefault({});

/** The dual discriminator (EG3D's `D_kwargs`). */
const discriminatorSchema = z.strictObject({
  channelBase: positiveInt.default(32768),
  channelMax: positiveInt.default(512),
  mbstdGroupSize: positiveInt.default(4),
  /** The original clamps D convs at ±256 (its fp16 layers). */
  convClamp: z.number().positive().nullable().default(256),
}).prefault({});

/** Adam and the lazy-regularisation intervals. */
const optimSchema = z.strictObject({
  gLr: z.number().positive().default(0.0025),
  dLr: z.number().positive().default(0.002),
  betas: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).default([0, 0.99]),
  eps: z.number().positive().default(1e-8),
  /** Greg (density regularisation) every n steps. */
  gRegInterval: positiveInt.default(4),
  /** Dreg (R1) every n steps. */
  dRegInterval: positiveInt.default(16),
}).prefault({});

/** The loss (EG3D's `loss_kwargs`). */
const lossSchema = z.strictObject({
  r1Gamma: z.number().nonnegative().default(1),
  blurSigma: z.number().nonnegative().default(10),
  /** Blur fade length at batch 32; scaled by batch/32 as the original does. */
  blurFadeKimg: z.number().nonnegative().default(200),
  /** Final pose-conditioning swap probability (null: condition the mapping on zeros). */
  gpcRegProb: z.number().min(0).max(1).nullable().default(0.5),
  gpcRegFadeKimg: z.number().nonnegative().default(1000),
  /** Density regularisation weight (0: no Greg phase). */
  densityReg: z.number().nonnegative().default(0.25),
  densityRegPDist: z.number().nonnegative().default(0.004),
}).prefault({});

/** G_ema. */
const emaSchema = z.strictObject({
  /** Half-life in kimg (null: batch·10/32, the original's). */
  kimg: z.number().positive().nullable().default(null),
  /** Ramp-up: the half-life is at most cur_nimg·rampup. */
  rampup: z.number().nonnegative().nullable().default(0.05),
}).prefault({});

/** What is written, and how often (kimg; rounded to whole steps, at least one). */
const outputSchema = z.strictObject({
  logEveryKimg: z.number().positive().default(4),
  samplesEveryKimg: z.number().positive().default(200),
  checkpointEveryKimg: z.number().positive().default(200),
  /** Rows of the sample grid (fixed seeds 0 … n−1). */
  sampleSeeds: positiveInt.default(4),
}).prefault({});

/** The `pretrain` stage's config. */
export const pretrainConfigSchema = z.strictObject({
  /** true: Mimic3D's 2-D stage (3-D-aware convolutions at every backbone resolution); false: EG3D. */
  aware3d: z.boolean().default(true),
  /** Training length in thousands of real images shown. */
  kimg: z.number().positive().default(20800),
  batch: positiveInt.default(32),
  /**
   * Images a GPU processes at once (the original's --batch-gpu): its share of the batch runs in
   * rounds of this many with the gradients averaged, the same batch in less memory (to
   * rounding; the pose swap rolls within a round). null: the whole share at once.
   */
  batchGpu: positiveInt.nullable().default(null),
  /** Mirror the dataset (EG3D `--mirror`), with mirrored cameras. */
  xflip: z.boolean().default(true),
  generator: generatorSchema,
  rendering: renderingSchema,
  discriminator: discriminatorSchema,
  optim: optimSchema,
  loss: lossSchema,
  ema: emaSchema,
  output: outputSchema,
  /**
   * A finished run of this stage shipped as a file (stages/training/shipped_run.ts):
   * its networks are taken instead of training, after checking it was trained with
   * this config on this dataset. null: train.
   */
  shippedRun: z.string().min(1).nullable().default(null),
});

/** A parsed pretrain config. */
export type PretrainConfig = z.output<typeof pretrainConfigSchema>;

const SR_CLASS: Record<PretrainConfig["generator"]["superresolution"], SuperresolutionKind> = {
  "2X": "SuperresolutionHybrid2X",
  "4X": "SuperresolutionHybrid4X",
  "8XDC": "SuperresolutionHybrid8XDC",
};

/**
 * The generator for images of side `imgResolution`: EG3D's TriPlaneGenerator,
 * or Mimic3D's with 3-D-aware blocks at every backbone resolution 4…planes
 * whose final planes are rendered (`retidx` null: no detail planes yet).
 */
export function generatorConfig(config: PretrainConfig, imgResolution: number): GeneratorConfig {
  const g = config.generator;
  const upscale = g.superresolution === "8XDC" ? 4 : 2;
  if (imgResolution % upscale !== 0) {
    throw new Error(`images of ${imgResolution}² cannot come from SR ${g.superresolution}`);
  }
  const aware3dRes: number[] = [];
  for (let r = 4; r <= g.planeResolution; r *= 2) aware3dRes.push(r);
  return {
    kind: config.aware3d ? "mimic3d" : "eg3d",
    zDim: g.zDim,
    cDim: 25,
    wDim: g.wDim,
    imgResolution,
    planeResolution: g.planeResolution,
    planeChannels: g.planeChannels,
    neuralRenderingResolution: config.rendering.resolution,
    mappingLayers: g.mappingLayers,
    mappingLrMultiplier: 0.01,
    channelBase: g.channelBase,
    channelMax: g.channelMax,
    convClamp: null, // EG3D trains G in fp32 without clamping
    ...(config.aware3d ? { aware3dRes } : {}),
    rendering: {
      depthResolution: config.rendering.depthResolution,
      depthResolutionImportance: config.rendering.depthResolutionImportance,
      rayStart: config.rendering.rayStart,
      rayEnd: config.rendering.rayEnd,
      boxWarp: config.rendering.boxWarp,
      whiteBack: false,
    },
    cScale: 1,
    cGenConditioningZero: config.loss.gpcRegProb === null,
    decoderOutputDim: g.decoderOutputDim,
    decoderLrMultiplier: 1,
    superresolution: {
      kind: SR_CLASS[g.superresolution],
      inputResolution: imgResolution / upscale,
      ...(g.srChannels ? { blockChannels: g.srChannels } : {}),
      antialias: true,
      srNumFp16Res: g.srNumFp16Res,
    },
    superresolutionNoiseMode: "none",
  };
}

/** The dual discriminator for images of side `imgResolution`. */
export function discriminatorConfig(
  config: PretrainConfig,
  imgResolution: number,
): DiscriminatorConfig {
  const d = config.discriminator;
  return {
    cDim: 25,
    imgResolution,
    imgChannels: 3,
    channelBase: d.channelBase,
    channelMax: d.channelMax,
    convClamp: d.convClamp,
    mbstdGroupSize: d.mbstdGroupSize,
  };
}

/** The loss settings, with the original's batch scaling of the blur fade. */
export function lossConfig(config: PretrainConfig): LossConfig {
  const l = config.loss;
  return {
    r1Gamma: l.r1Gamma,
    blurInitSigma: l.blurSigma,
    blurFadeKimg: (config.batch * l.blurFadeKimg) / 32,
    gpcRegProb: l.gpcRegProb,
    gpcRegFadeKimg: l.gpcRegFadeKimg,
    neuralRenderingResolutionInitial: config.rendering.resolution,
    densityReg: l.densityReg,
    densityRegPDist: l.densityRegPDist,
  };
}

/**
 * What the `imitate` stage (Mimic3D's 3-D stage) is asked for. The networks'
 * architecture is not repeated here: it comes from the pretrain artifact (G's
 * and D's configs in their safetensors metadata); this stage adds the detail
 * planes, the patch discriminator and the imitation loss. Defaults are the
 * paper's FFHQ-512 3-D stage (`configs/ffhq512_3d.yaml` of the original).
 *
 * Fades: the original starts its 3-D stage by resuming the 2-D stage's pickle
 * with `cur_nimg = resume_kimg·1000` (~17 000 kimg), far past the blur fade
 * (200 kimg) and the pose-swap fade (1000 kimg) and the G_ema ramp-up. So
 * this stage runs at the fades' end points from its first step: no blur
 * (σ 0), swap probability = `gpcRegProb` throughout, and no G_ema ramp-up
 * (half-life = `ema.kimg` at once). Our step count restarts at 0; nothing
 * else depends on it.
 * @module
 */
import { z } from "zod";

const positiveInt = z.number().int().positive();
/** A weight file: a path, or `auto` / null (unset): the pinned file, downloaded on first use. */
const weightsPath = z.string().min(1).nullable().default(null);

/** The imitation term: which distance between the 3-D patch and the (detached) SR crop. */
const imitationSchema = z.strictObject({
  /**
   * "lpips": LPIPS-VGG (the paper's), reads two weight files (by default the pinned ones,
   * downloaded on first use); "l1" / "l2": mean absolute / squared difference per pixel —
   * plain stand-ins that need no files (the run's metrics say which one was used).
   */
  loss: z.enum(["lpips", "l1", "l2"]).default("lpips"),
  weight: z.number().nonnegative().default(1),
  /** torchvision's ImageNet VGG16 state dict (`vgg16-397923af.pth`); keyed by content. */
  vgg16Weights: weightsPath,
  /** LPIPS v0.1's linear heads (`lpips/weights/v0.1/vgg.pth`); keyed by content. */
  lpipsWeights: weightsPath,
  /** Cache directory of downloaded weights (empty: MIMIC3D_CACHE, XDG_CACHE_HOME, ~/.cache). */
  weightsCache: z.string().default(""),
}).prefault({});

/** Adam per network and the lazy-regularisation intervals. */
const optimSchema = z.strictObject({
  gLr: z.number().positive().default(0.0025),
  dLr: z.number().positive().default(0.002),
  dPatchLr: z.number().positive().default(0.002),
  betas: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).default([0, 0.99]),
  eps: z.number().positive().default(1e-8),
  gRegInterval: positiveInt.default(4),
  dRegInterval: positiveInt.default(16),
  dPatchRegInterval: positiveInt.default(16),
}).prefault({});

/** The EG3D part of the loss (blur and fades are off, see the module comment). */
const lossSchema = z.strictObject({
  r1Gamma: z.number().nonnegative().default(1),
  /** Pose-conditioning swap probability from the first step (null: condition on zeros). */
  gpcRegProb: z.number().min(0).max(1).nullable().default(0.5),
  densityReg: z.number().nonnegative().default(0.25),
  /** Density regularisation jitter (the 3-D stage halves the 2-D stage's 0.004). */
  densityRegPDist: z.number().nonnegative().default(0.002),
}).prefault({});

/** What is written, and how often (kimg; rounded to whole steps, at least one). */
const outputSchema = z.strictObject({
  logEveryKimg: z.number().positive().default(4),
  samplesEveryKimg: z.number().positive().default(200),
  checkpointEveryKimg: z.number().positive().default(200),
  sampleSeeds: positiveInt.default(4),
  /** Seeds of the 3-D vs 2-D branch gap measured before and after the stage (0: off). */
  gapSeeds: z.number().int().nonnegative().default(8),
}).prefault({});

/** The `imitate` stage's config. */
export const imitateConfigSchema = z.strictObject({
  /** Length of the 3-D stage in thousands of real images (the paper: ~17 000). */
  kimg: z.number().positive().default(17000),
  batch: positiveInt.default(32),
  /**
   * Images a GPU processes at once (the original's --batch-gpu): its share of the batch runs in
   * rounds of this many with the gradients averaged, the same batch in less memory (to
   * rounding; the pose swap rolls within a round). null: the whole share at once.
   */
  batchGpu: positiveInt.nullable().default(null),
  xflip: z.boolean().default(true),
  /**
   * Patch side / full image side: the patch has the neural rendering
   * resolution R and is cut from a virtual (R / patchScale)² ray grid, which
   * must be the image resolution (0.125: 64 of 512; 0.25: 64 of 256).
   */
  patchScale: z.number().positive().max(1).default(0.125),
  /** Weight of the patch GAN term in G's loss (0.1 at 512). */
  patchGan: z.number().nonnegative().default(0.1),
  /** R1 γ of the patch discriminator (FFHQ 1, AFHQ 5), every `optim.dPatchRegInterval`. */
  r1GammaPatch: z.number().nonnegative().default(1),
  imitation: imitationSchema,
  optim: optimSchema,
  loss: lossSchema,
  ema: z.strictObject({
    /** Half-life in kimg (null: batch·10/32, the original's). */
    kimg: z.number().positive().nullable().default(null),
  }).prefault({}),
  output: outputSchema,
  /**
   * A finished 3-D stage shipped as a file (stages/training/shipped_run.ts): taken
   * instead of training, after checking it was trained with this config, on this
   * dataset, from this stage's pretrained networks. null: train.
   */
  shippedRun: z.string().min(1).nullable().default(null),
});

/** A parsed imitate config. */
export type ImitateConfig = z.output<typeof imitateConfigSchema>;

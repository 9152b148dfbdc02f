/**
 * The `imitate` stage's trainer: the shared GAN trainer with Mimic3D's
 * 3-D-stage networks (G and G_ema with detail planes, D, the patch D) and
 * phases (G, D, D_patch, each main + lazy reg), and Mimic3D's loss with the
 * configured imitation distance. Blur and pose-swap fades are at their end
 * points from the first step (see `config.ts`).
 * @module
 */
import { patchFullResolution } from "../model/rays.ts";
import { defaultEmaKimg } from "../training/ema.ts";
import { trainingPhases } from "../training/phases.ts";
import { GanTrainer, type LabelSource } from "../training/gan_trainer.ts";
import { EG3D_REPORTED } from "../training/eg3d_loss.ts";
import type { ImitateConfig } from "./config.ts";
import { type ImitationDistance, Mimic3DLoss, type Mimic3DLossConfig } from "./loss.ts";
import type { PretrainedNetworks } from "./pretrained.ts";
import type { TrainingRanks } from "../training/training_ranks.ts";

/** Report entries folded into the log: EG3D's, plus the imitation and patch-D terms. */
const MIMIC3D_REPORTED: Record<string, [string, string][]> = {
  ...EG3D_REPORTED,
  Gmain: [
    ...EG3D_REPORTED.Gmain,
    ["imitation", "Loss/G/imitation"],
    ["patch_scores_fake", "Loss/scores/patch_fake"],
  ],
  D_patchmain: [
    ["scores_real", "Loss/scores/patch_real"],
    ["scores_fake", "Loss/scores/patch_fake"],
  ],
  D_patchreg: [["r1_penalty", "Loss/patch_r1_penalty"]],
};

/** Mimic3D's loss settings for the 3-D stage (no blur, no fades). */
export function imitateLossConfig(
  config: ImitateConfig,
  neuralRenderingResolution: number,
  distance: ImitationDistance | null,
): Mimic3DLossConfig {
  const l = config.loss;
  return {
    r1Gamma: l.r1Gamma,
    blurInitSigma: 0,
    blurFadeKimg: 0,
    gpcRegProb: l.gpcRegProb,
    gpcRegFadeKimg: 0,
    neuralRenderingResolutionInitial: neuralRenderingResolution,
    densityReg: l.densityReg,
    densityRegPDist: l.densityRegPDist,
    patchScale: config.patchScale,
    patchGan: config.patchGan,
    r1GammaPatch: config.r1GammaPatch,
    imitation: distance && { distance, weight: config.imitation.weight },
  };
}

/** G, D and the patch D trained with Mimic3D's 3-D-stage objective. */
export class ImitateTrainer extends GanTrainer {
  constructor(
    readonly config: ImitateConfig,
    readonly networks3d: PretrainedNetworks,
    distance: ImitationDistance | null,
    seed: number,
    labels: LabelSource,
    ranks: TrainingRanks,
  ) {
    const { G, gEma, D, dPatch } = networks3d;
    const r = G.config.neuralRenderingResolution;
    const full = patchFullResolution(r, config.patchScale);
    if (full !== G.config.imgResolution) {
      throw new Error(
        `imitate: patchScale ${config.patchScale} cuts ${r}² patches from a ${full}² grid, but ` +
          `images are ${G.config.imgResolution}²: use patchScale ${r / G.config.imgResolution}`,
      );
    }
    const o = config.optim;
    const adam = (lr: number) => ({ lr, betas: o.betas, eps: o.eps });
    super({
      stage: "imitate",
      batch: config.batch,
      G,
      D,
      gEma,
      networks: { G, D, D_patch: dPatch },
      phases: trainingPhases({
        gReg: config.loss.densityReg > 0 ? o.gRegInterval : null,
        dReg: config.loss.r1Gamma > 0 ? o.dRegInterval : null,
        dPatchReg: config.r1GammaPatch > 0 ? o.dPatchRegInterval : null,
      }),
      loss: new Mimic3DLoss(G, D, dPatch, imitateLossConfig(config, r, distance)),
      adam: { G: adam(o.gLr), D: adam(o.dLr), D_patch: adam(o.dPatchLr) },
      // Resuming at ~17 000 kimg, the original's ramp-up no longer limits the half-life.
      ema: { kimg: config.ema.kimg ?? defaultEmaKimg(config.batch), rampup: null },
      reported: MIMIC3D_REPORTED,
      seed: seed + 1,
      ranks,
    }, labels);
  }
}

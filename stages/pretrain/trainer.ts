/**
 * The \`pretrain\` stage's trainer: fresh networks of the configured architecture and EG3D's
 * loss, trained by the shared GAN trainer (stages/training/gan_trainer.ts).
 * @module
 */
import { Rng } from "../../kernels/mod.ts";
import { TriplaneGenerator } from "../model/generator.ts";
import { DualDiscriminator } from "../model/discriminator.ts";
import { EG3D_REPORTED, EG3DLoss } from "../training/eg3d_loss.ts";
import { trainingPhases } from "../training/phases.ts";
import { defaultEmaKimg } from "../training/ema.ts";
import { GanTrainer, type LabelSource } from "../training/gan_trainer.ts";
import type { TrainingRanks } from "../training/training_ranks.ts";
import { discriminatorConfig, generatorConfig, lossConfig, type PretrainConfig } from "./config.ts";

/** The `pretrain` stage's trainer: fresh G and D of the configured architecture, EG3D's loss. */
export class PretrainTrainer extends GanTrainer {
  constructor(
    readonly config: PretrainConfig,
    readonly imgResolution: number,
    readonly seed: number,
    labels: LabelSource,
    ranks: TrainingRanks,
  ) {
    const init = new Rng(seed);
    const G = new TriplaneGenerator(generatorConfig(config, imgResolution), init);
    const D = new DualDiscriminator(discriminatorConfig(config, imgResolution), init);
    const gEma = new TriplaneGenerator(G.config, new Rng(seed));
    gEma.loadStateDict(G.stateDict());
    const o = config.optim;
    const adam = (lr: number) => ({ lr, betas: o.betas, eps: o.eps });
    super({
      stage: "pretrain",
      batch: config.batch,
      G,
      D,
      gEma,
      networks: { G, D },
      phases: trainingPhases({
        gReg: config.loss.densityReg > 0 ? o.gRegInterval : null,
        dReg: config.loss.r1Gamma > 0 ? o.dRegInterval : null,
      }),
      loss: new EG3DLoss(G, D, lossConfig(config)),
      adam: { G: adam(o.gLr), D: adam(o.dLr) },
      ema: { kimg: config.ema.kimg ?? defaultEmaKimg(config.batch), rampup: config.ema.rampup },
      reported: EG3D_REPORTED,
      // Training draws come from a stream separate from initialisation's (seed + 1 ≠ init seed).
      seed: seed + 1,
      ranks,
    }, labels);
  }
}

/**
 * The networks and the per-step work of GAN training, shared by the
 * `pretrain` stage (EG3D / Mimic3D-2D: G, D) and the `imitate` stage
 * (Mimic3D-3D: G, D, D_patch): G_ema, one optimiser per network, the loss, the
 * phases as data and one random stream. A step runs the phases due (each in
 * its own memory scope: its own z and c draw, gradients of its loss × gain
 * w.r.t. its network only, sanitised, one Adam update), then updates G_ema.
 * Nothing is read back: statistics fold into GPU accumulators read at log
 * ticks.
 *
 * Where the batch lives is not the trainer's: a phase's gradients over the global batch, this
 * process's part of it and the draws for that part come from `TrainingRanks` (one process:
 * plain `grad` on the whole batch; several ranks or rounds: stages/distributed/).
 * @module
 */
import {
  type Module,
  mul,
  noGrad,
  type RandomSource,
  Rng,
  scopeAsync,
  type Tensor,
  Tensor as TensorClass,
  withoutEarlySubmission,
} from "../../kernels/mod.ts";
import type { TriplaneGenerator } from "../model/generator.ts";
import type { DualDiscriminator } from "../model/discriminator.ts";
import type { LossBatch, PhaseResult } from "./eg3d_loss.ts";
import { type NetworkName, phasesAt, regInterval, type TrainingPhase } from "./phases.ts";
import { type AdamSettings, NetworkOptimizer } from "./optimizers.ts";
import { emaBeta, type EmaSettings, GeneratorEma } from "./ema.ts";
import { MetricAccumulators } from "./training_metrics.ts";
import type { RealBatch } from "./data_loader.ts";
import type { BatchPart } from "./batch_part.ts";
import type { TrainingRanks } from "./training_ranks.ts";

/** Where generator cameras come from: the training set's labels. */
export interface LabelSource {
  readonly length: number;
  label(index: number): number[];
}

/** Test hooks (e.g. poisoning a parameter to exercise the NaN guard); empty in normal runs. */
export const trainerTestHooks: {
  beforePhase?: (trainer: GanTrainer, phase: TrainingPhase, step: number) => void;
} = {};

/** A loss evaluated one phase at a time (EG3DLoss, Mimic3DLoss). */
export interface PhaseLoss {
  run(phase: string, batch: LossBatch, curNimg: number, random: RandomSource): PhaseResult;
}

/** A trained network: a module whose `config` rebuilds it (written into the artifact). */
export type TrainedNetwork = Module & { readonly config: object };

/** Everything that differs between training stages: networks, phases, loss, optimiser settings. */
export interface TrainingSetup {
  /** The stage ("pretrain", "imitate"): names checkpoints, errors and the artifact's provenance. */
  stage: string;
  batch: number;
  G: TriplaneGenerator;
  D: DualDiscriminator;
  gEma: TriplaneGenerator;
  /** Every network a phase updates, by name, G first (checkpoint and artifact order). */
  networks: Record<NetworkName, TrainedNetwork>;
  phases: TrainingPhase[];
  loss: PhaseLoss;
  /** Adam per network, before the lazy-regularisation correction. */
  adam: Record<NetworkName, AdamSettings>;
  ema: EmaSettings;
  /** Report entries folded into the log, per phase: metric name → report key. */
  reported: Record<string, [string, string][]>;
  /** Seed of the stream of training draws. */
  seed: number;
  /** The processes training together and how the batch is split between them. */
  ranks: TrainingRanks;
}

/** Networks, optimisers and schedule of one training run. */
export class GanTrainer {
  readonly stage: string;
  readonly G: TriplaneGenerator;
  readonly D: DualDiscriminator;
  readonly gEma: TriplaneGenerator;
  readonly networks: Record<NetworkName, TrainedNetwork>;
  readonly phases: TrainingPhase[];
  readonly optimizers: Record<NetworkName, NetworkOptimizer>;
  readonly loss: PhaseLoss;
  readonly ema: GeneratorEma;
  readonly emaSettings: EmaSettings;
  readonly batch: number;
  readonly metrics = new MetricAccumulators();
  /** The processes training together: gradients over the batch, and what they agree on. */
  readonly ranks: TrainingRanks;
  /** The stream of every GPU draw (z, cameras, swaps, noise, density points, patches); checkpointed. */
  rng: Rng;
  /** Training steps done. */
  step = 0;
  private readonly reported: Record<string, [string, string][]>;
  private readonly params: Record<NetworkName, [string, Tensor][]>;

  constructor(setup: TrainingSetup, readonly labels: LabelSource) {
    this.stage = setup.stage;
    this.batch = setup.batch;
    this.G = setup.G;
    this.D = setup.D;
    this.gEma = setup.gEma;
    this.networks = setup.networks;
    this.phases = setup.phases;
    this.loss = setup.loss;
    this.reported = setup.reported;
    this.emaSettings = setup.ema;
    this.ema = new GeneratorEma(this.gEma, this.G);
    this.params = {};
    this.optimizers = {};
    for (const [net, module] of Object.entries(this.networks)) {
      this.params[net] = [...module.parameters()];
      this.optimizers[net] = new NetworkOptimizer(
        new Map(this.params[net]),
        setup.adam[net],
        regInterval(this.phases, net),
      );
    }
    this.rng = new Rng(setup.seed);
    this.ranks = setup.ranks;
  }

  /** Images seen before the current step (the original's cur_nimg). */
  get curNimg(): number {
    return this.step * this.batch;
  }

  /**
   * One step as the training loop runs it: recorded whole, `meanwhile` run once it is recorded,
   * then submitted by the ranks' pacing once the previous step has finished (early submission is
   * held off: the pacing's wait would otherwise cover parts of this step too).
   */
  pacedStep(real: RealBatch, meanwhile: () => void = () => {}): Promise<void> {
    return withoutEarlySubmission(async () => {
      await this.trainStep(real);
      meanwhile();
      await this.ranks.stepRecorded();
    });
  }

  /**
   * Runs the phases due at the current step and the EMA update; advances the step. `real` is
   * this process's part of the global batch.
   */
  async trainStep(real: RealBatch): Promise<void> {
    const phases = phasesAt(this.phases, this.step);
    // w_avg (updated from this process's own latents) ← its mean over the global batch, so every
    // process's G (and the saved one) carries the same average. It is averaged with the step's
    // last gradients rather than on its own, which would make the CPU wait for the GPU.
    const wAvg = this.G.backbone.mapping.wAvg;
    for (const [i, phase] of phases.entries()) {
      await this.runPhase(phase, real, i === phases.length - 1 && wAvg ? [wAvg] : []);
    }
    this.ema.update(emaBeta(this.emaSettings, this.batch, this.curNimg));
    this.step++;
  }

  /**
   * One phase at the current step: its own z/c draw, gradient × gain over the global batch,
   * sanitised, one Adam update. `alsoAverage`: tensors replaced by their mean over the global
   * batch along with the gradients.
   */
  async runPhase(
    phase: TrainingPhase,
    real: RealBatch,
    alsoAverage: readonly Tensor[] = [],
  ): Promise<void> {
    trainerTestHooks.beforePhase?.(this, phase, this.step);
    for (const [net, list] of Object.entries(this.params)) {
      for (const [, p] of list) p.requiresGrad = net === phase.network;
    }
    const label = `${phase.name} ${this.step}`;
    await this.ranks.phaseStarts(label);
    const params = this.params[phase.network].map(([, p]) => p);
    const wAvg = this.G.backbone.mapping.wAvg;
    await scopeAsync(async () => {
      const grads = await this.ranks.gradients({
        label,
        params,
        loss: (part, batch) => this.phaseLoss(phase, part, batch),
        real,
        rng: this.rng,
        running: wAvg ? [wAvg] : [],
        alsoAverage,
      });
      noGrad(() => this.optimizers[phase.network].update(grads));
      this.ranks.phaseRecorded(label);
    });
    for (const [, p] of this.params[phase.network]) p.requiresGrad = false;
  }

  /**
   * `phase`'s loss × gain on `part` of the batch (`real` holds its real images): the global
   * batch's z and cameras drawn from the stream, `part`'s rows kept; the loss and reported
   * values go to the metrics.
   */
  private phaseLoss(phase: TrainingPhase, part: BatchPart, real: RealBatch): Tensor {
    const batch = this.batch;
    const step = this.step;
    const genZ = part.rows(this.rng.normal([batch, this.G.config.zDim]));
    const cameras = part.items(this.rng.integers(batch, this.labels.length))
      .map((i) => this.labels.label(i));
    const genC = TensorClass.fromData(cameras.flat(), [part.size, 25]);
    const { loss, report } = this.loss.run(
      phase.name,
      { realImg: real.images, realC: real.labels, genZ, genC },
      this.curNimg,
      part.perSample(this.rng),
    );
    this.metrics.add(`${phase.name}/loss`, loss, step);
    for (const [name, key] of this.reported[phase.name] ?? []) {
      const value = report.get(key);
      if (value) this.metrics.add(`${phase.name}/${name}`, value, step);
    }
    return phase.gain === 1 ? loss : mul(loss, phase.gain);
  }

  /** Parameter counts per network (for the log). */
  parameterCounts(): Record<string, number> {
    const count = (list: [string, Tensor][]) => list.reduce((a, [, p]) => a + p.size, 0);
    return Object.fromEntries(Object.entries(this.params).map(([net, l]) => [net, count(l)]));
  }
}

/**
 * The networks and the per-step work of EG3D / Mimic3D-2D training: G, D,
 * G_ema, one optimiser per network, the loss, and one random stream. A step
 * runs the phases due (each in its own memory scope: its own z and c draw,
 * gradients of its loss × gain w.r.t. its network only, sanitised, one Adam
 * update), then updates G_ema. Nothing is read back: statistics fold into GPU
 * accumulators read at log ticks.
 * @module
 */
import {
  grad,
  mul,
  noGrad,
  Rng,
  scope,
  type Tensor,
  Tensor as TensorClass,
} from "../../kernels/mod.ts";
import { TriplaneGenerator } from "../model/generator.ts";
import { DualDiscriminator } from "../model/discriminator.ts";
import { EG3DLoss } from "./loss.ts";
import { discriminatorConfig, generatorConfig, lossConfig, type PretrainConfig } from "./config.ts";
import {
  type NetworkName,
  phasesAt,
  regInterval,
  type TrainingPhase,
  trainingPhases,
} from "./phases.ts";
import { NetworkOptimizer } from "./optimizers.ts";
import { defaultEmaKimg, emaBeta, type EmaSettings, GeneratorEma } from "./ema.ts";
import { nanToNum } from "./nan_to_num.ts";
import { MetricAccumulators } from "./training_metrics.ts";
import type { RealBatch } from "./data_loader.ts";

/** Where generator cameras come from: the training set's labels. */
export interface LabelSource {
  readonly length: number;
  label(index: number): number[];
}

/** Test hooks (e.g. poisoning a parameter to exercise the NaN guard); empty in normal runs. */
export const trainerTestHooks: {
  beforePhase?: (trainer: Trainer, phase: TrainingPhase, step: number) => void;
} = {};

/** Report entries folded into the log, per phase: metric name → report key. */
const REPORTED: Record<string, [string, string][]> = {
  Gmain: [["scores_fake", "Loss/scores/fake"]],
  Greg: [["density_l1", "density_reg_l1"]],
  Dmain: [["scores_real", "Loss/scores/real"], ["scores_fake", "Loss/scores/fake"]],
  Dreg: [["r1_penalty", "Loss/r1_penalty"]],
};

/** Networks, optimisers and schedule of one training run. */
export class Trainer {
  readonly G: TriplaneGenerator;
  readonly D: DualDiscriminator;
  readonly gEma: TriplaneGenerator;
  readonly phases: TrainingPhase[];
  readonly optimizers: Record<NetworkName, NetworkOptimizer>;
  readonly loss: EG3DLoss;
  readonly ema: GeneratorEma;
  readonly emaSettings: EmaSettings;
  readonly metrics = new MetricAccumulators();
  /** The stream of every GPU draw (z, cameras, swaps, noise, density points); checkpointed. */
  rng: Rng;
  /** Training steps done. */
  step = 0;
  private readonly params: Record<NetworkName, [string, Tensor][]>;

  constructor(
    readonly config: PretrainConfig,
    readonly imgResolution: number,
    readonly seed: number,
    readonly labels: LabelSource,
  ) {
    const init = new Rng(seed);
    this.G = new TriplaneGenerator(generatorConfig(config, imgResolution), init);
    this.D = new DualDiscriminator(discriminatorConfig(config, imgResolution), init);
    this.gEma = new TriplaneGenerator(this.G.config, new Rng(seed));
    this.gEma.loadStateDict(this.G.stateDict());
    this.ema = new GeneratorEma(this.gEma, this.G);
    this.emaSettings = {
      kimg: config.ema.kimg ?? defaultEmaKimg(config.batch),
      rampup: config.ema.rampup,
    };
    this.phases = trainingPhases({
      gReg: config.loss.densityReg > 0 ? config.optim.gRegInterval : null,
      dReg: config.loss.r1Gamma > 0 ? config.optim.dRegInterval : null,
    });
    this.params = { G: [...this.G.parameters()], D: [...this.D.parameters()] };
    const o = config.optim;
    const optimizer = (net: NetworkName, lr: number) =>
      new NetworkOptimizer(
        new Map(this.params[net]),
        { lr, betas: o.betas, eps: o.eps },
        regInterval(this.phases, net),
      );
    this.optimizers = { G: optimizer("G", o.gLr), D: optimizer("D", o.dLr) };
    this.loss = new EG3DLoss(this.G, this.D, lossConfig(config));
    // Training draws come from a stream separate from initialisation's (seed + 1 ≠ init seed).
    this.rng = new Rng(seed + 1);
  }

  /** Images seen before the current step (the original's cur_nimg). */
  get curNimg(): number {
    return this.step * this.config.batch;
  }

  /** Runs the phases due at the current step and the EMA update; advances the step. */
  trainStep(real: RealBatch): void {
    for (const phase of phasesAt(this.phases, this.step)) this.runPhase(phase, real);
    this.ema.update(emaBeta(this.emaSettings, this.config.batch, this.curNimg));
    this.step++;
  }

  /** One phase at the current step: its own z/c draw, gradient × gain, sanitised, one Adam update. */
  runPhase(phase: TrainingPhase, real: RealBatch): void {
    trainerTestHooks.beforePhase?.(this, phase, this.step);
    for (const net of ["G", "D"] as const) {
      for (const [, p] of this.params[net]) p.requiresGrad = net === phase.network;
    }
    const batch = this.config.batch;
    const step = this.step;
    scope(() => {
      const genZ = this.rng.normal([batch, this.G.config.zDim]);
      const cameras = this.rng.integers(batch, this.labels.length).map((i) => this.labels.label(i));
      const genC = TensorClass.fromData(cameras.flat(), [batch, 25]);
      const { loss, report } = this.loss.run(
        phase.name,
        { realImg: real.images, realC: real.labels, genZ, genC },
        this.curNimg,
        this.rng,
      );
      const params = this.params[phase.network].map(([, p]) => p);
      const grads = grad(phase.gain === 1 ? loss : mul(loss, phase.gain), params);
      noGrad(() => this.optimizers[phase.network].update(grads.map((g) => g && nanToNum(g))));
      this.metrics.add(`${phase.name}/loss`, loss, step);
      for (const [name, key] of REPORTED[phase.name]) {
        const value = report.get(key);
        if (value) this.metrics.add(`${phase.name}/${name}`, value, step);
      }
    });
    for (const [, p] of this.params[phase.network]) p.requiresGrad = false;
  }

  /** Parameter counts (for the log). */
  parameterCounts(): Record<string, number> {
    const count = (list: [string, Tensor][]) => list.reduce((a, [, p]) => a + p.size, 0);
    return { G: count(this.params.G), D: count(this.params.D) };
  }
}

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
 * Data-parallel (a communicator of N ranks): `batch` stays the global batch
 * (kimg, EMA, schedules); each rank draws the global batch's z and cameras
 * from the shared stream and keeps its interleaved rows, per-sample draws in
 * the loss go through `ShardedRandom`, gradients are averaged over ranks
 * after each backward (then sanitised, then Adam, as the original), and the
 * tracked w average is averaged with each step's last exchange. With one rank every one of
 * these is the identity.
 *
 * Rounds (`batchGpu`, the original's --batch-gpu): a rank's share of the batch may run as
 * several rounds of `batchGpu` images, one after another, each a virtual rank of the same
 * interleaved split, with the same draws (the stream restarts at the phase's state each
 * round) and the w average updated from the phase's starting value; gradients and w average
 * are averaged over the rounds. So rounds train the batch a single pass would, to rounding,
 * in the memory of `batchGpu` images (the pose swap rolls within a round, as within a rank).
 * @module
 */
import {
  add,
  assign,
  gradAsync,
  type Module,
  mul,
  noGrad,
  type RandomSource,
  requestsSubmitted,
  Rng,
  scopeAsync,
  type Tensor,
  Tensor as TensorClass,
  timeline,
  timelineOn,
  zerosLike,
} from "../../kernels/mod.ts";
import { type Communicator, SingleProcess } from "../distributed/communicator.ts";
import { GradientSync } from "../distributed/gradient_sync.ts";
import { type BatchShard, batchShard, shardItems, shardRows } from "../distributed/batch_split.ts";
import { ShardedRandom } from "../distributed/sharded_random.ts";
import type { TriplaneGenerator } from "../model/generator.ts";
import type { DualDiscriminator } from "../model/discriminator.ts";
import type { LossBatch, PhaseResult } from "./eg3d_loss.ts";
import { type NetworkName, phasesAt, regInterval, type TrainingPhase } from "./phases.ts";
import { type AdamSettings, NetworkOptimizer } from "./optimizers.ts";
import { emaBeta, type EmaSettings, GeneratorEma } from "./ema.ts";
import { MetricAccumulators } from "./training_metrics.ts";
import type { RealBatch } from "./data_loader.ts";

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
  /** Images a GPU processes at once; its share of the batch runs in rounds of this many. */
  batchGpu?: number | null;
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
  /** The ranks training together (default: one process). */
  comm?: Communicator;
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
  /** The ranks training together, this rank's part of the batch, and the gradient averaging. */
  readonly comm: Communicator;
  readonly shard: BatchShard;
  readonly sync: GradientSync;
  /** Rounds a phase runs in on this rank (its share of the batch / batchGpu). */
  readonly rounds: number;
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
    this.comm = setup.comm ?? new SingleProcess();
    this.shard = batchShard(this.batch, this.comm);
    this.sync = new GradientSync(this.comm);
    this.rounds = roundsOf(this.shard, setup.batchGpu ?? null);
  }

  /** Images seen before the current step (the original's cur_nimg). */
  get curNimg(): number {
    return this.step * this.batch;
  }

  /**
   * Runs the phases due at the current step and the EMA update; advances the step. `real` is
   * this rank's part of the global batch (all of it for one rank).
   */
  async trainStep(real: RealBatch): Promise<void> {
    const phases = phasesAt(this.phases, this.step);
    // w_avg (updated from each rank's own latents in Dmain) ← its mean over ranks, which is the
    // global batch's update, so every rank's G (and the saved one) carries the same average.
    // It travels with the step's last gradient exchange instead of a read-back of its own,
    // which would make the CPU wait for the GPU at the end of every step.
    const wAvg = this.G.backbone.mapping.wAvg;
    for (const [i, phase] of phases.entries()) {
      await this.runPhase(phase, real, i === phases.length - 1 && wAvg ? [wAvg] : []);
    }
    this.ema.update(emaBeta(this.emaSettings, this.batch, this.curNimg));
    this.step++;
  }

  /**
   * One phase at the current step: its own z/c draw, gradient × gain averaged over ranks,
   * sanitised, one Adam update. `alsoAverage`: tensors replaced by their rank-mean after the
   * phase's backward (nothing changes for one rank).
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
    const step = this.step;
    // Several ranks: the forward is recorded once everything recorded before has been handed
    // to the GPU (which waits for earlier phases' gradient exchanges). Its recording is
    // synchronous and would hold up the read-backs and exchange replies the event loop handles
    // (docs/runtime_notes.md); the GPU has the previous phase's work meanwhile. This also keeps the CPU at most a phase ahead.
    if (this.shard.size > 1) await requestsSubmitted();
    timelineOn && timeline(`${phase.name} ${step}: start`);
    const params = this.params[phase.network].map(([, p]) => p);
    await scopeAsync(async () => {
      // With several ranks, buckets of final gradients are read back and all-reduced while the
      // backward is still recorded and run (gradient_sync.ts); with one, just the backward.
      let grads: (Tensor | null)[];
      if (this.rounds === 1) {
        // The forward first: a gradient it takes itself (R1) must not reach the sync's listener.
        const loss = this.phaseLoss(phase, real, this.shard, this.rng);
        grads = await this.sync.averageWhileComputing(
          params,
          (pause) => gradAsync(loss, params, pause),
          alsoAverage,
        );
      } else grads = await this.gradientsInRounds(phase, real, params, alsoAverage);
      noGrad(() => this.optimizers[phase.network].update(grads));
      timelineOn && timeline(`${phase.name} ${step}: optimiser recorded`);
    });
    for (const [, p] of this.params[phase.network]) p.requiresGrad = false;
  }

  /**
   * `phase`'s loss × gain on `part` of the batch (`real` holds its real images): the global
   * batch's z and cameras drawn from `rng` on every rank, `part`'s rows kept; the loss and
   * reported values go to the metrics.
   */
  private phaseLoss(phase: TrainingPhase, real: RealBatch, part: BatchShard, rng: Rng): Tensor {
    const batch = this.batch;
    const step = this.step;
    const genZ = shardRows(rng.normal([batch, this.G.config.zDim]), part);
    const cameras = shardItems(rng.integers(batch, this.labels.length), part)
      .map((i) => this.labels.label(i));
    const genC = TensorClass.fromData(cameras.flat(), [part.localBatch, 25]);
    const random: RandomSource = part.size === 1 ? rng : new ShardedRandom(rng, part);
    const { loss, report } = this.loss.run(
      phase.name,
      { realImg: real.images, realC: real.labels, genZ, genC },
      this.curNimg,
      random,
    );
    timelineOn && timeline(`${phase.name} ${step}: forward recorded`);
    this.metrics.add(`${phase.name}/loss`, loss, step);
    for (const [name, key] of this.reported[phase.name] ?? []) {
      const value = report.get(key);
      if (value) this.metrics.add(`${phase.name}/${name}`, value, step);
    }
    return phase.gain === 1 ? loss : mul(loss, phase.gain);
  }

  /**
   * `phase`'s gradients over this rank's share in `rounds` rounds (each its own memory scope):
   * round k is the virtual rank rank + k·size of size·rounds, with the draws and the w average
   * the phase started with; gradients and w average are their means over the rounds, then
   * averaged over ranks with `alsoAverage`.
   */
  private async gradientsInRounds(
    phase: TrainingPhase,
    real: RealBatch,
    params: Tensor[],
    alsoAverage: readonly Tensor[],
  ): Promise<(Tensor | null)[]> {
    const { rounds, shard } = this;
    const start = this.rng.state();
    const wAvg = this.G.backbone.mapping.wAvg;
    const wAvgBefore = wAvg ? copyOf(wAvg) : null;
    let wAvgSum: Tensor | null = null;
    let sums: (Tensor | null)[] = params.map(() => null);
    for (let k = 0; k < rounds; k++) {
      const rng = Rng.fromState(start);
      if (wAvg && wAvgBefore) assign(wAvg, wAvgBefore);
      const part: BatchShard = {
        globalBatch: this.batch,
        localBatch: shard.localBatch / rounds,
        rank: shard.rank + k * shard.size,
        size: shard.size * rounds,
      };
      // The virtual rank's samples are this rank's rows l ≡ k (mod rounds): the same split.
      const ofRound = batchShard(shard.localBatch, { rank: k, size: rounds });
      const round = {
        images: shardRows(real.images, ofRound),
        labels: shardRows(real.labels, ofRound),
      };
      const grads = await scopeAsync(() =>
        gradAsync(this.phaseLoss(phase, round, part, rng), params, () => undefined)
      );
      sums = sums.map((s, i) => sumOf(s, grads[i]));
      if (wAvg) wAvgSum = sumOf(wAvgSum, copyOf(wAvg));
      this.rng = rng;
    }
    const means = sums.map((s) => s && meanOf(s, rounds));
    if (wAvg && wAvgSum) assign(wAvg, meanOf(wAvgSum, rounds));
    if (shard.size === 1) return means;
    const averaged = await this.sync.average([...means, ...alsoAverage]);
    alsoAverage.forEach((t, j) => assign(t, averaged[means.length + j]!));
    return averaged.slice(0, means.length);
  }

  /** Parameter counts per network (for the log). */
  parameterCounts(): Record<string, number> {
    const count = (list: [string, Tensor][]) => list.reduce((a, [, p]) => a + p.size, 0);
    return Object.fromEntries(Object.entries(this.params).map(([net, l]) => [net, count(l)]));
  }
}

/** Rounds of `batchGpu` images in this rank's share of the batch (null: one round). */
function roundsOf(shard: BatchShard, batchGpu: number | null): number {
  if (batchGpu === null || batchGpu >= shard.localBatch) return 1;
  if (!Number.isInteger(batchGpu) || batchGpu < 1 || shard.localBatch % batchGpu !== 0) {
    throw new Error(
      `batchGpu ${batchGpu} does not divide the ${shard.localBatch} images each GPU trains on ` +
        `(batch ${shard.globalBatch} over ${shard.size} GPU(s)): choose a divisor of ${shard.localBatch}`,
    );
  }
  return shard.localBatch / batchGpu;
}

/** A copy of `t` that later changes to `t` leave alone. */
function copyOf(t: Tensor): Tensor {
  const c = zerosLike(t);
  assign(c, t);
  return c;
}

/** a + b with the operands' storage given back (null: the other one). */
function sumOf(a: Tensor | null, b: Tensor | null): Tensor | null {
  if (!a || !b) return a ?? b;
  const s = add(a, b);
  a.dispose();
  b.dispose();
  return s;
}

function meanOf(sum: Tensor, count: number): Tensor {
  const m = mul(sum, 1 / count);
  sum.dispose();
  return m;
}

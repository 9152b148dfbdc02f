/**
 * Training on several ranks, or on a batch trained in rounds of `batchGpu` images: the
 * `TrainingRanks` the trainer and the loop call (stages/training/training_ranks.ts).
 *
 * Ranks: `batch` stays the global batch (kimg, EMA, schedules); each rank draws the global
 * batch's z and cameras from the shared stream and keeps its interleaved rows (batch_split.ts),
 * per-sample draws in the loss go through `ShardedRandom`, gradients are averaged over ranks
 * after each backward (then sanitised, then Adam, as the original), and the tracked w average
 * is averaged with each step's last exchange. A phase's forward is recorded once everything
 * recorded before has been handed to the GPU: its recording is synchronous and would hold up
 * the read-backs and exchange replies the event loop handles (docs/runtime_notes.md), and the
 * GPU has the previous phase's work meanwhile. So the CPU stays at most a phase ahead, and the
 * exchanges, which submit each phase bucket by bucket, pace the steps.
 *
 * Rounds (`batchGpu`, the original's --batch-gpu): a rank's share of the batch may run as
 * several rounds of `batchGpu` images, one after another, each a virtual rank of the same
 * interleaved split, with the same draws (the stream restarts where the phase began) and the
 * running averages restarted from the phase's starting values; gradients and running averages
 * are averaged over the rounds. So rounds train the batch a single pass would, to rounding, in
 * the memory of `batchGpu` images (the pose swap rolls within a round, as within a rank).
 *
 * What the ranks agree on (starting state, statistics, stop votes, the final check) goes
 * through the communicator; in a world of one (rounds only) it is the identity, and steps are
 * paced as in one process.
 * @module
 */
import {
  add,
  assign,
  gradAsync,
  mul,
  requestsSubmitted,
  scopeAsync,
  type Tensor,
  timeline,
  timelineOn,
  zerosLike,
} from "../../kernels/mod.ts";
import type { BatchPart } from "../training/batch_part.ts";
import type { RealBatch } from "../training/data_loader.ts";
import { OneProcess } from "../training/one_process.ts";
import { submitAfterPreviousStep } from "../training/step_pacing.ts";
import type { MetricAccumulators, MetricSnapshot } from "../training/training_metrics.ts";
import type { PhaseGradients, TrainingRanks } from "../training/training_ranks.ts";
import { type BatchShard, batchShard, shardItems, shardRows } from "./batch_split.ts";
import type { Communicator } from "./communicator.ts";
import { GradientSync } from "./gradient_sync.ts";
import { metricsAcrossRanks } from "./metrics_across_ranks.ts";
import { ShardedRandom } from "./sharded_random.ts";
import { assertRanksAgree, broadcastJson, broadcastTensors } from "./state_broadcast.ts";
import { StopVote } from "./stop_vote.ts";

/**
 * The ranks of `comm` training a global batch of `batch`, each its share in rounds of
 * `batchGpu` images (null: in one round); one process in one round is `OneProcess`.
 */
export function trainingRanks(
  comm: Communicator,
  batch: number,
  batchGpu: number | null,
): TrainingRanks {
  const shard = batchShard(batch, comm);
  const rounds = roundsOf(shard, batchGpu);
  return comm.size === 1 && rounds === 1
    ? new OneProcess(batch)
    : new DataParallel(comm, shard, rounds);
}

/** A shard's samples as a part of the batch. */
export function shardPart(shard: BatchShard): BatchPart {
  return {
    size: shard.localBatch,
    rows: (x) => shardRows(x, shard),
    items: (list) => shardItems(list, shard),
    perSample: (stream) => (shard.size === 1 ? stream : new ShardedRandom(stream, shard)),
  };
}

/** The ranks of a communicator, each training its shard of the batch in `rounds` rounds. */
export class DataParallel implements TrainingRanks {
  readonly isLeader: boolean;
  readonly part: BatchPart;
  readonly logFields: Record<string, number>;
  /** The gradient averaging (its timings are the benchmarks'). */
  readonly sync: GradientSync;
  private readonly vote: StopVote;

  constructor(readonly comm: Communicator, readonly shard: BatchShard, readonly rounds: number) {
    this.isLeader = comm.rank === 0;
    this.part = shardPart(shard);
    this.logFields = comm.size > 1 ? { ranks: comm.size, localBatch: shard.localBatch } : {};
    this.sync = new GradientSync(comm);
    this.vote = new StopVote(comm);
  }

  async phaseStarts(label: string): Promise<void> {
    if (this.comm.size > 1) await requestsSubmitted();
    timelineOn && timeline(`${label}: start`);
  }

  gradients(phase: PhaseGradients): Promise<(Tensor | null)[]> {
    if (this.rounds > 1) return this.gradientsInRounds(phase);
    const { params, alsoAverage } = phase;
    // The forward first: a gradient it takes itself (R1) must not reach the sync's listener.
    const loss = this.forward(phase, this.part, phase.real);
    // Buckets of final gradients are read back and all-reduced while the backward is still
    // recorded and run (gradient_sync.ts).
    return this.sync.averageWhileComputing(
      params,
      (pause) => gradAsync(loss, params, pause),
      alsoAverage,
    );
  }

  phaseRecorded(label: string): void {
    timelineOn && timeline(`${label}: optimiser recorded`);
  }

  async stepRecorded(): Promise<void> {
    if (this.comm.size === 1) await submitAfterPreviousStep();
  }

  stopVote(flag: boolean): Promise<boolean> {
    return this.vote.after(flag);
  }

  settleVotes(): Promise<void> {
    return this.vote.settle();
  }

  combineMetrics(snapshot: MetricSnapshot): Promise<MetricSnapshot> {
    return metricsAcrossRanks(this.comm, snapshot);
  }

  async checkpointMetrics(metrics: MetricAccumulators): Promise<MetricSnapshot | undefined> {
    if (this.comm.size === 1) return undefined;
    return await metricsAcrossRanks(this.comm, await metrics.snapshot());
  }

  async fromLeader<T>(tensors: Map<string, Tensor>, values: () => Promise<T>): Promise<T | null> {
    if (this.comm.size === 1) return null;
    await broadcastTensors(this.comm, tensors);
    return await broadcastJson(this.comm, await values());
  }

  async assertAgree(tensors: Map<string, Tensor>, what: string): Promise<void> {
    if (this.comm.size > 1) await assertRanksAgree(this.comm, tensors, what);
  }

  /** The phase's loss on `part`, its recording marked in the timeline. */
  private forward(phase: PhaseGradients, part: BatchPart, real: RealBatch): Tensor {
    const loss = phase.loss(part, real);
    timelineOn && timeline(`${phase.label}: forward recorded`);
    return loss;
  }

  /**
   * The phase's gradients over this rank's share in `rounds` rounds (each its own memory
   * scope): round k is the virtual rank rank + k·size of size·rounds, with the draws and the
   * running averages the phase started with; gradients and running averages are their means
   * over the rounds, then averaged over ranks with `alsoAverage`.
   */
  private async gradientsInRounds(phase: PhaseGradients): Promise<(Tensor | null)[]> {
    const { rounds, shard } = this;
    const { params, rng, running, alsoAverage } = phase;
    const start = rng.draws;
    const runningBefore = running.map(copyOf);
    let runningSums: (Tensor | null)[] = running.map(() => null);
    let sums: (Tensor | null)[] = params.map(() => null);
    for (let k = 0; k < rounds; k++) {
      rng.draws = start;
      running.forEach((t, j) => assign(t, runningBefore[j]));
      const part = shardPart({
        globalBatch: shard.globalBatch,
        localBatch: shard.localBatch / rounds,
        rank: shard.rank + k * shard.size,
        size: shard.size * rounds,
      });
      // The virtual rank's samples are this rank's rows l ≡ k (mod rounds): the same split.
      const ofRound = batchShard(shard.localBatch, { rank: k, size: rounds });
      const real = {
        images: shardRows(phase.real.images, ofRound),
        labels: shardRows(phase.real.labels, ofRound),
      };
      const grads = await scopeAsync(() =>
        gradAsync(this.forward(phase, part, real), params, () => undefined)
      );
      sums = sums.map((s, i) => sumOf(s, grads[i]));
      runningSums = runningSums.map((s, j) => sumOf(s, copyOf(running[j])));
    }
    const means = sums.map((s) => s && meanOf(s, rounds));
    running.forEach((t, j) => assign(t, meanOf(runningSums[j]!, rounds)));
    if (this.comm.size === 1) return means;
    const averaged = await this.sync.average([...means, ...alsoAverage]);
    alsoAverage.forEach((t, j) => assign(t, averaged[means.length + j]!));
    return averaged.slice(0, means.length);
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

/**
 * The processes that train one model together, as the training method sees them: how a
 * phase's gradients over the global batch are computed, which part of each batch this process
 * holds, how steps are paced against the GPU, and what the processes agree on (the starting
 * state, the statistics, when to stop). The trainer and the loop call only this, so they read
 * as the method. One process: `OneProcess` (plain `grad` on the whole batch). Several ranks,
 * or a batch trained in rounds of `batchGpu` images: stages/distributed/data_parallel.ts.
 * @module
 */
import type { Rng, Tensor } from "../../kernels/mod.ts";
import type { BatchPart } from "./batch_part.ts";
import type { RealBatch } from "./data_loader.ts";
import type { MetricAccumulators, MetricSnapshot } from "./training_metrics.ts";

/** What a phase differentiates. */
export interface PhaseGradients {
  /** The phase and step, as traces name them. */
  label: string;
  /** The parameters of the phase's network. */
  params: Tensor[];
  /** Records the phase's loss on `part` of the batch, whose real images are `real`. */
  loss(part: BatchPart, real: RealBatch): Tensor;
  /** This process's real images. */
  real: RealBatch;
  /** The stream the loss draws from. */
  rng: Rng;
  /** Running averages the loss's forward updates (the tracked w average). */
  running: readonly Tensor[];
  /** Tensors replaced by their mean over the global batch along with the gradients. */
  alsoAverage: readonly Tensor[];
}

/** The processes training together; one process is the identity of every agreement. */
export interface TrainingRanks {
  /** Whether this process writes samples, checkpoints and the artifact. */
  readonly isLeader: boolean;
  /** This process's part of every batch. */
  readonly part: BatchPart;
  /** Fields of a fresh run's first log record that describe the split (none for one process). */
  readonly logFields: Record<string, number>;

  /** Before a phase (named `label` in traces) records anything. */
  phaseStarts(label: string): Promise<void>;
  /** The gradients of the phase's loss over the global batch, in `params` order. */
  gradients(phase: PhaseGradients): Promise<(Tensor | null)[]>;
  /** After a phase's optimiser step is recorded. */
  phaseRecorded(label: string): void;

  /** After a step is recorded: keeps the CPU ahead of the GPU, but not too far. */
  stepRecorded(): Promise<void>;
  /** Whether to stop: `flag` of any process (possibly a step late). */
  stopVote(flag: boolean): Promise<boolean>;
  /** The last vote has finished (before the processes' next collectives). */
  settleVotes(): Promise<void>;
  /** Statistics of a log tick: this process's combined with the others'. */
  combineMetrics(snapshot: MetricSnapshot): Promise<MetricSnapshot>;
  /** The statistics a checkpoint holds; undefined: `metrics` itself, read when saving. */
  checkpointMetrics(metrics: MetricAccumulators): Promise<MetricSnapshot | undefined>;
  /**
   * The leader's values on every process: `tensors` in place, and what `values` gives on the
   * leader; null when no other process holds state (nothing to adopt).
   */
  fromLeader<T>(tensors: Map<string, Tensor>, values: () => Promise<T>): Promise<T | null>;
  /** Throws unless every process's `tensors` (named `what`) hold the same bits. */
  assertAgree(tensors: Map<string, Tensor>, what: string): Promise<void>;
}

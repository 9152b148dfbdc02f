/**
 * Training in one process on the whole batch: a phase's gradients are plain `grad` of its loss,
 * the loss draws from the stream as it is, each step is submitted once the previous one has
 * finished, and every agreement between processes is the identity.
 * @module
 */
import { grad, type Tensor } from "../../kernels/mod.ts";
import { type BatchPart, wholeBatch } from "./batch_part.ts";
import { submitAfterPreviousStep } from "./step_pacing.ts";
import type { MetricSnapshot } from "./training_metrics.ts";
import type { PhaseGradients, TrainingRanks } from "./training_ranks.ts";

/** One process training on every sample of a batch of `batch`. */
export class OneProcess implements TrainingRanks {
  readonly isLeader = true;
  readonly part: BatchPart;
  readonly logFields = {};

  constructor(batch: number) {
    this.part = wholeBatch(batch);
  }

  async phaseStarts(): Promise<void> {}

  gradients({ params, loss, real }: PhaseGradients): Promise<(Tensor | null)[]> {
    return Promise.resolve(grad(loss(this.part, real), params));
  }

  phaseRecorded(): void {}

  stepRecorded(): Promise<void> {
    return submitAfterPreviousStep();
  }

  stopVote(flag: boolean): Promise<boolean> {
    return Promise.resolve(flag);
  }

  async settleVotes(): Promise<void> {}

  combineMetrics(snapshot: MetricSnapshot): Promise<MetricSnapshot> {
    return Promise.resolve(snapshot);
  }

  checkpointMetrics(): Promise<MetricSnapshot | undefined> {
    return Promise.resolve(undefined);
  }

  fromLeader<T>(): Promise<T | null> {
    return Promise.resolve(null);
  }

  async assertAgree(): Promise<void> {}
}

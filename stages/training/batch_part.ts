/**
 * Some samples of the global batch: what a process, or one round of a process's share, trains
 * on. The global batch's draws (latents, cameras, per-sample noise) are made for every sample,
 * so a part's numbers do not depend on how the batch is split.
 * @module
 */
import type { RandomSource, Tensor } from "../../kernels/mod.ts";

/** Some samples of the global batch: what a process (or a round) trains on. */
export interface BatchPart {
  /** Samples in the part. */
  readonly size: number;
  /** The part's rows (dim 0) of a global-batch tensor. */
  rows(x: Tensor): Tensor;
  /** The part's items of a global-batch list (e.g. dataset indices, cameras). */
  items<T>(list: readonly T[]): T[];
  /** `stream` whose per-sample draws are the numbers the whole batch gives these samples. */
  perSample(stream: RandomSource): RandomSource;
}

/** All `batch` samples: every row, every item, the stream as it is. */
export function wholeBatch(batch: number): BatchPart {
  return {
    size: batch,
    rows: (x) => x,
    items: (list) => [...list],
    perSample: (stream) => stream,
  };
}

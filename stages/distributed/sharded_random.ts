/**
 * Per-sample random draws that do not depend on the rank count. Inside the
 * networks and the loss, draws take the local batch's shape (noise maps
 * [n, 1, H, W], density-regulariser points [n, 1000, 3], pose-swap coins
 * [n, 1], patch positions: 2 integers per sample). Drawn as is, every rank
 * would get the same numbers for its different samples (a draw's elements
 * depend on (seed, draw index, element index) only), and a 1-rank run other
 * numbers again. Here a draw whose leading dimension is the local batch is
 * drawn for the global batch and this rank keeps its interleaved rows — the
 * numbers the 1-rank run gives the same global samples. Other draws (scalars,
 * weights) pass through. Convention: a leading dimension equal to the local
 * batch means "per sample" (true of every draw the training code makes).
 * @module
 */
import type { Device, RandomSource, Tensor } from "../../kernels/mod.ts";
import { type BatchShard, shardRows } from "./batch_split.ts";

/** `inner`'s stream with per-sample draws taken for the global batch and sharded. */
export class ShardedRandom implements RandomSource {
  constructor(readonly inner: RandomSource, readonly shard: BatchShard) {}

  uniform(shape: readonly number[], device?: Device): Tensor {
    return this.perSample(shape, (s) => this.inner.uniform(s, device));
  }

  normal(shape: readonly number[], device?: Device): Tensor {
    return this.perSample(shape, (s) => this.inner.normal(s, device));
  }

  /** `count` = k per local sample: k per global sample drawn, this rank's samples' k kept. */
  integers(count: number, high: number): number[] {
    const { localBatch, globalBatch, size, rank } = this.shard;
    if (size === 1 || count === 0 || count % localBatch !== 0) {
      return this.inner.integers(count, high);
    }
    const k = count / localBatch;
    const all = this.inner.integers(k * globalBatch, high);
    const out: number[] = [];
    for (let l = 0; l < localBatch; l++) {
      const sample = rank + l * size;
      out.push(...all.slice(sample * k, sample * k + k));
    }
    return out;
  }

  private perSample(shape: readonly number[], draw: (shape: number[]) => Tensor): Tensor {
    const { localBatch, globalBatch, size } = this.shard;
    if (size === 1 || shape.length === 0 || shape[0] !== localBatch) return draw([...shape]);
    return shardRows(draw([globalBatch, ...shape.slice(1)]), this.shard);
  }
}

/**
 * Per-sample random draws that do not depend on the rank count. Inside the
 * networks and the loss, draws take the local batch's shape: k rows per
 * sample, sample-major (noise maps [n, 1, H, W], the 3-D-aware blocks' noise
 * [3n, 1, H, W] for a sample's three planes, density-regulariser points
 * [n, 1000, 3], pose-swap coins [n, 1], patch positions: 2 integers per
 * sample). Drawn as is, every rank would get the same numbers for its
 * different samples (a draw's elements depend on (seed, draw index, element
 * index) only), and a 1-rank run other numbers again. Here a draw whose
 * leading dimension is k × the local batch is drawn with k × the global
 * batch and this rank keeps its interleaved samples' rows — the numbers the
 * 1-rank run gives the same global samples. Other draws (scalars, weights)
 * pass through. Convention: a leading dimension that is a multiple of the
 * local batch means "k rows per sample" (true of every draw the training
 * code makes).
 * @module
 */
import { type Device, type RandomSource, reshape, type Tensor } from "../../kernels/mod.ts";
import { type BatchShard, shardItems, shardRows } from "./batch_split.ts";

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
    const k = this.perSampleRows(count);
    if (k === 0) return this.inner.integers(count, high);
    const all = this.inner.integers(k * this.shard.globalBatch, high);
    const bySample = Array.from(
      { length: this.shard.globalBatch },
      (_, i) => all.slice(i * k, (i + 1) * k),
    );
    return shardItems(bySample, this.shard).flat();
  }

  private perSample(shape: readonly number[], draw: (shape: number[]) => Tensor): Tensor {
    const k = shape.length ? this.perSampleRows(shape[0]) : 0;
    if (k === 0) return draw([...shape]);
    const { globalBatch, localBatch } = this.shard;
    const rest = shape.slice(1);
    const all = reshape(draw([k * globalBatch, ...rest]), [globalBatch, k, ...rest]);
    return reshape(shardRows(all, this.shard), [k * localBatch, ...rest]);
  }

  /** Rows per sample of a draw with `leading` rows (0: not a per-sample draw, or one rank). */
  private perSampleRows(leading: number): number {
    const { localBatch, size } = this.shard;
    return size > 1 && leading > 0 && leading % localBatch === 0 ? leading / localBatch : 0;
  }
}

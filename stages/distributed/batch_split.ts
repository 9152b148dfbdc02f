/**
 * The global batch split across ranks, as the original: every rank trains on
 * batch/size samples, the losses are means over the local batch and the
 * gradients are averaged, so one step sees the global batch. Phase intervals
 * (the lazy regularisers every 16 / 4 steps), kimg counts and the EMA
 * horizon stay in global images and steps, unchanged.
 *
 * The split is interleaved: rank r takes global samples r, r+size, r+2·size, …
 * That keeps the minibatch-std groups those of a single process with the
 * global batch: with N = global and n = local batch, group G, samples i and
 * i′ share a group when i ≡ i′ (mod N/G); rank r's local samples l = (i−r)/size
 * share one when l ≡ l′ (mod n/G), the same condition since N/G = size·n/G.
 * (If n < G the group shrinks to n, as the original's min(G, batch_gpu).)
 * @module
 */
import { slice, type Tensor } from "../../kernels/mod.ts";

/** This rank's part of the global batch. */
export interface BatchShard {
  readonly globalBatch: number;
  readonly localBatch: number;
  readonly rank: number;
  readonly size: number;
}

/** The shard of `globalBatch` for `rank` of `size`; the batch must divide evenly. */
export function batchShard(globalBatch: number, group: { rank: number; size: number }): BatchShard {
  const { rank, size } = group;
  if (!Number.isInteger(globalBatch) || globalBatch <= 0 || globalBatch % size !== 0) {
    throw new Error(
      `batch ${globalBatch} cannot be split evenly over ${size} ranks: choose a batch that is a ` +
        `multiple of ${size} (or run on a number of GPUs dividing ${globalBatch})`,
    );
  }
  return { globalBatch, localBatch: globalBatch / size, rank, size };
}

/** This rank's items of a global-batch list (e.g. dataset indices to load): every size-th from rank. */
export function shardItems<T>(items: readonly T[], shard: BatchShard): T[] {
  if (items.length !== shard.globalBatch) {
    throw new Error(`shardItems: ${items.length} items for a global batch of ${shard.globalBatch}`);
  }
  return items.filter((_, i) => i % shard.size === shard.rank);
}

/**
 * This rank's rows (dim 0) of a global-batch tensor, e.g. latents drawn for
 * the whole batch from the shared random stream (so the stream, and its
 * checkpointed state, are the same on every rank and for every rank count).
 */
export function shardRows(x: Tensor, shard: BatchShard): Tensor {
  if (x.shape[0] !== shard.globalBatch) {
    throw new Error(`shardRows: [${x.shape}] for a global batch of ${shard.globalBatch}`);
  }
  if (shard.size === 1) return x;
  return slice(x, [[shard.rank, shard.globalBatch, shard.size]]);
}

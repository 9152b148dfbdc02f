/** Batch and efficiency arithmetic of data-parallel benchmarks (bench/train_bench.ts). */

/**
 * The global batch a case runs at on `ranks` GPUs: strong scaling (`perGpuBatch` null) keeps
 * the case's batch and splits it over the ranks; weak scaling gives every rank `perGpuBatch`.
 */
export function globalBatch(caseBatch: number, ranks: number, perGpuBatch: number | null): number {
  if (!Number.isInteger(ranks) || ranks < 1) throw new Error(`ranks ${ranks}: expected ≥ 1`);
  if (perGpuBatch === null) {
    if (caseBatch % ranks !== 0) {
      throw new Error(`batch ${caseBatch} does not split over ${ranks} GPUs (strong scaling)`);
    }
    return caseBatch;
  }
  if (!Number.isInteger(perGpuBatch) || perGpuBatch < 1) {
    throw new Error(`per-GPU batch ${perGpuBatch}: expected an integer ≥ 1`);
  }
  return perGpuBatch * ranks;
}

/**
 * Scaling efficiency of `ranks` GPUs from sec/kimg: one GPU's throughput × ranks vs the
 * measured one, i.e. `base / (ranks · secPerKimg)`. The same formula serves strong scaling
 * (baseline at the same global batch) and weak scaling (baseline at the per-GPU batch), since
 * sec/kimg is per image.
 */
export function scalingEfficiency(base: number, secPerKimg: number, ranks: number): number {
  return base / (ranks * secPerKimg);
}

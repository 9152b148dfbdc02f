/**
 * Training lengths and intervals in kimg as whole steps, as the original counts them.
 * @module
 */

/** Training steps for `kimg` at `batch` (the original stops once cur_nimg ≥ kimg·1000). */
export function stepsForKimg(kimg: number, batch: number): number {
  return Math.max(1, Math.ceil((kimg * 1000) / batch - 1e-9));
}

/** An interval in kimg as a whole number of steps (at least one). */
export function intervalSteps(kimg: number, batch: number): number {
  return Math.max(1, Math.round((kimg * 1000) / batch));
}

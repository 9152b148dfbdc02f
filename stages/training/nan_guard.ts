/**
 * The NaN/Inf guard: at every log tick (and always before a checkpoint or the
 * final save) the GPU statistics say whether any phase's values stopped being
 * finite. Training then stops with an error naming the phase that went wrong
 * first — earliest step, then the phases' order within the step — so the
 * cause is where to look, not its downstream effects. Since the stage throws,
 * the pipeline stores nothing and the last good checkpoint stays.
 * @module
 */
import type { MetricSummary } from "./training_metrics.ts";

/** Training stopped on a non-finite value. */
export class NonFiniteLossError extends Error {
  constructor(
    readonly phase: string,
    readonly metric: string,
    readonly step: number,
    readonly batch: number,
    readonly lastCheckpointStep: number | null,
    readonly stage = "pretrain",
  ) {
    const kept = lastCheckpointStep === null
      ? "there is no checkpoint yet, so a rerun starts over"
      : `the last good checkpoint (step ${lastCheckpointStep}) is kept, so a rerun resumes from it`;
    super(
      `${stage}: the ${phase} phase produced NaN/Inf (${metric}) at step ${step} ` +
        `(kimg ${((step * batch) / 1000).toFixed(3)}); training stopped and nothing was stored; ` +
        `${kept}. Lower the learning rate or check the data before rerunning.`,
    );
    this.name = "NonFiniteLossError";
  }
}

/** The first non-finite metric, by step then phase order; null when all are finite. */
export function firstNonFinite(
  stats: ReadonlyMap<string, MetricSummary>,
  phaseOrder: readonly string[],
): { phase: string; metric: string; step: number } | null {
  let best: { phase: string; metric: string; step: number; order: number } | null = null;
  for (const [metric, s] of stats) {
    if (s.firstBadStep === null) continue;
    const phase = metric.split("/")[0];
    const order = phaseOrder.indexOf(phase);
    if (
      !best || s.firstBadStep < best.step || (s.firstBadStep === best.step && order < best.order)
    ) {
      best = { phase, metric, step: s.firstBadStep, order };
    }
  }
  return best && { phase: best.phase, metric: best.metric, step: best.step };
}

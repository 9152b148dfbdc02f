/**
 * The training phases as data, as EG3D's training loop lists them: each phase
 * names the network it updates, how often it runs and the loss phase it
 * evaluates. Regularisation phases run every `interval` steps with their loss
 * multiplied by the interval (lazy regularisation), and share their network's
 * optimiser with its main phase.
 * @module
 */
import type { Phase } from "./loss.ts";

/** The network a phase updates. */
export type NetworkName = "G" | "D";

/** One training phase. */
export interface TrainingPhase {
  name: Phase;
  network: NetworkName;
  /** Runs at steps where step % interval == 0. */
  interval: number;
  /** Multiplies the loss before differentiation (= interval for lazy regularisation). */
  gain: number;
}

/** Intervals of the regularisation phases; null leaves the phase out. */
export interface PhaseIntervals {
  gReg: number | null;
  dReg: number | null;
}

/** Gmain, Greg, Dmain, Dreg in the original's order (a null interval drops a reg phase). */
export function trainingPhases(intervals: PhaseIntervals): TrainingPhase[] {
  const phases: TrainingPhase[] = [{ name: "Gmain", network: "G", interval: 1, gain: 1 }];
  if (intervals.gReg !== null) {
    phases.push({ name: "Greg", network: "G", interval: intervals.gReg, gain: intervals.gReg });
  }
  phases.push({ name: "Dmain", network: "D", interval: 1, gain: 1 });
  if (intervals.dReg !== null) {
    phases.push({ name: "Dreg", network: "D", interval: intervals.dReg, gain: intervals.dReg });
  }
  return phases;
}

/** The phases that run at training step `step` (0-based), in order. */
export function phasesAt(phases: readonly TrainingPhase[], step: number): TrainingPhase[] {
  return phases.filter((p) => step % p.interval === 0);
}

/** The regularisation interval of a network's phases (null when it has no reg phase). */
export function regInterval(phases: readonly TrainingPhase[], network: NetworkName): number | null {
  const reg = phases.find((p) => p.network === network && p.name.endsWith("reg"));
  return reg ? reg.interval : null;
}

/**
 * The training phases as data, as EG3D's training loop lists them: each phase
 * names the network it updates, how often it runs and the loss phase it
 * evaluates. Regularisation phases run every `interval` steps with their loss
 * multiplied by the interval (lazy regularisation), and share their network's
 * optimiser with its main phase. Mimic3D's 3-D stage adds the patch
 * discriminator's pair (`D_patchmain`, `D_patchreg`) after D's.
 * @module
 */

/** The network a phase updates ("G", "D", Mimic3D's "D_patch"). */
export type NetworkName = string;

/** One training phase. */
export interface TrainingPhase {
  /** The loss phase it evaluates ("Gmain", "Dreg", "D_patchmain", …). */
  name: string;
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
  /** Present: the patch discriminator's phases follow D's (null: D_patchmain only). */
  dPatchReg?: number | null;
}

/** Gmain, Greg, Dmain, Dreg (, D_patchmain, D_patchreg) in the original's order. */
export function trainingPhases(intervals: PhaseIntervals): TrainingPhase[] {
  const phases: TrainingPhase[] = [];
  const pair = (network: NetworkName, reg: number | null) => {
    phases.push({ name: `${network}main`, network, interval: 1, gain: 1 });
    if (reg !== null) phases.push({ name: `${network}reg`, network, interval: reg, gain: reg });
  };
  pair("G", intervals.gReg);
  pair("D", intervals.dReg);
  if (intervals.dPatchReg !== undefined) pair("D_patch", intervals.dPatchReg);
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

/**
 * One Adam per network, with StyleGAN2's lazy-regularisation correction: a
 * network whose regulariser runs every k steps takes Adam steps k+1 times per
 * k main steps, so its learning rate and betas are rescaled by
 * ratio = k/(k+1): lr·ratio, β^ratio.
 *
 * Step counts are per parameter, as torch's Adam keeps them: a parameter
 * without a gradient in a phase (SR in Greg, unused noise strengths) is
 * skipped and its bias correction does not advance.
 * @module
 */
import { Adam, assign, type Tensor } from "../../kernels/mod.ts";

/** Adam's hyper-parameters as configured (before the correction). */
export interface AdamSettings {
  lr: number;
  betas: [number, number];
  eps: number;
}

/** The lazy-regularisation ratio k/(k+1) (1 without a regulariser). */
export function lazyRegRatio(regInterval: number | null): number {
  return regInterval === null ? 1 : regInterval / (regInterval + 1);
}

/** lr·ratio and betas^ratio, as the original's training loop rescales them. */
export function lazyRegAdamSettings(
  settings: AdamSettings,
  regInterval: number | null,
): AdamSettings {
  const ratio = lazyRegRatio(regInterval);
  return {
    lr: settings.lr * ratio,
    betas: [settings.betas[0] ** ratio, settings.betas[1] ** ratio],
    eps: settings.eps,
  };
}

/** Saved optimiser state: per-parameter step counts and moments, by parameter name. */
export interface NetworkOptimizerState {
  steps: Record<string, number>;
  m: Map<string, Tensor>;
  v: Map<string, Tensor>;
}

/** Adam over one network's named parameters (updated in place). */
export class NetworkOptimizer {
  readonly settings: AdamSettings;
  private readonly names: string[];
  private readonly adams: Adam[];

  constructor(params: Map<string, Tensor>, settings: AdamSettings, regInterval: number | null) {
    this.settings = lazyRegAdamSettings(settings, regInterval);
    this.names = [...params.keys()];
    // One Adam per parameter so each keeps its own step count (torch's per-parameter state).
    // Gradients are sanitised as the original's loop does before every step (nan_to_num:
    // NaN → 0, ±Inf → ±1e5), inside the update kernel.
    this.adams = [...params.values()].map((p) => new Adam([p], { ...this.settings, sanitize: {} }));
  }

  /** One update; grads align with the parameters, null = no gradient (skipped). */
  update(grads: readonly (Tensor | null)[]): void {
    if (grads.length !== this.adams.length) {
      throw new Error(`optimizer: ${grads.length} gradients for ${this.adams.length} parameters`);
    }
    grads.forEach((g, i) => {
      if (g) this.adams[i].update([g]);
    });
  }

  /** The current state (tensors are the live moments: read them before the next update). */
  state(): NetworkOptimizerState {
    const steps: Record<string, number> = {};
    const m = new Map<string, Tensor>();
    const v = new Map<string, Tensor>();
    this.names.forEach((name, i) => {
      steps[name] = this.adams[i].step;
      m.set(name, this.adams[i].m[0]);
      v.set(name, this.adams[i].v[0]);
    });
    return { steps, m, v };
  }

  /** Sets the per-parameter step counts (every parameter must be present). */
  loadSteps(steps: Record<string, number>): void {
    this.names.forEach((name, i) => {
      if (steps[name] === undefined) {
        throw new Error(`optimizer state has no step count for parameter '${name}'`);
      }
      this.adams[i].step = steps[name];
    });
  }

  /** Restores a saved state (every parameter must be present). */
  load(state: NetworkOptimizerState): void {
    this.names.forEach((name, i) => {
      const m = state.m.get(name), v = state.v.get(name), step = state.steps[name];
      if (!m || !v || step === undefined) {
        throw new Error(`optimizer state has no entry for parameter '${name}'`);
      }
      assign(this.adams[i].m[0], m);
      assign(this.adams[i].v[0], v);
      this.adams[i].step = step;
    });
  }
}

/**
 * G_ema: an exponential moving average of G's weights, with StyleGAN2's
 * half-life in images and ramp-up:
 *   ema_nimg = min(ema_kimg·1000, cur_nimg·rampup),
 *   β = 0.5^(batch / max(ema_nimg, 1e−8)),
 * so early in training (ema_nimg ≈ 0) G_ema follows G exactly. Buffers
 * (w_avg, constant noise) are copied, not averaged.
 * @module
 */
import { assign, emaUpdate, noGrad, type Tensor } from "../../kernels/mod.ts";
import type { TriplaneGenerator } from "../model/generator.ts";

/** The EMA half-life settings. */
export interface EmaSettings {
  /** Half-life in kimg (the original: batch·10/32). */
  kimg: number;
  /** null: no ramp-up. */
  rampup: number | null;
}

/** The original's default half-life for a batch size: 10 kimg at batch 32, scaled. */
export function defaultEmaKimg(batch: number): number {
  return (batch * 10) / 32;
}

/** β for one update at training progress `curNimg` (images seen before this step). */
export function emaBeta(settings: EmaSettings, batch: number, curNimg: number): number {
  let emaNimg = settings.kimg * 1000;
  if (settings.rampup !== null) emaNimg = Math.min(emaNimg, curNimg * settings.rampup);
  return 0.5 ** (batch / Math.max(emaNimg, 1e-8));
}

/** Keeps `ema` an average of `source` (same architecture). */
export class GeneratorEma {
  private readonly params: [Tensor[], Tensor[]] = [[], []];
  private readonly buffers: [Tensor, Tensor][] = [];

  constructor(readonly ema: TriplaneGenerator, readonly source: TriplaneGenerator) {
    const emaState = ema.stateDict();
    const trainable = source.parameters();
    for (const [name, t] of source.stateDict()) {
      const target = emaState.get(name);
      if (!target) throw new Error(`G_ema has no tensor '${name}'`);
      if (trainable.has(name)) {
        this.params[0].push(target);
        this.params[1].push(t);
      } else {
        this.buffers.push([target, t]);
      }
    }
    for (const p of ema.parameters().values()) p.requiresGrad = false;
  }

  /** ema ← source + β·(ema − source) for parameters; buffers copied. */
  update(beta: number): void {
    emaUpdate(this.params[0], this.params[1], beta);
    noGrad(() => this.buffers.forEach(([target, t]) => assign(target, t)));
  }
}

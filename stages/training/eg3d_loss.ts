/**
 * EG3D's training objective (`StyleGAN2Loss.accumulate_gradients` of the
 * original), one phase at a time. Each phase returns the scalar to
 * differentiate (before the lazy-regularisation gain) and the values the
 * original reports; the caller takes gradients w.r.t. that phase's network.
 *
 * - Gmain: non-saturating loss softplus(−D(G(z, c))) on the dual discriminator,
 *   with generator pose conditioning swapped at a fading probability.
 * - Greg: density regularisation, L1 between densities at random points in
 *   [−1, 1]³ and jittered copies, times `densityReg`.
 * - Dmain: softplus(D(fake)) + softplus(−D(real)).
 * - Dreg: R1 on real images (dual: image and raw image), γ/2 · penalty.
 * Images seen by D are blurred with σ fading to 0; the real raw image is the
 * antialiased downsampling of the real image, blurred once.
 */
import {
  abs,
  add,
  antialiasedResize,
  concat,
  detach,
  expand,
  gaussianBlur,
  lt,
  mean,
  mul,
  neg,
  noGrad,
  type RandomSource,
  sign,
  slice,
  softplus,
  sub,
  type Tensor,
  where,
} from "../../kernels/mod.ts";
import type { TriplaneGenerator } from "../model/generator.ts";
import type { DualDiscriminator } from "../model/discriminator.ts";
import { r1Penalty } from "./r1.ts";

/** The loss's knobs (the original's `loss_kwargs`). */
export interface LossConfig {
  r1Gamma: number;
  blurInitSigma: number;
  /** kimg over which the blur fades (the original scales 200 by batch/32). */
  blurFadeKimg: number;
  /** Final probability of swapping the conditioning camera (null = condition on zeros). */
  gpcRegProb: number | null;
  gpcRegFadeKimg: number;
  neuralRenderingResolutionInitial: number;
  neuralRenderingResolutionFinal?: number | null;
  neuralRenderingResolutionFadeKimg?: number;
  /** Density regularisation weight (0 = no Greg phase) and jitter. */
  densityReg: number;
  densityRegPDist: number;
}

/** The training phases of EG3D. */
export type Phase = "Gmain" | "Greg" | "Dmain" | "Dreg";

/** One minibatch: real images in [−1, 1] with their cameras, and generator inputs. */
export interface LossBatch {
  realImg: Tensor;
  realC: Tensor;
  genZ: Tensor;
  genC: Tensor;
}

/** What a phase computed. */
export interface PhaseResult {
  /** Mean loss of the phase (multiply by the gain, differentiate w.r.t. the phase's network). */
  loss: Tensor;
  /** Reported values by the original's names ("Loss/scores/fake", ...). */
  report: Map<string, Tensor>;
}

/** Schedules that depend on training progress. */
export function blurSigma(config: LossConfig, curNimg: number): number {
  if (!(config.blurFadeKimg > 0)) return 0;
  return Math.max(1 - curNimg / (config.blurFadeKimg * 1e3), 0) * config.blurInitSigma;
}

export function swappingProb(config: LossConfig, curNimg: number): number | null {
  if (config.gpcRegProb === null) return null;
  const alpha = config.gpcRegFadeKimg > 0
    ? Math.min(curNimg / (config.gpcRegFadeKimg * 1e3), 1)
    : 1;
  return (1 - alpha) * 1 + alpha * config.gpcRegProb;
}

export function neuralRenderingResolution(config: LossConfig, curNimg: number): number {
  const final = config.neuralRenderingResolutionFinal;
  if (final === null || final === undefined) return config.neuralRenderingResolutionInitial;
  const alpha = Math.min(curNimg / ((config.neuralRenderingResolutionFadeKimg ?? 1000) * 1e3), 1);
  return Math.round(config.neuralRenderingResolutionInitial * (1 - alpha) + final * alpha);
}

export class EG3DLoss {
  constructor(
    readonly G: TriplaneGenerator,
    readonly D: DualDiscriminator,
    readonly config: LossConfig,
  ) {}

  /** c with each sample's camera replaced by its predecessor's (torch.roll by 1) where `swap` ≠ 0. */
  protected swapped(c: Tensor, swap: Tensor): Tensor {
    const n = c.shape[0];
    const rolled = concat([slice(c, [[n - 1, n]]), slice(c, [[0, n - 1]])], 0);
    return where(expand(swap, c.shape), rolled, c);
  }

  /** Generator pass with pose-conditioning swap (`run_G`); `patch` options for Mimic3D. */
  protected runG(
    z: Tensor,
    c: Tensor,
    curNimg: number,
    random: RandomSource,
    updateEmas: boolean,
    patch: { patchScale?: number; runFull?: boolean } = {},
  ) {
    const p = swappingProb(this.config, curNimg);
    const n = c.shape[0];
    const cond = p === null ? mul(c, 0) : this.swapped(c, lt(random.uniform([n, 1], c.device), p));
    const ws = this.G.mapping(z, cond, { updateEmas });
    return this.G.synthesis(ws, c, {
      noiseMode: "random",
      random,
      neuralRenderingResolution: neuralRenderingResolution(this.config, curNimg),
      ...patch,
    });
  }

  /** D on {image, image_raw} with the image blurred (`run_D`). */
  protected runD(image: Tensor, imageRaw: Tensor, c: Tensor, sigma: number): Tensor {
    const blurred = sigma > 0 ? gaussianBlur(image, sigma) : image;
    return this.D.forward(blurred, imageRaw, c).logits;
  }

  /** The real raw image: antialiased downsampling to the rendering resolution, blurred once. */
  realRaw(realImg: Tensor, curNimg: number): Tensor {
    const raw = antialiasedResize(realImg, neuralRenderingResolution(this.config, curNimg));
    const sigma = blurSigma(this.config, curNimg);
    return sigma > 0 ? gaussianBlur(raw, sigma) : raw;
  }

  /** Runs one phase on a batch at training progress `curNimg`, drawing from `random`. */
  run(phase: Phase, batch: LossBatch, curNimg: number, random: RandomSource): PhaseResult {
    const sigma = blurSigma(this.config, curNimg);
    const report = new Map<string, Tensor>();
    const realRaw = () => noGrad(() => this.realRaw(batch.realImg, curNimg));
    switch (phase) {
      case "Gmain": {
        const gen = this.runG(batch.genZ, batch.genC, curNimg, random, false);
        const logits = this.runD(gen.image!, gen.imageRaw!, batch.genC, sigma);
        const loss = softplus(neg(logits));
        report.set("Loss/scores/fake", logits).set("Loss/signs/fake", sign(logits)).set(
          "Loss/G/loss",
          loss,
        );
        return { loss: mean(loss), report };
      }
      case "Greg": {
        const p = swappingProb(this.config, curNimg);
        const { genZ: z, genC: c } = batch;
        const cond = p === null
          ? mul(c, 0)
          : this.swapped(c, expand(lt(random.uniform([], c.device), p), [c.shape[0], 1]));
        const ws = this.G.mapping(z, cond);
        const n = ws.shape[0];
        const initial = sub(mul(random.uniform([n, 1000, 3], c.device), 2), 1);
        const perturbed = add(
          initial,
          mul(random.normal([n, 1000, 3], c.device), this.config.densityRegPDist),
        );
        const points = concat([initial, perturbed], 1);
        random.normal(points.shape, c.device).dispose(); // ray directions: drawn, unused (as the original)
        const sigmaAll = this.G.sampleMixed(points, ws, { noiseMode: "random", random }).sigma;
        const l1 = mean(
          abs(sub(slice(sigmaAll, [null, [0, 1000]]), slice(sigmaAll, [null, [1000, 2000]]))),
        );
        report.set("density_reg_l1", l1);
        return { loss: mul(l1, this.config.densityReg), report };
      }
      case "Dmain": {
        const gen = noGrad(() => this.runG(batch.genZ, batch.genC, curNimg, random, true));
        const fakeLogits = this.runD(detach(gen.image!), detach(gen.imageRaw!), batch.genC, sigma);
        const lossGen = softplus(fakeLogits);
        const realLogits = this.runD(batch.realImg, realRaw(), batch.realC, sigma);
        const lossReal = softplus(neg(realLogits));
        report.set("Loss/scores/fake", fakeLogits).set("Loss/signs/fake", sign(fakeLogits));
        report.set("Loss/scores/real", realLogits).set("Loss/signs/real", sign(realLogits));
        report.set("Loss/D/loss", add(lossGen, lossReal));
        return { loss: add(mean(lossGen), mean(lossReal)), report };
      }
      case "Dreg": {
        // The original's run_D replaces img['image'] by its blurred version in the very dict
        // whose entries R1 then differentiates against: the gradient is taken w.r.t. the
        // *blurred* real image (and the blurred raw image). The loss_step fixture confirms it.
        const image = detach(sigma > 0 ? gaussianBlur(batch.realImg, sigma) : batch.realImg);
        const raw = detach(realRaw());
        image.requiresGrad = true;
        raw.requiresGrad = true;
        const logits = this.runD(image, raw, batch.realC, 0);
        const { penalty } = r1Penalty(logits, [image, raw]);
        const reg = mul(penalty, this.config.r1Gamma / 2);
        report.set("Loss/scores/real", logits).set("Loss/signs/real", sign(logits));
        report.set("Loss/r1_penalty", penalty).set("Loss/D/reg", reg);
        return { loss: mean(reg), report };
      }
    }
  }
}

/** Report entries of EG3D's phases folded into the log. */
export const EG3D_REPORTED: Record<string, [string, string][]> = {
  Gmain: [["scores_fake", "Loss/scores/fake"]],
  Greg: [["density_l1", "density_reg_l1"]],
  Dmain: [["scores_real", "Loss/scores/real"], ["scores_fake", "Loss/scores/fake"]],
  Dreg: [["r1_penalty", "Loss/r1_penalty"]],
};

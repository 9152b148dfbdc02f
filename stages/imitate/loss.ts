/**
 * Mimic3D's objective (its `StyleGAN2Loss`), on top of EG3D's:
 * - Gmain adds, for the 3-D branch's patch, the imitation loss (LPIPS between
 *   the patch and the same crop of the detached SR image; any per-sample
 *   distance can be plugged in) and the patch GAN loss
 *   softplus(−D_patch(blur(patch)))·patch_gan.
 * - D_patchmain: softplus(D_patch(fake patch)) + softplus(−D_patch(real patch)),
 *   real patches = random crops of real images; both blurred with the main σ.
 * - D_patchreg: R1 on the real patch, γ_patch/2 · penalty.
 */
import {
  add,
  concat,
  detach,
  gaussianBlur,
  mean,
  mul,
  neg,
  noGrad,
  type RandomSource,
  sign,
  slice,
  softplus,
  type Tensor,
} from "../../kernels/mod.ts";
import type { SingleDiscriminator } from "../model/discriminator.ts";
import type { DualDiscriminator } from "../model/discriminator.ts";
import type { TriplaneGenerator } from "../model/generator.ts";
import {
  blurSigma,
  EG3DLoss,
  type LossBatch,
  type LossConfig,
  neuralRenderingResolution,
  type Phase,
  type PhaseResult,
} from "../training/eg3d_loss.ts";
import { r1Penalty } from "../training/r1.ts";

/** Mimic3D's phases: EG3D's plus the patch discriminator's. */
export type Mimic3DPhase = Phase | "D_patchmain" | "D_patchreg";

/** Per-sample distance between the 3-D patch and the SR crop ([N] or [N, 1]). */
export type ImitationDistance = (patch3d: Tensor, patch2d: Tensor) => Tensor;

/** The Mimic3D knobs on top of EG3D's. */
export interface Mimic3DLossConfig extends LossConfig {
  /** Virtual full-resolution scale of the patch (0.125 for 512² images). */
  patchScale: number;
  /** Weight of the patch GAN term in G's loss (0.1 at 512). */
  patchGan: number;
  r1GammaPatch: number;
  /** Imitation loss and its weight (none = no imitation term). */
  imitation?: { distance: ImitationDistance; weight: number } | null;
}

export class Mimic3DLoss extends EG3DLoss {
  constructor(
    G: TriplaneGenerator,
    D: DualDiscriminator,
    readonly dPatch: SingleDiscriminator,
    readonly mimic: Mimic3DLossConfig,
  ) {
    super(G, D, mimic);
  }

  /** Random R×R crops of the real images (top, then left, per sample, as the original). */
  private realPatches(realImg: Tensor, r: number, random: RandomSource): Tensor {
    const size = realImg.shape[3];
    const n = realImg.shape[0];
    const v = random.integers(2 * n, size - r + 1);
    return concat(
      Array.from(
        { length: n },
        (_, i) =>
          slice(realImg, [[i, i + 1], null, [v[2 * i], v[2 * i] + r], [
            v[2 * i + 1],
            v[2 * i + 1] + r,
          ]]),
      ),
      0,
    );
  }

  private blur(x: Tensor, sigma: number): Tensor {
    return sigma > 0 ? gaussianBlur(x, sigma) : x;
  }

  override run(
    phase: Mimic3DPhase,
    batch: LossBatch,
    curNimg: number,
    random: RandomSource,
  ): PhaseResult {
    const sigma = blurSigma(this.mimic, curNimg);
    const r = neuralRenderingResolution(this.mimic, curNimg);
    const patchScale = this.mimic.patchScale;
    switch (phase) {
      case "Gmain": {
        const report = new Map<string, Tensor>();
        const gen = this.runG(batch.genZ, batch.genC, curNimg, random, false, { patchScale });
        const logits = this.runD(gen.image!, gen.imageRaw!, batch.genC, sigma);
        const lossMain = softplus(neg(logits));
        report.set("Loss/scores/fake", logits).set("Loss/signs/fake", sign(logits)).set(
          "Loss/G/loss",
          lossMain,
        );
        let loss = mean(lossMain);
        const patch = gen.patch!;
        const imitation = this.mimic.imitation;
        if (imitation && imitation.weight > 0) {
          const d = mul(imitation.distance(patch.imageRaw, patch.image!), imitation.weight);
          report.set("Loss/G/imitation", d);
          loss = add(loss, mean(d));
        }
        if (this.mimic.patchGan > 0) {
          const patchLogits = this.dPatch.forward(this.blur(patch.imageRaw, sigma));
          const lossPatch = mul(softplus(neg(patchLogits)), this.mimic.patchGan);
          report.set("Loss/scores/patch_fake", patchLogits).set(
            "Loss/signs/patch_fake",
            sign(patchLogits),
          );
          report.set("Loss/G/patch", lossPatch);
          loss = add(loss, mean(lossPatch));
        }
        return { loss, report };
      }
      case "Greg": {
        const result = super.run(phase, batch, curNimg, random);
        result.report.set("Loss/G/reg", result.loss);
        return result;
      }
      case "D_patchmain": {
        const report = new Map<string, Tensor>();
        const real = noGrad(() => this.realPatches(batch.realImg, r, random));
        const gen = noGrad(() =>
          this.runG(batch.genZ, batch.genC, curNimg, random, false, { patchScale, runFull: false })
        );
        const fake = this.dPatch.forward(this.blur(detach(gen.patch!.imageRaw), sigma));
        const realLogits = this.dPatch.forward(this.blur(real, sigma));
        const loss = add(softplus(fake), softplus(neg(realLogits)));
        report.set("Loss/scores/patch_fake", fake).set("Loss/signs/patch_fake", sign(fake));
        report.set("Loss/scores/patch_real", realLogits).set(
          "Loss/signs/patch_real",
          sign(realLogits),
        );
        report.set("Loss/D_patch/loss", loss);
        return { loss: mean(loss), report };
      }
      case "D_patchreg": {
        const report = new Map<string, Tensor>();
        // As Dreg: the original differentiates w.r.t. the blurred real patch (in-place dict update).
        const real = detach(
          noGrad(() => this.blur(this.realPatches(batch.realImg, r, random), sigma)),
        );
        real.requiresGrad = true;
        const logits = this.dPatch.forward(real);
        const { penalty } = r1Penalty(logits, [real]);
        const reg = mul(penalty, this.mimic.r1GammaPatch / 2);
        report.set("Loss/patch_r1_penalty", penalty).set("Loss/D_patch/reg", reg);
        return { loss: mean(reg), report };
      }
      default:
        return super.run(phase, batch, curNimg, random);
    }
  }
}

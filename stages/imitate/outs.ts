/**
 * The files of an `imitate` artifact: a trained-model artifact (`TRAINED_OUTS`) with the patch
 * discriminator and the 3-D vs 2-D branch comparison.
 * @module
 */
import { TRAINED_OUTS } from "../io/trained_outs.ts";

/** `imitate`'s outs. */
export const IMITATE_OUTS = {
  ...TRAINED_OUTS,
  /** The 3-D branch's patch discriminator. */
  dPatch: "D_patch.safetensors",
  /** Before/after images of both branches for the gap seeds (when `output.gapSeeds` > 0). */
  branchGap: "branch_gap.png",
} as const;

/** Outs only some configs produce. */
export const IMITATE_OPTIONAL_OUTS = ["branchGap"] as const;

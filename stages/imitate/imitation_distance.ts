/**
 * The imitation term's per-sample distance between the 3-D branch's patch and
 * the same crop of the (detached) SR image, by the name the config uses.
 * "lpips" is LPIPS-VGG with the configured (or pinned, downloaded) weight
 * files, exactly the network the paper uses; "l1" and "l2" are plain pixel distances, named as what they are.
 * @module
 */
import { abs, mean, square, sub, type Tensor } from "../../kernels/mod.ts";
import type { LpipsVgg } from "../model/lpips.ts";
import type { ImitationDistance } from "./loss.ts";
import type { ImitateConfig } from "./config.ts";
import { loadLpipsWeights, lpipsWeightFiles } from "./lpips_weights.ts";

/** The loss names the config accepts. */
export type ImitationLossName = ImitateConfig["imitation"]["loss"];

/** Mean |a − b| per sample over channels and pixels: [N]. */
export function l1Distance(patch3d: Tensor, patch2d: Tensor): Tensor {
  return mean(abs(sub(patch3d, patch2d)), [1, 2, 3]);
}

/** Mean (a − b)² per sample over channels and pixels: [N]. */
export function l2Distance(patch3d: Tensor, patch2d: Tensor): Tensor {
  return mean(square(sub(patch3d, patch2d)), [1, 2, 3]);
}

/** LPIPS(patch3d, patch2d) per sample, the 3-D patch as `in0` as in Mimic3D's loss: [N]. */
export function lpipsDistance(net: LpipsVgg): ImitationDistance {
  return (patch3d, patch2d) => net.forward(patch3d, patch2d).distance;
}

/**
 * The configured distance. LPIPS reads its weight files from the config's paths, or the pinned
 * files (downloaded on first use); "l1" and "l2" read no file and never touch the network.
 */
export async function imitationDistance(
  imitation: ImitateConfig["imitation"],
  weights: Parameters<typeof lpipsWeightFiles>[1] = {},
): Promise<ImitationDistance> {
  switch (imitation.loss) {
    case "l1":
      return l1Distance;
    case "l2":
      return l2Distance;
    case "lpips": {
      const { vgg16, heads } = await lpipsWeightFiles(imitation, weights);
      return lpipsDistance(await loadLpipsWeights(vgg16, heads));
    }
  }
}

/**
 * The imitate stage's LPIPS-VGG weight settings: which files they stand for (`auto` or unset:
 * the pinned downloads; else paths), and how they enter the stage's key — by the files' hashes,
 * only when the loss reads them, never by a path or the cache directory; and the network built
 * from those files.
 * @module
 */
import { type Device, Tensor } from "../../kernels/mod.ts";
import type { ExternalFile } from "../../pipeline/stage.ts";
import { readPth } from "../io/pth.ts";
import { lpipsStateDict, LpipsVgg } from "../model/lpips.ts";
import { LPIPS_VGG, VGG16 } from "../weights/registry.ts";
import {
  AUTO,
  KEYED_WEIGHTS,
  resolveWeights,
  weightsExternalFile,
  type WeightsOptions,
} from "../weights/weights_file.ts";
import type { ImitateConfig } from "./config.ts";

type Imitation = ImitateConfig["imitation"];

/** The two settings, their config keys and the pinned files they default to. */
const SETTINGS = [
  { field: "vgg16Weights", pinned: VGG16 },
  { field: "lpipsWeights", pinned: LPIPS_VGG },
] as const;

/** The files LPIPS reads, for the key: none unless the loss is LPIPS. */
export function lpipsExternalFiles(imitation: Imitation): ExternalFile[] {
  if (imitation.loss !== "lpips") return [];
  return SETTINGS.map(({ field, pinned }) => weightsExternalFile(imitation[field] ?? AUTO, pinned));
}

/**
 * The imitate config as it enters the key: the weight settings become one marker (their files
 * enter by hash) and unused ones nothing, so a path, a cache directory, or a weights setting
 * next to an `l1` loss changes no key.
 */
export function imitateKeyConfig(c: ImitateConfig): unknown {
  const { weightsCache: _where, ...imitation } = c.imitation;
  const used = imitation.loss === "lpips" ? KEYED_WEIGHTS : null;
  return { ...c, imitation: { ...imitation, vgg16Weights: used, lpipsWeights: used } };
}

/** Local paths of VGG16's and LPIPS's weight files, downloading pinned ones on first use. */
export async function lpipsWeightFiles(
  imitation: Imitation,
  options: Omit<WeightsOptions, "cacheDir" | "configKey"> = {},
): Promise<{ vgg16: string; heads: string }> {
  const resolve = ({ field, pinned }: (typeof SETTINGS)[number]) =>
    resolveWeights(imitation[field] ?? AUTO, pinned, {
      ...options,
      cacheDir: imitation.weightsCache,
      configKey: `imitate.imitation.${field}`,
    });
  // One after the other: two downloads at once would share one connection's bandwidth anyway.
  const vgg16 = await resolve(SETTINGS[0]);
  const heads = await resolve(SETTINGS[1]);
  return { vgg16, heads };
}

/**
 * Builds LPIPS-VGG from its two weight files (paths, e.g. resolved by
 * `stages/weights/`): torchvision's
 * ImageNet VGG16 (`vgg16-397923af.pth`) and LPIPS v0.1's heads
 * (`lpips/weights/v0.1/vgg.pth`).
 */
export async function loadLpipsWeights(
  vgg16Path: string,
  headsPath: string,
  device: Device = "gpu",
): Promise<LpipsVgg> {
  const state = lpipsStateDict(await readPth(vgg16Path), await readPth(headsPath));
  const net = new LpipsVgg(device);
  const tensors = new Map(
    [...state].map(([k, t]) => [k, Tensor.fromData(t.data, t.shape, device)]),
  );
  try {
    // The scaling-layer constants are not in either file; they stay as constructed.
    net.loadStateDict(tensors, { strict: false });
    const missing = [...net.stateDict().keys()].filter((k) =>
      !k.startsWith("scaling_layer.") && !tensors.has(k)
    );
    if (missing.length) throw new Error(`LPIPS weights lack ${missing.join(", ")}`);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  return net;
}

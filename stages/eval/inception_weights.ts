/**
 * The eval section's FID weights setting, shared by `reference-stats` and `eval`: its schema, how
 * it enters their keys (by the file's hash: the pinned one for `auto`, the content hash for a
 * path; never the path or the cache directory) and the local file it stands for.
 * @module
 */
import { z } from "zod";
import { FID_INCEPTION } from "../weights/registry.ts";
import {
  KEYED_WEIGHTS,
  resolveWeights,
  weightsExternalFile,
  type WeightsOptions,
} from "../weights/weights_file.ts";

/**
 * The eval section's FID weights settings: `inceptionWeights` is empty (FID/KID unavailable),
 * `auto` (the pinned file, downloaded on first use into `weightsCache` or the user cache) or
 * a path; keys hold the file's hash, never the path or the cache directory.
 */
export const inceptionWeightsSchema = {
  inceptionWeights: z.string().default(""),
  /** Cache directory of downloaded weights (empty: MIMIC3D_CACHE, XDG_CACHE_HOME, ~/.cache). */
  weightsCache: z.string().default(""),
};

/** The Inception setting as the stage keys see it: external file, then config marker. */
export const inceptionKeying = {
  externalFiles: (c: { inceptionWeights: string }) =>
    c.inceptionWeights ? [weightsExternalFile(c.inceptionWeights, FID_INCEPTION)] : [],
  keyConfig: <C extends { inceptionWeights: string; weightsCache: string }>(c: C) => {
    const { weightsCache: _where, ...rest } = c;
    return { ...rest, inceptionWeights: c.inceptionWeights ? KEYED_WEIGHTS : "" };
  },
};

/** The local Inception weight file of a non-empty setting (downloads `auto` on first use). */
export function inceptionWeightsFile(
  c: { inceptionWeights: string; weightsCache: string },
  ctx: { hashFile(path: string): Promise<string>; log(message: string): void },
  options: Pick<WeightsOptions, "mirror" | "idleTimeoutMs" | "interactive"> = {},
): Promise<string> {
  return resolveWeights(c.inceptionWeights, FID_INCEPTION, {
    ...options,
    cacheDir: c.weightsCache,
    configKey: "eval.inceptionWeights",
    hashFile: (path) => ctx.hashFile(path),
    log: (line) => ctx.log(line),
  });
}

/**
 * Where downloaded weights are kept: a per-user cache directory, as torchvision and pytorch-fid
 * do (`~/.cache/torch`), so every checkout and every store of one user shares one copy.
 * @module
 */
import { join } from "node:path";

/** Reads an environment variable (injectable for tests). */
export type EnvReader = (name: string) => string | undefined;

const processEnv: EnvReader = (name) => Deno.env.get(name);

/**
 * The weights cache directory, first match wins: `configured` (the config's `weightsCache`),
 * `$MIMIC3D_CACHE/weights`, `$XDG_CACHE_HOME/mimic3d-ts/weights`, `~/.cache/mimic3d-ts/weights`.
 */
export function weightsCacheDir(configured = "", env: EnvReader = processEnv): string {
  if (configured) return configured;
  const own = env("MIMIC3D_CACHE");
  if (own) return join(own, "weights");
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "mimic3d-ts", "weights");
  const home = env("HOME") || env("USERPROFILE");
  if (!home) {
    throw new Error(
      "no cache directory for downloaded weights: set MIMIC3D_CACHE or XDG_CACHE_HOME " +
        "(or HOME), or give the weight files' paths explicitly",
    );
  }
  return join(home, ".cache", "mimic3d-ts", "weights");
}

/**
 * `weights`: where each pinned file is cached and whether the copy there is good; `weights fetch
 * [name...]` downloads them ahead of a run (e.g. on a login node with network access, for compute
 * nodes without: point MIMIC3D_CACHE, or the config's `weightsCache`, at a shared directory).
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { sha256File } from "../../pipeline/file_hash.ts";
import { matchesPin, PINNED_WEIGHTS, type PinnedWeights } from "./registry.ts";
import { cachedWeightsPath, ensurePinnedWeights } from "./weights_file.ts";

// deno-lint-ignore no-explicit-any
type AnyCommand = Command<any, any, any>;

/** Adds `weights` and `weights fetch` (`registry`: injectable for tests). */
export function registerWeightsCommands(
  program: AnyCommand,
  registry: Readonly<Record<string, PinnedWeights>> = PINNED_WEIGHTS,
): void {
  const pick = (names: string[]) => {
    const unknown = names.filter((n) => !(n in registry));
    if (unknown.length) {
      throw new Error(
        `unknown weights ${unknown.join(", ")} (known: ${Object.keys(registry).join(", ")})`,
      );
    }
    return names.length ? names : Object.keys(registry);
  };
  const weights = program.command("weights")
    .description("list the pretrained weight files (pinned URL and sha256, cache path, state)")
    .option("--cache <dir>", "cache directory (default: MIMIC3D_CACHE, XDG_CACHE_HOME, ~/.cache)")
    .action(async (opts) => {
      for (const name of pick([])) {
        const pinned = registry[name];
        const path = cachedWeightsPath(pinned, { cacheDir: opts.cache });
        const state = await cacheState(path, pinned);
        const prefix = pinned.sha256.length < 64 ? "… (published prefix)" : "";
        console.log(
          `${name}: ${state} ${path}\n  ${pinned.url}\n  sha256 ${pinned.sha256}${prefix}`,
        );
      }
    });
  weights.command("fetch")
    .description("download pinned weight files into the cache now (default: all)")
    .argument("[names...]", `any of ${Object.keys(registry).join(", ")}`)
    .action(async (names, _opts, command) => {
      // `--cache` belongs to `weights`; commander hands it to the parent wherever it is written.
      const { cache } = command.optsWithGlobals() as { cache?: string };
      for (const name of pick(names)) {
        const path = await ensurePinnedWeights(registry[name], { cacheDir: cache });
        console.log(`${name}: ${path}`);
      }
    });
}

async function cacheState(path: string, pinned: PinnedWeights): Promise<string> {
  try {
    return matchesPin(await sha256File(path), pinned) ? "cached" : "damaged (fetch replaces it)";
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "not downloaded";
    throw err;
  }
}

/**
 * A weights setting of the config and the file it stands for. The value is an explicit path
 * (read as given: works offline) or `auto`: the pinned canonical file, downloaded on first use
 * into the user's cache (`cache_dir.ts`) and checked against its pinned sha256 on every use.
 *
 * Cache keys hold the weights' identity, never a path: an explicit file enters by its content
 * hash (read when the key is computed), `auto` by its pinned hash (nothing is fetched to compute
 * a key, so `status` stays offline), and the cache directory not at all.
 * @module
 */
import { dirname, join } from "node:path";
import type { ExternalFile } from "../../pipeline/stage.ts";
import { sha256File } from "../../pipeline/file_hash.ts";
import { type EnvReader, weightsCacheDir } from "./cache_dir.ts";
import { downloadProgress } from "./download_progress.ts";
import { matchesPin, type PinnedWeights } from "./registry.ts";
import { downloadVerified } from "./verified_download.ts";

/** The setting that asks for the pinned file, downloaded on first use. */
export const AUTO = "auto";

/** Idle seconds after which a download counts as stalled, unless MIMIC3D_DOWNLOAD_TIMEOUT says. */
const DEFAULT_IDLE_S = 60;

/** How `auto` files are found and fetched; every field has a default from the environment. */
export interface WeightsOptions {
  /** The cache directory (the config's `weightsCache`; empty: MIMIC3D_CACHE, XDG, ~/.cache). */
  cacheDir?: string;
  /** Base URL serving the files by name (default: MIMIC3D_WEIGHTS_URL, else the canonical URL). */
  mirror?: string;
  /** Idle time that makes a download fail (default: MIMIC3D_DOWNLOAD_TIMEOUT s, else 60 s). */
  idleTimeoutMs?: number;
  /** The config key of this setting, named in errors (e.g. `eval.inceptionWeights`). */
  configKey?: string;
  /** sha256 of a file (the pipeline's cached `ctx.hashFile` in a stage). */
  hashFile?: (path: string) => Promise<string>;
  /** One line to the user (default: stderr). */
  log?: (line: string) => void;
  /** Draw a progress bar (default: stderr is a terminal). */
  interactive?: boolean;
  env?: EnvReader;
}

/** Whether a setting asks for the pinned download (`auto`) rather than a path. */
export function isAuto(value: string): boolean {
  return value === AUTO;
}

/** The key's view of a non-empty setting: a path, or the pinned file by its hash. */
export function weightsExternalFile(value: string, pinned: PinnedWeights): ExternalFile {
  return isAuto(value) ? { name: `${AUTO}:${pinned.fileName}`, sha256: pinned.sha256 } : value;
}

/**
 * A non-empty setting as it enters a stage's key config: the same marker for `auto` and any
 * path, since the file's identity enters through `weightsExternalFile` (its hash), not its name.
 */
export const KEYED_WEIGHTS = "file";

/** Where `auto` keeps the pinned file. */
export function cachedWeightsPath(pinned: PinnedWeights, options: WeightsOptions = {}): string {
  return join(weightsCacheDir(options.cacheDir, options.env), pinned.fileName);
}

/** The local file a non-empty setting stands for, downloading the pinned file when needed. */
export function resolveWeights(
  value: string,
  pinned: PinnedWeights,
  options: WeightsOptions = {},
): Promise<string> {
  return isAuto(value) ? ensurePinnedWeights(pinned, options) : Promise.resolve(value);
}

/**
 * The pinned file in the cache, verified; downloaded first when absent. A cached copy whose hash
 * is not the pinned one (damaged, truncated by hand) is reported, removed and fetched again.
 */
export async function ensurePinnedWeights(
  pinned: PinnedWeights,
  options: WeightsOptions = {},
): Promise<string> {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const log = options.log ?? ((line: string) => console.error(line));
  const hashFile = options.hashFile ?? sha256File;
  const target = cachedWeightsPath(pinned, { ...options, env });
  const cached = await hashIfPresent(target, hashFile);
  if (cached !== null) {
    if (matchesPin(cached, pinned)) return target;
    log(
      `${target}: sha256 ${cached} is not the pinned ${pinned.sha256} (a damaged copy): ` +
        `removing it and downloading ${pinned.fileName} again`,
    );
    await Deno.remove(target);
  }
  const mirror = options.mirror ?? env("MIMIC3D_WEIGHTS_URL") ?? "";
  const url = mirror ? `${mirror.replace(/\/+$/, "")}/${pinned.fileName}` : pinned.url;
  const idleTimeoutMs = options.idleTimeoutMs ?? idleFromEnv(env);
  try {
    await Deno.mkdir(dirname(target), { recursive: true });
    log(`downloading ${pinned.description} from ${url} to ${target}`);
    await downloadVerified({
      url,
      target,
      accept: (sha256) => matchesPin(sha256, pinned),
      idleTimeoutMs,
      progress: downloadProgress(pinned.fileName, {
        interactive: options.interactive ?? Deno.stderr.isTerminal(),
        line: log,
      }),
    });
  } catch (err) {
    const explicit = options.configKey ? `${options.configKey}=/path/to/${pinned.fileName}` : "";
    throw new Error(
      `cannot download ${pinned.description} from ${url}: ${(err as Error).message}; ` +
        `expected sha256 ${pinned.sha256}${
          pinned.sha256.length < 64 ? "… (its published prefix)" : ""
        }. ` +
        `Fetch it by hand and save it as ${target}, or give the path of a copy ` +
        `explicitly${explicit ? ` (${explicit})` : ""}, which works offline`,
    );
  }
  return target;
}

async function hashIfPresent(
  file: string,
  hashFile: (path: string) => Promise<string>,
): Promise<string | null> {
  try {
    return await hashFile(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

function idleFromEnv(env: EnvReader): number {
  const text = env("MIMIC3D_DOWNLOAD_TIMEOUT");
  if (!text) return DEFAULT_IDLE_S * 1000;
  const seconds = Number(text);
  if (!(seconds > 0)) {
    throw new Error(`MIMIC3D_DOWNLOAD_TIMEOUT is "${text}": give the idle timeout in seconds`);
  }
  return seconds * 1000;
}

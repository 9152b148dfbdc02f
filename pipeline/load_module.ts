/** Finds and imports experiment and table modules named on the command line. */
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Experiment } from "./experiment.ts";

const EXPERIMENTS_DIR = new URL("../experiments/", import.meta.url);

/** A path to a module, or the name of one in `experiments/` ("toy" → experiments/toy.ts). */
export async function resolveModulePath(ref: string): Promise<string> {
  const looksLikePath = ref.endsWith(".ts") || ref.includes("/") || ref.includes(path.sep);
  const candidate = looksLikePath
    ? path.resolve(ref)
    : path.join(fileURLToPath(EXPERIMENTS_DIR), `${ref}.ts`);
  try {
    await Deno.stat(candidate);
  } catch {
    throw new Error(
      looksLikePath
        ? `no module at ${candidate}`
        : `no experiment "${ref}" (looked for ${candidate})`,
    );
  }
  return candidate;
}

async function importDefault(ref: string): Promise<{ file: string; value: unknown }> {
  const file = await resolveModulePath(ref);
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    throw new Error(`cannot load ${file}: ${oneLine(err)}`);
  }
  return { file, value: mod.default };
}

/**
 * A module-load error as one line: Deno's syntax and resolution errors put a code frame and an
 * `at file:line:col` line (with terminal colours) into the message; keep the first line and
 * the location.
 */
function oneLine(err: unknown): string {
  // deno-lint-ignore no-control-regex
  const text = (err instanceof Error ? err.message : String(err)).replace(/\x1b\[[0-9;]*m/g, "");
  const lines = text.split("\n").map((line) => line.trim()).filter(Boolean);
  const at = lines.slice(1).find((line) => /^at \S+:\d+:\d+$/.test(line));
  return at ? `${lines[0]} (${at})` : (lines[0] ?? "");
}

/** Loads an experiment module (its default export must come from `defineExperiment`). */
export async function loadExperiment(ref: string): Promise<Experiment> {
  const { file, value } = await importDefault(ref);
  const candidate = value as Partial<Experiment> | undefined;
  if (!candidate || typeof candidate !== "object" || !candidate.dag || !candidate.order) {
    throw new Error(`${file} has no default export made with defineExperiment(...)`);
  }
  return candidate as Experiment;
}

/** Loads a module's default export, checking it with `isValid`. */
export async function loadDefault<T>(
  ref: string,
  what: string,
  isValid: (v: unknown) => boolean,
): Promise<T> {
  const { file, value } = await importDefault(ref);
  if (!isValid(value)) throw new Error(`${file} has no default export made with ${what}`);
  return value as T;
}

/**
 * Stage keys: sha256 of the canonical JSON of everything that determines a stage's output —
 * stage name, code version (hashes of its source files), parsed config subset, input artifact
 * ids, seed and the content of external files it reads. Same key → the cached artifact is reused.
 */
import * as path from "node:path";
import { fromFileUrl } from "./paths.ts";
import { hashJson } from "./canonical_json.ts";
import { clearImportClosures, importClosure } from "./import_closure.ts";
import { describeIssue } from "./config_overrides.ts";
import { type DagNode, selectConfig } from "./experiment.ts";
import type { SourceRef, Stage } from "./stage.ts";
import type { FileHashCache } from "./file_hash.ts";

/** The recorded ingredients of a key, kept so `status` can say what changed. */
export interface KeyInputs {
  stage: string;
  /**
   * Code version: a hand-set salt, and the stage module's import closure: module (relative to
   * the project root) → sha256, and "npm:package" → the locked version.
   */
  version: { salt: string | null; sources: Record<string, string> };
  /** The stage's parsed config subset (what it runs with). */
  config: unknown;
  /** What of `config` enters the key, when the stage narrows it (`keyConfig`); else `config`. */
  keyConfig?: unknown;
  /** Stage input name → artifact id. */
  inputs: Record<string, string>;
  seed: number | null;
  /**
   * External file path (or pinned file name) → sha256 (only the hashes enter the key, so moving
   * a file is free).
   */
  external: Record<string, string>;
  /** Ranks of a data-parallel stage run on several; absent for one process (keys unchanged). */
  worldSize?: number;
}

/** The key of a node given its ingredients. */
export function keyOf(inputs: KeyInputs): string {
  return hashJson({
    stage: inputs.stage,
    version: inputs.version,
    config: "keyConfig" in inputs ? inputs.keyConfig : inputs.config,
    inputs: inputs.inputs,
    seed: inputs.seed,
    external: Object.values(inputs.external),
    ...(inputs.worldSize !== undefined ? { worldSize: inputs.worldSize } : {}),
  });
}

/** Local path of a stage source reference. */
export function sourcePath(ref: SourceRef): string {
  const text = ref instanceof URL ? ref.href : ref;
  if (text.startsWith("file:")) return fromFileUrl(text);
  if (/^[a-z]+:\/\//i.test(text)) throw new Error(`stage source ${text} is not a local file`);
  return path.resolve(text);
}

/** A stage's code version: the import closure of its source modules (read once per process). */
export async function stageVersion(
  stage: Pick<Stage, "name" | "sources" | "version">,
): Promise<KeyInputs["version"]> {
  let closure;
  try {
    closure = await importClosure(stage.sources.map(sourcePath));
  } catch (e) {
    throw new Error(`stage "${stage.name}": ${e instanceof Error ? e.message : e}`);
  }
  return { salt: stage.version ?? null, sources: { ...closure.files, ...closure.packages } };
}

/** Forgets read modules (tests that edit a stage's source within one process). */
export function clearSourceHashes(): void {
  clearImportClosures();
}

/** Parses a node's config subset with its stage's schema; errors name the full key path. */
export function nodeConfig(
  name: string,
  dagNode: DagNode,
  config: Record<string, unknown>,
): unknown {
  const raw = selectConfig(dagNode.config, config);
  const parsed = dagNode.stage.config.safeParse(raw ?? {});
  if (!parsed.success) {
    const prefix = typeof dagNode.config === "string" ? dagNode.config : "";
    throw new Error(`stage "${name}": ${describeIssue(parsed.error, prefix)}`);
  }
  return parsed.data;
}

/** Everything `keyOf` needs for one node, given its upstream artifact ids. */
export async function keyInputsFor(
  dagNode: DagNode,
  parsedConfig: unknown,
  upstream: Record<string, string>,
  seed: number,
  hashCache: FileHashCache,
  worldSize = 1,
): Promise<KeyInputs> {
  const stage = dagNode.stage;
  const external: Record<string, string> = {};
  for (const file of stage.externalFiles?.(parsedConfig as never) ?? []) {
    if (typeof file !== "string") {
      external[file.name] = file.sha256;
      continue;
    }
    try {
      external[path.resolve(file)] = await hashCache.hash(file);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        throw new Error(`stage "${stage.name}": input file ${file} does not exist`);
      }
      throw err;
    }
  }
  const inputs: Record<string, string> = {};
  for (const [input, from] of Object.entries(dagNode.inputs)) inputs[input] = upstream[from];
  return {
    stage: stage.name,
    version: await stageVersion(stage),
    config: parsedConfig,
    ...(stage.keyConfig ? { keyConfig: stage.keyConfig(parsedConfig as never) } : {}),
    inputs,
    seed: stage.seeded ? seed : null,
    external,
    ...(stage.dataParallel && worldSize > 1 ? { worldSize } : {}),
  };
}

/** The experiment seed: the config's top-level `seed` if it has one, else 0. */
export function experimentSeed(config: Record<string, unknown>): number {
  return typeof config.seed === "number" ? config.seed : 0;
}

/**
 * Refs: the last run of every node of an experiment (`refs/<experiment>/<node>.json`), with the
 * key's ingredients, so `status` can say *why* a node is stale: which config key, input, seed,
 * external file or source file changed since.
 */
import { readJsonOrNull, writeJsonAtomic } from "./atomic_fs.ts";
import { canonicalJson } from "./canonical_json.ts";
import type { KeyInputs } from "./stage_key.ts";
import type { Store } from "./store.ts";

/** What the last run of a node did. */
export interface NodeRef {
  node: string;
  key: string;
  keyInputs: KeyInputs;
  /** Dotted config path the node reads (to name changed keys as the user writes them). */
  configPath: string | null;
  artifact: string | null;
  outcome: "done" | "failed" | "interrupted";
  error?: string;
  runId: string;
  at: string;
}

function refFile(store: Store, experiment: string, node: string) {
  return store.at("refs", experiment, `${node}.json`);
}

/** Reads a node's last-run record. */
export function readRef(store: Store, experiment: string, node: string): Promise<NodeRef | null> {
  return readJsonOrNull<NodeRef>(refFile(store, experiment, node));
}

/** Records a node's run outcome. */
export function writeRef(store: Store, experiment: string, ref: NodeRef): Promise<void> {
  return writeJsonAtomic(refFile(store, experiment, ref.node), ref);
}

function flatten(value: unknown, prefix: string, out: Map<string, string>) {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && prefix) out.set(prefix, "{}");
    for (const [k, v] of entries) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.set(prefix, canonicalJson(value));
  }
}

function short(text: string | undefined) {
  if (text === undefined) return "(unset)";
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/**
 * Human reasons why `current` differs from the last run's key inputs, most specific first:
 * e.g. `config train.lr changed: 0.002 → 0.001`, `code changed: stages/train.ts`.
 * `inputNodes` maps input names to upstream node names for readable input reasons.
 */
export function explainChange(
  previous: NodeRef,
  current: KeyInputs,
  configPath: string | null,
  inputNodes: Record<string, string>,
): string[] {
  const reasons: string[] = [];
  const before = previous.keyInputs;
  if (before.stage !== current.stage) {
    reasons.push(`stage changed: ${before.stage} → ${current.stage}`);
  }
  const oldConfig = new Map<string, string>();
  const newConfig = new Map<string, string>();
  // What entered the key: a path left out of it (`keyConfig`) is no reason to rerun.
  const keyed = (k: KeyInputs) => "keyConfig" in k ? k.keyConfig : k.config;
  flatten(keyed(before), configPath ?? "", oldConfig);
  flatten(keyed(current), configPath ?? "", newConfig);
  for (const key of new Set([...oldConfig.keys(), ...newConfig.keys()])) {
    if (oldConfig.get(key) !== newConfig.get(key)) {
      reasons.push(
        `config ${key} changed: ${short(oldConfig.get(key))} → ${short(newConfig.get(key))}`,
      );
    }
  }
  if (before.seed !== current.seed) reasons.push(`seed changed: ${before.seed} → ${current.seed}`);
  if ((before.worldSize ?? 1) !== (current.worldSize ?? 1)) {
    reasons.push(`ranks changed: ${before.worldSize ?? 1} → ${current.worldSize ?? 1}`);
  }
  for (const [name, id] of Object.entries(current.inputs)) {
    if (before.inputs[name] !== id) {
      reasons.push(`input ${name} (from ${inputNodes[name] ?? name}) changed`);
    }
  }
  const oldExternal = Object.entries(before.external ?? {});
  const newExternal = Object.entries(current.external);
  if (
    canonicalJson(oldExternal.map(([, h]) => h)) !== canonicalJson(newExternal.map(([, h]) => h))
  ) {
    const changed = newExternal.filter(([file, hash]) => before.external?.[file] !== hash).map((
      [f],
    ) => f);
    reasons.push(`input file changed: ${changed.join(", ") || "(files removed)"}`);
  }
  const files = new Set([
    ...Object.keys(before.version.sources),
    ...Object.keys(current.version.sources),
  ]);
  const editedFiles = [...files].filter((f) =>
    before.version.sources[f] !== current.version.sources[f]
  );
  if (editedFiles.length) reasons.push(`code changed: ${editedFiles.join(", ")}`);
  if (before.version.salt !== current.version.salt) {
    reasons.push(`version changed: ${before.version.salt} → ${current.version.salt}`);
  }
  return reasons;
}

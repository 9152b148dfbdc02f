/**
 * `status`: each node of an experiment as cached / stale / missing / running / failed /
 * corrupted, and for stale nodes the reasons (config key, input, seed, file, code) from refs.
 * A cached artifact's files are checked against their content hashes (through the store's
 * file-hash cache, so only files whose stat changed are reread).
 */
import type { Experiment } from "./experiment.ts";
import { configFor, type RunOptions } from "./runner.ts";
import { experimentSeed, keyInputsFor, keyOf, nodeConfig } from "./stage_key.ts";
import { liveLockOwner } from "./key_lock.ts";
import { explainChange, readRef } from "./node_refs.ts";
import type { Store } from "./store.ts";

/** The state of one node. */
export type NodeState = "cached" | "stale" | "missing" | "running" | "failed" | "corrupted";

/** One row of `status`. */
export interface NodeStatus {
  node: string;
  state: NodeState;
  /** The key it would run with, when computable (all inputs cached). */
  key: string | null;
  artifact: string | null;
  /** Why: the changes since the last run, the failure, the lock holder... */
  reasons: string[];
  inputs: string[];
}

/** Computes the status of every node without running anything. */
export async function experimentStatus(
  experiment: Experiment,
  store: Store,
  options: Pick<RunOptions, "preset" | "sets" | "values"> & {
    /** Evaluate keys as a run on this many ranks would (`run --gpus N`). */
    worldSize?: number;
  } = {},
): Promise<NodeStatus[]> {
  const config = configFor(experiment, options);
  const seed = experimentSeed(config);
  const artifacts: Record<string, string> = {};
  const rows: NodeStatus[] = [];
  const hashCache = await store.hashCache();
  for (const name of experiment.order) {
    const dagNode = experiment.dag[name];
    const inputs = Object.values(dagNode.inputs);
    const ref = await readRef(store, experiment.name, name);
    const unresolved = inputs.filter((up) => !(up in artifacts));
    if (unresolved.length > 0) {
      const reasons = unresolved.map((up) => `input from ${up} is not up to date`);
      rows.push({
        node: name,
        state: ref ? "stale" : "missing",
        key: null,
        artifact: null,
        reasons,
        inputs,
      });
      continue;
    }
    const parsed = nodeConfig(name, dagNode, config);
    const keyInputs = await keyInputsFor(
      dagNode,
      parsed,
      artifacts,
      seed,
      hashCache,
      options.worldSize,
    );
    const key = keyOf(keyInputs);
    const row: NodeStatus = {
      node: name,
      state: "missing",
      key,
      artifact: null,
      reasons: [],
      inputs,
    };
    rows.push(row);
    const record = await store.readKeyRecord(key);
    if (record && await store.hasObject(record.artifact)) {
      row.artifact = record.artifact;
      try {
        await store.check(record.artifact, "cached");
        row.state = "cached";
        artifacts[name] = record.artifact;
      } catch (err) {
        row.state = "corrupted";
        row.reasons.push((err as Error).message);
      }
      continue;
    }
    const owner = await liveLockOwner(store.at("locks", `${key}.lock`));
    if (owner) {
      row.state = "running";
      row.reasons.push(`pid ${owner.pid} on ${owner.host} since ${owner.lockedAt}`);
    } else if (ref && ref.key === key && ref.outcome !== "done") {
      row.state = "failed";
      row.reasons.push(ref.error ?? ref.outcome);
    } else if (ref) {
      row.state = "stale";
      const configPath = typeof dagNode.config === "string" ? dagNode.config : null;
      row.reasons.push(...explainChange(ref, keyInputs, configPath, dagNode.inputs));
      if (row.reasons.length === 0) row.reasons.push("its artifact was removed (gc or repair)");
    }
  }
  await store.flush(); // hashes learned here spare the next command rereading the files
  return rows;
}

/** Renders status rows as an indented DAG listing. */
export function formatStatus(experiment: Experiment, rows: NodeStatus[]): string {
  const width = Math.max(...rows.map((r) => r.node.length));
  const lines = [`experiment ${experiment.name}`];
  for (const row of rows) {
    const from = row.inputs.length ? `  ← ${[...new Set(row.inputs)].join(", ")}` : "";
    const id = row.artifact ? ` ${row.artifact.slice(0, 12)}` : "";
    lines.push(`  ${row.node.padEnd(width)}  ${row.state.padEnd(9)}${id}${from}`);
    for (const reason of row.reasons) lines.push(`  ${" ".repeat(width)}    - ${reason}`);
  }
  return lines.join("\n");
}

/**
 * Experiments: a config schema plus the DAG of stage nodes it runs, declared in one object so
 * an experiment file shows deps, params and outs on one screen.
 * @module
 */
import type { z } from "zod";
import type { Stage } from "./stage.ts";

/** Where a node's config subset comes from: a dotted path into the experiment config, or a picker. */
export type ConfigSelector = string | ((config: Record<string, unknown>) => unknown);

/** One node of the DAG: a stage, where its config comes from, and which nodes feed its inputs. */
export interface DagNode {
  /** The stage this node runs. */
  stage: Stage;
  /** Dotted path of the config section the stage reads ("train"), a picker, or undefined = all. */
  config?: ConfigSelector;
  /** Stage input name → name of the upstream node whose artifact feeds it. */
  inputs: Record<string, string>;
}

/**
 * Wires a stage into a DAG with type-checked input names.
 *
 * ```ts
 * train: node(trainStage, { config: "train", inputs: { data: "prep" } }),
 * ```
 */
export function node<
  Schema extends z.ZodType,
  InputName extends string,
  Outs extends Record<string, string>,
>(
  stage: Stage<Schema, InputName, Outs>,
  wiring:
    & { config?: ConfigSelector }
    & ([InputName] extends [never] ? { inputs?: never }
      : { inputs: Record<InputName, string> }),
): DagNode {
  return {
    stage: stage as unknown as Stage,
    config: wiring.config,
    inputs: (wiring.inputs ?? {}) as Record<string, string>,
  };
}

/** What an experiment module declares. */
export interface ExperimentSpec<Schema extends z.ZodType> {
  /** Name used for run records and `status` (refs are kept per experiment name). */
  name: string;
  /** The full config schema; use `z.strictObject` so unknown keys are errors. */
  config: Schema;
  /** Named partial configs (`--preset tiny`), applied before `--set` overrides. */
  presets?: Record<string, Record<string, unknown>>;
  /** The DAG: node name → node. Node order is irrelevant; inputs define the edges. */
  dag: Record<string, DagNode>;
}

/** A validated experiment. */
export interface Experiment<Schema extends z.ZodType = z.ZodType> extends ExperimentSpec<Schema> {
  /** Node names in a topological order (inputs before consumers, ties in declaration order). */
  readonly order: readonly string[];
}

/**
 * Defines an experiment; checks that every input names a node, that wiring matches the stages'
 * declared inputs, and that the graph has no cycle.
 */
export function defineExperiment<Schema extends z.ZodType>(
  spec: ExperimentSpec<Schema>,
): Experiment<Schema> {
  for (const [name, dagNode] of Object.entries(spec.dag)) {
    const declared = new Set(dagNode.stage.inputs);
    for (const [input, upstream] of Object.entries(dagNode.inputs)) {
      if (!declared.has(input)) {
        throw new Error(`node "${name}": stage "${dagNode.stage.name}" has no input "${input}"`);
      }
      if (!(upstream in spec.dag)) {
        throw new Error(`node "${name}": input "${input}" names unknown node "${upstream}"`);
      }
    }
    for (const input of declared) {
      if (!(input in dagNode.inputs)) {
        throw new Error(
          `node "${name}": input "${input}" of stage "${dagNode.stage.name}" is not wired`,
        );
      }
    }
  }
  return { ...spec, order: topologicalOrder(spec.dag) };
}

/** Kahn's algorithm, stable in declaration order so runs and listings are reproducible. */
function topologicalOrder(dag: Record<string, DagNode>): string[] {
  const names = Object.keys(dag);
  const order: string[] = [];
  const placed = new Set<string>();
  while (order.length < names.length) {
    const ready = names.find((n) =>
      !placed.has(n) && Object.values(dag[n].inputs).every((up) => placed.has(up))
    );
    if (ready === undefined) {
      const stuck = names.filter((n) => !placed.has(n)).join(", ");
      throw new Error(`the DAG has a cycle among: ${stuck}`);
    }
    order.push(ready);
    placed.add(ready);
  }
  return order;
}

/** The nodes `target` depends on, itself included, in topological order. */
export function ancestorsOf(experiment: Experiment, target: string): string[] {
  if (!(target in experiment.dag)) {
    throw new Error(`unknown stage "${target}"; the DAG has: ${experiment.order.join(", ")}`);
  }
  const needed = new Set<string>();
  const visit = (name: string) => {
    if (needed.has(name)) return;
    needed.add(name);
    for (const up of Object.values(experiment.dag[name].inputs)) visit(up);
  };
  visit(target);
  return experiment.order.filter((n) => needed.has(n));
}

/** Picks a node's raw config subset out of the full experiment config. */
export function selectConfig(
  selector: ConfigSelector | undefined,
  config: Record<string, unknown>,
) {
  if (selector === undefined) return config;
  if (typeof selector === "function") return selector(config);
  let value: unknown = config;
  for (const part of selector.split(".")) {
    value = (value as Record<string, unknown> | undefined)?.[part];
  }
  return value;
}

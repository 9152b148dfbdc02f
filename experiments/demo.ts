/**
 * The `demo` command: the whole Mimic3D DAG (experiments/mimic3d.ts) on the
 * embedded procedural dataset — prep → pretrain → imitate → eval — with the
 * `demo` preset by default (a model trained on a GPU, shipped in
 * experiments/demo/; eval runs here, minutes on a CPU adapter), `tiny` (a few
 * training steps, for tests) or `small` (trains on one GPU). Prints progress,
 * then where the report is and a metrics summary. A second run reuses every
 * cached stage.
 */
import { join } from "node:path";
import { describeGpu, initGpu } from "../kernels/mod.ts";
import { runExperiment, Store } from "../pipeline/mod.ts";
import { defaultStoreRoot } from "../pipeline/paths.ts";
import { withInterrupt } from "../pipeline/cli.ts";
import mimic3d from "./mimic3d.ts";
import { PREP_OUTS } from "../stages/prep/outs.ts";
import { TRAINED_OUTS } from "../stages/io/trained_outs.ts";
import { EVAL_OUTS } from "../stages/eval/outs.ts";

/** What a metric in `metrics.json` looks like (a value, or why it is unavailable). */
interface Metric {
  value?: number;
  /** The value before the imitate stage (3-D vs 2-D branch gap). */
  before?: number;
  unavailable?: string;
}

/** Runs the demo DAG in the default store and prints where its results are. */
export async function runDemo(preset = "demo"): Promise<void> {
  const g = await initGpu();
  console.log(`adapter: ${describeGpu(g)}; experiment mimic3d, preset ${preset}`);
  const store = await Store.open(defaultStoreRoot());
  const t0 = performance.now();
  // Ctrl-C finishes the current training step and checkpoints: a rerun resumes there.
  const result = await withInterrupt((signal) => runExperiment(mimic3d, store, { preset, signal }));
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  const ran = result.executed.length
    ? `ran ${result.executed.join(", ")}`
    : "everything was cached";
  console.log(`done in ${seconds} s (${ran})`);
  const out = (node: string) => join(store.objectDir(result.nodes[node].artifact), "out");
  console.log(`  dataset preview: ${join(out("prep"), PREP_OUTS.preview)}`);
  console.log(`  training samples: ${join(out("imitate"), TRAINED_OUTS.samples)}/`);
  console.log(`  report: ${join(out("eval"), EVAL_OUTS.report)}`);
  const metrics: Record<string, unknown> = JSON.parse(
    await Deno.readTextFile(join(out("eval"), EVAL_OUTS.metrics)),
  );
  console.log("  metrics (the report says what each measures):");
  for (const [name, entry] of Object.entries(metrics)) {
    const m = entry as Metric;
    if (typeof m !== "object" || m === null || !("value" in m || "unavailable" in m)) continue;
    const shown = m.value === undefined
      ? `unavailable: ${m.unavailable?.split(/[:(]/)[0].trim()}`
      : m.before === undefined
      ? m.value.toPrecision(4)
      : `${m.before.toPrecision(4)} before imitation → ${m.value.toPrecision(4)} after`;
    console.log(`    ${name.padEnd(16)} ${shown}`);
  }
  console.log(
    `store: ${store.root} (status: deno task cli status experiments/mimic3d.ts --preset ${preset})`,
  );
}

/**
 * The demo experiment, run by `deno task demo`: the DAG on the embedded
 * default (the procedural head dataset, small enough for a CPU adapter).
 * Stages are added here as they land (pretrain → imitate → eval).
 *
 *   prep
 */
import { join } from "node:path";
import { z } from "zod";
import { initGpu } from "../kernels/mod.ts";
import { defineExperiment, node, runExperiment, Store } from "../pipeline/mod.ts";
import { defaultStoreRoot } from "../pipeline/paths.ts";
import { datasetConfigSchema } from "../stages/prep/dataset_spec.ts";
import { prep } from "../stages/prep/stage.ts";

/** Config: 64 procedural heads at 64² by default. */
export const config = z.strictObject({
  seed: z.number().int().default(0),
  data: datasetConfigSchema.prefault({ count: 64, resolution: 64 }),
});

const demo = defineExperiment({
  name: "demo",
  config,
  dag: { prep: node(prep, { config: "data" }) },
});
export default demo;

/** Runs the demo DAG in the default store and prints where its results are. */
export async function runDemo(): Promise<void> {
  const g = await initGpu();
  console.log(`adapter: ${g.name}${g.isCpu ? " (CPU)" : ""}`);
  const store = await Store.open(defaultStoreRoot());
  const t0 = performance.now();
  const result = await runExperiment(demo, store, { quiet: true });
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  const prepOut = result.nodes.prep;
  const dir = join(store.objectDir(prepOut.artifact), "out");
  const stats = JSON.parse(await Deno.readTextFile(join(dir, "stats.json")));
  console.log(
    `prep: ${prepOut.executed ? "built" : "reused cached"} artifact ${
      prepOut.artifact.slice(0, 12)
    } in ${seconds} s`,
  );
  console.log(
    `  dataset:  ${
      join(dir, "dataset.zip")
    } (${stats.imageCount} images, ${stats.resolution}², yaw ±${
      Math.round(stats.yawDegrees.std)
    }°)`,
  );
  console.log(`  preview:  ${join(dir, "preview.png")}`);
  console.log(`  stats:    ${join(dir, "stats.json")}`);
  console.log(
    `store: ${store.root} (rerun: only changed stages recompute; try 'status experiments/demo.ts')`,
  );
}

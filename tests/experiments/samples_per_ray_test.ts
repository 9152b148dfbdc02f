/**
 * The samples-per-ray ablation: `eval.samplesPerRay=20,50,96` expands to three
 * points that differ only in eval's config (20 = 10 + 10, 50 = 25 + 25,
 * 96 = 48 + 48), so every upstream stage is shared; run on a tiny model,
 * each point is its own eval artifact rendering with its split, and the
 * table shows FID as unavailable with the reason beside Trevithick et al.'s
 * Table 3.
 */
import { join } from "node:path";
import { z } from "zod";
import {
  collectTable,
  defineExperiment,
  gridPoints,
  parseSweepAxes,
  renderTable,
  runSweep,
  Store,
} from "../../pipeline/mod.ts";
import { configFor } from "../../pipeline/runner.ts";
import { nodeConfig } from "../../pipeline/stage_key.ts";
import mimic3d from "../../experiments/mimic3d.ts";
import { SAMPLES_PER_RAY, samplesPerRayTable } from "../../experiments/paper_tables.ts";
import { datasetConfigSchema } from "../../stages/prep/dataset_spec.ts";
import { evalConfigSchema } from "../../stages/eval/stage.ts";
import { splitSamplesPerRay } from "../../stages/eval/samples_per_ray.ts";
import { assertEquals, assertThrows } from "../helpers/assert.ts";
import { setupGpu } from "../helpers/check.ts";
import { tinyEvalDag } from "../eval/tiny_eval_inputs.ts";

await setupGpu();

const SWEEP = [`eval.samplesPerRay=${SAMPLES_PER_RAY.join(",")}`];

Deno.test("samples per ray: the split, and the mimic3d sweep differs only in eval's config", async () => {
  assertEquals(SAMPLES_PER_RAY.map(splitSamplesPerRay), [
    { depthResolution: 10, depthResolutionImportance: 10 },
    { depthResolution: 25, depthResolutionImportance: 25 },
    { depthResolution: 48, depthResolutionImportance: 48 },
  ]);
  await assertThrows(() => splitSamplesPerRay(6), "integer ≥ 8");
  await assertThrows(() => evalConfigSchema.parse({ samplesPerRay: 4 }), "at least 8");

  const points = gridPoints(parseSweepAxes(mimic3d.config, SWEEP));
  assertEquals(points.map((p) => p.sets), [
    ["eval.samplesPerRay=20"],
    ["eval.samplesPerRay=50"],
    ["eval.samplesPerRay=96"],
  ]);
  const configs = points.map((p) => {
    const config = configFor(mimic3d, { preset: "tiny", sets: p.sets });
    return Object.fromEntries(
      mimic3d.order.map((name) => [name, nodeConfig(name, mimic3d.dag[name], config)]),
    );
  });
  // Same config and inputs upstream → same keys: trained (and reference-counted) once.
  for (const name of ["prep", "pretrain", "imitate", "reference"]) {
    assertEquals(configs[1][name], configs[0][name], name);
    assertEquals(configs[2][name], configs[0][name], name);
  }
  assertEquals(
    configs.map((c) => (c.eval as { samplesPerRay: number }).samplesPerRay),
    [20, 50, 96],
  );
});

// The cheapest eval that still renders through both branches (a solid box: depth and
// reprojection have something to measure); no Inception weights, so FID is unavailable.
const experiment = defineExperiment({
  name: "samples-per-ray-test",
  config: z.strictObject({
    seed: z.number().int().default(0),
    data: datasetConfigSchema.prefault({ count: 8, resolution: 32, supersample: 1 }),
    model: z.object({ densityBias: z.number().default(30), gapSeeds: z.number().default(2) })
      .prefault({}),
    eval: evalConfigSchema.prefault({
      samples: 0,
      seeds: [0],
      yawsDeg: [0],
      turntableFrames: 1,
      meshResolution: 8,
      geometryShapes: 1,
      geometryReferences: 1,
      surfacePoints: 64,
      consistencyPairs: 1,
    }),
  }),
  dag: tinyEvalDag,
});

Deno.test("samples per ray: a sweep evaluates one model three times; the table says why FID is absent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-spr-" });
  try {
    const store = await Store.open(join(dir, "store"));
    const points = gridPoints(parseSweepAxes(experiment.config, SWEEP));
    const outcomes = await runSweep(experiment, store, points, { quiet: true });
    const runs = outcomes.map((o) => o.result!);
    const executed = (name: string) => runs.filter((r) => r.nodes[name].executed).length;
    assertEquals(["prep", "model", "reference", "eval"].map(executed), [1, 1, 1, 3]);
    const evals = new Set(runs.map((r) => r.nodes.eval.artifact));
    assertEquals(evals.size, 3);

    for (const [i, run] of runs.entries()) {
      const metrics = JSON.parse(
        await Deno.readTextFile(join(store.filesDir(run.nodes.eval.artifact), "metrics.json")),
      );
      const split = splitSamplesPerRay(SAMPLES_PER_RAY[i]);
      assertEquals(metrics.generator.samplesPerRay, {
        stratified: split.depthResolution,
        importance: split.depthResolutionImportance,
        trained: { stratified: 8, importance: 8 }, // tinyGeneratorConfig's
      });
      assertEquals(Number.isFinite(metrics.reprojection_3d.value), true);
      // The branch gap measured again at this sampling; the imitate stage's value beside it.
      assertEquals(Number.isFinite(metrics.branch_gap_psnr.value), true);
      assertEquals(metrics.branch_gap_psnr.trainedSampling, 12.5);
      assertEquals(
        metrics.branch_gap_psnr.protocol.includes(
          `${split.depthResolution} + ${split.depthResolutionImportance} samples per ray`,
        ),
        true,
        metrics.branch_gap_psnr.protocol,
      );
      assertEquals(/inceptionWeights/.test(metrics.fid_3d.unavailable), true);
    }

    const table = samplesPerRayTable(experiment);
    const data = await collectTable(table, store);
    assertEquals(data.missing, []);
    const md = renderTable(data, "md");
    // The paper's row beside ours; ours says "unavailable" and the footnote says why.
    assertEquals(
      md.includes(
        "| 20 per ray: Mimic3D (FFHQ-512) | Trevithick et al., arXiv:2401.02411, " +
          "Table 3 | 53.57 |",
      ),
      true,
      md,
    );
    const ours = md.split("\n").find((l) => l.startsWith("| 20 per ray: ours (10 + 10) |"));
    assertEquals(
      ours?.includes("| unavailable (a) | unavailable (a) | unavailable (a) |"),
      true,
      md,
    );
    assertEquals(/\n\(a\) unavailable: .*eval\.inceptionWeights/.test(md), true, md);
  } finally {
    await new Deno.Command("chmod", { args: ["-R", "u+w", dir] }).output();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * The eval stage end to end on the CPU adapter: a 16-image 32² procedural
 * dataset, a random-init tiny Mimic3D generator, no Inception weights — it
 * must finish, report FID/KID as unavailable with the reason (never a
 * number), measure geometry and consistency, and write a report that shows
 * or links every output.
 */
import { join } from "node:path";
import { z } from "zod";
import { defineExperiment, runExperiment, Store } from "../../pipeline/mod.ts";
import { datasetConfigSchema } from "../../stages/prep/dataset_spec.ts";
import { evalConfigSchema } from "../../stages/eval/stage.ts";
import { readPly } from "../../stages/geometry/mesh_io.ts";
import { assertEquals } from "../helpers/assert.ts";
import { setupGpu } from "../helpers/check.ts";
import { tinyEvalDag } from "./tiny_eval_inputs.ts";

await setupGpu();

const experiment = defineExperiment({
  name: "eval-test",
  config: z.strictObject({
    seed: z.number().int().default(0),
    data: datasetConfigSchema.prefault({ count: 16, resolution: 32, supersample: 1 }),
    // A solid box (see tinyModel): every geometry and consistency metric has something to measure.
    model: z.object({ kind: z.string().default("mimic3d"), densityBias: z.number().default(30) })
      .prefault({}),
    eval: evalConfigSchema.prefault({}),
  }),
  dag: tinyEvalDag,
});

Deno.test("eval stage: tiny generator on the CPU adapter → metrics, outputs, report", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-eval-" });
  try {
    const store = await Store.open(join(dir, "store"));
    const result = await runExperiment(experiment, store, { quiet: true });
    const out = store.filesDir(result.nodes.eval.artifact);
    const files = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    for (
      const name of [
        "metrics.json",
        "geometry.json",
        "consistency.json",
        "report.html",
        "grid.png",
        "depth_grid.png",
        "turntable.gif",
        "mesh_0.ply",
        "mesh_0.obj",
        "mesh_2.obj",
      ]
    ) {
      assertEquals(files.includes(name), true, `${name} missing from ${files}`);
    }
    const metrics = JSON.parse(await Deno.readTextFile(join(out, "metrics.json")));
    // No weights: FID/KID are unavailable with the reason, never a stand-in number.
    for (const key of ["fid50k_full", "fid_3d", "fid_2d", "kid_3d", "kid_2d"]) {
      assertEquals(metrics[key].value, undefined, key);
      assertEquals(/inceptionWeights/.test(metrics[key].unavailable), true, key);
    }
    // The solid box gives every other metric a finite number.
    for (const key of ["mmd_cd", "cov_cd", "depth_l1", "reprojection_3d", "reprojection_2d"]) {
      const entry = metrics[key];
      assertEquals(Number.isFinite(entry.value), true, `${key}: ${JSON.stringify(entry)}`);
    }
    // The box's front face: a ray from 2.7 units meets it at once (the samples start at 2.25).
    assertEquals(metrics.cov_cd.value > 0 && metrics.cov_cd.value <= 1, true);
    assertEquals(metrics.generator.kind, "mimic3d");
    assertEquals(metrics.rig.pivot, [0, 0, 0]); // the procedural cameras look at the origin
    const mesh = readPly(await Deno.readFile(join(out, "mesh_0.ply")));
    assertEquals(mesh.faces.length > 0, true); // the box's surface

    const html = await Deno.readTextFile(join(out, "report.html"));
    assertEquals((html.match(/src="data:image\/png;base64,/g) ?? []).length, 2);
    assertEquals((html.match(/src="data:image\/gif;base64,/g) ?? []).length, 1);
    for (
      const link of ["grid.png", "depth_grid.png", "turntable.gif", "mesh_0.ply", "mesh_1.obj"]
    ) {
      assertEquals(html.includes(`href="${link}"`), true, link);
    }
    assertEquals(html.includes("<svg"), true); // loss curves from the model's log.jsonl
    assertEquals(html.includes("5.4 (Mimic3D, FFHQ-512)"), true);
    assertEquals(html.includes(result.nodes.model.artifact), true);
    assertEquals(/no FID Inception weights/.test(html), true);

    // Reference stats are their own artifact, reused by a second eval of another model.
    const again = await runExperiment(experiment, store, {
      quiet: true,
      sets: ["seed=1"],
      until: "reference",
    });
    assertEquals(again.nodes.reference.executed, false);
    assertEquals(again.nodes.reference.artifact, result.nodes.reference.artifact);
  } finally {
    await new Deno.Command("chmod", { args: ["-R", "u+w", dir] }).output();
    await Deno.remove(dir, { recursive: true });
  }
});

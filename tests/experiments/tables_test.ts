/**
 * The paper tables rendered from eval metrics (golden files): the Mimic3D
 * comparison shows the published FID50k_full beside ours, a run without a
 * number (not run, or FID unavailable) shows "—", and the ablation table
 * carries no reference column. `UPDATE_GOLDEN=1` rewrites the golden files.
 */
import { join } from "node:path";
import { z } from "zod";
import {
  collectTable,
  defineExperiment,
  defineStage,
  node,
  renderTable,
  runExperiment,
  Store,
  type TableFormat,
} from "../../pipeline/mod.ts";
import {
  ablationTable,
  mimic3dComparisonTable,
  NO_AWARE3D,
} from "../../experiments/paper_tables.ts";
import { assertEquals } from "../helpers/assert.ts";

/** Stands in for eval: metrics.json as the eval stage writes it, numbers fixed per config point. */
const fakeEval = defineStage({
  name: "test-fake-eval",
  sources: [import.meta.url],
  config: z.object({
    dataset: z.string(),
    aware3d: z.boolean(),
    imitation: z.number(),
    weights: z.boolean(),
  }),
  async run(ctx) {
    const c = ctx.config;
    const base = (c.dataset === "ffhq512" ? 6.125 : 4.875) + (c.aware3d ? 0 : 1.5) +
      (c.imitation > 0 ? 0 : 3.25);
    const measured = (value: number) => ({ value, generated: 50000, real: 70000, branch: "3d" });
    const missing = { unavailable: "no FID Inception weights given" };
    const metrics = {
      fid50k_full: c.weights ? measured(base) : missing,
      fid_3d: c.weights ? measured(base) : missing,
      fid_2d: c.weights ? measured(base - 1.75) : missing,
      branch_gap_psnr: { value: c.weights ? 21.25 : 23.5 },
      reprojection_3d: { value: 0.0042 },
      reprojection_2d: { value: 0.0311 },
      mmd_cd: { unavailable: "no ground-truth shapes: the dataset is a user zip" },
    };
    await Deno.writeTextFile(join(ctx.outDir, "metrics.json"), JSON.stringify(metrics));
  },
});

const experiment = defineExperiment({
  name: "paper-tables-test",
  config: z.strictObject({
    seed: z.number().int().default(0),
    dataset: z.enum(["ffhq512", "afhq512"]).default("ffhq512"),
    weights: z.boolean().default(true),
    pretrain: z.strictObject({ aware3d: z.boolean().default(true) }).prefault({}),
    imitate: z.strictObject({ imitationWeight: z.number().default(1) }).prefault({}),
  }),
  // A preset row (the comparison table's `small` run): ours only, no paper number.
  presets: { small: { weights: false } },
  dag: {
    eval: node(fakeEval, {
      config: (c) => ({
        dataset: c.dataset,
        weights: c.weights,
        aware3d: (c.pretrain as { aware3d: boolean }).aware3d,
        imitation: (c.imitate as { imitationWeight: number }).imitationWeight,
      }),
    }),
  },
});

const comparison = mimic3dComparisonTable(
  experiment,
  {
    ffhq512: { dataset: "ffhq512" },
    afhq512: { dataset: "afhq512", weights: false },
  },
  {},
  [{ label: "small run", preset: "small", set: {} }],
);
const ablations = ablationTable(experiment, [
  NO_AWARE3D,
  { label: "no imitation", set: { "imitate.imitationWeight": 0 } },
]);

const GOLDEN = new URL("./golden/", import.meta.url).pathname;

async function assertGolden(name: string, text: string): Promise<void> {
  const file = join(GOLDEN, name);
  if (Deno.env.get("UPDATE_GOLDEN")) await Deno.writeTextFile(file, text);
  assertEquals(text, await Deno.readTextFile(file), `${name} differs from its golden file`);
}

Deno.test("paper tables: Mimic3D comparison and ablations, md and html (golden)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-tables-" });
  try {
    const store = await Store.open(join(dir, "store"));
    // FFHQ measured; AFHQ run without weights (FID unavailable → "—"); one ablation run.
    await runExperiment(experiment, store, { quiet: true });
    await runExperiment(experiment, store, {
      quiet: true,
      values: { dataset: "afhq512", weights: false },
    });
    await runExperiment(experiment, store, { quiet: true, values: { "pretrain.aware3d": false } });
    await runExperiment(experiment, store, { quiet: true, preset: "small" });
    const data = await collectTable(comparison, store);
    assertEquals(data.missing, []);
    for (const format of ["md", "html"] as TableFormat[]) {
      await assertGolden(`mimic3d_table.${format}.golden`, renderTable(data, format));
    }
    const md = renderTable(data, "md");
    assertEquals(md.includes("| FFHQ-512 | 5.4 | 6.1 |"), true, md); // paper beside ours
    assertEquals(md.includes("| AFHQv2-Cats-512 | 4.3 | — |"), true, md);
    // The preset row: its own run's numbers, no paper column value.
    assertEquals(md.includes("| small run | — | — | — | — | 23.50 | 0.0042 |"), true, md);

    const ablation = await collectTable(ablations, store);
    assertEquals(ablation.missing, ["no imitation"]);
    await assertGolden("ablation_table.md.golden", renderTable(ablation, "md"));
  } finally {
    await new Deno.Command("chmod", { args: ["-R", "u+w", dir] }).output();
    await Deno.remove(dir, { recursive: true });
  }
});

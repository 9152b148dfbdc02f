/**
 * Code versions from import closures: a stage's key covers every module its entry reaches and
 * the locked versions of the npm packages they import, and `status` names what changed.
 */
import { join } from "node:path";
import { z } from "zod";
import { defineExperiment, defineStage, experimentStatus, node } from "../../pipeline/mod.ts";
import { runExperiment } from "../../pipeline/runner.ts";
import { clearSourceHashes, stageVersion } from "../../pipeline/stage_key.ts";
import { importClosure, RESULT_NEUTRAL } from "../../pipeline/import_closure.ts";
import { pretrain } from "../../stages/pretrain/stage.ts";
import { assertEquals } from "../helpers/assert.ts";
import { sandbox } from "./helpers.ts";

Deno.test("import closure: the pretrain stage covers tensor_pixels.ts, the kernels and fast-png's locked version", async () => {
  const version = await stageVersion(pretrain);
  const names = Object.keys(version.sources);
  for (
    const file of [
      "stages/pretrain/stage.ts",
      "stages/io/tensor_pixels.ts", // quantises the sample grids: was missing from the hand list
      "kernels/ops/conv.ts",
      "stages/model/renderer.ts",
    ]
  ) {
    assertEquals(names.includes(file), true, `${file} is in pretrain's code version`);
  }
  const lock = JSON.parse(await Deno.readTextFile(new URL("../../deno.lock", import.meta.url)));
  const fastPng = Object.entries(lock.specifiers as Record<string, string>)
    .find(([k]) => k.startsWith("npm:fast-png@"))![1];
  assertEquals(version.sources["npm:fast-png"], fastPng);
  // Result-neutral modules stay out (the progress bar), and so does the pipeline's runner.
  assertEquals(names.includes("pipeline/progress_bar.ts"), false);
  assertEquals(names.includes("pipeline/runner.ts"), false);
  for (const file of Object.keys(RESULT_NEUTRAL)) {
    await Deno.stat(new URL(`../../${file}`, import.meta.url)); // each exclusion names a real module
  }
});

Deno.test("import closure: editing an imported module makes the stage stale and names the module; type-only imports and packages", async () => {
  const box = await sandbox();
  const dir = await Deno.makeTempDir({ prefix: "mimic3d-closure-" });
  try {
    // A project of its own: deno.json maps a bare name to npm, deno.lock pins its version.
    await Deno.writeTextFile(
      join(dir, "deno.json"),
      JSON.stringify({ imports: { png: "npm:fast-png@^8.0.0" } }),
    );
    const lock = (v: string) =>
      Deno.writeTextFile(
        join(dir, "deno.lock"),
        JSON.stringify({ version: "5", specifiers: { "npm:fast-png@8": v } }),
      );
    await lock("8.0.0");
    await Deno.writeTextFile(
      join(dir, "entry.ts"),
      [
        'import { scale } from "./helper.ts";',
        'import type { Shape } from "./types_only.ts";',
        'import { encode } from "png";',
        "export const f = (s: Shape) => scale * s + (encode ? 0 : 1);",
      ].join("\n"),
    );
    await Deno.writeTextFile(join(dir, "helper.ts"), "export const scale = 2;\n");
    await Deno.writeTextFile(join(dir, "types_only.ts"), "export type Shape = number;\n");
    const closure = await importClosure([join(dir, "entry.ts")]);
    assertEquals(Object.keys(closure.files).sort(), ["entry.ts", "helper.ts"]);
    assertEquals(closure.packages, { "npm:fast-png": "8.0.0" });

    const stage = defineStage({
      name: "closure",
      sources: [join(dir, "entry.ts")],
      config: z.object({}),
      outs: { out: "out" },
      async run(ctx) {
        await Deno.writeTextFile(`${ctx.outDir}/out`, "x");
      },
    });
    const experiment = defineExperiment({
      name: "closure",
      config: z.object({}),
      dag: { closure: node(stage, {}) },
    });
    const quiet = { quiet: true };
    await runExperiment(experiment, box.store, quiet);
    const reasons = async () => {
      clearSourceHashes();
      return (await experimentStatus(experiment, box.store))[0].reasons;
    };
    assertEquals(await reasons(), []);
    await Deno.writeTextFile(join(dir, "types_only.ts"), "export type Shape = bigint;\n");
    assertEquals(await reasons(), [], "a type-only import does not enter the key");
    await Deno.writeTextFile(join(dir, "helper.ts"), "export const scale = 3;\n");
    assertEquals(await reasons(), ["code changed: helper.ts"]);
    await Deno.writeTextFile(join(dir, "helper.ts"), "export const scale = 2;\n");
    await lock("8.0.1");
    assertEquals(await reasons(), ["code changed: npm:fast-png"]);
  } finally {
    clearSourceHashes();
    await Deno.remove(dir, { recursive: true });
    await box.cleanup();
  }
});

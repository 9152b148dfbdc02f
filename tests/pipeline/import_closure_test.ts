/**
 * Code versions from import closures: a stage's key covers every module its entry reaches and
 * the locked versions of the npm packages they import, and `status` names what changed.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { defineExperiment, defineStage, experimentStatus, node } from "../../pipeline/mod.ts";
import { runExperiment } from "../../pipeline/runner.ts";
import { clearSourceHashes, stageVersion } from "../../pipeline/stage_key.ts";
import { importClosure, RESULT_NEUTRAL } from "../../pipeline/import_closure.ts";
import { pretrain } from "../../stages/pretrain/stage.ts";
import { prep } from "../../stages/prep/stage.ts";
import { imitate } from "../../stages/imitate/stage.ts";
import { evaluate } from "../../stages/eval/stage.ts";
import { sourcePath } from "../../pipeline/stage_key.ts";
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

Deno.test("import closure: after a run, editing stages/io/tensor_pixels.ts makes pretrain stale naming the file, and imitate and eval with it", async () => {
  const box = await sandbox();
  const copy = await Deno.makeTempDir({ prefix: "mimic3d-closure-copy-" });
  try {
    // A copy of what the real stages' code versions cover (the working tree is not edited), and
    // one stand-in stage per real one, keyed by the copied entry module.
    const root = fileURLToPath(new URL("../../", import.meta.url));
    const real = { prep, pretrain, imitate, eval: evaluate };
    const files = new Set(["deno.json", "deno.lock"]);
    for (const stage of Object.values(real)) {
      const closure = await importClosure(stage.sources.map(sourcePath));
      Object.keys(closure.files).forEach((file) => files.add(file));
    }
    for (const file of files) {
      await Deno.mkdir(dirname(join(copy, file)), { recursive: true });
      await Deno.copyFile(join(root, file), join(copy, file));
    }
    const standIn = <I extends string = never>(name: keyof typeof real, inputs: I[] = []) =>
      defineStage({
        name: real[name].name,
        sources: [join(copy, sourcePath(real[name].sources[0]).slice(root.length))],
        config: z.object({}),
        inputs,
        outs: { out: "out" },
        async run(ctx) {
          await Deno.writeTextFile(`${ctx.outDir}/out`, name);
        },
      });
    const experiment = defineExperiment({
      name: "mimic3d-closures",
      config: z.object({}),
      dag: {
        prep: node(standIn("prep"), {}),
        pretrain: node(standIn("pretrain", ["data"]), { inputs: { data: "prep" } }),
        imitate: node(standIn("imitate", ["pretrained"]), { inputs: { pretrained: "pretrain" } }),
        eval: node(standIn("eval", ["model"]), { inputs: { model: "imitate" } }),
      },
    });
    await runExperiment(experiment, box.store, { quiet: true });
    const status = async () => {
      clearSourceHashes();
      return Object.fromEntries(
        (await experimentStatus(experiment, box.store)).map((row) => [row.node, row]),
      );
    };
    assertEquals(Object.values(await status()).map((row) => row.state), Array(4).fill("cached"));
    // The module that quantises pretrain's and imitate's sample images, once missing from the
    // hand-kept lists.
    const edited = join(copy, "stages/io/tensor_pixels.ts");
    await Deno.writeTextFile(edited, (await Deno.readTextFile(edited)) + "\n// edited\n");
    const rows = await status();
    assertEquals(rows.prep.state, "cached"); // its code does not reach the module
    assertEquals(rows.pretrain.state, "stale");
    assertEquals(rows.pretrain.reasons, ["code changed: stages/io/tensor_pixels.ts"]);
    assertEquals([rows.imitate.state, rows.eval.state], ["stale", "stale"]);
  } finally {
    clearSourceHashes();
    await Deno.remove(copy, { recursive: true });
    await box.cleanup();
  }
});

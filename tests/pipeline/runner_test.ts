import { assert, assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import toy from "../../experiments/toy.ts";
import {
  defineExperiment,
  defineStage,
  experimentStatus,
  formatStatus,
  node,
  runExperiment,
  StageFailedError,
} from "../../pipeline/mod.ts";
import { clearSourceHashes } from "../../pipeline/stage_key.ts";
import { readRunLog } from "../../pipeline/run_log.ts";
import { countLines, REPO, sandbox } from "./helpers.ts";
import { z } from "zod";
import { join } from "node:path";
import { prep } from "../../stages/prep/stage.ts";
import { pretrain } from "../../stages/pretrain/stage.ts";
import { imitate } from "../../stages/imitate/stage.ts";
import { evaluate } from "../../stages/eval/stage.ts";
import { referenceStats } from "../../stages/eval/reference_stats.ts";

const quiet = { quiet: true };

Deno.test("an unchanged 5-stage DAG reruns nothing", async () => {
  const box = await sandbox();
  try {
    const first = await runExperiment(toy, box.store, quiet);
    assertEquals(first.executed, ["generate", "normalize", "featurize", "train", "evaluate"]);
    assertEquals(box.takeExecutions().sort(), [
      "evaluate",
      "featurize",
      "generate",
      "normalize",
      "train",
    ]);
    const second = await runExperiment(toy, box.store, quiet);
    assertEquals(second.executed, []);
    assertEquals(box.takeExecutions(), []);
    assertEquals(second.nodes.evaluate.artifact, first.nodes.evaluate.artifact);
    const events = await readRunLog(second.logFile);
    assertEquals(events.filter((e) => e.type === "stage_cached").length, 5);
  } finally {
    await box.cleanup();
  }
});

Deno.test("editing one config key reruns exactly the stages that depend on it", async () => {
  const box = await sandbox();
  try {
    await runExperiment(toy, box.store, quiet);
    box.takeExecutions();
    const cases: [string, string[]][] = [
      ["train.lr=0.2", ["evaluate", "train"]],
      ["eval.metric=mae", ["evaluate"]],
      ["features.power=3", ["evaluate", "featurize", "train"]],
      ["normalize.scale=3", ["evaluate", "normalize", "train"]],
      ["data.count=100", ["evaluate", "featurize", "generate", "normalize", "train"]],
    ];
    for (const [set, expected] of cases) {
      const rows = await experimentStatus(toy, box.store, { sets: [set] });
      const key = set.split("=")[0];
      const directlyStale = rows.find((r) =>
        r.reasons.some((why) => why.startsWith(`config ${key} changed`))
      );
      assert(directlyStale, `status names ${key}:\n${formatStatus(toy, rows)}`);
      const result = await runExperiment(toy, box.store, { ...quiet, sets: [set] });
      assertEquals([...result.executed].sort(), expected, set);
      assertEquals(box.takeExecutions().sort(), expected, set);
    }
  } finally {
    await box.cleanup();
  }
});

Deno.test("status reports cached, stale with the changed key and value, and missing", async () => {
  const box = await sandbox();
  try {
    let rows = await experimentStatus(toy, box.store);
    assertEquals(rows.map((r) => r.state), ["missing", "missing", "missing", "missing", "missing"]);
    await runExperiment(toy, box.store, quiet);
    rows = await experimentStatus(toy, box.store);
    assertEquals(rows.map((r) => r.state), ["cached", "cached", "cached", "cached", "cached"]);
    rows = await experimentStatus(toy, box.store, { sets: ["train.lr=0.05"] });
    const train = rows.find((r) => r.node === "train")!;
    assertEquals(train.state, "stale");
    assertEquals(train.reasons, ["config train.lr changed: 0.1 → 0.05"]);
    const evaluate = rows.find((r) => r.node === "evaluate")!;
    assertEquals([evaluate.state, evaluate.reasons], ["stale", [
      "input from train is not up to date",
    ]]);
    rows = await experimentStatus(toy, box.store, { sets: ["seed=3"] });
    assertEquals(rows[0].reasons, ["seed changed: 0 → 3"]);
    assertEquals(rows[1].state, "stale"); // normalize is unseeded but its input changes
  } finally {
    await box.cleanup();
  }
});

Deno.test("--until runs only ancestors; --force recomputes one stage, descendants stay cached", async () => {
  const box = await sandbox();
  try {
    const partial = await runExperiment(toy, box.store, { ...quiet, until: "featurize" });
    assertEquals(partial.executed, ["generate", "featurize"]);
    await runExperiment(toy, box.store, quiet);
    box.takeExecutions();
    const forced = await runExperiment(toy, box.store, { ...quiet, force: ["normalize"] });
    assertEquals(forced.executed, ["normalize"]); // same bytes → same id → nothing downstream
    assertEquals(box.takeExecutions(), ["normalize"]);
    await assertRejects(
      () => runExperiment(toy, box.store, { ...quiet, until: "nope" }),
      Error,
      'unknown stage "nope"',
    );
  } finally {
    await box.cleanup();
  }
});

Deno.test("editing a stage's source file invalidates it and status names the file", async () => {
  const box = await sandbox();
  try {
    const kernel = `${box.dir}/kernel_wgsl.ts`;
    await Deno.writeTextFile(kernel, "export const WGSL = `fn main() {}`;\n");
    const source = defineStage({
      name: "source",
      sources: [new URL("../../experiments/toy_stages.ts", import.meta.url)],
      config: z.object({}),
      outs: { a: "a" },
      async run(ctx) {
        await Deno.writeTextFile(`${ctx.outDir}/a`, "a");
      },
    });
    const shader = defineStage({
      name: "shader",
      sources: [kernel],
      config: z.object({}),
      inputs: ["a"],
      outs: { b: "b" },
      async run(ctx) {
        await Deno.writeTextFile(`${ctx.outDir}/b`, await Deno.readTextFile(kernel));
      },
    });
    const experiment = defineExperiment({
      name: "code-edit",
      config: z.object({}),
      dag: { source: node(source, {}), shader: node(shader, { inputs: { a: "source" } }) },
    });
    assertEquals((await runExperiment(experiment, box.store, quiet)).executed, [
      "source",
      "shader",
    ]);
    await Deno.writeTextFile(kernel, "export const WGSL = `fn main() { let x = 1; }`;\n");
    clearSourceHashes();
    const rows = await experimentStatus(experiment, box.store);
    assertEquals(rows.map((r) => r.state), ["cached", "stale"]);
    assertEquals(rows[1].reasons, ["code changed: kernel_wgsl.ts"]);
    assertEquals((await runExperiment(experiment, box.store, quiet)).executed, ["shader"]);
  } finally {
    clearSourceHashes();
    await box.cleanup();
  }
});

Deno.test("a failing stage stores nothing, status says failed, and the next run retries it", async () => {
  const box = await sandbox();
  try {
    let fail = true;
    const flaky = defineStage({
      name: "flaky",
      sources: [new URL("../../experiments/toy_stages.ts", import.meta.url)],
      config: z.object({ n: z.number() }),
      outs: { partial: "partial" },
      async run(ctx) {
        await Deno.writeTextFile(`${ctx.outDir}/partial`, "half");
        if (fail) throw new Error("out of memory");
      },
    });
    const experiment = defineExperiment({
      name: "flaky",
      config: z.strictObject({ n: z.number().default(1) }),
      dag: { flaky: node(flaky, {}) },
    });
    await assertRejects(
      () => runExperiment(experiment, box.store, quiet),
      StageFailedError,
      'stage "flaky" failed: out of memory',
    );
    assertEquals(await box.store.listObjects(), []);
    assertEquals([...Deno.readDirSync(box.store.at("tmp"))], []);
    const rows = await experimentStatus(experiment, box.store);
    assertEquals([rows[0].state, rows[0].reasons], ["failed", [
      'stage "flaky" failed: out of memory',
    ]]);
    fail = false;
    assertEquals((await runExperiment(experiment, box.store, quiet)).executed, ["flaky"]);
  } finally {
    await box.cleanup();
  }
});

Deno.test("declared outs: a forgotten out, an undeclared file or a file for a directory stores nothing", async () => {
  const box = await sandbox();
  try {
    // What the stage writes this time: file name → contents, or null for a directory.
    let writes: Record<string, string | null> = {};
    const report = defineStage({
      name: "report",
      sources: [new URL("../../experiments/toy_stages.ts", import.meta.url)],
      config: z.object({}),
      outs: { metrics: "metrics.json", frames: "frames/", meshes: "mesh_*.ply", extra: "x.txt" },
      optionalOuts: ["extra"],
      async run(ctx) {
        for (const [name, text] of Object.entries(writes)) {
          if (text === null) await Deno.mkdir(`${ctx.outDir}/${name}`);
          else await Deno.writeTextFile(`${ctx.outDir}/${name}`, text);
        }
      },
    });
    const experiment = defineExperiment({
      name: "outs",
      config: z.object({}),
      dag: { report: node(report, {}) },
    });
    const failures: [Record<string, string | null>, string][] = [
      [{ "frames": null }, "it did not write its declared out metrics.json"],
      [{}, "it did not write its declared outs metrics.json, frames/"],
      [
        { "metrics.json": "{}", "frames": null, "notes.md": "", "tmp": null },
        "it wrote notes.md, tmp/, which its declared outs do not name (metrics.json, frames/, " +
        "mesh_*.ply, x.txt)",
      ],
      [
        { "metrics.json": "{}", "frames": "" },
        'its out frames is a file, but is declared as "frames/"',
      ],
    ];
    for (const [files, message] of failures) {
      writes = files;
      await assertRejects(
        () => runExperiment(experiment, box.store, quiet),
        StageFailedError,
        `stage "report" failed: ${message}`,
      );
      assertEquals(await box.store.listObjects(), []);
      assertEquals([...Deno.readDirSync(box.store.at("tmp"))], []);
    }
    // Families may be empty, optional outs absent; a family takes any number of members.
    writes = { "metrics.json": "{}", "frames": null };
    assertEquals((await runExperiment(experiment, box.store, quiet)).executed, ["report"]);
    writes = {
      "metrics.json": "{}",
      "frames": null,
      "mesh_1.ply": "",
      "mesh_2.ply": "",
      "x.txt": "",
    };
    const all = await runExperiment(experiment, box.store, { ...quiet, force: ["report"] });
    assertEquals(all.executed, ["report"]);
  } finally {
    await box.cleanup();
  }
});

/**
 * Where a real stage's out name may still appear as a string literal, and why: files that are
 * not artifacts' but happen to share a name.
 */
const OUT_NAME_LITERALS_ALLOWED: Record<string, string> = {
  // A mid-stage checkpoint's own files (the checkpoint format), not the artifact's.
  "stages/training/checkpoint_state.ts": "G_ema.safetensors",
  // `render` writes its grid into the user's --out directory, not into an artifact.
  "stages/render/render_views.ts": "grid.png",
};

Deno.test("declared outs: code outside the outs files (outs.ts, io/trained_outs.ts) names the real stages' files through their declarations, not string literals", async () => {
  const names = new Set(
    [prep, pretrain, imitate, evaluate, referenceStats].flatMap((stage) =>
      Object.values(stage.outs)
    ),
  );
  const files: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(join(REPO, dir))) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(rel);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith("outs.ts")) files.push(rel);
    }
  };
  await walk("stages");
  await walk("experiments");
  files.push("cli.ts", "mod.ts");
  const found: string[] = [];
  for (const file of files) {
    const lines = (await Deno.readTextFile(join(REPO, file))).split("\n");
    lines.forEach((line, i) => {
      const text = line.trim();
      if (/^(\*|\/\/|\/\*)/.test(text)) return; // comments
      if (/\bouts:\s*\{/.test(text)) return; // a stage's own declaration (the toy stages)
      for (const name of names) {
        if (OUT_NAME_LITERALS_ALLOWED[file] === name) continue;
        if (['"', "'", "`"].some((q) => text.includes(`${q}${name}${q}`))) {
          found.push(`${file}:${i + 1}: ${text}`);
        }
      }
    });
  }
  assertEquals(found, []);
});

Deno.test("declared outs: a malformed declaration is refused when the stage is defined", () => {
  const define = (outs: Record<string, string>, optionalOuts: string[] = []) => () =>
    defineStage({
      name: "bad",
      sources: [import.meta.url],
      config: z.object({}),
      outs,
      optionalOuts,
      run: async () => {},
    });
  assertThrowsMessage(define({}), 'stage "bad" declares no outs');
  assertThrowsMessage(define({ up: "../x" }), 'stage "bad": out "up" = "../x": use a file name');
  assertThrowsMessage(define({ deep: "a/b.json" }), 'out "deep" = "a/b.json"');
  assertThrowsMessage(define({ dirs: "d*/" }), 'out "dirs" = "d*/"');
  assertThrowsMessage(define({ a: "a" }, ["b"]), 'optional out "b" is not one of its outs');
});

function assertThrowsMessage(fn: () => unknown, part: string) {
  let message = "";
  try {
    fn();
  } catch (err) {
    message = (err as Error).message;
  }
  assertStringIncludes(message, part);
}

Deno.test("experiments reject bad wiring and cycles with a clear message", () => {
  const a = defineStage({
    name: "a",
    sources: [import.meta.url],
    config: z.object({}),
    inputs: ["x"],
    outs: { y: "y" },
    run: async () => {},
  });
  assertThrowsMessage(
    () =>
      defineExperiment({
        name: "e",
        config: z.object({}),
        dag: { a: node(a, { inputs: { x: "b" } }) },
      }),
    'unknown node "b"',
  );
  assertThrowsMessage(
    () =>
      defineExperiment({
        name: "e",
        config: z.object({}),
        dag: { a: node(a, { inputs: { x: "a" } }) },
      }),
    "cycle",
  );
});

Deno.test("the JSONL run log records stage, checkpoint and progress events", async () => {
  const box = await sandbox();
  try {
    const result = await runExperiment(toy, box.store, quiet);
    const events = await readRunLog(result.logFile);
    const progress = events.filter((e) => e.type === "progress" && e.node === "train");
    assert(progress.length >= 1);
    assertEquals(progress.at(-1)!.done, 40);
    assertEquals(Object.keys(countLines(events.map((e) => String(e.type)))).sort(), [
      "checkpoint",
      "progress",
      "run_done",
      "run_start",
      "stage_done",
      "stage_start",
    ]);
  } finally {
    await box.cleanup();
  }
});

import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { fileURLToPath } from "node:url";
import toy from "../../experiments/toy.ts";
import table from "../../experiments/toy_table.ts";
import {
  collectTable,
  gridPoints,
  parseSweepAxes,
  renderTable,
  runSweep,
} from "../../pipeline/mod.ts";
import { pipelineMain } from "../../pipeline/main.ts";
import { KUBERNETES_STORE_MOUNT, kubernetesJob, shellQuote } from "../../pipeline/job_files.ts";
import { parse as parseYaml } from "yaml";
import { countLines, runCli, sandbox, TOY } from "./helpers.ts";

const GOLDEN = fileURLToPath(new URL("./golden/", import.meta.url));

/** Compares with a golden file; `UPDATE_GOLDEN=1` rewrites it instead. */
async function assertGolden(name: string, actual: string) {
  const file = `${GOLDEN}${name}.golden`; // .golden: keeps deno fmt off md/html/yaml goldens
  if (Deno.env.get("UPDATE_GOLDEN") === "1") await Deno.writeTextFile(file, actual);
  assertEquals(actual, await Deno.readTextFile(file), `golden ${name} (UPDATE_GOLDEN=1 to accept)`);
}

Deno.test("a 2×2 sweep computes shared upstream once; table renders md/csv/tex/html", async () => {
  const box = await sandbox();
  try {
    const axes = parseSweepAxes(toy.config, ["train.lr=0.05,0.1", "train.momentum=0,0.5"]);
    const points = gridPoints(axes);
    assertEquals(points.map((p) => p.sets.join(" ")), [
      "train.lr=0.05 train.momentum=0",
      "train.lr=0.05 train.momentum=0.5",
      "train.lr=0.1 train.momentum=0",
      "train.lr=0.1 train.momentum=0.5",
    ]);
    let data = await collectTable(table, box.store);
    assertEquals(data.missing.length, 4);
    await runSweep(toy, box.store, points, { quiet: true });
    assertEquals(countLines(box.takeExecutions()), {
      generate: 1,
      normalize: 1,
      featurize: 1,
      train: 4,
      evaluate: 4,
    });
    data = await collectTable(table, box.store);
    assertEquals(data.missing, []);
    for (const format of ["md", "csv", "tex", "html"] as const) {
      await assertGolden(`toy_table.${format}`, renderTable(data, format));
    }
    const cli = await runCli([
      "table",
      fileURLToPath(new URL("../../experiments/toy_table.ts", import.meta.url)),
      "--store",
      box.store.root,
      "--format",
      "csv",
    ]);
    assertEquals(cli.stdout, renderTable(data, "csv"));
  } finally {
    await box.cleanup();
  }
});

Deno.test("sweep --jobs 2 runs points in parallel processes, upstream still once", async () => {
  const box = await sandbox();
  try {
    const result = await runCli([
      "sweep",
      TOY,
      "--store",
      box.store.root,
      "--jobs",
      "2",
      "--quiet",
      "--set",
      "train.lr=0.05,0.2",
    ]);
    assertEquals(result.code, 0, result.stderr);
    assertEquals(countLines(box.takeExecutions()), {
      generate: 1,
      normalize: 1,
      featurize: 1,
      train: 2,
      evaluate: 2,
    });
  } finally {
    await box.cleanup();
  }
});

Deno.test("sweep --emit slurm and k8s write golden job files", async () => {
  const box = await sandbox();
  try {
    for (
      const [scheduler, file] of [["slurm", "mimic3d-toy-sweep.sbatch"], [
        "k8s",
        "mimic3d-toy-sweep.yaml",
      ]]
    ) {
      const code = await pipelineMain([
        "--store",
        "/shared/mimic3d-store",
        "sweep",
        "toy",
        "--emit",
        scheduler,
        "--out",
        box.dir,
        "--jobs",
        "2",
        "--set",
        "train.lr=0.05,0.1",
        "--set",
        "eval.metric=mse,mae",
        "--fixed",
        "data.count=128",
      ]);
      assertEquals(code, 0);
      await assertGolden(file, await Deno.readTextFile(`${box.dir}/${file}`));
    }
    assertEquals(await box.store.listObjects(), []); // emitting runs nothing
  } finally {
    await box.cleanup();
  }
});

Deno.test("k8s emit: a relative store is mounted at one absolute path that the tasks use; values are quoted", () => {
  const yaml = kubernetesJob([{ values: { "train.lr": 0.05 }, sets: ["train.lr=0.05"] }], {
    experiment: "toy",
    store: ".mimic3d",
    launcher: "deno run -A mod.ts",
    parallelism: 1,
    sets: [],
    image: "registry.example:5000/mimic3d:1 #tag",
    volumeClaim: "store: shared",
  });
  assert(yaml.includes(`mountPath: "${KUBERNETES_STORE_MOUNT}"`), yaml);
  assert(yaml.includes(`--store ${KUBERNETES_STORE_MOUNT} `), yaml);
  assert(!yaml.includes(".mimic3d"), yaml);
  assert(yaml.includes('image: "registry.example:5000/mimic3d:1 #tag"'), yaml);
  assert(yaml.includes('claimName: "store: shared"'), yaml);
});

Deno.test("k8s emit: the YAML parses; unusual values round-trip; the mount path is the store path the task uses", () => {
  for (const store of [".mimic3d", "/mnt/shared store: #1"]) {
    const image = "registry.example:5000/mimic3d:1 #tag";
    const claim = 'store: "shared" #2';
    const text = kubernetesJob([{ values: { "train.lr": 0.05 }, sets: ["train.lr=0.05"] }], {
      experiment: "toy",
      store,
      launcher: "deno run -A mod.ts",
      parallelism: 2,
      sets: [],
      image,
      volumeClaim: claim,
    });
    // deno-lint-ignore no-explicit-any
    const job = parseYaml(text) as any;
    const pod = job.spec.template.spec;
    const container = pod.containers[0];
    assertEquals(job.kind, "Job");
    assertEquals(job.spec.parallelism, 2);
    assertEquals(container.image, image);
    assertEquals(pod.volumes[0].persistentVolumeClaim.claimName, claim);
    const mountPath = container.volumeMounts[0].mountPath;
    assertEquals(mountPath, store.startsWith("/") ? store : KUBERNETES_STORE_MOUNT);
    // The task's --store is that same path, as bash reads the script.
    assertStringIncludes(container.args[0], `--store ${shellQuote(mountPath)} `);
  }
});

Deno.test("slurm emit: a relative store becomes the absolute path every task shares", async () => {
  const box = await sandbox();
  try {
    const code = await pipelineMain([
      "--store",
      "relative-store",
      "sweep",
      "toy",
      "--emit",
      "slurm",
      "--out",
      box.dir,
      "--set",
      "train.lr=0.05,0.1",
    ]);
    assertEquals(code, 0);
    const script = await Deno.readTextFile(`${box.dir}/mimic3d-toy-sweep.sbatch`);
    assertStringIncludes(script, `--store ${Deno.cwd()}/relative-store `);
  } finally {
    await box.cleanup();
  }
});

Deno.test("sweep values with commas inside lists and bad sweep values", () => {
  let message = "";
  try {
    parseSweepAxes(toy.config, ["train.steps=10,ten"]);
  } catch (err) {
    message = (err as Error).message;
  }
  assertStringIncludes(
    message,
    'invalid value for config key "train.steps": expected a number, got "ten"',
  );
});

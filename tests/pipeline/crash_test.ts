/**
 * Crash safety: a child `run` is SIGKILLed mid-compute and at each write step (fault points);
 * every time the store still verifies and the resumed run ends with the uninterrupted run's hash.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import toy from "../../experiments/toy.ts";
import { runExperiment, verifyStore } from "../../pipeline/mod.ts";
import { readJsonOrNull } from "../../pipeline/atomic_fs.ts";
import { PIPELINE_CLI, runCli, sandbox, TOY } from "./helpers.ts";

const SETTINGS = ["--set", "train.steps=30", "--set", "train.checkpointEvery=3"];

async function finalArtifacts(storeRoot: string, env: Record<string, string>) {
  const result = await runCli(["run", TOY, "--store", storeRoot, "--quiet", ...SETTINGS], env);
  assertEquals(result.code, 0, result.stderr);
  const train = await readJsonOrNull<{ artifact: string }>(`${storeRoot}/refs/toy/train.json`);
  const evaluate = await readJsonOrNull<{ artifact: string }>(
    `${storeRoot}/refs/toy/evaluate.json`,
  );
  return { train: train!.artifact, evaluate: evaluate!.artifact };
}

async function referenceRun() {
  const box = await sandbox();
  try {
    return await finalArtifacts(box.store.root, { TOY_EXEC_LOG: box.execLog });
  } finally {
    await box.cleanup();
  }
}

async function assertVerifies(box: { store: Parameters<typeof verifyStore>[0] }) {
  const report = await verifyStore(box.store);
  assertEquals(report.corrupted, []);
  assertEquals(report.danglingKeys, []);
}

Deno.test("SIGKILL at write steps and mid-compute: store verifies, resume gives the same hash", async (t) => {
  const reference = await referenceRun();
  // Fault → the step the rerun must resume from (checkpoints every 3 steps of 30): a kill while
  // writing checkpoint n leaves checkpoint n-1 usable; a kill while storing the output resumes
  // from the last checkpoint (27).
  const faults: [string, number][] = [
    ["checkpoint:before-rename@2", 3],
    ["checkpoint:before-pointer@3", 6],
    ["checkpoint:after-pointer@4", 12],
    ["commit:before-rename", 27],
    ["commit:after-rename", 27],
  ];
  for (const [fault, resumeStep] of faults) {
    await t.step(`fault ${fault}`, async () => {
      const box = await sandbox();
      try {
        // Upstream first, so artifact-commit faults hit train's output.
        for (const until of ["normalize", "featurize"]) {
          await runExperiment(toy, box.store, { quiet: true, until });
        }
        box.takeExecutions();
        const env = { TOY_EXEC_LOG: box.execLog, MIMIC3D_FAULT: fault };
        const killed = await runCli(
          ["run", TOY, "--store", box.store.root, "--quiet", ...SETTINGS],
          env,
        );
        assertEquals(killed.code, 137, `expected SIGKILL, got ${killed.code}: ${killed.stderr}`);
        assert(killed.stderr.includes(`fault injected at ${fault.split("@")[0]}`));
        await assertVerifies(box);
        assertEquals(
          await finalArtifacts(box.store.root, { TOY_EXEC_LOG: box.execLog }),
          reference,
        );
        const runs = box.takeExecutions().filter((l) => l.startsWith("train"));
        assertEquals(runs, ["train", `train resumed@${resumeStep}`]);
        await assertVerifies(box);
      } finally {
        await box.cleanup();
      }
    });
  }

  await t.step("external SIGKILL during compute", async () => {
    const box = await sandbox();
    try {
      const env = { TOY_EXEC_LOG: box.execLog, TOY_STEP_DELAY_MS: "25" };
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../../pipeline/main.ts", import.meta.url).pathname,
          "run",
          TOY,
          "--store",
          box.store.root,
          "--quiet",
          ...SETTINGS,
        ],
        env,
        stdout: "null",
        stderr: "null",
      }).spawn();
      // Wait until a few checkpoints exist, then kill without warning.
      const deadline = Date.now() + 20_000;
      for (;;) {
        const pointers = [...Deno.readDirSync(box.store.at("checkpoints"))].filter((e) =>
          e.name.endsWith(".json")
        );
        if (pointers.length > 0) {
          const pointer = JSON.parse(
            Deno.readTextFileSync(box.store.at("checkpoints", pointers[0].name)),
          );
          if (pointer.step >= 9) break;
        }
        if (Date.now() > deadline) throw new Error("no checkpoint appeared");
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill("SIGKILL");
      assertEquals((await child.status).signal, "SIGKILL");
      await assertVerifies(box);
      assertEquals(await finalArtifacts(box.store.root, { TOY_EXEC_LOG: box.execLog }), reference);
      const trainRuns = box.takeExecutions().filter((l) => l.startsWith("train"));
      assertEquals(trainRuns.length, 2);
      assert(/^train resumed@(9|1[0-9]|2[0-9])$/.test(trainRuns[1]), trainRuns[1]);
    } finally {
      await box.cleanup();
    }
  });
});

Deno.test("Ctrl-C (SIGINT) stops at the next checkpoint, leaves the store clean and resumable", async () => {
  const reference = await referenceRun();
  const box = await sandbox();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", PIPELINE_CLI, "run", TOY, "--store", box.store.root, ...SETTINGS],
      env: { TOY_EXEC_LOG: box.execLog, TOY_STEP_DELAY_MS: "25" },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const deadline = Date.now() + 20_000;
    while ([...Deno.readDirSync(box.store.at("checkpoints"))].length === 0) {
      if (Date.now() > deadline) throw new Error("no checkpoint appeared");
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGINT");
    const output = await child.output();
    assertEquals(output.code, 1);
    const lastLine = new TextDecoder().decode(output.stderr).trimEnd().split("\n").pop();
    assertEquals(
      lastLine,
      'error: interrupted during stage "train"; completed stages are cached, rerun to continue',
    );
    await assertVerifies(box);
    assertEquals([...Deno.readDirSync(box.store.at("locks"))], []);
    assertEquals([...Deno.readDirSync(box.store.at("tmp"))], []);
    assertEquals(await finalArtifacts(box.store.root, { TOY_EXEC_LOG: box.execLog }), reference);
    assert(box.takeExecutions().some((l) => l.startsWith("train resumed@")));
  } finally {
    await box.cleanup();
  }
});

import { assert, assertEquals } from "../helpers/assert.ts";
import { hostname } from "node:os";
import toy from "../../experiments/toy.ts";
import { experimentStatus, runExperiment } from "../../pipeline/mod.ts";
import { readRunLog } from "../../pipeline/run_log.ts";
import { countLines, runCli, sandbox, TOY } from "./helpers.ts";

Deno.test("two concurrent runs of one DAG compute each stage once", async () => {
  const box = await sandbox();
  try {
    const env = { TOY_EXEC_LOG: box.execLog, TOY_STEP_DELAY_MS: "10" };
    const args = ["run", TOY, "--store", box.store.root, "--set", "train.steps=30"];
    const [a, b] = await Promise.all([runCli(args, env), runCli(args, env)]);
    assertEquals([a.code, b.code], [0, 0], a.stderr + b.stderr);
    assertEquals(countLines(box.takeExecutions()), {
      generate: 1,
      normalize: 1,
      featurize: 1,
      train: 1,
      evaluate: 1,
    });
    // Whichever lost a race waited for the lock and reused the winner's artifact.
    const logs = [...Deno.readDirSync(box.store.at("logs"))].map((e) =>
      box.store.at("logs", e.name)
    );
    const done = (await Promise.all(logs.map(readRunLog))).flat().filter((e) =>
      e.type === "stage_done"
    );
    assertEquals(done.length, 5);
  } finally {
    await box.cleanup();
  }
});

Deno.test("a lock left by a dead process is recovered", async () => {
  const box = await sandbox();
  try {
    const dead = new Deno.Command("true").spawn();
    await dead.status;
    const [generate] = await experimentStatus(toy, box.store);
    const lockFile = box.store.at("locks", `${generate.key}.lock`);
    await Deno.writeTextFile(
      lockFile,
      JSON.stringify({
        pid: dead.pid,
        host: hostname(),
        processStart: null,
        lockedAt: "2020-01-01T00:00:00.000Z",
      }),
    );
    const result = await runExperiment(toy, box.store, { quiet: true });
    assertEquals(result.executed.length, 5);
    const events = await readRunLog(result.logFile);
    const recovered = events.find((e) => e.type === "lock_recovered");
    assert(recovered, "a lock_recovered event");
    assertEquals((recovered.owner as { pid: number }).pid, dead.pid);
    assertEquals(
      [...Deno.readDirSync(box.store.at("locks"))].filter((e) => e.name.endsWith(".lock")),
      [],
    );
  } finally {
    await box.cleanup();
  }
});

Deno.test("a live lock makes the run wait, then reuse the holder's result", async () => {
  const box = await sandbox();
  try {
    const [generate] = await experimentStatus(toy, box.store);
    const lockFile = box.store.at("locks", `${generate.key}.lock`);
    // This process "holds" the lock; release it after a moment, as a finishing writer would.
    await Deno.writeTextFile(
      lockFile,
      JSON.stringify({
        pid: Deno.pid,
        host: hostname(),
        processStart: null,
        lockedAt: new Date().toISOString(),
      }),
    );
    const released = new Promise((resolve) =>
      setTimeout(() => resolve(Deno.removeSync(lockFile)), 300)
    );
    const started = performance.now();
    const rows = await experimentStatus(toy, box.store);
    assertEquals(rows[0].state, "running");
    const result = await runExperiment(toy, box.store, { quiet: true });
    await released;
    assert(performance.now() - started >= 250);
    const events = await readRunLog(result.logFile);
    assert(events.some((e) => e.type === "lock_wait"));
  } finally {
    await box.cleanup();
  }
});

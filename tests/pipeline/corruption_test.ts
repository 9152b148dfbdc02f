import { assert, assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import toy from "../../experiments/toy.ts";
import { experimentStatus, runExperiment, verifyStore } from "../../pipeline/mod.ts";
import { resolveCheckpointPath } from "../../stages/io/checkpoint_ref.ts";
import { MOD, runCli, sandbox, TOY } from "./helpers.ts";

async function flipOneByte(file: string) {
  await Deno.chmod(file, 0o644);
  const bytes = await Deno.readFile(file);
  bytes[7] ^= 0x01;
  await Deno.writeFile(file, bytes);
}

Deno.test("a flipped byte is reported by verify and by a run, and recomputed on request", async () => {
  const box = await sandbox();
  try {
    const first = await runExperiment(toy, box.store, { quiet: true });
    const normalized = first.nodes.normalize.artifact;
    await flipOneByte(`${box.store.filesDir(normalized)}/target.f64`);

    const report = await verifyStore(box.store);
    assertEquals(report.corrupted, [{
      id: normalized,
      problem: "out/target.f64 content does not match its sha256",
    }]);
    const cli = await runCli(["verify", "--store", box.store.root]);
    assertEquals(cli.code, 1);
    assertEquals(cli.stderr.trim().split("\n").length, 1);
    assertStringIncludes(cli.stderr, "error: 1 problems in the store; run `verify --repair`");

    // A run that reads it (reused as a cached output and as train/evaluate's input) refuses.
    const error = await assertRejects(() => runExperiment(toy, box.store, { quiet: true }));
    assertEquals(
      error.message,
      `output of stage "normalize": artifact ${
        normalized.slice(0, 12)
      } is corrupted: out/target.f64 content does not match its sha256; recompute it with --force normalize`,
    );
    box.takeExecutions();
    const forced = await runExperiment(toy, box.store, { quiet: true, force: ["normalize"] });
    assertEquals(forced.executed, ["normalize"]);
    assertEquals(forced.nodes.normalize.artifact, normalized);
    assertEquals((await verifyStore(box.store)).corrupted, []);

    // The other way: verify --repair drops it and a plain run recomputes exactly that stage.
    await flipOneByte(`${box.store.filesDir(normalized)}/target.f64`);
    const repaired = await verifyStore(box.store, { repair: true });
    assert(repaired.repaired);
    const rerun = await runExperiment(toy, box.store, { quiet: true });
    assertEquals(rerun.executed, ["normalize"]);
    assertEquals((await verifyStore(box.store)).corrupted, []);
    const cliRun = await runCli(["run", TOY, "--store", box.store.root, "--quiet"]);
    assertEquals(cliRun.code, 0, cliRun.stderr);
  } finally {
    await box.cleanup();
  }
});

Deno.test("a same-size flipped byte is caught by status, show, and by serve and render given its id or path", async () => {
  const box = await sandbox();
  try {
    const first = await runExperiment(toy, box.store, { quiet: true });
    const normalized = first.nodes.normalize.artifact;
    const statusRow = async () =>
      (await experimentStatus(toy, box.store)).find((row) => row.node === "normalize")!;
    assertEquals((await statusRow()).state, "cached");
    const file = `${box.store.filesDir(normalized)}/target.f64`;
    const size = (await Deno.stat(file)).size;
    await flipOneByte(file);
    assertEquals((await Deno.stat(file)).size, size);
    const row = await statusRow();
    assertEquals(row.state, "corrupted");
    assertStringIncludes(row.reasons[0], "out/target.f64 content does not match its sha256");
    const cli = await runCli(["status", TOY, "--store", box.store.root]);
    assertEquals(cli.code, 0, cli.stderr);
    assertStringIncludes(cli.stdout, "corrupted");
    const show = await runCli(["show", normalized.slice(0, 12), "--store", box.store.root]);
    assertEquals(show.code, 1);
    assertStringIncludes(show.stderr, "out/target.f64 content does not match its sha256");
    // serve and render resolve checkpoints through one function; both refuse what it refuses.
    for (const ref of [normalized.slice(0, 12), box.store.filesDir(normalized), file]) {
      await assertRejects(
        () => resolveCheckpointPath(ref, box.store.root),
        Error,
        "out/target.f64 content does not match its sha256",
      );
    }
    const serve = await runCli(
      ["serve", normalized.slice(0, 12), "--store", box.store.root],
      {},
      MOD,
    );
    assertEquals(serve.code, 1);
    assertStringIncludes(serve.stderr, "is corrupted: out/target.f64 content does not match");
  } finally {
    await box.cleanup();
  }
});

Deno.test("gc keeps what runs reference and removes the rest; export/import round-trips", async () => {
  const box = await sandbox();
  try {
    const result = await runExperiment(toy, box.store, { quiet: true });
    const { collectGarbage, exportArtifact, importArtifact, Store } = await import(
      "../../pipeline/mod.ts"
    );
    // An orphan: committed but referenced by no run.
    const staging = await box.store.makeStagingDir("orphan");
    await Deno.writeTextFile(`${staging.outDir}/x`, "orphan");
    const orphan = await box.store.commit(staging.dir);
    const dry = await collectGarbage(box.store, { dryRun: true, graceSeconds: 0 });
    assertEquals(dry.objects, [orphan]);
    assert(await box.store.hasObject(orphan));
    const gc = await collectGarbage(box.store, { graceSeconds: 0 });
    assertEquals(gc.objects, [orphan]);
    assertEquals((await box.store.listObjects()).length, 5);
    assertEquals((await runExperiment(toy, box.store, { quiet: true })).executed, []);

    const exported = `${box.dir}/export`;
    await exportArtifact(box.store, result.nodes.evaluate.artifact, exported);
    const other = await Store.open(`${box.dir}/other-store`);
    const imported = await importArtifact(other, exported);
    assertEquals(imported, { id: result.nodes.evaluate.artifact, keys: 1 });
    await other.check(imported.id, "full");
    // An export whose key was edited (to make another config's run reuse this artifact).
    const keysFile = `${exported}/keys.json`;
    const original = await Deno.readTextFile(keysFile);
    const records = JSON.parse(original);
    records[0].key = "0".repeat(64);
    await Deno.chmod(keysFile, 0o644).catch(() => {});
    await Deno.writeTextFile(keysFile, JSON.stringify(records));
    const third = await Store.open(`${box.dir}/third-store`);
    await assertRejects(
      () => importArtifact(third, exported),
      Error,
      "does not match the inputs recorded with it",
    );
    assertEquals(await third.listObjects(), []);
    await Deno.writeTextFile(keysFile, original);
    await flipOneByte(`${exported}/out/metrics.json`);
    await assertRejects(
      () => importArtifact(other, exported),
      Error,
      "do not match its manifest.json",
    );
  } finally {
    await box.cleanup();
  }
});

Deno.test("a damaged key file is reported by verify, which carries on; --repair removes it; gc and ls keep working", async () => {
  const box = await sandbox();
  try {
    const first = await runExperiment(toy, box.store, { quiet: true });
    const keyFile = (await Array.fromAsync(Deno.readDir(box.store.at("keys"))))
      .map((e) => e.name).find((n) => n.endsWith(".json"))!;
    await Deno.chmod(box.store.at("keys", keyFile), 0o644);
    await Deno.writeTextFile(box.store.at("keys", keyFile), '{"key": "trunc');
    const report = await verifyStore(box.store);
    assertEquals(report.damagedKeys, [keyFile]);
    assertEquals(report.checked, Object.keys(first.nodes).length); // every object still checked
    const cli = await runCli(["verify", "--store", box.store.root]);
    assertEquals(cli.code, 1);
    assertStringIncludes(cli.stdout, `cache key file keys/${keyFile} is damaged`);
    for (const command of [["ls"], ["gc", "--dry-run"]]) {
      const run = await runCli([...command, "--store", box.store.root]);
      assertEquals(run.code, 0, `${command[0]}: ${run.stderr}`);
    }
    // A record edited to claim another key is as good as damaged.
    const other = (await box.store.listKeyRecords())[0];
    await Deno.chmod(box.store.at("keys", `${other.key}.json`), 0o644);
    await Deno.writeTextFile(
      box.store.at("keys", `${other.key}.json`),
      JSON.stringify({ ...other, keyInputs: { ...(other.keyInputs as object), seed: 99 } }),
    );
    assertEquals((await verifyStore(box.store)).damagedKeys, [keyFile, `${other.key}.json`].sort());
    assert((await verifyStore(box.store, { repair: true })).repaired);
    assertEquals((await verifyStore(box.store)).damagedKeys, []);
    // The stages whose keys were lost rerun (and write them again); the rest stays cached.
    assertEquals((await runExperiment(toy, box.store, { quiet: true })).executed.length, 2);
  } finally {
    await box.cleanup();
  }
});

Deno.test("gc removes staging dirs of dead processes on this host, and leaves another host's live job alone", async () => {
  const box = await sandbox();
  try {
    const { collectGarbage } = await import("../../pipeline/mod.ts");
    const { hostname } = await import("node:os");
    const deadPid = 2 ** 22 + 12345; // above Linux's pid_max: never alive
    const mine = `stage-${deadPid}-aaaaaaaa@${hostname()}`;
    // Its pid is dead here, as any pid of another host may be: only the lock tells.
    const otherLive = `stage-${deadPid + 1}-bbbbbbbb@another-host`;
    const otherDead = `stage-4242-cccccccc@another-host`;
    for (const name of [mine, otherLive, otherDead]) {
      await Deno.mkdir(box.store.at("tmp", name, "out"), { recursive: true });
    }
    // The other host's job holds a lock with a fresh lease (owner pid@host as it wrote it).
    await Deno.writeTextFile(
      box.store.at("locks", "k.lock"),
      JSON.stringify({
        pid: deadPid + 1,
        host: "another-host",
        processStart: null,
        lockedAt: new Date().toISOString(),
      }),
    );
    const gc = await collectGarbage(box.store, { graceSeconds: 0 });
    assertEquals(gc.stagingDirs.sort(), [mine, otherDead].sort());
    assert(await Deno.stat(box.store.at("tmp", otherLive)).then(() => true));
    // Within the grace period nothing of anyone's is touched.
    await Deno.mkdir(box.store.at("tmp", `stage-${deadPid}-dddddddd@${hostname()}`));
    assertEquals((await collectGarbage(box.store, { graceSeconds: 600 })).stagingDirs, []);
  } finally {
    await box.cleanup();
  }
});

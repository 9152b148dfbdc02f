import { assert, assertEquals, assertRejects, assertStringIncludes } from "./assert.ts";
import toy from "../../experiments/toy.ts";
import { runExperiment, verifyStore } from "../../pipeline/mod.ts";
import { runCli, sandbox, TOY } from "./helpers.ts";

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
    assertStringIncludes(cli.stderr, "error: 1 corrupted artifacts; run `verify --repair`");

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

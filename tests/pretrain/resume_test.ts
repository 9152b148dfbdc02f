/**
 * The tiny pretrain run end to end: two runs give the same artifact (bit for
 * bit), the artifact holds what it promises (loadable G_ema, log, samples,
 * metrics), and a child run SIGKILLed right after its first checkpoint resumes
 * to the very same artifact.
 */
import mimic3d from "../../experiments/mimic3d.ts";
import { runExperiment, verifyStore } from "../../pipeline/mod.ts";
import { loadGenerator } from "../../stages/io/generator_checkpoint.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { setupGpu } from "../helpers/check.ts";
import { MIMIC3D, PIPELINE_CLI, tempStore, TINY } from "./helpers.ts";

await setupGpu();

Deno.test("pretrain tiny: deterministic artifact, complete outputs, SIGKILL + resume gives the same hash", async (t) => {
  const first = await tempStore();
  const second = await tempStore();
  const crashed = await tempStore();
  try {
    const run = (store: typeof first.store) =>
      runExperiment(mimic3d, store, { ...TINY, quiet: true });
    const a = await run(first.store);
    const artifact = a.nodes.pretrain.artifact;

    await t.step("two runs → the same artifact", async () => {
      const b = await run(second.store);
      assertEquals(b.nodes.pretrain.artifact, artifact);
    });

    await t.step(
      "the artifact: G_ema loads, log and metrics, one sample grid per 2 steps",
      async () => {
        const dir = first.store.filesDir(artifact);
        const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
        assertEquals(names, [
          "D.safetensors",
          "G.safetensors",
          "G_ema.safetensors",
          "log.jsonl",
          "metrics.json",
          "samples",
        ]);
        const samples = [...Deno.readDirSync(`${dir}/samples`)].map((e) => e.name).sort();
        assertEquals(samples, ["000000.000.png", "000000.004.png", "000000.008.png"]);
        const { generator } = await loadGenerator(dir);
        assertEquals(generator.config.kind, "mimic3d");
        const log = Deno.readTextFileSync(`${dir}/log.jsonl`).trim().split("\n").map((l) =>
          JSON.parse(l)
        );
        assertEquals(log.map((l) => l.step), [2, 4]);
        const metrics = JSON.parse(Deno.readTextFileSync(`${dir}/metrics.json`));
        assertEquals(metrics.steps, 4);
        for (const phase of ["Gmain", "Greg", "Dmain"]) {
          assert(Number.isFinite(metrics.finalLosses[`${phase}/loss`]), phase);
        }
      },
    );

    await t.step(
      "SIGKILL after the first checkpoint, rerun resumes at step 2 → same hash",
      async () => {
        await runExperiment(mimic3d, crashed.store, { ...TINY, quiet: true, until: "prep" });
        const child = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            PIPELINE_CLI,
            "run",
            MIMIC3D,
            "--store",
            crashed.store.root,
            "--quiet",
            "--preset",
            TINY.preset,
            ...TINY.sets.flatMap((s) => ["--set", s]),
          ],
          env: { MIMIC3D_FAULT: "checkpoint:after-pointer@1", XDG_RUNTIME_DIR: "/tmp" },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stderr = new TextDecoder().decode(child.stderr);
        assertEquals(child.code, 137, `expected SIGKILL, got ${child.code}: ${stderr}`);
        assert(stderr.includes("fault injected at checkpoint:after-pointer"), stderr);
        const resumed = await runExperiment(mimic3d, crashed.store, { ...TINY, quiet: true });
        assertEquals(resumed.nodes.pretrain.resumedFrom, 2);
        assertEquals(resumed.nodes.pretrain.artifact, artifact);
        const report = await verifyStore(crashed.store);
        assertEquals(report.corrupted, []);
      },
    );
  } finally {
    await first.cleanup();
    await second.cleanup();
    await crashed.cleanup();
  }
});

/**
 * The tiny 3-D stage end to end, after a tiny pretrain: a child run SIGKILLed
 * right after imitate's first checkpoint resumes to an artifact identical to
 * two uninterrupted runs (deterministic), the artifact holds what it promises
 * (G_ema with detail planes loads, D_patch, samples, `imitationLoss: "l1"`),
 * and the tensors initialised fresh are exactly the detail blocks.
 */
import mimic3d from "../../experiments/mimic3d.ts";
import { runExperiment, verifyStore } from "../../pipeline/mod.ts";
import { readSafetensors } from "../../kernels/mod.ts";
import { loadGenerator } from "../../stages/io/generator_checkpoint.ts";
import { DISCRIMINATOR_FORMAT } from "../../stages/training/training_loop.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { setupGpu } from "../helpers/check.ts";
import { MIMIC3D, PIPELINE_CLI, tempStore } from "../pretrain/helpers.ts";
import { TINY_IMITATE } from "./helpers.ts";

await setupGpu();

Deno.test("imitate tiny: SIGKILL + resume = uninterrupted runs (bit for bit), complete artifact, fresh tensors = detail blocks", async (t) => {
  const { store, cleanup } = await tempStore();
  const run = (force: string[] = []) =>
    runExperiment(mimic3d, store, { ...TINY_IMITATE, quiet: true, force });
  try {
    let resumed = "";
    await t.step("SIGKILL after imitate's first checkpoint, rerun resumes at step 2", async () => {
      await runExperiment(mimic3d, store, { ...TINY_IMITATE, quiet: true, until: "pretrain" });
      const child = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          PIPELINE_CLI,
          "run",
          MIMIC3D,
          "--store",
          store.root,
          "--quiet",
          "--preset",
          TINY_IMITATE.preset,
          "--until",
          TINY_IMITATE.until,
          ...TINY_IMITATE.sets.flatMap((s) => ["--set", s]),
        ],
        // prep and pretrain are cached: the first checkpoint written is imitate's.
        env: { MIMIC3D_FAULT: "checkpoint:after-pointer@1", XDG_RUNTIME_DIR: "/tmp" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(child.stderr);
      assertEquals(child.code, 137, `expected SIGKILL, got ${child.code}: ${stderr}`);
      const result = await run();
      assertEquals(result.executed, ["imitate"]);
      assertEquals(result.nodes.imitate.resumedFrom, 2);
      resumed = result.nodes.imitate.artifact;
      assertEquals((await verifyStore(store)).corrupted, []);
    });

    await t.step("two uninterrupted runs give the resumed run's artifact", async () => {
      for (let i = 0; i < 2; i++) {
        const fresh = await run(["imitate"]);
        assertEquals(fresh.nodes.imitate.resumedFrom, undefined);
        assertEquals(fresh.nodes.imitate.artifact, resumed);
      }
    });

    await t.step(
      "the artifact: G/G_ema with detail planes, D, D_patch, log, samples, metrics",
      async () => {
        const dir = store.filesDir(resumed);
        const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
        assertEquals(names, [
          "D.safetensors",
          "D_patch.safetensors",
          "G.safetensors",
          "G_ema.safetensors",
          "branch_gap.png",
          "log.jsonl",
          "metrics.json",
          "samples",
        ]);
        const { generator } = await loadGenerator(dir);
        assertEquals(generator.config.kind, "mimic3d");
        assertEquals(generator.config.retidx, [-3, -1]);
        const dPatch = await readSafetensors(`${dir}/D_patch.safetensors`);
        assertEquals(dPatch.metadata.format, DISCRIMINATOR_FORMAT);
        assertEquals(JSON.parse(dPatch.metadata.config).imgResolution, 8); // the rendering resolution
        const samples = [...Deno.readDirSync(`${dir}/samples`)].map((e) => e.name).sort();
        assertEquals(samples, ["000000.000.png", "000000.004.png", "000000.008.png"]);
        const log = Deno.readTextFileSync(`${dir}/log.jsonl`).trim().split("\n").map((l) =>
          JSON.parse(l)
        );
        assertEquals(log.map((l) => l.step), [2, 4]);
        const metrics = JSON.parse(Deno.readTextFileSync(`${dir}/metrics.json`));
        assertEquals(metrics.imitationLoss, "l1");
        // The 3-D vs 2-D branch gap before and after the stage (it changed: G_ema trained).
        const { before, after, seeds } = metrics.branchGap;
        assertEquals(seeds, 2);
        for (const gap of [before, after]) {
          assert(gap.psnr > 0 && Number.isFinite(gap.psnr) && gap.l1 > 0 && gap.l1 < 1, "gap");
        }
        assert(before.psnr !== after.psnr, "the gap was measured on two different generators");
        assertEquals(metrics.steps, 4);
        assertEquals(Object.keys(metrics.parameters), ["G", "D", "D_patch"]);
        const phases = ["Gmain", "Greg", "Dmain", "Dreg", "D_patchmain", "D_patchreg"];
        const seen = new Set(log.flatMap((l) => Object.keys(l.losses)));
        for (const phase of phases) assert(seen.has(`${phase}/loss`), `${phase} ran`);
        assert(Number.isFinite(metrics.finalLosses["Gmain/imitation"]), "imitation logged");

        // Exactly the detail blocks are new: every G_ema entry outside them came from pretrain.
        const fresh: string[] = metrics.freshTensors;
        const detail = [...generator.stateDict().keys()].filter((k) =>
          /^backbone\.synthesis\.b3d16\.block[23]\./.test(k)
        );
        assert(detail.length > 0);
        assertEquals([...fresh].sort(), [...detail].sort());
      },
    );
  } finally {
    await cleanup();
  }
});

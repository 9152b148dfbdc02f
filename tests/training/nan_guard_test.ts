/**
 * The NaN/Inf guard end to end: a D parameter poisoned with NaN just before
 * Dmain of step 3 stops the tiny run with an error naming Dmain and step 3;
 * nothing is stored for pretrain, the checkpoint of step 2 stays, and a clean
 * rerun resumes from it.
 */
import mimic3d from "../../experiments/mimic3d.ts";
import { runExperiment } from "../../pipeline/mod.ts";
import { assign, Tensor } from "../../kernels/mod.ts";
import { trainerTestHooks } from "../../stages/training/gan_trainer.ts";
import { assert, assertEquals, assertThrows } from "../helpers/assert.ts";
import { setupGpu } from "../helpers/check.ts";
import { tempStore, TINY } from "../pretrain/helpers.ts";

await setupGpu();

Deno.test("pretrain NaN guard: names the phase and step, stores nothing, keeps the last checkpoint", async () => {
  const { store, cleanup } = await tempStore();
  try {
    trainerTestHooks.beforePhase = (trainer, phase, step) => {
      if (phase.name !== "Dmain" || step !== 3) return;
      // The last layer's bias: NaN reaches the logits (earlier conv weights pass through D's ±256
      // conv clamp, and WGSL's clamp of NaN is not NaN on every adapter).
      const p = trainer.D.parameters().get("b4.out.bias")!;
      assign(p, Tensor.fromData(new Float32Array(p.size).fill(NaN), p.shape));
    };
    const message = await assertThrows(
      () => runExperiment(mimic3d, store, { ...TINY, quiet: true }),
      "the Dmain phase produced NaN/Inf",
    );
    assert(message.includes("at step 3"), message);
    assert(message.includes("last good checkpoint (step 2) is kept"), message);
    trainerTestHooks.beforePhase = undefined;

    const keys = [...Deno.readDirSync(store.at("keys"))].filter((e) => e.name.endsWith(".json"));
    assertEquals(keys.length, 1, "only prep's artifact is recorded");
    const pointers = [...Deno.readDirSync(store.at("checkpoints"))]
      .filter((e) => e.name.endsWith(".json"))
      .map((e) => JSON.parse(Deno.readTextFileSync(store.at("checkpoints", e.name))));
    assertEquals(pointers.map((p) => p.step), [2]);

    const rerun = await runExperiment(mimic3d, store, { ...TINY, quiet: true });
    assertEquals(rerun.nodes.pretrain.resumedFrom, 2);
  } finally {
    trainerTestHooks.beforePhase = undefined;
    await cleanup();
  }
});

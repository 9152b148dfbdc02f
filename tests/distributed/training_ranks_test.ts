/**
 * Data-parallel training end to end, through the CLI (`run … --gpus 2`: the
 * launcher starts 2 ranks under mpirun, sharing the CPU adapter here): two
 * 2-rank pretrain runs give the same artifact, only rank 0 wrote to the
 * store, and the 2-rank parameters match a 1-rank run with the same global
 * batch within the tolerance below; the imitate stage, started from one
 * pretrain artifact, matches 1 rank the same way and reruns bit for bit.
 *
 * Settings make the 1- and 2-rank runs the same mathematics: global batch 4
 * (2 per rank), minibatch-std group 2 (the interleaved split keeps its
 * groups: {0, 2} and {1, 3}), and no pose-conditioning swap (it rolls the
 * cameras within a rank's batch, as the original does per GPU). What remains
 * is float32 summation order: each rank reduces over 2 samples instead of 4
 * and the gradient mean adds the two halves; per-sample random draws are the
 * same numbers (ShardedRandom). Adam (β₁ = 0) normalises each gradient
 * element (|update| ≤ lr·√t at step t), so rounding differences stay
 * rounding-sized, except where a gradient element is ~0 and its sign flips:
 * then the element differs by up to 2·lr·√t per step.
 */
import { fileURLToPath } from "node:url";
import { nvidiaDeviceNodes } from "../../stages/distributed/gpu_pinning.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { needs, OPEN_MPI } from "../helpers/requires.ts";
import {
  assertParametersAgree,
  entries,
  keyRecords,
  NETWORK_FILES,
  removeStore,
  type Run,
  runStages as runWith,
  SAME_MATH_PRETRAIN,
} from "../helpers/training_runs.ts";

// Without mpirun `--gpus 2` falls back to one process: the tests would fail only after minutes.
const mpi = await needs(OPEN_MPI);

/** mimic3d with a pretrain stage one process runs, so imitate runs on ranks from its artifact. */
const PRETRAINED_ONCE = fileURLToPath(new URL("./pretrained_once_experiment.ts", import.meta.url));
const SETTINGS = [
  ...SAME_MATH_PRETRAIN,
  "pretrain.output.logEveryKimg=0.004",
  "pretrain.output.samplesEveryKimg=0.004",
  "pretrain.output.checkpointEveryKimg=0.004", // a checkpoint after step 1 (written by rank 0)
  "imitate.batch=4", // the tiny preset's imitate: 2 steps, every phase at step 0
  "imitate.loss.gpcRegProb=0",
];

/** The tiny preset with SETTINGS on `gpus` ranks. */
const runStages = (gpus: number, options: Parameters<typeof runWith>[2]): Promise<Run> =>
  runWith(gpus, SETTINGS, options);

Deno.test(mpi.wrap({
  name:
    "data-parallel pretrain: `run --gpus 2` is deterministic, rank 0 alone writes, and matches 1 rank",
  async fn(t) {
    const twoA = await runStages(2, { until: "pretrain" });
    const twoB = await runStages(2, { until: "pretrain" });
    const one = await runStages(1, { until: "pretrain" });
    try {
      await t.step("two 2-rank runs → the same artifact", () => {
        assertEquals(twoB.artifact, twoA.artifact);
        assert(twoA.artifact !== one.artifact, "the world size is in the key and the result");
      });

      await t.step("the launcher says the ranks share the adapter", () => {
        if (nvidiaDeviceNodes().length === 0) {
          assert(twoA.stderr.includes("the 2 ranks share the default WebGPU adapter"), twoA.stderr);
        }
      });

      await t.step("only rank 0 wrote to the store", () => {
        const list = (dir: string) => entries(twoA.store, dir);
        assertEquals(list("runs").length, 1, "one run record");
        assertEquals(list("logs").length, 1, "one JSONL log");
        assertEquals(list("keys").length, 2, "prep and pretrain");
        assertEquals(list("objects").length, 2, "two artifacts; the checkpoint was cleared");
        assertEquals(list("locks"), [], "no lock left");
        const events = Deno.readTextFileSync(`${twoA.store}/logs/${list("logs")[0]}`).trim()
          .split("\n").map((l) => JSON.parse(l));
        const count = (event: string) => events.filter((e) => e.type === event).length;
        assertEquals([count("run_start"), count("stage_start"), count("checkpoint")], [1, 2, 1]);
        // One line per log tick, written by rank 0 (the ranks' losses averaged).
        const log = Deno.readTextFileSync(`${twoA.store}/objects/${twoA.artifact}/out/log.jsonl`)
          .trim().split("\n");
        assertEquals(log.length, 2);
      });

      await t.step(
        "2 ranks vs 1 rank with the same global batch: parameters within tolerance",
        () => {
          assertParametersAgree(one, twoA, NETWORK_FILES, ["pretrain, 1 rank", "2 ranks"]);
          console.log(
            `runs took ${[twoA, twoB, one].map((r) => r.seconds.toFixed(1)).join(", ")} s`,
          );
        },
      );
    } finally {
      for (const run of [twoA, twoB, one]) await removeStore(run);
    }
  },
}));

Deno.test(mpi.wrap({
  name:
    "data-parallel imitate: from one pretrain artifact, 2 ranks match 1 rank; reruns are bit-identical",
  async fn() {
    const one = await runStages(1, { until: "imitate" });
    try {
      // The same store: the 1-process pretrain is cached, imitate runs on 2 ranks from it.
      const twoA = await runStages(2, {
        until: "imitate",
        experiment: PRETRAINED_ONCE,
        store: one.store,
      });
      const stages = keyRecords(one.store).map((k) => k.stage);
      assertEquals(stages.filter((s) => s === "pretrain").length, 1, "one pretrain artifact");
      const twoB = await runStages(2, {
        until: "imitate",
        experiment: PRETRAINED_ONCE,
        store: one.store,
        force: "imitate",
      });
      assertEquals(twoB.artifact, twoA.artifact, "two 2-rank imitate runs → the same artifact");
      // Rank 0 alone wrote: one record and one log per run, the two imitate artifacts, no locks.
      const list = (dir: string) => entries(one.store, dir);
      assertEquals([list("runs").length, list("logs").length], [3, 3]);
      assertEquals(
        [list("keys").length, list("objects").length],
        [4, 4],
        "prep, pretrain, 2 imitate",
      );
      assertEquals(list("locks"), []);
      const log = Deno.readTextFileSync(`${one.store}/objects/${twoA.artifact}/out/log.jsonl`);
      assertEquals(log.trim().split("\n").length, 2, "one line per log tick");
      assertParametersAgree(one, twoA, [...NETWORK_FILES, "D_patch.safetensors"], [
        "imitate, 1 rank",
        "2 ranks",
      ]);
      console.log(`runs took ${[one, twoA, twoB].map((r) => r.seconds.toFixed(1)).join(", ")} s`);
    } finally {
      await removeStore(one);
    }
  },
}));

/**
 * `batchGpu` (the original's --batch-gpu): a batch of 4 trained in two rounds of 2 on one
 * process gives the parameters of one pass over the 4 (to rounding: the rounds are virtual
 * ranks of the same interleaved split, with the same draws and w average), with settings that
 * make the two the same mathematics: minibatch-std group 2 (the split keeps its groups) and no
 * pose swap (it rolls within a round). A batchGpu that does not divide the batch is refused.
 */
import { assert, assertEquals } from "../helpers/assert.ts";
import {
  assertParametersAgree,
  ATOL,
  MIMIC3D,
  NETWORK_FILES,
  removeStore,
  RTOL,
  runStages,
  SAME_MATH_PRETRAIN,
  tensorsOf,
} from "../helpers/training_runs.ts";
import { cli } from "../helpers/cli.ts";

Deno.test("batchGpu: two rounds of 2 train the batch of 4 one pass trains, to rounding", async () => {
  const whole = await runStages(1, SAME_MATH_PRETRAIN, { until: "pretrain" });
  const rounds = await runStages(1, [...SAME_MATH_PRETRAIN, "pretrain.batchGpu=2"], {
    until: "pretrain",
  });
  try {
    assert(whole.artifact !== rounds.artifact, "batchGpu is in the key");
    assertParametersAgree(whole, rounds, NETWORK_FILES, ["one pass of 4", "two rounds of 2"]);
    // The w average moves by a lerp per pass, not a parameter update: no sign flips to allow.
    for (const file of ["G.safetensors", "G_ema.safetensors"]) {
      const [a, b] = [whole, rounds].map((run) =>
        [...tensorsOf(run, file)].find(([name]) => name.endsWith("w_avg"))![1]
      );
      a.forEach((v, i) => assert(Math.abs(v - b[i]) <= ATOL + RTOL * Math.abs(v), `${file} w_avg`));
      assert(a.some((v) => v !== 0), "w_avg moved");
    }
  } finally {
    for (const run of [whole, rounds]) await removeStore(run);
  }
});

Deno.test("batchGpu: one that does not divide a GPU's share of the batch is refused", async () => {
  const store = await Deno.makeTempDir({ prefix: "mimic3d-rounds-" });
  try {
    const { code, stderr } = await cli(
      ...["--store", store, "run", MIMIC3D, "--preset", "tiny", "--until", "pretrain"],
      ...[...SAME_MATH_PRETRAIN, "pretrain.batchGpu=3"].flatMap((s) => ["--set", s]),
    );
    assertEquals(code, 1, stderr);
    const errors = stderr.split("\n").filter((line) => line.startsWith("error:"));
    assertEquals(errors.length, 1, stderr);
    assert(
      errors[0].includes("batchGpu 3 does not divide the 4 images each GPU trains on"),
      stderr,
    );
  } finally {
    await new Deno.Command("chmod", { args: ["-R", "u+w", store] }).output();
    await Deno.remove(store, { recursive: true });
  }
});

/**
 * The `pretrain` pipeline stage: a dataset artifact (`prep`) → the 2-D stage
 * of Mimic3D (`aware3d: true`) or plain EG3D training. The artifact holds
 * `G.safetensors`, `G_ema.safetensors` (generator checkpoints, `loadGenerator`),
 * `D.safetensors`, `log.jsonl` (losses per log tick), `samples/<kimg>.png`
 * and `metrics.json`. Resumable: checkpoints every `output.checkpointEveryKimg`,
 * and a resumed run ends bit-identical to an uninterrupted one.
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { initGpu } from "../../kernels/mod.ts";
import { defineStage } from "../../pipeline/mod.ts";
import { communicatorOf } from "../distributed/communicator.ts";
import { batchShard } from "../distributed/batch_split.ts";
import { pretrainConfigSchema } from "./config.ts";
import { TrainingData } from "./data_loader.ts";
import { Trainer } from "./trainer.ts";
import { runTraining } from "./training_loop.ts";
import { shippedRunFor } from "./shipped_run.ts";

/** Every .ts module under a directory (the networks and kernels whose code shapes the weights). */
function modulesUnder(dir: URL): URL[] {
  const out: URL[] = [];
  const walk = (d: URL) => {
    for (const e of Deno.readDirSync(fileURLToPath(d))) {
      if (e.isDirectory) walk(new URL(`${e.name}/`, d));
      else if (e.name.endsWith(".ts")) out.push(new URL(e.name, d));
    }
  };
  walk(dir);
  return out.sort((a, b) => a.href.localeCompare(b.href));
}

const source = (path: string) => new URL(path, import.meta.url);

/** The pretrain stage. */
export const pretrain = defineStage({
  name: "pretrain",
  sources: [
    ...modulesUnder(source("./")),
    ...modulesUnder(source("../model/")),
    ...modulesUnder(source("../../kernels/")),
    // How ranks split the batch, draw per-sample numbers and average gradients.
    source("../distributed/batch_split.ts"),
    source("../distributed/communicator.ts"),
    source("../distributed/gradient_sync.ts"),
    source("../distributed/sharded_random.ts"),
    source("../distributed/state_broadcast.ts"),
    source("../io/camera_label.ts"),
    source("../io/dataset_reader.ts"),
    source("../io/generator_checkpoint.ts"),
    source("../io/image_grid.ts"),
    source("../io/png.ts"),
    source("../io/zip_reader.ts"),
    source("../prep/seeded_rng.ts"),
    source("../render/depth_colormap.ts"),
    source("../render/seed_latent.ts"),
  ],
  config: pretrainConfigSchema,
  inputs: ["data"],
  externalFiles: (c) => (c.shippedRun ? [c.shippedRun] : []),
  // `run --gpus N`: every rank trains on its part of the global batch.
  dataParallel: true,
  async run(ctx) {
    const comm = communicatorOf(ctx.world);
    await initGpu();
    const shipped = ctx.config.shippedRun
      ? await shippedRunFor(pretrain, ctx.config, ctx.inputs.data, null)
      : undefined;
    const data = await TrainingData.open(join(ctx.inputs.data, "dataset.zip"), {
      seed: ctx.seed,
      batch: ctx.config.batch,
      xflip: ctx.config.xflip,
      shard: batchShard(ctx.config.batch, comm),
    });
    try {
      const trainer = new Trainer(ctx.config, data.resolution, ctx.seed, data, comm);
      await runTraining(ctx, trainer, data, { shipped });
    } finally {
      data.close();
    }
  },
});

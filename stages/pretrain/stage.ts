/**
 * The `pretrain` pipeline stage: a dataset artifact (`prep`) → the 2-D stage
 * of Mimic3D (`aware3d: true`) or plain EG3D training. The artifact holds
 * `TRAINED_OUTS` (`outs.ts`): the networks, the log, sample grids and metrics. Resumable: checkpoints every `output.checkpointEveryKimg`,
 * and a resumed run ends bit-identical to an uninterrupted one.
 * @module
 */
import { join } from "node:path";
import { initGpu } from "../../kernels/mod.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { communicatorOf } from "../distributed/communicator.ts";
import { trainingRanks } from "../distributed/data_parallel.ts";
import { pretrainConfigSchema } from "./config.ts";
import { TrainingData } from "../training/data_loader.ts";
import { PretrainTrainer } from "./trainer.ts";
import { runTraining } from "../training/training_loop.ts";
import { shippedRunFor } from "../training/shipped_run.ts";
import { TRAINED_OUTS } from "../io/trained_outs.ts";
import { PREP_OUTS } from "../prep/outs.ts";

/** The pretrain stage. */
export const pretrain = defineStage({
  name: "pretrain",
  // The code version is this module's import closure (pipeline/import_closure.ts).
  sources: [import.meta.url],
  config: pretrainConfigSchema,
  inputs: ["data"],
  outs: TRAINED_OUTS,
  externalFiles: (c) => (c.shippedRun ? [c.shippedRun] : []),
  // `run --gpus N`: every rank trains on its part of the global batch.
  dataParallel: true,
  async run(ctx) {
    const comm = communicatorOf(ctx.world);
    await initGpu();
    const shipped = ctx.config.shippedRun
      ? await shippedRunFor(pretrain, ctx.config, ctx.inputs.data, null)
      : undefined;
    const ranks = trainingRanks(comm, ctx.config.batch, ctx.config.batchGpu);
    const data = await TrainingData.open(join(ctx.inputs.data, PREP_OUTS.dataset), {
      seed: ctx.seed,
      batch: ctx.config.batch,
      xflip: ctx.config.xflip,
      part: ranks.part,
    });
    try {
      const trainer = new PretrainTrainer(ctx.config, data.resolution, ctx.seed, data, ranks);
      await runTraining(ctx, trainer, data, { shipped });
    } finally {
      data.close();
    }
  },
});

/**
 * The `imitate` pipeline stage (Mimic3D's 3-D stage): the dataset (`data`)
 * and the pretrain artifact (`pretrained`) → G with detail planes trained so
 * its 3-D branch imitates the 2-D branch, plus the patch discriminator. The
 * artifact holds `IMITATE_OUTS` (`outs.ts`): the networks (generators with detail
 * planes), the log, sample grids (SR image, 3-D direct render, depth) and
 * `metrics.json` (with `imitationLoss` and `imitationWeight`: which distance was used,
 * `freshTensors`: what the pretrain artifact did not provide, and `branchGap`: PSNR / L1
 * between the 3-D branch's direct render and the SR image before and after the stage, drawn
 * in `branch_gap.png`: per seed and view, SR and 3-D before, SR and 3-D after). Checkpoints,
 * resume, logs and the NaN guard are the pretrain stage's training loop.
 * @module
 */
import { join } from "node:path";
import { initGpu } from "../../kernels/mod.ts";
import { defineStage } from "../../pipeline/stage.ts";
import { communicatorOf } from "../distributed/communicator.ts";
import { trainingRanks } from "../distributed/data_parallel.ts";
import { leaderFirst } from "../distributed/leader_first.ts";
import { TrainingData } from "../training/data_loader.ts";
import { runTraining } from "../training/training_loop.ts";
import { shippedRunFor } from "../training/shipped_run.ts";
import { imitateConfigSchema } from "./config.ts";
import { imitationDistance } from "./imitation_distance.ts";
import { imitateKeyConfig, lpipsExternalFiles } from "./lpips_weights.ts";
import { loadPretrained } from "./pretrained.ts";
import { renderBranchSampleGrid } from "./samples.ts";
import { gapComparisonGrid, measureBranchGap } from "./branch_gap.ts";
import { sampleCameras } from "../training/samples.ts";
import { encodePng } from "../io/png.ts";
import { ImitateTrainer } from "./trainer.ts";
import { IMITATE_OPTIONAL_OUTS, IMITATE_OUTS } from "./outs.ts";
import { PREP_OUTS } from "../prep/outs.ts";

/** The imitate stage. */
export const imitate = defineStage({
  name: "imitate",
  // The code version is this module's import closure (pipeline/import_closure.ts).
  sources: [import.meta.url],
  config: imitateConfigSchema,
  inputs: ["data", "pretrained"],
  outs: IMITATE_OUTS,
  optionalOuts: IMITATE_OPTIONAL_OUTS,
  externalFiles: (c) => [
    ...lpipsExternalFiles(c.imitation),
    ...(c.shippedRun ? [c.shippedRun] : []),
  ],
  keyConfig: imitateKeyConfig,
  // `run --gpus N`: every rank trains on its part of the global batch.
  dataParallel: true,
  async run(ctx) {
    const comm = communicatorOf(ctx.world);
    await initGpu();
    const c = ctx.config;
    const shipped = c.shippedRun
      ? await shippedRunFor(imitate, c, ctx.inputs.data, ctx.inputs.pretrained)
      : undefined;
    // Rank 0 first: it downloads pinned LPIPS weights once; the other ranks then find them.
    // A shipped run is not trained here: no imitation distance to load.
    const distance = c.imitation.weight > 0 && !shipped
      ? await leaderFirst(comm, () =>
        imitationDistance(c.imitation, {
          hashFile: (path) => ctx.hashFile(path),
          log: (line) => ctx.log(line),
        }))
      : null;
    const networks = await loadPretrained(ctx.inputs.pretrained, ctx.seed);
    const ranks = trainingRanks(comm, c.batch, c.batchGpu);
    const data = await TrainingData.open(join(ctx.inputs.data, PREP_OUTS.dataset), {
      seed: ctx.seed,
      batch: c.batch,
      xflip: c.xflip,
      part: ranks.part,
    });
    try {
      if (data.resolution !== networks.G.config.imgResolution) {
        throw new Error(
          `imitate: the dataset has ${data.resolution}² images, the pretrained generator makes ` +
            `${networks.G.config.imgResolution}²`,
        );
      }
      const trainer = new ImitateTrainer(c, networks, distance, ctx.seed, data, ranks);
      // Which distance the imitation term used, said plainly in the log and the metrics.
      const report = {
        imitationLoss: c.imitation.loss,
        imitationWeight: c.imitation.weight,
        freshTensors: networks.freshTensors,
      };
      // The gap before training: the pretrained G_ema with its fresh detail planes (on every
      // run, resumed or not, so the artifact does not depend on where a run was interrupted).
      const gapSeeds = Array.from({ length: c.output.gapSeeds }, (_, i) => i);
      const cameras = sampleCameras(data);
      const before = comm.isLeader && gapSeeds.length
        ? await measureBranchGap(networks.gEma, gapSeeds, cameras)
        : null;
      await runTraining(ctx, trainer, data, {
        shipped,
        renderSamples: renderBranchSampleGrid,
        startLog: report,
        metrics: report,
        finish: async (t, outDir) => {
          if (!before) return {};
          const after = await measureBranchGap(t.gEma, gapSeeds, cameras);
          const grid = gapComparisonGrid(before.views, after.views, gapSeeds);
          await Deno.writeFile(join(outDir, IMITATE_OUTS.branchGap), encodePng(grid));
          const branchGap = { before: before.gap, after: after.gap, seeds: gapSeeds.length };
          ctx.log(
            `3-D vs 2-D branch: PSNR ${before.gap.psnr.toFixed(2)} → ${
              after.gap.psnr.toFixed(2)
            } dB, L1 ${before.gap.l1.toFixed(4)} → ${after.gap.l1.toFixed(4)}`,
            branchGap,
          );
          return { branchGap };
        },
      });
    } finally {
      data.close();
    }
  },
});

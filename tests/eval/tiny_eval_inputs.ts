/**
 * Inputs for eval tests: a random-init tiny Mimic3D generator saved as a
 * model artifact (with a short training log in the pretrain stage's format),
 * as a pipeline stage so tests can wire it beside `prep`.
 */
import { join } from "node:path";
import { z } from "zod";
import { Rng, tensor } from "../../kernels/mod.ts";
import { defineStage, node } from "../../pipeline/mod.ts";
import { prep } from "../../stages/prep/stage.ts";
import { evaluate } from "../../stages/eval/stage.ts";
import { referenceStats } from "../../stages/eval/reference_stats.ts";
import { type GeneratorConfig, TriplaneGenerator } from "../../stages/model/generator.ts";
import { saveGenerator } from "../../stages/io/generator_checkpoint.ts";
import { encodePng } from "../../stages/io/png.ts";
import { IMITATE_OUTS } from "../../stages/imitate/outs.ts";

/** A Mimic3D generator small enough for the CPU adapter: 32² images, 16² planes + 32² detail. */
export function tinyGeneratorConfig(kind: "mimic3d" | "eg3d" = "mimic3d"): GeneratorConfig {
  return {
    kind,
    zDim: 16,
    cDim: 25,
    wDim: 16,
    imgResolution: 32,
    planeResolution: 16,
    planeChannels: 8,
    neuralRenderingResolution: 16,
    mappingLayers: 2,
    channelBase: 256,
    channelMax: 32,
    convClamp: null,
    ...(kind === "mimic3d" ? { aware3dRes: [16], retidx: [-3, -1] } : {}),
    rendering: {
      depthResolution: 8,
      depthResolutionImportance: 8,
      rayStart: 2.25,
      rayEnd: 3.3,
      boxWarp: 1,
      whiteBack: false,
    },
    cScale: 1,
    decoderOutputDim: 8,
    superresolution: {
      kind: "SuperresolutionHybrid2X",
      inputResolution: 16,
      blockChannels: [8, 8],
      antialias: true,
    },
    superresolutionNoiseMode: "none",
  };
}

/**
 * Writes a random-init tiny generator (G_ema.safetensors) and a 3-line
 * log.jsonl. `densityBias` is added to the decoder's raw density: a random
 * network has almost no density, so with a large bias its box is solid —
 * surfaces, depth and reprojection then have something to measure.
 * `gapSeeds` > 0 also writes the imitate stage's branch-gap record (stand-in
 * numbers, a 1-pixel grid), which eval reads or measures again.
 */
export const tinyModel = defineStage({
  name: "test-tiny-model",
  sources: [import.meta.url],
  config: z.object({
    kind: z.enum(["mimic3d", "eg3d"]).default("mimic3d"),
    densityBias: z.number().default(0),
    gapSeeds: z.number().int().nonnegative().default(0),
  }),
  // The files of a trained-model artifact eval reads.
  outs: {
    gEma: IMITATE_OUTS.gEma,
    log: IMITATE_OUTS.log,
    metrics: IMITATE_OUTS.metrics,
    branchGap: IMITATE_OUTS.branchGap,
  },
  optionalOuts: ["metrics", "branchGap"],
  async run(ctx) {
    const g = new TriplaneGenerator(tinyGeneratorConfig(ctx.config.kind), new Rng(ctx.seed + 1));
    if (ctx.config.densityBias !== 0) {
      const fc = g.decoder.output;
      const bias = Float64Array.from(await fc.bias!.read());
      bias[0] += ctx.config.densityBias / fc.biasGain;
      g.loadStateDict(new Map([["decoder.net.2.bias", tensor(bias, [bias.length])]]), {
        strict: false,
      });
    }
    await saveGenerator(join(ctx.outDir, tinyModel.outs.gEma), g, { source: "test" });
    const log = [0, 1, 2].map((step) =>
      JSON.stringify({
        step,
        kimg: step * 0.004,
        losses: { "Gmain/loss": 0.7 - 0.1 * step, "Dmain/loss": 1.3 + 0.05 * step * step },
      })
    );
    await Deno.writeTextFile(join(ctx.outDir, tinyModel.outs.log), log.join("\n") + "\n");
    if (ctx.config.gapSeeds > 0) {
      const gap = { psnr: 12.5, l1: 0.25 };
      const record = { branchGap: { before: gap, after: gap, seeds: ctx.config.gapSeeds } };
      await Deno.writeTextFile(join(ctx.outDir, tinyModel.outs.metrics), JSON.stringify(record));
      const pixel = { width: 1, height: 1, channels: 3, data: new Uint8Array(3) };
      await Deno.writeFile(join(ctx.outDir, tinyModel.outs.branchGap), encodePng(pixel));
    }
  },
});

/** The eval tests' DAG: a procedural dataset, the tiny model beside it, reference stats, eval. */
export const tinyEvalDag = {
  prep: node(prep, { config: "data" }),
  model: node(tinyModel, { config: "model" }),
  reference: node(referenceStats, { config: "eval", inputs: { data: "prep" } }),
  eval: node(evaluate, {
    config: "eval",
    inputs: { model: "model", data: "prep", reference: "reference" },
  }),
};

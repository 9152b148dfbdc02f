/**
 * The toy experiment: five tiny deterministic stages exercising every pipeline feature
 * (used by tests/pipeline and bench/pipeline_bench.ts).
 *
 *   generate ─┬─► normalize ─┬──────────────► evaluate
 *             └─► featurize ─┴─► train (checkpoints) ─┘
 */
import { z } from "zod";
import { defineExperiment, node } from "../pipeline/mod.ts";
import { evaluate, featurize, generate, normalize, train } from "./toy_stages.ts";

/** Config: every knob with its default. */
export const config = z.strictObject({
  seed: z.number().int().default(0),
  data: z.strictObject({ count: z.number().int().positive().default(256) }).prefault({}),
  normalize: z.strictObject({ scale: z.number().default(2) }).prefault({}),
  features: z.strictObject({ power: z.number().int().min(1).default(2) }).prefault({}),
  train: z.strictObject({
    steps: z.number().int().positive().default(40),
    lr: z.number().positive().default(0.1),
    momentum: z.number().min(0).max(1).default(0),
    checkpointEvery: z.number().int().positive().default(5),
  }).prefault({}),
  eval: z.strictObject({ metric: z.enum(["mse", "mae"]).default("mse") }).prefault({}),
});

export default defineExperiment({
  name: "toy",
  config,
  presets: { quick: { data: { count: 16 }, train: { steps: 10 } } },
  dag: {
    generate: node(generate, { config: "data" }),
    normalize: node(normalize, { config: "normalize", inputs: { data: "generate" } }),
    featurize: node(featurize, { config: "features", inputs: { data: "generate" } }),
    train: node(train, { config: "train", inputs: { target: "normalize", start: "featurize" } }),
    evaluate: node(evaluate, { config: "eval", inputs: { model: "train", target: "normalize" } }),
  },
});

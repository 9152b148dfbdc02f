/**
 * Toy stages for the pipeline's tests and bench: small, deterministic, fast, and observable
 * (each execution appends its name to `$TOY_EXEC_LOG` when set, so tests can count runs).
 * `train` checkpoints and resumes; `$TOY_STEP_DELAY_MS` slows its steps so tests can kill it.
 */
import * as path from "node:path";
import { z } from "zod";
import { defineStage } from "../pipeline/mod.ts";

function noteExecution(what: string) {
  const file = Deno.env.get("TOY_EXEC_LOG");
  if (file) Deno.writeTextFileSync(file, `${what}\n`, { append: true });
}

/** mulberry32: a tiny deterministic PRNG (toy data only). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const readNumbers = async (dir: string, file: string) =>
  new Float64Array((await Deno.readFile(path.join(dir, file))).buffer);
const writeNumbers = (dir: string, file: string, values: Float64Array) =>
  Deno.writeFile(path.join(dir, file), new Uint8Array(values.buffer));

/** Draws `count` seeded random numbers. */
export const generate = defineStage({
  name: "toy-generate",
  sources: [import.meta.url],
  config: z.object({ count: z.number().int().positive() }),
  outs: { values: "values.f64" },
  async run(ctx) {
    noteExecution("generate");
    const random = prng(ctx.seed * 7919 + 1);
    const values = Float64Array.from({ length: ctx.config.count }, () => random());
    await writeNumbers(ctx.outDir, generate.outs.values, values);
  },
});

/** Scales the data. */
export const normalize = defineStage({
  name: "toy-normalize",
  sources: [import.meta.url],
  config: z.object({ scale: z.number() }),
  inputs: ["data"],
  outs: { target: "target.f64" },
  seeded: false,
  async run(ctx) {
    noteExecution("normalize");
    const values = await readNumbers(ctx.inputs.data, generate.outs.values);
    await writeNumbers(ctx.outDir, normalize.outs.target, values.map((v) => v * ctx.config.scale));
  },
});

/** Raises the data to a power (the training start point). */
export const featurize = defineStage({
  name: "toy-featurize",
  sources: [import.meta.url],
  config: z.object({ power: z.number().int() }),
  inputs: ["data"],
  outs: { start: "start.f64" },
  seeded: false,
  async run(ctx) {
    noteExecution("featurize");
    const values = await readNumbers(ctx.inputs.data, generate.outs.values);
    await writeNumbers(ctx.outDir, featurize.outs.start, values.map((v) => v ** ctx.config.power));
  },
});

/** A checkpointing "training" loop: noisy momentum descent of start towards target. */
export const train = defineStage({
  name: "toy-train",
  sources: [import.meta.url],
  config: z.object({
    steps: z.number().int().positive(),
    lr: z.number().positive(),
    momentum: z.number(),
    checkpointEvery: z.number().int().positive(),
  }),
  inputs: ["target", "start"],
  outs: { model: "model.f64" },
  async run(ctx) {
    const { steps, lr, momentum, checkpointEvery } = ctx.config;
    const target = await readNumbers(ctx.inputs.target, normalize.outs.target);
    let state = await readNumbers(ctx.inputs.start, featurize.outs.start);
    let velocity = new Float64Array(state.length);
    let step = 0;
    const saved = await ctx.resume();
    if (saved) {
      step = saved.step;
      state = new Float64Array(saved.files["state.f64"].slice().buffer);
      velocity = new Float64Array(saved.files["velocity.f64"].slice().buffer);
    }
    noteExecution(saved ? `train resumed@${step}` : "train");
    const delayMs = Number(Deno.env.get("TOY_STEP_DELAY_MS") ?? "0");
    const bar = ctx.progress(steps);
    bar.update(step);
    while (step < steps) {
      // Noise depends only on (seed, step): a resumed run draws exactly what it would have.
      const random = prng(ctx.seed * 1_000_003 + step);
      for (let i = 0; i < state.length; i++) {
        const grad = state[i] - target[i] + (random() - 0.5) * 0.01;
        velocity[i] = momentum * velocity[i] - lr * grad;
        state[i] += velocity[i];
      }
      step++;
      bar.update(step);
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      if (step % checkpointEvery === 0 && step < steps) {
        await ctx.checkpoint({
          step,
          files: {
            "state.f64": new Uint8Array(state.buffer.slice(0)),
            "velocity.f64": new Uint8Array(velocity.buffer.slice(0)),
          },
        });
      }
    }
    await writeNumbers(ctx.outDir, train.outs.model, state);
  },
});

/** Scores the model against the target: metrics.json with `loss` and `score`. */
export const evaluate = defineStage({
  name: "toy-evaluate",
  sources: [import.meta.url],
  config: z.object({ metric: z.enum(["mse", "mae"]) }),
  inputs: ["model", "target"],
  outs: { metrics: "metrics.json" },
  seeded: false,
  async run(ctx) {
    noteExecution("evaluate");
    const model = await readNumbers(ctx.inputs.model, train.outs.model);
    const target = await readNumbers(ctx.inputs.target, normalize.outs.target);
    let total = 0;
    for (let i = 0; i < model.length; i++) {
      const diff = model[i] - target[i];
      total += ctx.config.metric === "mse" ? diff * diff : Math.abs(diff);
    }
    const loss = total / model.length;
    const metrics = { loss, score: 100 / (1 + 100 * loss) };
    await Deno.writeTextFile(
      path.join(ctx.outDir, evaluate.outs.metrics),
      JSON.stringify(metrics, null, 2),
    );
  },
});

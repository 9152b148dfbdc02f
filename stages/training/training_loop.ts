/**
 * The training loop of the `pretrain` and `imitate` stages: steps, and what happens between
 * them on a schedule of whole steps — log ticks (statistics read back, the
 * NaN/Inf guard, JSONL), sample grids, checkpoints — then the final outputs.
 * The GPU runs behind the CPU, paced by `TrainingRanks.stepRecorded` (one
 * process: each step is one submit, made once the previous step has finished).
 *
 * Everything that enters the artifact is deterministic (losses, samples,
 * weights); timings and memory go only to the run's log.
 *
 * Several processes (`TrainingRanks`): every one runs this loop in step; the
 * statistics of a tick and of a checkpoint are combined across them, Ctrl-C on
 * any stops all at the same step, and only the leader renders samples and
 * writes checkpoints and the artifact (the pipeline keeps the others away
 * from the store).
 * @module
 */
import { join } from "node:path";
import { flush, memoryStats } from "../../kernels/mod.ts";
import type { StageContext } from "../../pipeline/stage.ts";
import { GENERATOR_FORMAT } from "../io/generator_checkpoint.ts";
import { safetensorsBytes } from "./tensor_readback.ts";
import { encodePng } from "../io/png.ts";
import type { PixelImage } from "../io/png.ts";
import type { TriplaneGenerator } from "../model/generator.ts";
import { intervalSteps, stepsForKimg } from "./steps.ts";
import type { TrainingData } from "./data_loader.ts";
import type { GanTrainer } from "./gan_trainer.ts";
import { type CarriedFiles, restoreTrainingState, saveTrainingState } from "./checkpoint_state.ts";
import { renderSampleGrid, type SampleCameras, sampleCameras } from "./samples.ts";
import { firstNonFinite, NonFiniteLossError } from "./nan_guard.ts";
import { shareTrainerState, trainerTensors } from "./rank_state.ts";
import { adoptShippedRun, type ShippedRun } from "./shipped_run.ts";
import { networkFile, TRAINED_OUTS } from "../io/trained_outs.ts";

/** Metadata format of `D.safetensors` (and `D_patch.safetensors`). */
export const DISCRIMINATOR_FORMAT = "mimic3d-ts/discriminator@1";

/** The part of a training stage's config the loop reads: length, batch, output schedule. */
export interface TrainingRunConfig {
  kimg: number;
  batch: number;
  /** How often (kimg) to log, write sample grids and checkpoint; how many sample rows. */
  output: {
    logEveryKimg: number;
    samplesEveryKimg: number;
    checkpointEveryKimg: number;
    sampleSeeds: number;
  };
}

/** What differs between the stages' loops: the sample grid and extra log/metrics fields. */
export interface TrainingRunOptions {
  /** The sample grid of G_ema for fixed seeds (default: SR image, raw image, depth per view). */
  renderSamples?: (
    gEma: TriplaneGenerator,
    seeds: readonly number[],
    cameras: SampleCameras,
  ) => Promise<PixelImage>;
  /** Extra fields of the first log record of a fresh run. */
  startLog?: Record<string, unknown>;
  /** Extra fields of `metrics.json`. */
  metrics?: Record<string, unknown>;
  /**
   * Runs on the leader after the last step, before the artifact is written:
   * may write extra files into `outDir`; returns more `metrics.json` fields.
   */
  finish?: (trainer: GanTrainer, outDir: string) => Promise<Record<string, unknown>>;
  /** A finished run to take instead of training (already checked against the stage). */
  shipped?: ShippedRun;
}

/** Artifact files produced during training (log lines, sample grids), carried through checkpoints. */
class RunOutputs {
  private logLines: string[] = [];
  readonly samples = new Map<string, Uint8Array>();
  lastLosses: Record<string, number> = {};

  load(carried: CarriedFiles): void {
    const log = carried[TRAINED_OUTS.log];
    this.logLines = log ? new TextDecoder().decode(log).split("\n").filter(Boolean) : [];
    const last = this.logLines.at(-1);
    if (last) this.lastLosses = JSON.parse(last).losses;
    for (const [name, bytes] of Object.entries(carried)) {
      if (name.startsWith(TRAINED_OUTS.samples)) this.samples.set(name, bytes);
    }
  }

  appendLog(line: Record<string, unknown>): void {
    this.logLines.push(JSON.stringify(line));
  }

  files(): CarriedFiles {
    const files: CarriedFiles = { [TRAINED_OUTS.log]: this.logBytes() };
    for (const [name, bytes] of this.samples) files[name] = bytes;
    return files;
  }

  logBytes(): Uint8Array {
    return new TextEncoder().encode(this.logLines.map((l) => l + "\n").join(""));
  }
}

/** Sample grid file name: kimg with three decimals, zero-padded so names sort. */
export function sampleFileName(step: number, batch: number): string {
  return `${TRAINED_OUTS.samples}${((step * batch) / 1000).toFixed(3).padStart(10, "0")}.png`;
}

/** Trains to the configured length, resuming from the stage's checkpoint if any, and writes the artifact. */
export async function runTraining<C extends TrainingRunConfig, I extends string>(
  ctx: StageContext<C, I>,
  trainer: GanTrainer,
  data: TrainingData,
  options: TrainingRunOptions = {},
): Promise<void> {
  const renderSamples = options.renderSamples ?? renderSampleGrid;
  const cfg = ctx.config;
  const batch = cfg.batch;
  const total = stepsForKimg(cfg.kimg, batch);
  const every = {
    log: intervalSteps(cfg.output.logEveryKimg, batch),
    samples: intervalSteps(cfg.output.samplesEveryKimg, batch),
    checkpoint: intervalSteps(cfg.output.checkpointEveryKimg, batch),
  };
  const kimg = (step: number) => Number(((step * batch) / 1000).toFixed(3));
  const outputs = new RunOutputs();
  const cameras = sampleCameras(data);
  const seeds = Array.from({ length: cfg.output.sampleSeeds }, (_, i) => i);
  const phaseOrder = trainer.phases.map((p) => p.name);
  const ranks = trainer.ranks;
  const leader = ranks.isLeader;

  let lastCheckpoint: number | null = null;
  // Every rank gets rank 0's checkpoint from the pipeline, then rank 0's state from here.
  const saved = await ctx.resume();
  if (saved) {
    outputs.load(restoreTrainingState(trainer, saved.files));
    lastCheckpoint = saved.step;
  } else if (options.shipped) {
    outputs.load(adoptShippedRun(trainer, options.shipped));
    const { origin } = options.shipped.info;
    ctx.log(
      `took the shipped run ${options.shipped.path}: ${total} steps trained on ${origin.device} ` +
        `in ${(origin.seconds / 60).toFixed(1)} min (${origin.command})`,
      { shippedRun: origin },
    );
  }
  await shareTrainerState(trainer);
  if (!saved && !options.shipped) {
    ctx.log(`training ${trainer.G.config.kind} for ${total} steps`, {
      kind: trainer.G.config.kind,
      steps: total,
      parameters: trainer.parameterCounts(),
      phases: trainer.phases,
      resolution: data.resolution,
      dataset: data.length,
      ...options.startLog,
      ...ranks.logFields,
    });
    if (leader) await writeSamples(0);
  }

  async function writeSamples(step: number) {
    const grid = await renderSamples(trainer.gEma, seeds, cameras);
    outputs.samples.set(sampleFileName(step, batch), encodePng(grid));
  }

  let clock = { time: performance.now(), step: trainer.step };
  async function tick(step: number) {
    const stats = await trainer.metrics.drain((s) => ranks.combineMetrics(s));
    const bad = firstNonFinite(stats, phaseOrder);
    if (bad) {
      throw new NonFiniteLossError(
        bad.phase,
        bad.metric,
        bad.step,
        batch,
        lastCheckpoint,
        trainer.stage,
      );
    }
    const losses: Record<string, number> = {};
    for (const name of [...stats.keys()].sort()) losses[name] = stats.get(name)!.mean;
    outputs.lastLosses = losses;
    outputs.appendLog({ step, kimg: kimg(step), losses });
    const now = performance.now();
    const secPerKimg = (now - clock.time) / 1000 / (((step - clock.step) * batch) / 1000);
    clock = { time: now, step };
    const memory = memoryStats();
    const summary = Object.entries(losses).filter(([k]) => k.endsWith("/loss"))
      .map(([k, v]) => `${k.split("/")[0]} ${v.toFixed(4)}`).join(", ");
    ctx.log(`kimg ${kimg(step)}: ${summary}; ${secPerKimg.toFixed(1)} s/kimg`, {
      step,
      kimg: kimg(step),
      losses,
      secPerKimg,
      gpuMemory: { inUseMiB: memory.inUse / 2 ** 20, peakMiB: memory.peak / 2 ** 20 },
    });
  }

  async function checkpoint(step: number) {
    const metrics = await ranks.checkpointMetrics(trainer.metrics);
    // The other ranks' `ctx.checkpoint` stores nothing: skip reading their state back.
    const files = leader ? await saveTrainingState(trainer, outputs.files(), metrics) : {};
    await ctx.checkpoint({ step, files });
    lastCheckpoint = step;
  }

  const bar = ctx.progress(kimg(total), "kimg");
  bar.update(kimg(trainer.step));
  let next = trainer.step < total ? data.batchAt(trainer.step) : null;
  while (next) {
    const real = await next;
    await trainer.pacedStep(real, () => {
      // Decode the next batch while the GPU works on this one.
      next = trainer.step < total ? data.batchAt(trainer.step) : null;
      real.images.dispose();
      real.labels.dispose();
    });
    const step = trainer.step;
    const last = step === total;
    const due = (n: number) => step % n === 0 || last;
    if (due(every.log) || due(every.samples) || due(every.checkpoint)) await tick(step);
    if (due(every.samples) && leader) await writeSamples(step);
    // Ctrl-C: save where we are (the pipeline then stops the run) so a rerun resumes here.
    const stop = await ranks.stopVote(ctx.signal.aborted);
    if (!last && (step % every.checkpoint === 0 || stop)) await checkpoint(step);
    if (stop && !last) {
      throw new Error(`stopped at step ${step}: another rank was interrupted; rerun to resume`);
    }
    bar.update(kimg(step));
  }
  await ranks.settleVotes();
  await flush();
  await ranks.assertAgree(trainerTensors(trainer), "training states");
  if (!leader) return;
  const finished = options.finish ? await options.finish(trainer, ctx.outDir) : {};
  await writeArtifact(ctx.outDir, trainer, outputs, total, batch, {
    ...options.metrics,
    ...(options.shipped ? { shippedRun: options.shipped.info.origin } : {}),
    ...finished,
  });
}

async function writeArtifact(
  outDir: string,
  trainer: GanTrainer,
  outputs: RunOutputs,
  steps: number,
  batch: number,
  extraMetrics: Record<string, unknown>,
): Promise<void> {
  const provenance = { stage: trainer.stage, kimg: String((steps * batch) / 1000) };
  // The generator format of `saveGenerator` (loadable by `loadGenerator`), read back in one go.
  const { device: _g, ...gConfig } = trainer.G.config;
  const generatorMeta = {
    ...provenance,
    format: GENERATOR_FORMAT,
    config: JSON.stringify(gConfig),
  };
  const files: [string, Uint8Array][] = [
    [TRAINED_OUTS.G, await safetensorsBytes(trainer.G.stateDict(), generatorMeta)],
    [TRAINED_OUTS.gEma, await safetensorsBytes(trainer.gEma.stateDict(), generatorMeta)],
  ];
  // Every other trained network is a discriminator (D, Mimic3D's D_patch).
  for (const [net, module] of Object.entries(trainer.networks)) {
    if (module === trainer.G) continue;
    const { device: _d, ...dConfig } = module.config as { device?: unknown };
    files.push([
      networkFile(net),
      await safetensorsBytes(module.stateDict(), {
        ...provenance,
        format: DISCRIMINATOR_FORMAT,
        config: JSON.stringify(dConfig),
      }),
    ]);
  }
  for (const [name, bytes] of files) await Deno.writeFile(join(outDir, name), bytes);
  await Deno.writeFile(join(outDir, TRAINED_OUTS.log), outputs.logBytes());
  await Deno.mkdir(join(outDir, TRAINED_OUTS.samples));
  for (const [name, bytes] of outputs.samples) await Deno.writeFile(join(outDir, name), bytes);
  const metrics = {
    steps,
    kimg: (steps * batch) / 1000,
    kind: trainer.G.config.kind,
    parameters: trainer.parameterCounts(),
    finalLosses: outputs.lastLosses,
    ...extraMetrics,
  };
  await Deno.writeTextFile(
    join(outDir, TRAINED_OUTS.metrics),
    JSON.stringify(metrics, null, 2) + "\n",
  );
}

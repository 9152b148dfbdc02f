/**
 * Training throughput of the `pretrain` stage and of the `imitate` (3-D)
 * stage: sec/kimg over whole lazy-regularisation cycles (every phase at its
 * real frequency), the median time of each phase alone (Gmain, Greg, Dmain,
 * Dreg, and for imitate D_patchmain, D_patchreg), and peak GPU memory, for the
 * `small` preset and the paper's `ffhq512` at batch 4 and 8, and the 3-D stage
 * at FFHQ-512 batch 4 (`imitate-ffhq512-b4`: patch render + imitation + patch
 * D, compare with the original's 190.2 s/kimg in bench/BASELINES.md). Its
 * imitation term is LPIPS-VGG with random weights — the real network's cost,
 * without the weight files, which only change values. Data are synthetic
 * (fixed random images, FFHQ-like cameras): the dataset is not what is
 * measured. Wall clock after a warm-up: the cycle's steps paced as in training (one rank:
 * the GPU a step behind the CPU; several: the CPU at most a phase ahead — `TrainingRanks`), flushed once at its end; each phase alone flushed.
 *
 *   deno run -A bench/train_bench.ts                 small, ffhq512 b4, ffhq512 b8, imitate-ffhq512-b4
 *   deno run -A bench/train_bench.ts --only imitate-ffhq512-b4
 *   deno run -A bench/train_bench.ts --quick         the tiny preset, both stages (CPU adapter smoke test)
 *   deno run -A bench/train_bench.ts --profile       also GPU time per op over one more cycle
 *   deno run -A bench/train_bench.ts --only ffhq512-b32          batch 32 in two rounds of 16
 *   deno run -A bench/train_bench.ts --only ffhq512-b32 --batch-gpu 8   … in four rounds of 8
 *   deno run -A bench/train_bench.ts --plan-memory --only ffhq512-b8
 *                                                    peak memory of each phase without running a
 *                                                    kernel (seconds, any adapter; dispatches are
 *                                                    dropped, allocations kept: the same bytes as a
 *                                                    real run, BENCHMARKS.md)
 *   deno run -A bench/train_bench.ts --gpus 2 --only ffhq512-b8   data-parallel: 2 ranks under mpirun
 *
 * `--gpus N` re-runs this bench as N ranks (stages/distributed/launcher.ts; each pinned to its
 * GPU), gradients averaged after every phase. Rank 0 reports (s/kimg of the global batch;
 * `syncMsPerStep`: the gradient sync's latency per training step — from the end of the
 * backward's recording to the averaged gradients written, while the CPU records what follows,
 * so not what it leaves exposed (the s/kimg against one GPU says that);
 * `syncBreakdownMsPerStep` splits it). Scaling:
 *
 *   --gpus 2 --only ffhq512-b2                 strong: the same global batch (2 = 1 per GPU)
 *   --gpus 2 --per-gpu-batch 2 --only ffhq512-b2   weak: 2 per GPU (global 4 on 2 GPUs)
 *   --weak                                     weak with each case's batch as the per-GPU batch
 *   --scaling                                  also run the 1-GPU baseline first (same cases,
 *                                              same per-GPU batch for weak) and print efficiency
 *   --baseline-s-per-kimg X                    or give the 1-GPU s/kimg (one case)
 *
 * Efficiency = s/kimg(1 GPU) / (N · s/kimg(N GPUs)): the images per second of N GPUs over N
 * times one GPU's (strong: at the same global batch; weak: at the same per-GPU batch).
 */
import {
  abs,
  assign,
  flush,
  gpu,
  initGpu,
  memoryComposition,
  memoryStats,
  mul,
  noGrad,
  resetPeakMemory,
  Rng,
  scope,
  setDryRun,
  sub,
  tensor,
  trackMemoryComposition,
} from "../kernels/mod.ts";
import mimic3d, { config as experimentConfig } from "../experiments/mimic3d.ts";
import { discriminatorConfig, generatorConfig } from "../stages/pretrain/config.ts";
import type { GanTrainer } from "../stages/training/gan_trainer.ts";
import { PretrainTrainer } from "../stages/pretrain/trainer.ts";
import { LpipsVgg } from "../stages/model/lpips.ts";
import { l1Distance, lpipsDistance } from "../stages/imitate/imitation_distance.ts";
import type { ImitationDistance } from "../stages/imitate/loss.ts";
import { initImitateNetworks } from "../stages/imitate/pretrained.ts";
import { ImitateTrainer } from "../stages/imitate/trainer.ts";
import { phasesAt } from "../stages/training/phases.ts";
import type { RealBatch } from "../stages/training/data_loader.ts";
import { FFHQ_FOCAL, FFHQ_RADIUS, lookAtCameraLabel } from "../stages/io/camera_label.ts";
import { type Profile, profileRuns } from "./profile.ts";
import { median } from "./timing.ts";
import { globalBatch, scalingEfficiency } from "./scaling.ts";
import { saveResults } from "./results.ts";
import { launch, selfCommand } from "../stages/distributed/launcher.ts";
import { launchedByMpi } from "../stages/distributed/mpi_ffi.ts";
import { pinToLocalGpu } from "../stages/distributed/gpu_pinning.ts";
import { openCommunicator } from "../stages/distributed/communicator.ts";
import { DataParallel, trainingRanks } from "../stages/distributed/data_parallel.ts";

interface Case {
  name: string;
  /** Which stage's training step is timed. */
  stage: "pretrain" | "imitate";
  preset: string;
  batch?: number;
  /** Images a GPU processes at once (the batch runs in rounds of this many; `--batch-gpu`). */
  batchGpu?: number;
  resolution: number;
}

const args = Deno.args.filter((a) => a !== "--");
const quick = args.includes("--quick");
const profiling = args.includes("--profile");
const planOnly = args.includes("--plan-memory");
const onlyAt = args.indexOf("--only");
const only = onlyAt >= 0 ? new Set(args[onlyAt + 1]?.split(",") ?? []) : null;
const gpusAt = args.indexOf("--gpus");
const gpus = gpusAt >= 0 ? Number(args[gpusAt + 1]) : 1;
const numberArg = (flag: string): number | null => {
  const at = args.indexOf(flag);
  if (at < 0) return null;
  const n = Number(args[at + 1]);
  if (!Number.isFinite(n) || n <= 0) {
    throw new Error(`${flag} ${args[at + 1]}: expected a number > 0`);
  }
  return n;
};
const perGpuBatchArg = numberArg("--per-gpu-batch");
const batchGpuArg = numberArg("--batch-gpu");
const weak = args.includes("--weak") || perGpuBatchArg !== null;
const baselineArg = numberArg("--baseline-s-per-kimg");
const baselineJsonAt = args.indexOf("--baseline-json");
if (gpus > 1 && !launchedByMpi()) {
  // Start the ranks (this bench without --gpus); they find themselves under mpirun.
  let rankArgs = args.filter((_, i) => i !== gpusAt && i !== gpusAt + 1);
  if (args.includes("--scaling")) {
    // The 1-GPU baseline first, in this invocation: the same cases as one process.
    const path = await Deno.makeTempFile({ prefix: "train-bench-baseline-", suffix: ".json" });
    const baseArgs = rankArgs.filter((a) => a !== "--scaling");
    const [exe, ...rest] = selfCommand(baseArgs);
    console.log("1-GPU baseline:");
    const status = await new Deno.Command(exe, {
      args: rest,
      env: { TRAIN_BENCH_JSON: path },
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
    if (!status.success) Deno.exit(status.code);
    rankArgs = [...baseArgs, "--baseline-json", path];
    console.log(`\n${gpus} GPUs:`);
  }
  Deno.exit(await launch({ gpus, command: selfCommand(rankArgs) }));
}
await pinToLocalGpu();
const comm = openCommunicator();
const CASES: Case[] = quick
  ? [
    { name: "tiny", stage: "pretrain", preset: "tiny", resolution: 32 },
    { name: "imitate-tiny", stage: "imitate", preset: "tiny", resolution: 32 },
  ]
  : [
    { name: "small", stage: "pretrain", preset: "small", resolution: 64 },
    { name: "ffhq512-b2", stage: "pretrain", preset: "ffhq512", batch: 2, resolution: 512 },
    { name: "ffhq512-b4", stage: "pretrain", preset: "ffhq512", batch: 4, resolution: 512 },
    { name: "ffhq512-b8", stage: "pretrain", preset: "ffhq512", batch: 8, resolution: 512 },
    // The original's batch 32 on one GPU, in two rounds of 16 (its --batch-gpu).
    {
      name: "ffhq512-b32",
      stage: "pretrain",
      preset: "ffhq512",
      batch: 32,
      batchGpu: 16,
      resolution: 512,
    },
    { name: "imitate-ffhq512-b4", stage: "imitate", preset: "ffhq512", batch: 4, resolution: 512 },
  ];
const PHASE_REPEATS = quick ? 2 : 5;

/** The 1-GPU s/kimg per case name: from `--baseline-json` (a 1-rank run's JSON) or the flag. */
const baselines = new Map<string, number>();
if (baselineJsonAt >= 0) {
  const base = JSON.parse(await Deno.readTextFile(args[baselineJsonAt + 1])) as {
    rows: { name: string; secPerKimg: number }[];
  };
  for (const r of base.rows) baselines.set(r.name, r.secPerKimg);
}

/** The preset's config, with the batch of both training stages overridden. */
function presetConfig(c: Case) {
  const preset = structuredClone(mimic3d.presets![c.preset]) as Record<
    string,
    Record<string, unknown> | undefined
  >;
  const caseBatch = c.batch ?? experimentConfig.parse(structuredClone(preset)).pretrain.batch;
  const perGpu = weak ? (perGpuBatchArg ?? caseBatch) : null;
  const batch = {
    batch: globalBatch(caseBatch, comm.size, perGpu),
    batchGpu: batchGpuArg ?? c.batchGpu ?? null,
  };
  preset.pretrain = { ...preset.pretrain, ...batch };
  // The bench brings its own imitation distance (below): the weight-file check does not apply.
  preset.imitate = { ...preset.imitate, ...batch, imitation: { loss: "l1" } };
  return experimentConfig.parse(preset);
}

/** LPIPS-VGG with random weights (He-scaled convs, |·| heads): the real network's cost. */
function randomLpips(seed: number): LpipsVgg {
  const net = new LpipsVgg();
  const rng = new Rng(seed);
  noGrad(() => {
    for (const [name, t] of net.stateDict()) {
      if (name.startsWith("scaling_layer.")) continue;
      const fanIn = t.shape.slice(1).reduce((a, b) => a * b, 1);
      const value = name.endsWith(".bias")
        ? mul(rng.normal(t.shape), 0.01)
        : mul(rng.normal(t.shape), Math.sqrt(2 / fanIn));
      assign(t, name.startsWith("lin") ? abs(value) : value);
      value.dispose();
    }
  });
  return net;
}

/** The trainer a case times: pretrain's, or the 3-D stage's on freshly initialised networks. */
function makeTrainer(c: Case): GanTrainer {
  const config = presetConfig(c);
  if (c.stage === "pretrain") {
    const ranks = trainingRanks(comm, config.pretrain.batch, config.pretrain.batchGpu);
    return new PretrainTrainer(config.pretrain, c.resolution, 0, labels, ranks);
  }
  const networks = initImitateNetworks(
    generatorConfig(config.pretrain, c.resolution),
    discriminatorConfig(config.pretrain, c.resolution),
    0,
  );
  // LPIPS's 4 poolings need patches of at least 16²: the tiny preset's 8² patches use L1.
  const distance: ImitationDistance = networks.G.config.neuralRenderingResolution >= 16
    ? lpipsDistance(randomLpips(7))
    : l1Distance;
  return new ImitateTrainer(
    config.imitate,
    { ...networks, freshTensors: [] },
    distance,
    0,
    labels,
    trainingRanks(comm, config.imitate.batch, config.imitate.batchGpu),
  );
}

/** FFHQ-like cameras: yaw and pitch spread over a fixed grid. */
const labels = {
  length: 64,
  label(i: number) {
    return lookAtCameraLabel({
      yaw: ((i % 8) / 7 - 0.5) * 0.8,
      pitch: ((Math.floor(i / 8) % 8) / 7 - 0.5) * 0.4,
      radius: FFHQ_RADIUS,
      focal: FFHQ_FOCAL,
      target: [0, 0, 0],
    });
  },
};

interface Row {
  name: string;
  /** The global batch (split over `ranks`). */
  batch: number;
  ranks: number;
  kind: string;
  /** The imitate case's imitation distance. */
  imitation?: string;
  secPerKimg: number;
  /** Mean seconds per training step over the cycle (the baselines' s/iter). */
  secPerIter: number;
  stepMs: number;
  phaseMs: Record<string, number>;
  peakMiB: number;
  parameters: Record<string, number>;
  /** Mean gradient sync time per step over the cycle, end of backward to data written (0 for one rank). */
  syncMsPerStep: number;
  /** "strong": the case's global batch split over the ranks; "weak": the same batch per GPU. */
  scaling: "strong" | "weak";
  /** This rank's part of the global batch. */
  perGpuBatch: number;
  /** Rounds this part runs in (batchGpu images each). */
  rounds: number;
  /** Per step: backward recording (overlapped), layout check, read-back wait, exchange, upload. */
  syncBreakdownMsPerStep?: Record<string, number>;
  /** `--profile`: GPU time per op over one cycle, largest first. */
  profile?: Profile;
  /** The 1-GPU s/kimg compared against, and the scaling efficiency (see the module doc). */
  baselineSecPerKimg?: number;
  scalingEfficiency?: number;
}

async function timed(fn: () => void | Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  await flush();
  return performance.now() - t0;
}

/** `--profile`: GPU time per op and shape over one more cycle. */
function profileCycle(trainer: GanTrainer, real: RealBatch, cycle: number): Promise<Profile> {
  return profileRuns(cycle, "step", () => timed(() => trainer.trainStep(real)));
}

/** This rank's part of the global batch: fixed random images in [−1, 1] and their cameras. */
function syntheticBatch(trainer: GanTrainer, resolution: number): RealBatch {
  const batch = trainer.ranks.part.size;
  const cams = Array.from({ length: batch }, (_, i) => labels.label(i)).flat();
  return {
    images: scope(() =>
      sub(mul(new Rng(123).uniform([batch, 3, resolution, resolution]), 2), 1).keep()
    ),
    labels: tensor(cams, [batch, 25]).keep(),
  };
}

async function bench(c: Case): Promise<Row> {
  const trainer = makeTrainer(c);
  const real = syntheticBatch(trainer, c.resolution);
  await flush();
  // Warm-up: one step with every phase (compiles every kernel), then one main-only step.
  for (let i = 0; i < 2; i++) await timed(() => trainer.trainStep(real));
  resetPeakMemory();

  // A whole regularisation cycle (every phase at its frequency), paced as the training loop
  // paces it (see the module doc), flushed once at the end.
  const cycle = trainer.phases.reduce((a, p) => Math.max(a, p.interval), 1);
  trainer.step = 0;
  // Several ranks or rounds: the gradient averaging's timings, and the rounds.
  const parallel = trainer.ranks instanceof DataParallel ? trainer.ranks : null;
  parallel?.sync.resetTotals();
  const stepTimes: number[] = [];
  const tCycle = performance.now();
  let tStep = tCycle;
  for (let i = 0; i < cycle; i++) {
    await trainer.pacedStep(real);
    const now = performance.now();
    stepTimes.push(now - tStep);
    tStep = now;
  }
  await flush();
  const total = performance.now() - tCycle;
  const totals = parallel && { ...parallel.sync.totals };
  const syncMsPerStep = totals ? totals.totalMs / cycle : 0;
  const secPerKimg = total / 1000 / ((cycle * trainer.batch) / 1000);

  const phaseMs: Record<string, number> = {};
  for (const phase of phasesAt(trainer.phases, 0)) {
    const times: number[] = [];
    for (let i = 0; i < PHASE_REPEATS; i++) {
      times.push(await timed(() => trainer.runPhase(phase, real)));
    }
    phaseMs[phase.name] = median(times);
  }
  const profile = profiling ? await profileCycle(trainer, real, cycle) : undefined;
  await trainer.metrics.drain();
  const row: Row = {
    name: c.name,
    batch: trainer.batch,
    ranks: comm.size,
    kind: trainer.G.config.kind,
    ...(c.stage === "imitate"
      ? {
        imitation: trainer.G.config.neuralRenderingResolution >= 16
          ? "LPIPS-VGG (random weights)"
          : "l1",
      }
      : {}),
    secPerKimg,
    secPerIter: total / 1000 / cycle,
    stepMs: median(stepTimes),
    phaseMs,
    peakMiB: memoryStats().peak / 2 ** 20,
    parameters: trainer.parameterCounts(),
    syncMsPerStep,
    scaling: weak ? "weak" : "strong",
    perGpuBatch: trainer.ranks.part.size,
    rounds: parallel?.rounds ?? 1,
    ...(profile ? { profile } : {}),
  };
  if (totals && comm.size > 1) {
    row.syncBreakdownMsPerStep = {
      backwardRecord: totals.recordMs / cycle,
      layoutCheck: totals.layoutMs / cycle,
      readWait: totals.readWaitMs / cycle,
      exchange: totals.reduceMs / cycle,
      upload: totals.uploadMs / cycle,
    };
  }
  const base = baselines.get(c.name) ?? baselineArg ?? undefined;
  if (base !== undefined && comm.size > 1) {
    row.baselineSecPerKimg = base;
    row.scalingEfficiency = scalingEfficiency(base, secPerKimg, comm.size);
  }
  real.images.dispose();
  real.labels.dispose();
  return row;
}

/** Peak pool memory of each phase (and the parameters and optimiser state it stands on), in MiB. */
async function planMemory(c: Case): Promise<void> {
  const trainer = makeTrainer(c);
  const real = syntheticBatch(trainer, c.resolution);
  const peaks: string[] = [];
  let highest = 0;
  let composition: ReturnType<typeof memoryComposition> | null = null;
  let highestPhase = "";
  for (const phase of trainer.phases) {
    await trainer.runPhase(phase, real); // first call: the optimiser's state appears
    resetPeakMemory();
    trackMemoryComposition(true, memoryStats().inUse);
    await trainer.runPhase(phase, real);
    const peak = memoryStats().peak / 2 ** 20;
    if (peak > highest) {
      [highest, highestPhase, composition] = [peak, phase.name, memoryComposition()];
    }
    trackMemoryComposition(false);
    peaks.push(`${phase.name} ${peak.toFixed(0)}`);
  }
  console.log(
    `${c.name.padEnd(18)} batch ${String(trainer.batch).padStart(2)}  peak ${
      highest.toFixed(0)
    } MiB  per phase (MiB): ${peaks.join(", ")}`,
  );
  if (composition) {
    const mib = (b: number) => (b / 2 ** 20).toFixed(0).padStart(7);
    console.log(
      `  ${highestPhase} at ${
        mib(composition.snapshot).trim()
      } MiB in use, by the op that wrote each buffer:`,
    );
    for (const [op, bytes] of composition.parts.slice(0, 14)) {
      console.log(`  ${mib(bytes)} MiB  ${op}`);
    }
  }
  real.images.dispose();
  real.labels.dispose();
}

await initGpu();
const g = gpu();
const date = new Date().toISOString().slice(0, 10);
if (planOnly) {
  setDryRun(true);
  console.log("peak memory per phase, planned (no kernel runs):");
  for (const c of CASES) if (!only || only.has(c.name)) await planMemory(c);
  Deno.exit(0);
}
const say = (line: string) => comm.isLeader && console.log(line);
const ranksNote = comm.size > 1 ? `, ${comm.size} ranks` : "";
say(`device: ${g.name}${quick ? " (quick: tiny preset)" : ""}${ranksNote}, ${date}`);
const rows: Row[] = [];
for (const c of CASES) {
  if (only && !only.has(c.name)) continue;
  const row = await bench(c);
  rows.push(row);
  const phases = Object.entries(row.phaseMs).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ");
  const b = row.syncBreakdownMsPerStep;
  const sync = comm.size > 1
    ? `  sync latency ${row.syncMsPerStep.toFixed(1)} ms/step (read ${b!.readWait.toFixed(1)}, ` +
      `exchange ${b!.exchange.toFixed(1)}, upload ${b!.upload.toFixed(1)}, layout ${
        b!.layoutCheck.toFixed(1)
      }; backward recording ${b!.backwardRecord.toFixed(1)} overlapped)`
    : "";
  const eff = row.scalingEfficiency !== undefined
    ? `  ${row.scaling} scaling ${(100 * row.scalingEfficiency).toFixed(1)}% vs 1 GPU ${
      row.baselineSecPerKimg!.toFixed(1)
    } s/kimg (batch ${row.perGpuBatch}/GPU)`
    : "";
  say(
    `${row.name.padEnd(18)} batch ${String(row.batch).padStart(2)}${
      row.rounds > 1 ? ` (${row.rounds} rounds of ${row.perGpuBatch / row.rounds})` : ""
    }  ${row.secPerKimg.toFixed(1)} s/kimg  ${row.secPerIter.toFixed(3)} s/iter` +
      `  step median ${row.stepMs.toFixed(1)} ms  phases (ms): ${phases}  peak ${
        row.peakMiB.toFixed(0)
      } MiB${sync}${eff}`,
  );
}

const json = {
  device: g.name,
  date,
  quick,
  ranks: comm.size,
  scaling: weak ? "weak" : "strong",
  clock: "wall (cycle paced as in training, one flush at its end; phases flushed alone)",
  rows,
};
if (!comm.isLeader) Deno.exit(0);
const ranks = (comm.size > 1 ? `-${comm.size}ranks` : "") + (weak ? "-weak" : "");
if (!quick) await saveResults(json, "train", `train_bench${ranks}.json`, ranks);
const jsonPath = Deno.env.get("TRAIN_BENCH_JSON");
if (jsonPath) await Deno.writeTextFile(jsonPath, JSON.stringify(json, null, 2) + "\n");

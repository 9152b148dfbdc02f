/**
 * Network benchmarks at the paper's sizes, wall clock end to end (what a user
 * waits for, as the PyTorch anchors in bench/BASELINES.md): EG3D FFHQ-512
 * generator inference (64² render, 48+48 samples, SR 8XDC to 512²) at batch
 * 1/4/16, and the tri-plane backbone's forward + backward at batch 4.
 *
 *   deno run -A bench/model_bench.ts            paper sizes
 *   deno run -A bench/model_bench.ts --quick    tiny sizes (CPU adapter)
 *   deno run -A bench/model_bench.ts --profile  also GPU time per op of each inference batch
 *
 * Prints a table and writes JSON to bench/results/ (rows `g-inference-b<batch>`, `backbone-fwd-bwd-b<batch>`).
 */
import {
  flush,
  gpu,
  grad,
  initGpu,
  memoryStats,
  mul,
  noGrad,
  resetPeakMemory,
  Rng,
  scope,
  sum,
  Tensor,
} from "../kernels/mod.ts";
import { type GeneratorConfig, TriplaneGenerator } from "../stages/model/generator.ts";
import { lookAtCameraLabel } from "../stages/io/camera_label.ts";
import { median } from "./timing.ts";
import { profileRuns } from "./profile.ts";
import { saveResults } from "./results.ts";

const args = Deno.args.filter((a) => a !== "--");
const quick = args.includes("--quick");
const profiling = args.includes("--profile");
await initGpu();
const date = new Date().toISOString().slice(0, 10);
console.log(`device: ${gpu().name}${quick ? " (quick sizes)" : ""}, ${date}`);

/** EG3D's FFHQ-512 generator (or a tiny stand-in with --quick). */
function ffhq512(): GeneratorConfig {
  return {
    kind: "eg3d",
    zDim: quick ? 16 : 512,
    cDim: 25,
    wDim: quick ? 32 : 512,
    imgResolution: quick ? 64 : 512,
    planeResolution: quick ? 32 : 256,
    neuralRenderingResolution: quick ? 16 : 64,
    mappingLayers: 2,
    channelBase: quick ? 512 : 32768,
    channelMax: quick ? 32 : 512,
    rendering: {
      depthResolution: quick ? 8 : 48,
      depthResolutionImportance: quick ? 8 : 48,
      rayStart: 2.25,
      rayEnd: 3.3,
      boxWarp: 1,
    },
    cScale: 1,
    superresolution: {
      kind: "SuperresolutionHybrid8XDC",
      inputResolution: quick ? 16 : 128,
      blockChannels: quick ? [16, 8] : undefined,
    },
  };
}

function cameras(n: number): Tensor {
  const label = Array.from(lookAtCameraLabel({ yaw: 0.2, pitch: -0.1, radius: 2.7 }));
  return Tensor.fromData(Array.from({ length: n }, () => label).flat(), [n, 25]);
}

/** Median wall ms of `run` (flushed each time) after warm-up. */
async function wall(run: () => void, iterations: number, warmup = 2): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const t0 = performance.now();
    scope(run);
    await flush();
    if (i >= warmup) times.push(performance.now() - t0);
  }
  return median(times);
}

type Row = { name: string; batch: number; ms: number; imgPerSec?: number; peakMiB: number };
const rows: Row[] = [];
/** Adds a row and prints it as a Markdown table line. */
function report(row: Row, what: string): void {
  rows.push(row);
  const rate = row.imgPerSec === undefined ? "" : ` ${row.imgPerSec.toFixed(1)} img/s`;
  console.log(
    `| ${what}, batch ${row.batch} | ${row.ms.toFixed(1)} ms |${rate} | ${
      (row.peakMiB / 1024).toFixed(2)
    } GiB |`,
  );
}
const G = new TriplaneGenerator(ffhq512(), new Rng(0));
const rng = new Rng(1);
for (const batch of quick ? [1, 2] : [1, 4, 16]) {
  const c = cameras(batch).keep();
  resetPeakMemory();
  const generate = () =>
    noGrad(() => {
      // Batches above 4 render in chunks of 4: one SR activation at 512² × 128 ch × 16 would
      // exceed the adapter's 2 GiB storage-binding limit.
      G.forward(rng.normal([batch, G.config.zDim]), c, {
        noiseMode: "const",
        fusedModconv: true,
        random: rng,
        maxBatch: 4,
      });
    });
  const ms = await wall(generate, quick ? 2 : 10);
  const peakMiB = memoryStats().peak / 2 ** 20;
  const imgPerSec = batch * 1000 / ms;
  report(
    { name: `g-inference-b${batch}`, batch, ms, imgPerSec, peakMiB },
    "EG3D FFHQ-512 G inference",
  );
  if (profiling) await profileRuns(2, `batch-${batch} forward`, () => wall(generate, 1, 0));
  c.dispose();
}

{
  const batch = quick ? 2 : 4;
  const synthesis = G.backbone.synthesis;
  const params = [...synthesis.parameters().values()];
  const ws = rng.normal([batch, synthesis.numWs, G.config.wDim]).keep();
  resetPeakMemory();
  const ms = await wall(() => {
    const planes = synthesis.forward(ws, { noiseMode: "const" });
    const w = Tensor.fromData(new Float32Array(planes.size).fill(1e-3), planes.shape);
    grad(sum(mul(planes, w)), params);
  }, quick ? 2 : 10);
  const peakMiB = memoryStats().peak / 2 ** 20;
  report(
    { name: `backbone-fwd-bwd-b${batch}`, batch, ms, peakMiB },
    "backbone (256², 96 ch) forward + backward",
  );
}
const clock = "wall (median of flushed runs after warm-up)";
await saveResults({ device: gpu().name, date, quick, clock, rows }, "model", "model_bench.json");

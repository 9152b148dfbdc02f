/**
 * Timing for benchmarks: GPU timestamps summed over every dispatch of a run
 * when the adapter has them, else wall clock around a flush.
 *
 * GPUs lower their clocks when idle, and through Deno each flush leaves the
 * GPU idle for milliseconds (measured on the H100: 345 MHz idle → 1980 MHz
 * under load, with kernels up to 3× slower at the low clocks). So runs are
 * recorded back to back, several per submission (≥ ~20 ms of GPU work), after
 * a sustained warm-up; a sample is the mean of one submission's runs, and the
 * median of the samples is reported.
 */
import { flush, gpu, profileReport, setProfiling } from "../kernels/mod.ts";

/** Median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** How a run was timed. */
export type Clock = "gpu-timestamps" | "wall";

/** One timing: median milliseconds per run over `samples` submissions of `perSample` runs. */
export interface Timing {
  ms: number;
  samples: number;
  perSample: number;
  clock: Clock;
}

type Run = () => { dispose(): void } | void;

/** Records `count` runs into the current batch and waits for them; returns GPU (or wall) ms per run. */
async function timeBatch(run: Run, count: number, timestamps: boolean): Promise<number> {
  if (timestamps) {
    setProfiling(true);
    profileReport(true);
  }
  const t0 = performance.now();
  for (let i = 0; i < count; i++) run()?.dispose();
  await flush();
  const wall = performance.now() - t0;
  if (!timestamps) return wall / count;
  setProfiling(false);
  let ms = 0;
  for (const v of profileReport(true).values()) ms += v.ms;
  return ms / count;
}

/**
 * Times `run` (which records GPU work and returns something to dispose, or
 * nothing): compile run, sustained warm-up of `warmupMs`, then `samples`
 * submissions of enough back-to-back runs to fill `batchMs` of GPU time.
 */
export async function timeGpu(
  run: Run,
  { samples = 10, warmupMs = 400, batchMs = 20 }: {
    samples?: number;
    warmupMs?: number;
    batchMs?: number;
  } = {},
): Promise<Timing> {
  const timestamps = gpu().hasTimestamps;
  await timeBatch(run, 1, false); // compiles
  const estimate = await timeBatch(run, 1, timestamps);
  const perSample = Math.max(1, Math.min(100, Math.ceil(batchMs / Math.max(estimate, 1e-3))));
  const start = performance.now();
  while (performance.now() - start < warmupMs) await timeBatch(run, perSample, false);
  const times: number[] = [];
  for (let i = 0; i < samples; i++) times.push(await timeBatch(run, perSample, timestamps));
  return { ms: median(times), samples, perSample, clock: timestamps ? "gpu-timestamps" : "wall" };
}

/** Wall-clock milliseconds of `fn` (awaited). */
export async function wallMs(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

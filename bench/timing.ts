/**
 * Timing for benchmarks: GPU timestamps summed over every dispatch of one
 * run when the adapter has them, else wall clock around a flush. The median
 * of the timed runs is reported, after warm-up runs (which also compile and let clocks ramp up).
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

/** One timing: median milliseconds per run over `runs` runs. */
export interface Timing {
  ms: number;
  runs: number;
  clock: Clock;
}

/**
 * Times `run` (which records GPU work and returns something to dispose, or
 * nothing): `warmup` untimed runs, then `runs` timed ones, each flushed.
 */
export async function timeGpu(
  run: () => { dispose(): void } | void,
  { warmup = 3, warmupMs = 300, runs = 10 }: { warmup?: number; warmupMs?: number; runs?: number } =
    {},
): Promise<Timing> {
  // At least `warmup` runs and `warmupMs` of wall time: compiles, and lets GPU clocks ramp up
  // after idle phases (measured on the H100: a cold first run can be 3× slower).
  const start = performance.now();
  for (let i = 0; i < warmup || performance.now() - start < warmupMs; i++) {
    run()?.dispose();
    await flush();
  }
  const timestamps = gpu().hasTimestamps;
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    if (timestamps) {
      setProfiling(true);
      profileReport(true);
      run()?.dispose();
      await flush();
      setProfiling(false);
      let ms = 0;
      for (const v of profileReport(true).values()) ms += v.ms;
      samples.push(ms);
    } else {
      const t0 = performance.now();
      run()?.dispose();
      await flush();
      samples.push(performance.now() - t0);
    }
  }
  return { ms: median(samples), runs, clock: timestamps ? "gpu-timestamps" : "wall" };
}

/** Wall-clock milliseconds of `fn` (awaited). */
export async function wallMs(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

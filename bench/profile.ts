/**
 * `--profile` of the benchmarks: GPU time per op and per shape over a few runs of a unit of work
 * (a training step, a generator forward), every dispatch timed with GPU timestamps (each in its
 * own pass, so the totals include per-pass overhead).
 */
import { profileReport, profileShapes, setProfiling } from "../kernels/mod.ts";

export interface Profile {
  /** Per unit of work (`per`): ms, dispatches and share of the GPU time, largest first. */
  ops: { op: string; msPerStep: number; dispatchesPerStep: number; share: number }[];
  /** Dispatches that name a shape (convolutions, matmuls, gathers) by op and shape, slowest first. */
  shapes: {
    op: string;
    shape: string;
    msPerStep: number;
    dispatchesPerStep: number;
    tflops: number;
  }[];
}

/** Profiles `runs` calls of `run` and prints the largest ops and shapes per `per` (one call). */
export async function profileRuns(
  runs: number,
  per: string,
  run: () => Promise<unknown>,
): Promise<Profile> {
  if (!setProfiling(true)) {
    console.log("--profile: this adapter has no timestamp queries");
    return { ops: [], shapes: [] };
  }
  profileReport(true);
  profileShapes(true);
  for (let i = 0; i < runs; i++) await run();
  setProfiling(false);
  const ops = [...profileReport(true)].map(([op, { ms, count }]) => ({
    op,
    msPerStep: ms / runs,
    dispatchesPerStep: count / runs,
  }));
  const total = ops.reduce((a, o) => a + o.msPerStep, 0);
  const rows = ops.map((o) => ({ ...o, share: o.msPerStep / total }))
    .sort((a, b) => b.msPerStep - a.msPerStep);
  console.log(
    `  GPU time per ${per} ${total.toFixed(1)} ms over ${
      rows.reduce((a, o) => a + o.dispatchesPerStep, 0).toFixed(0)
    } dispatches; largest shares:`,
  );
  for (const r of rows.slice(0, 15)) {
    console.log(
      `    ${r.op.padEnd(34)} ${(100 * r.share).toFixed(1).padStart(5)} %  ${
        r.msPerStep.toFixed(2).padStart(8)
      } ms  ${r.dispatchesPerStep.toFixed(0).padStart(6)} dispatches`,
    );
  }
  // Time by shape (GEMMs and convolutions by geometry, gathers by axes): where a faster kernel
  // would pay most.
  const shapes = profileShapes(true).map((s) => ({
    op: s.op,
    shape: s.shape,
    msPerStep: s.ms / runs,
    dispatchesPerStep: s.count / runs,
    tflops: s.flops / (s.ms / 1000) / 1e12,
  })).sort((a, b) => b.msPerStep - a.msPerStep);
  const largest = (title: string, list: typeof shapes, count: number) => {
    console.log(`  ${title}:`);
    for (const s of list.slice(0, count)) {
      console.log(
        `    ${s.op.padEnd(28)} ${s.shape.padEnd(52)} ${s.msPerStep.toFixed(2).padStart(7)} ms  ${
          s.dispatchesPerStep.toFixed(1).padStart(5)
        }×` + (s.tflops > 0 ? `  ${s.tflops.toFixed(1).padStart(5)} TFLOP/s` : ""),
      );
    }
  };
  largest("largest GEMM shapes", shapes.filter((s) => s.tflops > 0), 25);
  largest("largest other shapes", shapes.filter((s) => s.tflops === 0), 20);
  return { ops: rows, shapes };
}

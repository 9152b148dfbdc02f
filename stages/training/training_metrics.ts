/**
 * Training statistics kept on the GPU between log ticks, so a step never waits
 * for a read-back: each tracked value (a phase's loss, R1 penalty, density
 * L1, D scores) is folded by one tiny kernel into [sum, count, first bad step].
 * At a tick they are read once: means for the log, and the NaN/Inf guard — the
 * first step at which each value stopped being finite, so the error can name
 * the phase that went wrong first.
 * @module
 */
import {
  dispatch,
  kernel,
  NON_FINITE_WGSL,
  Params,
  paramsDecl,
  Tensor,
} from "../../kernels/mod.ts";
import { readTensors } from "./tensor_readback.ts";

const ACCUMULATE = `// metric_accumulate
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> acc: array<f32>;
${paramsDecl(2, 4)}
${NON_FINITE_WGSL}
@compute @workgroup_size(1)
fn main() {
  let n = P(0u);
  var sum = 0.0;
  var bad = false;
  for (var i = 0u; i < n; i++) {
    sum += x[i];
    bad = bad || isNonFinite(x[i]);
  }
  acc[0] += sum / f32(n);
  acc[1] += 1.0;
  if (bad && acc[2] < 0.0) { acc[2] = PF(1u); }
}`;

/** Raw accumulators [sum of per-call means, calls, first bad step] by metric name. */
export type MetricSnapshot = Record<string, number[]>;

/** What one tracked value did over a tick. */
export interface MetricSummary {
  /** Mean over the tick of the per-call means (NaN when a call was not finite). */
  mean: number;
  count: number;
  /** The first step at which it was NaN/Inf, or null. */
  firstBadStep: number | null;
}

/** GPU accumulators by metric name ("Gmain/loss", "Dreg/r1_penalty", …). */
export class MetricAccumulators {
  private readonly slots = new Map<string, Tensor>();

  /** Folds the mean of `value`'s elements into metric `name` (recorded, not waited for). */
  add(name: string, value: Tensor, step: number): void {
    const slot = this.slot(name);
    if (value.device === "cpu") {
      const d = slot.cpuData, x = value.cpuData.subarray(0, value.size);
      const mean = x.reduce((a, b) => a + b, 0) / x.length;
      d[0] += mean;
      d[1] += 1;
      if (!Number.isFinite(mean) && d[2] < 0) d[2] = step;
      return;
    }
    dispatch({
      kernel: kernel("metric_accumulate", ACCUMULATE),
      buffers: [value.buffer, slot.buffer],
      params: new Params().u32(value.size).f32(step).bytes(),
      workgroups: [1],
    });
  }

  /**
   * Reads every metric back (one read for all) and starts a new tick. `combine` turns this
   * process's raw accumulators into the run's (e.g. across data-parallel ranks).
   */
  async drain(
    combine: (snapshot: MetricSnapshot) => Promise<MetricSnapshot> = (s) => Promise.resolve(s),
  ): Promise<Map<string, MetricSummary>> {
    const out = new Map<string, MetricSummary>();
    for (const [name, [sum, count, bad]] of Object.entries(await combine(await this.snapshot()))) {
      if (count > 0) {
        out.set(name, { mean: sum / count, count, firstBadStep: bad >= 0 ? bad : null });
      }
    }
    for (const slot of this.slots.values()) slot.dispose();
    this.slots.clear();
    return out;
  }

  /** The raw accumulators [sum, count, first bad step] by name (for checkpoints). */
  async snapshot(): Promise<MetricSnapshot> {
    const names = [...this.slots.keys()];
    const values = await readTensors(names.map((n) => this.slots.get(n)!));
    return Object.fromEntries(names.map((n, i) => [n, Array.from(values[i])]));
  }

  /** Replaces the accumulators by a snapshot. */
  restore(snapshot: MetricSnapshot): void {
    for (const slot of this.slots.values()) slot.dispose();
    this.slots.clear();
    for (const [name, values] of Object.entries(snapshot)) {
      this.slots.set(name, Tensor.fromData(values, [3], this.device).keep());
    }
  }

  private slot(name: string): Tensor {
    let t = this.slots.get(name);
    if (!t) {
      t = Tensor.fromData([0, 0, -1], [3], this.device).keep();
      this.slots.set(name, t);
    }
    return t;
  }

  constructor(private readonly device: "gpu" | "cpu" = "gpu") {}
}

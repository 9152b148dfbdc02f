/**
 * The training loop's small formulas: lazy-regularisation Adam correction,
 * EMA β with ramp-up, the phase schedule, gradient sanitising (NaN/±Inf on
 * the GPU) and which phase the NaN guard blames.
 */
import { Tensor } from "../../kernels/mod.ts";
import { assert, assertEquals } from "../helpers/assert.ts";
import { setupGpu } from "../helpers/check.ts";
import {
  lazyRegAdamSettings,
  lazyRegRatio,
  NetworkOptimizer,
} from "../../stages/training/optimizers.ts";
import { defaultEmaKimg, emaBeta } from "../../stages/training/ema.ts";
import { phasesAt, regInterval, trainingPhases } from "../../stages/training/phases.ts";
import { nanToNum } from "../../kernels/mod.ts";
import { firstNonFinite } from "../../stages/training/nan_guard.ts";
import { MetricAccumulators } from "../../stages/training/training_metrics.ts";
import { intervalSteps, stepsForKimg } from "../../stages/training/steps.ts";

await setupGpu();

const close = (a: number, b: number, tol = 1e-12) =>
  assert(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} ≠ ${b}`);

Deno.test("lazy regularisation: lr·k/(k+1), betas^(k/(k+1)), as EG3D's training loop", () => {
  close(lazyRegRatio(4), 0.8);
  close(lazyRegRatio(16), 16 / 17);
  assertEquals(lazyRegRatio(null), 1);
  const g = lazyRegAdamSettings({ lr: 0.0025, betas: [0, 0.99], eps: 1e-8 }, 4);
  close(g.lr, 0.002);
  assertEquals(g.betas[0], 0);
  close(g.betas[1], 0.99 ** 0.8);
  const d = lazyRegAdamSettings({ lr: 0.002, betas: [0.5, 0.99], eps: 1e-8 }, 16);
  close(d.lr, 0.002 * 16 / 17);
  close(d.betas[0], 0.5 ** (16 / 17));
  close(d.betas[1], 0.99 ** (16 / 17));
  assertEquals(d.eps, 1e-8);
});

Deno.test("EMA: β = 0.5^(batch / max(min(ema_kimg·1000, cur_nimg·rampup), 1e-8))", () => {
  assertEquals(defaultEmaKimg(32), 10);
  assertEquals(defaultEmaKimg(4), 1.25);
  const s = { kimg: 10, rampup: 0.05 };
  assertEquals(emaBeta(s, 32, 0), 0); // the first update copies G
  close(emaBeta(s, 32, 100_000), 0.5 ** (32 / 5000)); // ramp-up: 100k·0.05 = 5000 < 10 000
  close(emaBeta(s, 32, 10_000_000), 0.5 ** (32 / 10_000)); // past the ramp-up
  close(emaBeta({ kimg: 10, rampup: null }, 32, 0), 0.5 ** (32 / 10_000));
});

Deno.test("phases: Gmain, Greg every 4 (gain 4), Dmain, Dreg every 16 (gain 16)", () => {
  const phases = trainingPhases({ gReg: 4, dReg: 16 });
  assertEquals(phases.map((p) => [p.name, p.network, p.interval, p.gain]), [
    ["Gmain", "G", 1, 1],
    ["Greg", "G", 4, 4],
    ["Dmain", "D", 1, 1],
    ["Dreg", "D", 16, 16],
  ]);
  assertEquals(phasesAt(phases, 0).map((p) => p.name), ["Gmain", "Greg", "Dmain", "Dreg"]);
  assertEquals(phasesAt(phases, 4).map((p) => p.name), ["Gmain", "Greg", "Dmain"]);
  assertEquals(phasesAt(phases, 5).map((p) => p.name), ["Gmain", "Dmain"]);
  assertEquals(regInterval(phases, "G"), 4);
  assertEquals(regInterval(phases, "D"), 16);
  const noReg = trainingPhases({ gReg: null, dReg: 16 });
  assertEquals(noReg.map((p) => p.name), ["Gmain", "Dmain", "Dreg"]);
  assertEquals(regInterval(noReg, "G"), null);
});

Deno.test("kimg → steps: the original stops once cur_nimg ≥ kimg·1000", () => {
  assertEquals(stepsForKimg(0.012, 2), 6);
  assertEquals(stepsForKimg(1, 32), 32); // 31.25 → 32 steps
  assertEquals(stepsForKimg(20800, 32), 650_000);
  assertEquals(intervalSteps(0.004, 2), 2);
  assertEquals(intervalSteps(0.0001, 32), 1);
});

Deno.test("nan_to_num: NaN → 0, ±Inf → ±1e5, finite values unchanged (no clamp) on GPU and CPU", async () => {
  const values = [NaN, Infinity, -Infinity, 1.5, -2e6, 3e30, 0];
  const expected = [0, 1e5, -1e5, 1.5, -2e6, 3e30, 0];
  for (const device of ["gpu", "cpu"] as const) {
    const out = nanToNum(Tensor.fromData(values, [values.length], device));
    const got = Array.from(await out.read());
    got.forEach((v, i) => close(v, Math.fround(expected[i]), 1e-7));
  }
});

Deno.test("NaN guard: blames the first bad step, then the earlier phase of that step", async () => {
  const m = new MetricAccumulators();
  const t = (v: number) => Tensor.fromData([v, 1], [2]);
  m.add("Gmain/loss", t(1), 0);
  m.add("Dmain/loss", t(1), 0);
  m.add("Greg/loss", t(NaN), 4);
  m.add("Dmain/loss", t(Infinity), 4);
  m.add("Gmain/loss", t(NaN), 5);
  const stats = await m.drain();
  assertEquals(stats.get("Gmain/loss")!.firstBadStep, 5);
  assertEquals(stats.get("Dmain/loss")!.count, 2);
  const order = ["Gmain", "Greg", "Dmain", "Dreg"] as const;
  assertEquals(firstNonFinite(stats, order), { phase: "Greg", metric: "Greg/loss", step: 4 });
  m.add("Gmain/loss", t(0.5), 6);
  const fine = await m.drain();
  assertEquals(fine.get("Gmain/loss")!.mean, 0.75);
  assertEquals(firstNonFinite(fine, order), null);
});

Deno.test("optimizer: per-parameter steps (torch skips params without grad) and the corrected first step", async () => {
  const a = Tensor.fromData([1, 2], [2]).keep();
  const b = Tensor.fromData([3], [1]).keep();
  const opt = new NetworkOptimizer(
    new Map([["a", a], ["b", b]]),
    { lr: 0.01, betas: [0, 0.99], eps: 1e-8 },
    4,
  );
  opt.update([Tensor.fromData([0.5, -2], [2]), null]);
  assertEquals(opt.state().steps, { a: 1, b: 0 });
  // β1 = 0, one step: p − lr·ratio·g/(|g| + ε·…) = p − 0.008·sign(g).
  const got = Array.from(await a.read());
  close(got[0], 1 - 0.008, 1e-6);
  close(got[1], 2 + 0.008, 1e-6);
  assertEquals(Array.from(await b.read()), [3]);
});

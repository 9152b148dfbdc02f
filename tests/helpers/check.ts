/**
 * Test helpers shared by every op and module test: seeded random data,
 * closeness assertions with the fixtures' error measure, GPU-vs-CPU
 * comparison of forward and backward, and finite-difference gradient checks
 * (first and second order) on the float64 CPU backend.
 */
import { initGpu } from "../../kernels/runtime/device.ts";
import { Tensor } from "../../kernels/tensor/tensor.ts";
import { grad } from "../../kernels/ops/grad.ts";
import { mul } from "../../kernels/ops/elementwise.ts";
import { sum } from "../../kernels/ops/reduce.ts";
import { scope, scopeAsync } from "../../kernels/tensor/scope.ts";

/** Initialises the shared GPU (Mesa's CPU adapter in CI). */
export function setupGpu() {
  return initGpu();
}

/** A small seeded PRNG (mulberry32) for test data: same seed, same numbers. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` values uniform in [lo, hi). */
export function randomValues(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** Max |a − b| and max |a − b| / max |b| (the fixtures' measure). */
export function errors(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): { abs: number; rel: number } {
  if (actual.length !== expected.length) {
    throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  }
  let abs = 0;
  let scale = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= abs)) abs = Number.isNaN(d) ? Infinity : d;
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return { abs, rel: scale > 0 ? abs / scale : abs };
}

/** Asserts max|a − b| ≤ atol + rtol·max|b|, naming `what` and the worst index. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  { atol = 1e-6, rtol = 1e-5 }: { atol?: number; rtol?: number } = {},
): void {
  const { abs } = errors(actual, expected);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  if (!(abs <= atol + rtol * scale)) {
    let worst = 0;
    for (let i = 0; i < actual.length; i++) {
      if (!(Math.abs(actual[i] - expected[i]) <= Math.abs(actual[worst] - expected[worst]))) {
        worst = i;
      }
    }
    throw new Error(
      `${what}: max abs error ${abs.toExponential(3)} > ${atol} + ${rtol}·${
        scale.toExponential(3)
      }` +
        ` (at ${worst}: got ${actual[worst]}, expected ${expected[worst]})`,
    );
  }
}

/** Host-side description of an input: shape, values, whether gradients are checked. */
export interface InputSpec {
  shape: number[];
  values: ArrayLike<number>;
  grad?: boolean;
}

/** Random input spec of `shape`. */
export function input(
  shape: number[],
  seed: number,
  opts: { lo?: number; hi?: number; grad?: boolean } = {},
): InputSpec {
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    shape,
    values: randomValues(n, seed, opts.lo ?? -1, opts.hi ?? 1),
    grad: opts.grad ?? true,
  };
}

function makeInputs(specs: InputSpec[], device: "gpu" | "cpu"): Tensor[] {
  return specs.map((s) => {
    const t = Tensor.fromData(s.values, s.shape, device);
    t.requiresGrad = s.grad ?? true;
    return t;
  });
}

/**
 * Runs `fn` on the GPU and on the float64 CPU backend with the same inputs and
 * compares the output and the gradients of sum(out·W) for a random W.
 */
export async function assertGpuMatchesCpu(
  what: string,
  fn: (...xs: Tensor[]) => Tensor,
  specs: InputSpec[],
  tol: { atol?: number; rtol?: number } = {},
): Promise<void> {
  const run = (device: "gpu" | "cpu") =>
    scopeAsync(async () => {
      const xs = makeInputs(specs, device);
      const out = fn(...xs);
      const w = Tensor.fromData(randomValues(out.size, 99), out.shape, device);
      const wanted = xs.filter((x) => x.requiresGrad);
      const grads = out.requiresGrad ? grad(sum(mul(out, w)), wanted) : wanted.map(() => null);
      return {
        out: await out.read(),
        grads: await Promise.all(grads.map((g) => g?.read() ?? null)),
        shape: out.shape,
      };
    });
  const gpu = await run("gpu");
  const cpu = await run("cpu");
  if (gpu.shape.join() !== cpu.shape.join()) {
    throw new Error(`${what}: shape ${gpu.shape} vs ${cpu.shape}`);
  }
  assertClose(gpu.out, cpu.out, `${what} forward`, tol);
  gpu.grads.forEach((g, i) => {
    const c = cpu.grads[i];
    if (!g || !c) {
      if (g !== c) throw new Error(`${what}: gradient ${i} present on one device only`);
      return;
    }
    assertClose(g, c, `${what} gradient of input ${i}`, tol);
  });
}

/**
 * Finite-difference check of `fn`'s backward rule on the float64 CPU backend:
 * analytic ∂/∂x sum(fn(x)·W) against central differences.
 */
export function gradcheck(
  what: string,
  fn: (...xs: Tensor[]) => Tensor,
  specs: InputSpec[],
  { eps = 1e-6, atol = 1e-7, rtol = 1e-6 }: { eps?: number; atol?: number; rtol?: number } = {},
): void {
  scope(() => {
    const xs = makeInputs(specs, "cpu");
    const out0 = fn(...xs);
    const w = Tensor.fromData(randomValues(out0.size, 77), out0.shape, "cpu");
    const loss = (inputs: Tensor[]) => sum(mul(fn(...inputs), w));
    const wanted = xs.map((x, i) => (x.requiresGrad ? i : -1)).filter((i) => i >= 0);
    const analytic = grad(loss(xs), wanted.map((i) => xs[i]));
    wanted.forEach((i, k) => {
      const numeric = numericGrad((perturbed) => loss(perturbed).cpuData[0], xs, i, eps);
      const a = analytic[k]?.cpuData ?? new Float64Array(numeric.length);
      assertClose(a, numeric, `${what}: ∂/∂input ${i} vs finite differences`, { atol, rtol });
    });
  });
}

/** Central-difference gradient of a scalar function of CPU tensors w.r.t. input `i`. */
export function numericGrad(
  f: (xs: Tensor[]) => number,
  xs: Tensor[],
  i: number,
  eps: number,
): Float64Array {
  const base = xs[i].cpuData;
  const out = new Float64Array(base.length);
  for (let j = 0; j < base.length; j++) {
    const at = (delta: number) =>
      scope(() => {
        const data = Float64Array.from(base);
        data[j] += delta;
        const moved = xs.map((x, k) => (k === i ? Tensor.fromData(data, x.shape, "cpu") : x));
        return f(moved);
      });
    out[j] = (at(eps) - at(-eps)) / (2 * eps);
  }
  return out;
}

/**
 * Second-order check (what R1 needs): with h = ‖∂L/∂x₀‖², L = sum(fn(x)·W),
 * the analytic ∂h/∂x_i (double backward) against central differences of h, on
 * the float64 CPU backend.
 */
export function gradgradcheck(
  what: string,
  fn: (...xs: Tensor[]) => Tensor,
  specs: InputSpec[],
  { eps = 1e-5, atol = 1e-6, rtol = 1e-5 }: { eps?: number; atol?: number; rtol?: number } = {},
): void {
  scope(() => {
    const xs = makeInputs(specs, "cpu");
    const out0 = fn(...xs);
    const w = Tensor.fromData(randomValues(out0.size, 55), out0.shape, "cpu");
    const h = (inputs: Tensor[], createGraph: boolean) => {
      const [g0] = grad(sum(mul(fn(...inputs), w)), [inputs[0]], { createGraph });
      if (!g0) throw new Error(`${what}: output does not depend on input 0`);
      return sum(mul(g0, g0));
    };
    const wanted = xs.map((x, i) => (x.requiresGrad ? i : -1)).filter((i) => i >= 0);
    const analytic = grad(h(xs, true), wanted.map((i) => xs[i]));
    wanted.forEach((i, k) => {
      const numeric = numericGrad(
        (p) => {
          p.forEach((t) => (t.requiresGrad = true));
          return h(p, false).cpuData[0];
        },
        xs,
        i,
        eps,
      );
      const a = analytic[k]?.cpuData ?? new Float64Array(numeric.length);
      assertClose(a, numeric, `${what}: ∂‖∂L/∂x₀‖²/∂input ${i} vs finite differences`, {
        atol,
        rtol,
      });
    });
  });
}

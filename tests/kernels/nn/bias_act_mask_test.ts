/**
 * bias_act's backward reads the 2-bit mask its forward wrote, not x: the gradients and the
 * gradient's own backward are the exact f32 products of ∂ and the masks (emulated here with
 * Math.fround) for negative inputs, zero crossings, clamps hit on both sides and at their
 * bound, and sizes that do not fill the mask's last word; and a memory scope keeps the mask
 * (a sixteenth of x) for the backward, not x.
 */
import * as K from "../../../kernels/mod.ts";
import { biasAct, type BiasActOptions } from "../../../kernels/nn/bias_act.ts";
import { sizeClass } from "../../../kernels/runtime/buffer_pool.ts";
import { randomValues, rng, setupGpu } from "../../helpers/check.ts";
import { assert, assertEquals } from "../../helpers/assert.ts";

await setupGpu();

const f = Math.fround;

/** x + b, act, ·gain, clamp in f32 as the kernels do them: y, and each element's two masks. */
function emulate(x: Float32Array, b: Float32Array | null, o: BiasActOptions, inner: number) {
  const act = o.act ?? "linear";
  const gain = f(o.gain ?? K.defaultGain(act));
  const c = o.clamp ?? null;
  const y = new Float32Array(x.length);
  const positive: boolean[] = [];
  const inside: boolean[] = [];
  x.forEach((xi, i) => {
    const v = b ? f(xi + b[Math.floor(i / inner) % b.length]) : xi;
    const a = act === "lrelu" ? (v > 0 ? v : f(v * f(0.2))) : act === "relu" ? Math.max(v, 0) : v;
    const u = gain !== 1 ? f(a * gain) : a;
    positive.push(v > 0);
    inside.push(c === null || (u >= -f(c) && u <= f(c)));
    y[i] = c === null ? u : Math.min(Math.max(u, -f(c)), f(c));
  });
  /** ∂ times the masks and gain in the gradient's order (clamp, gain, slope) or reversed. */
  const times = (g: Float32Array, adjoint: boolean) =>
    g.map((gi, i) => {
      const factors: number[] = [];
      if (c !== null) factors.push(inside[i] ? 1 : 0);
      if (gain !== 1) factors.push(gain);
      if (act === "lrelu") factors.push(positive[i] ? 1 : f(0.2));
      if (act === "relu") factors.push(positive[i] ? 1 : 0);
      if (adjoint) factors.reverse();
      return factors.reduce((t, k) => f(t * k), gi);
    });
  return { y, times };
}

/**
 * Inputs that exercise every mask: by element, a random value, x = −b (x + b is exactly 0),
 * a large positive and a large negative value (the clamp hit on both sides through the
 * slope), and x + b exactly at the clamp 0.75 (inside: the clamp is inclusive).
 */
function inputs(shape: number[], dim: number, seed: number) {
  const n = shape.reduce((a, d) => a * d, 1);
  const channels = shape[dim];
  const inner = shape.slice(dim + 1).reduce((a, d) => a * d, 1);
  const r = rng(seed);
  const b = Float32Array.from({ length: channels }, (_, i) => [0.5, -0.25, 0.125, 0][i % 4]);
  const x = Float32Array.from({ length: n }, (_, i) => {
    const bi = b[Math.floor(i / inner) % channels];
    switch (i % 5) {
      case 0:
        return -6 + 9 * r();
      case 1:
        return -bi;
      case 2:
        return 2 + r();
      case 3:
        return -(5 + 2 * r());
      default:
        return 0.75 - bi;
    }
  });
  return { x, b, inner };
}

const bits = (a: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(a).buffer));

const CASES: { options: BiasActOptions; bias: boolean }[] = [
  { options: { act: "lrelu", gain: 1.3, clamp: 0.9 }, bias: true },
  { options: { act: "lrelu" }, bias: true },
  { options: { act: "lrelu", gain: 1, clamp: 0.75 }, bias: true },
  { options: { act: "lrelu", clamp: 0.9 }, bias: false },
  { options: { act: "relu", gain: 1.3, clamp: 0.9 }, bias: true },
  { options: { act: "relu", gain: 1 }, bias: true },
  { options: { act: "linear", gain: 1, clamp: 0.75 }, bias: true },
  { options: { act: "linear", gain: 1.3 }, bias: true },
];

Deno.test("bias_act mask: gradients and their backward are ∂ times the masks, bit for bit", async () => {
  // 5 and 42 elements leave the mask's only or last word part-filled; 22110 spans several
  // workgroups of words; 32768 fills every word.
  const shapes = [[1, 1, 5], [2, 3, 7], [2, 5, 33, 67], [4, 8, 32, 32]];
  for (const { options, bias } of CASES) {
    for (const [s, shape] of shapes.entries()) {
      for (const dim of [1, shape.length - 1]) {
        const what = `${JSON.stringify(options)} bias ${bias} [${shape}] dim ${dim}`;
        await K.scopeAsync(async () => {
          const { x, b, inner } = inputs(shape, dim, 10 * s + dim);
          const xt = K.tensor(x, shape);
          const bt = K.tensor(b, [b.length]);
          xt.requiresGrad = bt.requiresGrad = true;
          const o = { ...options, dim };
          const y = biasAct(xt, bias ? bt : null, o);
          const want = emulate(x, bias ? b : null, o, inner);
          assertEquals(bits(await y.read()), bits(want.y), `${what}: y`);

          const saved = y.gradFn!.saved!;
          if (options.act === "linear" && options.clamp === undefined) {
            assertEquals(saved, [], `${what}: an unmasked op keeps nothing`);
          } else {
            assertEquals(saved.length, 1, `${what}: one value kept`);
            assert(saved[0] !== xt, `${what}: x kept`);
            assertEquals([saved[0].dtype, saved[0].size], ["i32", Math.ceil(x.length / 16)]);
          }

          // ∂y and the weights of ⟨∂x, w⟩, whose gradient w.r.t. ∂y is the adjoint's.
          const gy = K.tensor(Float32Array.from(randomValues(x.length, 3 + s)), shape);
          const w = K.tensor(Float32Array.from(randomValues(x.length, 5 + s)), shape);
          gy.requiresGrad = true;
          const [gx] = K.grad(y, [xt], { gradOutput: gy, createGraph: true });
          const [ggy] = K.grad(gx!, [gy], { gradOutput: w });
          const g = Float32Array.from(await gy.read());
          assertEquals(bits(await gx!.read()), bits(want.times(g, false)), `${what}: ∂x`);
          const ws = Float32Array.from(await w.read());
          assertEquals(bits(await ggy!.read()), bits(want.times(ws, true)), `${what}: ∂∂x/∂∂y`);
        });
      }
    }
  }
});

Deno.test("bias_act mask: a scope keeps the mask for the backward, not x; inference makes none", async () => {
  await K.flush();
  const shape = [1, 4, 128, 128];
  const n = 4 * 128 * 128;
  const x0 = K.tensor(Float32Array.from(randomValues(n, 21, -2, 2)), shape).keep();
  const b = K.tensor([0.1, -0.2, 0.3, 0], [4]).keep();
  x0.requiresGrad = b.requiresGrad = true;
  const options: BiasActOptions = { act: "lrelu", clamp: 0.9 };
  // x = x0·1.5 is made in the scope: the op's saved values decide whether it stays.
  let x: K.Tensor | null = null;
  const layer = () => biasAct(x = K.mul(x0, 1.5), b, options);
  const maskBytes = sizeClass(n / 16 * 4);
  assertEquals(maskBytes, n / 4); // the numbers below are whole size classes

  const base = K.memoryStats().inUse;
  const y = K.scope(layer);
  assertEquals(K.memoryStats().inUse - base, n * 4 + maskBytes, "y and the mask only");
  assert(x!.isDisposed, "x was released");
  const [gx0, gb] = K.grad(K.sum(K.square(y)), [x0, b]);
  const [ex0, eb] = K.grad(K.sum(K.square(layer())), [x0, b]);
  assertEquals(bits(await gx0!.read()), bits(await ex0!.read()));
  assertEquals(bits(await gb!.read()), bits(await eb!.read()));

  // y recomputed from x0 (kept) and b: only the mask stays beside the square's result.
  const square = () => K.square(biasAct(x0, b, options));
  const before = K.memoryStats().inUse;
  const z = K.scope(square);
  assertEquals(K.memoryStats().inUse - before, n * 4 + maskBytes, "the square and the mask");
  const [gz] = K.grad(K.sum(z), [x0]);
  const [ez] = K.grad(K.sum(square()), [x0]);
  assertEquals(bits(await gz!.read()), bits(await ez!.read()));

  const idle = K.memoryStats().inUse;
  const inferred = K.noGrad(() => K.scope(() => biasAct(K.mul(x0, 1.5), b, options)));
  assertEquals(K.memoryStats().inUse - idle, n * 4, "no mask without a gradient");
  inferred.dispose();
  x0.requiresGrad = b.requiresGrad = false;
});

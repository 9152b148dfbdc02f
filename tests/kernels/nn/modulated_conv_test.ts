import { Tensor } from "../../../kernels/tensor/tensor.ts";
import { demodulationCoefficients, modulatedConv2d } from "../../../kernels/nn/modulated_conv.ts";
import { conv2dResample } from "../../../kernels/nn/conv2d_resample.ts";
import { setupFilter } from "../../../kernels/nn/upfirdn2d.ts";
import { assertEquals } from "../../helpers/assert.ts";
import {
  assertClose,
  assertGpuMatchesCpu,
  gradcheck,
  gradgradcheck,
  input,
  type InputSpec,
  setupGpu,
} from "../../helpers/check.ts";

await setupGpu();

const cpu = (s: InputSpec) => Tensor.fromData(s.values, s.shape, "cpu");

/** Per sample: w'_oi = w_oi·s_i, optionally ·rsqrt(Σ w'² + 1e−8), one plain conv each (host arithmetic). */
async function perSample(
  x: InputSpec,
  w: InputSpec,
  s: InputSpec,
  opts: { up: number; padding: number; demodulate: boolean },
): Promise<Float64Array> {
  const [n, cin, h, wd] = x.shape;
  const [cout, , kh, kw] = w.shape;
  const k = kh * kw;
  const parts: Float64Array[] = [];
  for (let b = 0; b < n; b++) {
    const wm = new Float64Array(cout * cin * k);
    for (let o = 0; o < cout; o++) {
      let energy = 0;
      for (let i = 0; i < cin * k; i++) {
        const v = w.values[o * cin * k + i] * s.values[b * cin + Math.floor(i / k)];
        wm[o * cin * k + i] = v;
        energy += v * v;
      }
      const d = opts.demodulate ? 1 / Math.sqrt(energy + 1e-8) : 1;
      for (let i = 0; i < cin * k; i++) wm[o * cin * k + i] *= d;
    }
    const xb = Tensor.fromData(
      Array.from(x.values).slice(b * cin * h * wd, (b + 1) * cin * h * wd),
      [1, cin, h, wd],
      "cpu",
    );
    const y = conv2dResample(xb, Tensor.fromData(wm, w.shape, "cpu"), setupFilter(), opts);
    parts.push((await y.read()) as Float64Array);
  }
  const out = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const configs = [
  { up: 1, padding: 1, demodulate: true, k: 3 },
  { up: 2, padding: 1, demodulate: true, k: 3 },
  { up: 1, padding: 0, demodulate: false, k: 1 }, // ToRGB
];

Deno.test("modulatedConv2d: fused and non-fused paths equal the per-sample definition", async () => {
  let seed = 1;
  for (const c of configs) {
    const x = input([2, 3, 5, 5], seed++);
    const w = input([4, 3, c.k, c.k], seed++);
    const s = input([2, 3], seed++, { lo: 0.5, hi: 1.5 });
    const want = await perSample(x, w, s, c);
    for (const fused of [false, true]) {
      const got = modulatedConv2d(cpu(x), cpu(w), cpu(s), { ...c, fused });
      assertEquals(got.shape, [2, 4, 5 * c.up, 5 * c.up]);
      assertClose(await got.read(), want, `${JSON.stringify(c)} fused=${fused}`, { atol: 1e-13 });
    }
  }
});

Deno.test("modulatedConv2d: noise is added after demodulation on both paths", async () => {
  const x = input([2, 2, 4, 4], 20);
  const w = input([3, 2, 3, 3], 21);
  const s = input([2, 2], 22);
  const noise = input([4, 4], 23);
  const base = await modulatedConv2d(cpu(x), cpu(w), cpu(s), { padding: 1 }).read();
  for (const fused of [false, true]) {
    const got = await modulatedConv2d(cpu(x), cpu(w), cpu(s), {
      padding: 1,
      fused,
      noise: cpu(noise),
    }).read();
    assertClose(got, base.map((v, i) => v + noise.values[i % 16]), `fused=${fused}`, {
      atol: 1e-13,
    });
  }
});

Deno.test("demodulationCoefficients: rsqrt(Σ (w·s)² + 1e−8) per sample and output channel", async () => {
  const w = input([2, 3, 1, 2], 30);
  const s = input([1, 3], 31);
  const got = await demodulationCoefficients(cpu(w), cpu(s)).read();
  const want = [0, 1].map((o) => {
    let e = 0;
    for (let i = 0; i < 6; i++) e += (w.values[o * 6 + i] * s.values[Math.floor(i / 2)]) ** 2;
    return 1 / Math.sqrt(e + 1e-8);
  });
  assertClose(got, want, "d", { atol: 1e-14 });
});

Deno.test("modulatedConv2d: GPU matches CPU; gradients of first and second order", async () => {
  let seed = 40;
  for (const c of configs) {
    for (const fused of [false, true]) {
      await assertGpuMatchesCpu(
        `${JSON.stringify(c)} fused=${fused}`,
        (x, w, s) => modulatedConv2d(x, w, s, { ...c, fused }),
        [input([2, 3, 4, 4], seed++), input([4, 3, c.k, c.k], seed++), input([2, 3], seed++)],
        { atol: 1e-5, rtol: 1e-5 },
      );
    }
  }
  gradcheck("non-fused up 2", (x, w, s) => modulatedConv2d(x, w, s, { up: 2, padding: 1 }), [
    input([2, 2, 2, 2], 60),
    input([2, 2, 3, 3], 61),
    input([2, 2], 62),
  ]);
  gradcheck("fused", (x, w, s) => modulatedConv2d(x, w, s, { padding: 1, fused: true }), [
    input([2, 2, 3, 3], 63),
    input([2, 2, 3, 3], 64),
    input([2, 2], 65),
  ]);
  gradgradcheck("non-fused (second order)", (x, w, s) => modulatedConv2d(x, w, s, { padding: 1 }), [
    input([1, 2, 3, 3], 66),
    input([2, 2, 3, 3], 67),
    input([1, 2], 68),
  ]);
});

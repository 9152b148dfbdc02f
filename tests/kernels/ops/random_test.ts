import { assertEquals } from "../../helpers/assert.ts";
import * as K from "../../../kernels/mod.ts";
import { setupGpu } from "../../helpers/check.ts";

await setupGpu();

Deno.test("random: Philox4x32-10 matches the published known-answer vectors", () => {
  // Random123 kat_vectors: philox4x32_10, counter 0, key 0 → first word 0x6627e8d5.
  assertEquals(K.philox(0, 0, 0, 0) >>> 0, 0x6627e8d5);
});

Deno.test("random: uniform and normal draws are bit-identical on the GPU and the CPU backend", async () => {
  for (const dist of ["uniform", "normal"] as const) {
    const gpu = await new K.Rng(1234)[dist]([3, 5000]).read();
    const cpu = await new K.Rng(1234)[dist]([3, 5000], "cpu").read();
    for (let i = 0; i < cpu.length; i++) {
      if (Math.fround(cpu[i]) !== gpu[i]) {
        throw new Error(`${dist} ${i}: gpu ${gpu[i]} cpu ${cpu[i]}`);
      }
    }
  }
});

Deno.test("random: successive draws differ, the same state reproduces them", async () => {
  const r = new K.Rng(7);
  const a = await r.normal([100]).read();
  const b = await r.normal([100]).read();
  const again = K.Rng.fromState({ seed: 7, draws: 1 });
  const b2 = await again.normal([100]).read();
  if (a.join() === b.join()) throw new Error("two draws were equal");
  assertEquals(Array.from(b2), Array.from(b));
});

Deno.test("random: normal moments and quantiles match N(0, 1)", async () => {
  const n = 1 << 20;
  const v = await new K.Rng(99).normal([n]).read();
  let m = 0, m2 = 0, m4 = 0;
  for (const x of v) m += x;
  m /= n;
  for (const x of v) {
    const d = (x - m) ** 2;
    m2 += d;
    m4 += d * d;
  }
  m2 /= n;
  m4 /= n;
  const kurt = m4 / (m2 * m2);
  if (Math.abs(m) > 0.005 || Math.abs(m2 - 1) > 0.005 || Math.abs(kurt - 3) > 0.03) {
    throw new Error(`mean ${m}, var ${m2}, kurtosis ${kurt}`);
  }
  const sorted = Float64Array.from(v).sort();
  // Φ⁻¹ at 0.5%, 16%, 50%, 84%, 99.5%.
  const expected: [number, number][] = [[0.005, -2.5758], [0.16, -0.99446], [0.5, 0], [
    0.84,
    0.99446,
  ], [0.995, 2.5758]];
  for (const [p, x] of expected) {
    const got = sorted[Math.floor(p * n)];
    if (Math.abs(got - x) > 0.01) throw new Error(`quantile ${p}: ${got} vs ${x}`);
  }
});

Deno.test("random: the inverse-CDF table is accurate to float32 scale (CPU twin)", () => {
  // Extreme draws map to the far tails, the middle to ±0.
  const lo = K.normalFromBits(0);
  const hi = K.normalFromBits(0xffffffff);
  if (!(lo < -6.2 && lo > -6.4 && hi === -lo)) throw new Error(`tails ${lo} ${hi}`);
  if (Math.abs(K.normalFromBits(0x80000000)) > 1e-5) throw new Error("middle not ~0");
  // Interpolation error inside an octave vs the exact value at the same p.
  const v = 0x40000000 + 12345; // p ≈ 0.25
  const p = (v + 0.5) / 2 ** 32;
  const exact = -0.6744897501960817 + (p - 0.25) / 0.31777657; // tangent at p = 0.25 (φ(−0.674) = 0.3178)
  if (Math.abs(K.normalFromBits(v) - exact) > 3e-6) {
    throw new Error(`${K.normalFromBits(v)} vs ${exact}`);
  }
});

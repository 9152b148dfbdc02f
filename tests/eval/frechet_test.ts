/** FID/KID building blocks against closed forms (the fixture covers pytorch-fid / EG3D parity). */
import {
  featureStatistics,
  frechetDistance,
  kernelInceptionDistance,
  seededSubsetSampler,
  StatisticsAccumulator,
  symmetricEigen,
  traceSqrtProduct,
} from "../../stages/eval/frechet.ts";
import { assertClose, randomValues } from "../helpers/check.ts";

function randomSymmetric(n: number, seed: number): Float64Array {
  const r = randomValues(n * n, seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) a[i * n + j] = r[i * n + j] + r[j * n + i];
  }
  return a;
}

Deno.test("symmetricEigen: V·Λ·Vᵀ reconstructs A, V orthogonal, values ascending; values-only agrees", () => {
  for (const n of [1, 2, 7, 40]) {
    const a = randomSymmetric(n, n);
    const { values, vectors } = symmetricEigen(a, n);
    const v = vectors!;
    const back = new Float64Array(n * n);
    const gram = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        for (let k = 0; k < n; k++) {
          back[i * n + j] += v[i * n + k] * values[k] * v[j * n + k];
          gram[i * n + j] += v[k * n + i] * v[k * n + j];
        }
      }
    }
    assertClose(back, a, `reconstruction n=${n}`, { atol: 1e-12, rtol: 1e-12 });
    assertClose(
      gram,
      Float64Array.from({ length: n * n }, (_, k) => (k % (n + 1) === 0 ? 1 : 0)),
      `VᵀV n=${n}`,
      {
        atol: 1e-12,
      },
    );
    for (let k = 1; k < n; k++) {
      if (values[k] < values[k - 1]) throw new Error("eigenvalues not ascending");
    }
    assertClose(symmetricEigen(a, n, { vectors: false }).values, values, `values only n=${n}`, {
      atol: 1e-12,
    });
  }
});

Deno.test("Fréchet distance: closed form for diagonal covariances, 0 for identical sets, symmetric", () => {
  const d = 5;
  const diag = (v: number[]) =>
    Float64Array.from({ length: d * d }, (_, k) => (k % (d + 1) === 0 ? v[k / (d + 1)] : 0));
  const a = {
    mu: Float64Array.from([0, 1, 2, 3, 4]),
    sigma: diag([1, 2, 3, 4, 0]),
    dim: d,
    count: 10,
  };
  const b = {
    mu: Float64Array.from([1, 1, 0, 3, 4]),
    sigma: diag([4, 2, 1, 0.25, 9]),
    dim: d,
    count: 10,
  };
  // Σ (μa − μb)² + Σ (√a_i − √b_i)²
  const want = 1 + 4 +
    [[1, 4], [2, 2], [3, 1], [4, 0.25], [0, 9]].reduce(
      (s, [x, y]) => s + (Math.sqrt(x) - Math.sqrt(y)) ** 2,
      0,
    );
  assertClose([frechetDistance(a, b), frechetDistance(b, a)], [want, want], "diagonal FID", {
    atol: 1e-12,
  });
  const x = { data: randomValues(30 * 8, 3), rows: 30, cols: 8 };
  const s = featureStatistics(x);
  assertClose([frechetDistance(s, s)], [0], "FID of a set with itself", { atol: 1e-10 });
  // Rank-deficient (fewer samples than dimensions) stays finite and ≥ 0.
  const y = featureStatistics({ data: randomValues(5 * 8, 4), rows: 5, cols: 8 });
  const fid = frechetDistance(s, y);
  if (!(fid >= 0 && Number.isFinite(fid))) throw new Error(`rank-deficient FID ${fid}`);
  assertClose(
    [traceSqrtProduct(y.sigma, y.sigma, 8)],
    [y.sigma.filter((_, k) => k % 9 === 0).reduce((p, q) => p + q)],
    "tr √(Σ²) = tr Σ",
    {
      atol: 1e-9,
    },
  );
});

Deno.test("streaming statistics equal the two-pass ones (np.cov, unbiased)", () => {
  const x = {
    data: Float64Array.from(randomValues(200 * 6, 5), (v) => 100 + v),
    rows: 200,
    cols: 6,
  };
  const want = featureStatistics(x);
  const acc = new StatisticsAccumulator(6);
  for (let r = 0; r < 200; r += 64) {
    const rows = Math.min(64, 200 - r);
    acc.add({ data: x.data.subarray(r * 6, (r + rows) * 6), rows, cols: 6 });
  }
  const got = acc.finish();
  assertClose(got.mu, want.mu, "mean", { atol: 1e-12, rtol: 1e-13 });
  assertClose(got.sigma, want.sigma, "covariance", { atol: 1e-13, rtol: 1e-10 });
});

Deno.test("KID: depends on the drawn sets only; seeded sampler draws without replacement", () => {
  const gen = { data: randomValues(20 * 4, 6), rows: 20, cols: 4 };
  const real = { data: randomValues(25 * 4, 7), rows: 25, cols: 4 };
  const idxGen = [...Array(20).keys()].reverse();
  const idxReal = [...Array(25).keys()].slice(3, 23);
  const kid = (g: number[], r: number[]) =>
    kernelInceptionDistance(gen, real, {
      numSubsets: 1,
      maxSubsetSize: 20,
      sampler: (_p, _c, _s, set) => set === "gen" ? g : r,
    });
  assertClose(
    [kid([...idxGen].reverse(), [...idxReal].reverse())],
    [kid(idxGen, idxReal)],
    "KID order invariance",
    {
      atol: 1e-14,
    },
  );
  const draw = seededSubsetSampler(1)(100, 50, 0, "gen");
  if (new Set(draw).size !== 50 || draw.some((i) => i < 0 || i >= 100)) {
    throw new Error("sampler repeated or out of range");
  }
  const a = kernelInceptionDistance(gen, real, { numSubsets: 3, maxSubsetSize: 10, seed: 9 });
  const b = kernelInceptionDistance(gen, real, { numSubsets: 3, maxSubsetSize: 10, seed: 9 });
  if (a !== b) throw new Error("KID with a fixed seed is not deterministic");
});

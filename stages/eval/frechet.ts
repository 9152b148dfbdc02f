/**
 * FID and KID from feature matrices, on the host in float64 (features come
 * from `FidInceptionV3`, read back once; 2048² statistics are small).
 *
 * FID (pytorch-fid's `calculate_frechet_distance`):
 *   ‖μa − μb‖² + tr Σa + tr Σb − 2·tr √(Σa·Σb),
 * with tr √(Σa·Σb) = Σ √λᵢ over the eigenvalues of the symmetric PSD matrix
 * √Σa·Σb·√Σa (same spectrum as Σa·Σb), so no general matrix square root is
 * needed: two symmetric eigen-decompositions (Householder tridiagonalisation
 * + implicit QL). Tiny negative eigenvalues (rank-deficient covariances, the
 * normal case for fewer samples than dimensions) are clamped to 0.
 *
 * KID exactly as EG3D/StyleGAN3's `compute_kid`: unbiased MMD² with the
 * cubic polynomial kernel (x·y/d + 1)³ over random subsets, with the subset
 * sampler injectable (to replay recorded draws).
 */
import { SeededRng } from "../prep/seeded_rng.ts";

/** A row-major [rows, cols] matrix of features (one sample per row). */
export interface FeatureMatrix {
  data: ArrayLike<number>;
  rows: number;
  cols: number;
}

/** Mean and covariance of a feature set, float64. */
export interface FeatureStatistics {
  /** Column means [d]. */
  mu: Float64Array;
  /** Unbiased covariance [d, d] row-major (divides by n − 1, as `np.cov`). */
  sigma: Float64Array;
  /** Feature dimension d. */
  dim: number;
  /** Number of samples. */
  count: number;
}

/** Mean and unbiased covariance of the rows (two passes: centred products, as `np.cov`). */
export function featureStatistics(x: FeatureMatrix): FeatureStatistics {
  const { rows: n, cols: d, data } = x;
  if (n < 2) throw new Error(`feature statistics need at least 2 samples, got ${n}`);
  const mu = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mu[j] += data[i * d + j];
  for (let j = 0; j < d; j++) mu[j] /= n;
  const sigma = new Float64Array(d * d);
  const centred = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) centred[j] = data[i * d + j] - mu[j];
    addOuterUpper(sigma, centred, d);
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = sigma[a * d + b] / (n - 1);
      sigma[a * d + b] = v;
      sigma[b * d + a] = v;
    }
  }
  return { mu, sigma, dim: d, count: n };
}

/** S += v·vᵀ on the upper triangle only (the caller mirrors it). */
function addOuterUpper(s: Float64Array, v: Float64Array, d: number): void {
  for (let a = 0; a < d; a++) {
    const va = v[a];
    if (va === 0) continue;
    const row = a * d;
    for (let b = a; b < d; b++) s[row + b] += va * v[b];
  }
}

/**
 * Streaming mean/covariance for feature sets too large to hold (50k × 2048):
 * sums of the rows and of their outer products, shifted by the first row so
 * the one-pass formula does not cancel catastrophically.
 */
export class StatisticsAccumulator {
  private shift: Float64Array | null = null;
  private readonly sum: Float64Array;
  private readonly outer: Float64Array;
  private count = 0;

  constructor(readonly dim: number) {
    this.sum = new Float64Array(dim);
    this.outer = new Float64Array(dim * dim);
  }

  /** Adds the rows of a [rows, dim] batch. */
  add(batch: FeatureMatrix): void {
    const d = this.dim;
    if (batch.cols !== d) throw new Error(`features have ${batch.cols} columns, expected ${d}`);
    const v = new Float64Array(d);
    for (let i = 0; i < batch.rows; i++) {
      if (!this.shift) {
        this.shift = Float64Array.from({ length: d }, (_, j) => batch.data[i * d + j]);
      }
      for (let j = 0; j < d; j++) {
        v[j] = batch.data[i * d + j] - this.shift[j];
        this.sum[j] += v[j];
      }
      addOuterUpper(this.outer, v, d);
      this.count++;
    }
  }

  /** The statistics of every row added so far. */
  finish(): FeatureStatistics {
    const n = this.count;
    const d = this.dim;
    if (n < 2 || !this.shift) {
      throw new Error(`feature statistics need at least 2 samples, got ${n}`);
    }
    const mean = Float64Array.from(this.sum, (s) => s / n);
    const sigma = new Float64Array(d * d);
    for (let a = 0; a < d; a++) {
      for (let b = a; b < d; b++) {
        const v = (this.outer[a * d + b] - n * mean[a] * mean[b]) / (n - 1);
        sigma[a * d + b] = v;
        sigma[b * d + a] = v;
      }
    }
    const mu = Float64Array.from(mean, (m, j) => m + this.shift![j]);
    return { mu, sigma, dim: d, count: n };
  }
}

/** Eigenvalues (ascending) and, optionally, eigenvectors of a symmetric matrix. */
export interface SymmetricEigen {
  values: Float64Array;
  /** Row-major [n, n]; column k is the eigenvector of values[k] (absent when not requested). */
  vectors?: Float64Array;
}

/**
 * Eigen-decomposition of a symmetric n×n matrix (row-major; only symmetric
 * input is meaningful): Householder reduction to tridiagonal form then the
 * implicit QL algorithm (EISPACK tred2/tql2, as in JAMA). Deterministic,
 * O(n³), float64 throughout.
 */
export function symmetricEigen(
  a: ArrayLike<number>,
  n: number,
  { vectors = true } = {},
): SymmetricEigen {
  if (a.length !== n * n) throw new Error(`symmetricEigen: ${a.length} values for ${n}×${n}`);
  const v = Float64Array.from(a);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { values: d, vectors: vectors ? v : undefined };
  tridiagonalize(v, d, e, n, vectors);
  // QL rotates columns of V; keeping Vᵀ makes each rotation touch two contiguous rows.
  const vt = vectors ? transpose(v, n) : null;
  tridiagonalQl(d, e, vt, n);
  const order = [...d.keys()].sort((i, j) => d[i] - d[j]);
  const values = Float64Array.from(order, (i) => d[i]);
  if (!vt) return { values };
  const out = new Float64Array(n * n);
  order.forEach((src, k) => {
    for (let r = 0; r < n; r++) out[r * n + k] = vt[src * n + r];
  });
  return { values, vectors: out };
}

function transpose(m: Float64Array, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = m[i * n + j];
  return t;
}

/** tred2: V ← orthogonal Q with Qᵀ·A·Q tridiagonal (diagonal d, sub-diagonal e[1..]). */
function tridiagonalize(
  V: Float64Array,
  d: Float64Array,
  e: Float64Array,
  n: number,
  accumulate: boolean,
): void {
  const at = (i: number, j: number) => i * n + j;
  for (let j = 0; j < n; j++) d[j] = V[at(n - 1, j)];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = V[at(i - 1, j)];
        V[at(i, j)] = 0;
        V[at(j, i)] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        V[at(j, i)] = f;
        g = e[j] + V[at(j, j)] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[at(k, j)] * d[k];
          e[k] += V[at(k, j)] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) V[at(k, j)] -= f * e[k] + g * d[k];
        d[j] = V[at(i - 1, j)];
        V[at(i, j)] = 0;
      }
    }
    d[i] = h;
  }
  if (!accumulate) {
    // The tridiagonal diagonal is left on V's diagonal by the reduction.
    for (let j = 0; j < n; j++) d[j] = V[at(j, j)];
    e[0] = 0;
    return;
  }
  for (let i = 0; i < n - 1; i++) {
    V[at(n - 1, i)] = V[at(i, i)];
    V[at(i, i)] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[at(k, i + 1)] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[at(k, i + 1)] * V[at(k, j)];
        for (let k = 0; k <= i; k++) V[at(k, j)] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) V[at(k, i + 1)] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[at(n - 1, j)];
    V[at(n - 1, j)] = 0;
  }
  V[at(n - 1, n - 1)] = 1;
  e[0] = 0;
}

/** tql2: diagonalises the tridiagonal (d, e); rotations are applied to the rows of Vᵀ when given. */
function tridiagonalQl(d: Float64Array, e: Float64Array, vt: Float64Array | null, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      let iterations = 0;
      do {
        if (++iterations > 60) throw new Error("symmetricEigen: QL iteration did not converge");
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          if (vt) {
            const ri = i * n;
            const rj = (i + 1) * n;
            for (let k = 0; k < n; k++) {
              const hk = vt[rj + k];
              vt[rj + k] = s * vt[ri + k] + c * hk;
              vt[ri + k] = c * vt[ri + k] - s * hk;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}

/** C = A·B for row-major n×n matrices (i-k-j order: contiguous inner loop). */
function matmulSquare(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ci = i * n;
    for (let k = 0; k < n; k++) {
      const aik = a[ci + k];
      if (aik === 0) continue;
      const bk = k * n;
      for (let j = 0; j < n; j++) c[ci + j] += aik * b[bk + j];
    }
  }
  return c;
}

/** The PSD square root V·diag(√max(λ, 0))·Vᵀ of a symmetric matrix. */
export function symmetricSqrt(a: ArrayLike<number>, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, n);
  const v = vectors!;
  const scaled = new Float64Array(n * n); // V·diag(√λ)
  for (let r = 0; r < n; r++) {
    for (let k = 0; k < n; k++) {
      scaled[r * n + k] = v[r * n + k] * Math.sqrt(Math.max(values[k], 0));
    }
  }
  return matmulSquare(scaled, transpose(v, n), n);
}

/** tr √(A·B) for symmetric PSD A, B: Σ √λ over the spectrum of √A·B·√A (negatives clamped). */
export function traceSqrtProduct(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number {
  const rootA = symmetricSqrt(a, n);
  const m = matmulSquare(matmulSquare(rootA, Float64Array.from(b), n), rootA, n);
  // Symmetrise away rounding so the symmetric solver sees exactly what it assumes.
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const s = 0.5 * (m[i * n + j] + m[j * n + i]);
      m[i * n + j] = s;
      m[j * n + i] = s;
    }
  }
  const { values } = symmetricEigen(m, n, { vectors: false });
  let total = 0;
  for (const l of values) total += Math.sqrt(Math.max(l, 0));
  return total;
}

/** The Fréchet distance between two Gaussians fitted to feature sets (FID when the features are pool3). */
export function frechetDistance(a: FeatureStatistics, b: FeatureStatistics): number {
  if (a.dim !== b.dim) throw new Error(`Fréchet distance: dimensions ${a.dim} and ${b.dim} differ`);
  const d = a.dim;
  let meanTerm = 0;
  let traces = 0;
  for (let i = 0; i < d; i++) {
    meanTerm += (a.mu[i] - b.mu[i]) ** 2;
    traces += a.sigma[i * d + i] + b.sigma[i * d + i];
  }
  return meanTerm + traces - 2 * traceSqrtProduct(a.sigma, b.sigma, d);
}

/** Draws `count` distinct row indices out of `population` for subset `subset` of one feature set. */
export type SubsetSampler = (
  population: number,
  count: number,
  subset: number,
  set: "gen" | "real",
) => number[];

/** Options of `kernelInceptionDistance` (defaults: EG3D's 100 subsets of at most 1000). */
export interface KidOptions {
  numSubsets?: number;
  maxSubsetSize?: number;
  /** Row sampler (default: seeded partial Fisher–Yates, `seed`). */
  sampler?: SubsetSampler;
  seed?: number;
}

/** A deterministic sampler without replacement (partial Fisher–Yates over a seeded stream). */
export function seededSubsetSampler(seed: number): SubsetSampler {
  const rng = new SeededRng(seed);
  return (population, count) => {
    const pool = [...Array(population).keys()];
    for (let i = 0; i < count; i++) {
      const j = i + rng.int(population - i);
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    return pool.slice(0, count);
  };
}

/**
 * KID of generated vs real features, exactly EG3D's `compute_kid`: per subset
 * m = min(n_gen, n_real, maxSubsetSize) rows of each (gen drawn first), then
 * t += (ΣK_xx + ΣK_yy − traces)/(m − 1) − 2·ΣK_xy/m with K(u, v) = (u·v/d + 1)³;
 * KID = t / numSubsets / m.
 */
export function kernelInceptionDistance(
  gen: FeatureMatrix,
  real: FeatureMatrix,
  options: KidOptions = {},
): number {
  const d = gen.cols;
  if (real.cols !== d) throw new Error(`KID: feature dimensions ${d} and ${real.cols} differ`);
  const numSubsets = options.numSubsets ?? 100;
  const m = Math.min(gen.rows, real.rows, options.maxSubsetSize ?? 1000);
  if (m < 2) throw new Error(`KID needs at least 2 samples per set, got ${m}`);
  const sampler = options.sampler ?? seededSubsetSampler(options.seed ?? 0);
  const rowsOf = (x: FeatureMatrix, idx: number[]) => {
    const out = new Float64Array(idx.length * d);
    idx.forEach((r, i) => {
      if (!(r >= 0 && r < x.rows)) {
        throw new Error(`KID: subset index ${r} outside 0..${x.rows - 1}`);
      }
      for (let j = 0; j < d; j++) out[i * d + j] = x.data[r * d + j];
    });
    return out;
  };
  // Σ over all pairs of (u·v/d + 1)³, and separately over the diagonal when u, v are one set.
  const kernelSums = (u: Float64Array, v: Float64Array, same: boolean) => {
    let total = 0;
    let diagonal = 0;
    for (let i = 0; i < m; i++) {
      for (let k = 0; k < m; k++) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += u[i * d + j] * v[k * d + j];
        const kv = (dot / d + 1) ** 3;
        total += kv;
        if (same && i === k) diagonal += kv;
      }
    }
    return { total, diagonal };
  };
  let t = 0;
  for (let s = 0; s < numSubsets; s++) {
    const x = rowsOf(gen, sampler(gen.rows, m, s, "gen"));
    const y = rowsOf(real, sampler(real.rows, m, s, "real"));
    const xx = kernelSums(x, x, true);
    const yy = kernelSums(y, y, true);
    const xy = kernelSums(x, y, false);
    t += (xx.total + yy.total - xx.diagonal - yy.diagonal) / (m - 1) - (xy.total * 2) / m;
  }
  return t / numSubsets / m;
}

/**
 * Latent codes from seeds, drawn exactly as the original scripts draw them
 * (`gen_samples.py`, `gen_videos.py`: `np.random.RandomState(seed).randn(1, z_dim)`),
 * so seed 42 of an imported official checkpoint is the same identity here as
 * there. NumPy's legacy generator: MT19937 seeded with `init_genrand`, doubles
 * from two 32-bit draws (53 bits), normals by the polar Box–Muller method
 * whose second value is cached for the next call.
 * @module
 */

const N = 624;
const M = 397;

/** The 32-bit Mersenne Twister as NumPy's `RandomState(seed)` sets it up. */
class MersenneTwister {
  readonly #state = new Uint32Array(N);
  #index = N;

  constructor(seed: number) {
    this.#state[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const previous = this.#state[i - 1] ^ (this.#state[i - 1] >>> 30);
      // 1812433253 · previous + i, modulo 2³², without losing bits to float rounding.
      this.#state[i] = (Math.imul(1812433253, previous) + i) >>> 0;
    }
  }

  nextUint32(): number {
    if (this.#index >= N) this.#twist();
    let y = this.#state[this.#index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A double in [0, 1) with 53 random bits (`random_standard_uniform`). */
  nextDouble(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  #twist(): void {
    const s = this.#state;
    for (let i = 0; i < N; i++) {
      const y = (s[i] & 0x80000000) | (s[(i + 1) % N] & 0x7fffffff);
      s[i] = s[(i + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.#index = 0;
  }
}

/**
 * `np.random.RandomState(seed).randn(count)`: `count` standard normals.
 * `seed` must be an integer in [0, 2³²), as NumPy requires.
 */
export function numpyRandn(seed: number, count: number): Float64Array {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`seed ${seed} is not an integer in [0, 2^32)`);
  }
  const mt = new MersenneTwister(seed);
  const out = new Float64Array(count);
  let cached: number | null = null;
  for (let i = 0; i < count; i++) {
    if (cached !== null) {
      out[i] = cached;
      cached = null;
      continue;
    }
    let x1: number, x2: number, r2: number;
    do {
      x1 = 2 * mt.nextDouble() - 1;
      x2 = 2 * mt.nextDouble() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt(-2 * Math.log(r2) / r2);
    cached = f * x1;
    out[i] = f * x2;
  }
  return out;
}

/** The latent z [zDim] of a seed, as the original's generation scripts draw it. */
export function latentForSeed(seed: number, zDim: number): Float64Array {
  return numpyRandn(seed, zDim);
}

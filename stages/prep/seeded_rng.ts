/**
 * A small seeded integer PRNG (xoshiro128**, seeded through splitmix32) for
 * object parameters and cameras: same seed → same numbers on every machine,
 * since it uses only 32-bit integer arithmetic. `forItem(seed, i)` gives each
 * dataset item its own stream, so item i is the same whatever the dataset size.
 * @module
 */

/** A deterministic random stream. */
export class SeededRng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  /** A stream from a 32-bit seed (any integer; taken modulo 2^32). */
  constructor(seed: number) {
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0; // splitmix32: a Weyl sequence through a mixer
      return mix32(x);
    };
    this.#s0 = next();
    this.#s1 = next();
    this.#s2 = next();
    this.#s3 = next();
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /** The independent stream of item `index` of a dataset seeded with `seed`. */
  static forItem(seed: number, index: number): SeededRng {
    return new SeededRng(mix32((seed >>> 0) ^ mix32((index + 0x9e3779b9) >>> 0)));
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0;
    const t = this.#s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Integer uniform in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box–Muller; one value per call, two uniforms consumed). */
  normal(): number {
    const u1 = 1 - this.uniform(); // (0, 1], so log is finite
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** One element of `items`, uniformly. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A 32-bit finaliser (murmur3 fmix32): spreads every input bit over the output. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

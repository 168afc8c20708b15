/**
 * Seeded pseudo-random numbers for the synthetic benchmark.
 *
 * Why not `Math.random`: a benchmark must be reproducible bit for bit from its seed, on
 * every machine and Node version, so the generator is written out here (sfc32, a small
 * fast generator with a 128-bit state that passes PractRand) together with the few
 * distributions the planner needs.
 */

/** A seeded random source; every method advances the same state. */
export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform 32-bit unsigned integer. */
  uint32(): number;
  /** Uniform float in [lo, hi). */
  range(lo: number, hi: number): number;
  /** Uniform integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** Standard normal (Box–Muller) scaled to mean and std. */
  normal(mean?: number, std?: number): number;
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** Exponential waiting time with the given rate (events per unit). */
  exponential(rate: number): number;
}

/**
 * Mixes any number of integers into one 32-bit seed (murmur3 finaliser per step).
 *
 * Why: per-video and per-purpose sub-streams (`hashSeed(seed, videoIndex)`) must be
 * independent of how many numbers earlier streams consumed, so each stream gets its own
 * seed instead of sharing one generator.
 *
 * @example
 * const videoSeed = hashSeed(42, 3);
 * @param parts - integers (only their low 32 bits matter; fractions are truncated)
 * @returns an unsigned 32-bit seed
 */
export function hashSeed(...parts: readonly number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    let k = Math.trunc(part) >>> 0;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= parts.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Creates an sfc32 generator from a 32-bit seed.
 *
 * @example
 * const rng = createRng(7);
 * const speed = rng.range(1.0, 1.6);
 * @param seed - any integer; equal seeds give equal sequences
 * @returns a stateful {@link Rng}
 */
export function createRng(seed: number): Rng {
  let a = hashSeed(seed, 1);
  let b = hashSeed(seed, 2);
  let c = hashSeed(seed, 3);
  let d = 1;
  const uint32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  // Warm-up: the first outputs of sfc32 correlate with the seed words.
  for (let i = 0; i < 12; i++) uint32();
  const next = (): number => uint32() / 4294967296;
  return {
    next,
    uint32,
    range: (lo, hi) => lo + (hi - lo) * next(),
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    normal: (mean = 0, std = 1) => {
      // 1 - next() keeps the logarithm's argument in (0, 1].
      const u = 1 - next();
      const v = next();
      return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    pick: <T>(items: readonly T[]): T => {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new RangeError('pick() needs a non-empty array');
      return item;
    },
    exponential: (rate) => -Math.log(1 - next()) / rate,
  };
}

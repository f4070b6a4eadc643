/**
 * The tests' seeded random source (mulberry32): small, deterministic on every machine, so a
 * failure reproduces from its seed.
 *
 * @module
 */

/** A small deterministic random source. */
export class Rng {
  #s: number;
  /** Creates a generator from a 32-bit seed. */
  constructor(readonly seed: number) {
    this.#s = seed >>> 0;
  }
  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** A uniform float in [0, 1). */
  float(): number {
    return this.u32() / 2 ** 32;
  }
  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
  /** A uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }
  /** One element of a non-empty list. */
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)];
  }
  /** A uniform 64-bit unsigned integer. */
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
  /** `n` random bytes. */
  bytes(n: number): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

/**
 * A function returning uniform floats in [0, 1) from `seed`: the same sequence as
 * `new Rng(seed).float()`.
 *
 * @example
 * ```ts
 * import { prng } from "./random.ts";
 * const a = prng(1), b = prng(1);
 * a() === b(); // true
 * ```
 */
export function prng(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.float();
}

/**
 * The timing loop of the in-process engines (bitload, libllama, and a bitload checkout of another
 * revision in its own process), the way llama-bench times: `ppN` = N prompt tokens as one batch
 * from an empty cache, `tg32` = 32 single-token decodes from an empty cache, `tg32@pp512` = 32
 * single-token decodes after a 512-token prompt (that prompt is the pp512 sample when both are
 * asked for). No imports: a driver script of another checkout imports it without loading this
 * checkout's engine.
 *
 * @module
 */

/** The tests (as `engines_table.ts`'s `EngineTest`). */
type Test = "pp32" | "pp512" | "tg32" | "tg32@pp512";

/** One repetition's outcome per test: tok/s, or why the test cannot run on this engine. */
export type EngineRep = Partial<Record<Test, number | string>>;

/** Prompt/generation sizes of each test. */
export const SIZES: Record<Test, { pp: number; tg: number }> = {
  pp32: { pp: 32, tg: 0 },
  pp512: { pp: 512, tg: 0 },
  tg32: { pp: 0, tg: 32 },
  "tg32@pp512": { pp: 512, tg: 32 },
};

/** Context every in-process engine gets: the longest test (512 + 32) with room to spare. */
export const ENGINE_CONTEXT = 1024;

/**
 * Deterministic token ids below `vocab` (which ids does not change the work done).
 *
 * @example
 * ```ts
 * import { benchTokens } from "./engine_timing.ts";
 * benchTokens(3, 1000); // [11, 48, 85]
 * ```
 */
export function benchTokens(n: number, vocab: number, salt = 0): number[] {
  const span = Math.min(vocab, 1000);
  return Array.from({ length: n }, (_, i) => (i * 37 + 11 + salt * 101) % span);
}

/** What the loop drives: an engine's reset and one batch of tokens. */
export interface Stepper {
  reset(): void;
  /** Runs `tokens` as one batch. */
  feed(tokens: number[]): void;
}

/**
 * One repetition of `tests` on `s` (the cache is reset before each test and after).
 *
 * @example
 * ```ts
 * import { timeRep } from "./engine_timing.ts";
 * const rep = timeRep({ reset() {}, feed() {} }, 1000, ["pp32"]);
 * typeof rep.pp32; // "number"
 * ```
 */
export function timeRep(s: Stepper, vocab: number, tests: readonly Test[]): EngineRep {
  const out: EngineRep = {};
  const sec = (t0: number) => (performance.now() - t0) / 1000;
  const gen = benchTokens(32, vocab, 7);
  const generate = () => {
    const t0 = performance.now();
    for (const t of gen) s.feed([t]);
    return 32 / sec(t0);
  };
  for (const test of tests) {
    if (test === "pp512" && tests.includes("tg32@pp512")) continue; // measured with it
    s.reset();
    const { pp, tg } = SIZES[test];
    if (pp > 0) {
      const prompt = benchTokens(pp, vocab);
      const t0 = performance.now();
      s.feed(prompt);
      const ppTps = pp / sec(t0);
      if (test === "tg32@pp512" && tests.includes("pp512")) out.pp512 = ppTps;
      if (tg === 0) out[test] = ppTps;
    }
    if (tg > 0) out[test] = generate();
  }
  s.reset();
  return out;
}

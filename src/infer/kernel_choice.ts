/**
 * The adaptive kernel manager's memory: which SIMD level and thread count won the timing on a
 * given machine for a given model shape, cached in `<cache dir>/kernel-choices.json` so later
 * loads skip the timing. Keys name the CPU model, the hardware threads and the shape (arch,
 * widths, layers, vocabulary, projection type). Each record also keeps what makes it
 * trustworthy — the winner's run-to-run spread, the runner-up's time, the native library's ABI
 * version and the CPU's feature flags — and {@link choiceDoubt} says when a stored choice must be
 * timed again: another CPU or library, or a win inside the timing noise (so one noisy run cannot
 * pin a slower level for that shape forever).
 *
 * @module
 */

import { writeTextFileAtomicSync } from "../common/atomic_write.ts";
import { join } from "node:path";
import { nativeCacheDir } from "../../ffi/c_build.ts";
import { readSmallTextFile } from "../../ffi/libc.ts";
import { BITLOAD_ABI_VERSION } from "../../ffi/symbols.ts";
import type { InferLevel } from "../../ffi/infer_native.ts";
import type { ModelConfig } from "./config.ts";

/** A cached choice. */
export interface KernelChoice {
  /** SIMD level. */
  level: InferLevel;
  /**
   * SIMD level of prompt batches (more than one token), timed on its own on a batch of the
   * model's projections; absent in older records and where only one level was timed.
   */
  promptLevel?: InferLevel;
  /** Fastest ms of that batch timing at `promptLevel` ({@link timeInterleaved}). */
  promptMs?: number;
  /** Worker threads. */
  threads: number;
  /** Fastest ms of one decode step when it was timed ({@link timeInterleaved}). */
  msPerToken: number;
  /** Spread of the winner's samples (max − min of the fastest half, {@link timingOf}), ms. */
  spreadMs?: number;
  /**
   * Fastest ms of the best variant other than the chosen one (absent when only one was timed);
   * below `msPerToken` when a preferred variant was kept within {@link MIN_MARGIN}.
   */
  runnerUpMs?: number;
  /** Spread of the runner-up's samples, ms. */
  runnerUpSpreadMs?: number;
  /** `bl_abi_version` of the native library that was timed. */
  abi?: number;
  /** Hash of the CPU's feature flags when it was timed. */
  cpuFlags?: string;
  /** How many times in a row this shape was re-timed because the choice was doubtful. */
  retunes?: number;
}

/**
 * A win this close to the runner-up (relative to the winner's time) is treated as noise even
 * when the measured spreads are smaller: 3 % is below what a few samples resolve reliably on a
 * shared machine. Both tunings also switch away from the preferred variant only for a win above it
 * ({@link chooseTimed}).
 */
export const MIN_MARGIN = 0.03;
/**
 * Re-timings of one shape in a row before a still-doubtful choice is kept: variants that stay
 * within each other's noise after this many tries are equally fast for practical purposes.
 */
export const MAX_RETUNES = 3;

/** What the running process is: compared with a record to decide whether it still applies. */
export interface KernelEnvironment {
  /** The native library's ABI version. */
  abi: number;
  /** Hash of the CPU's feature flags. */
  cpuFlags: string;
}

function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/**
 * The environment of this process: the ABI version bitload was built for and a hash of the
 * CPU's `flags` line (`/proc/cpuinfo`; the build target elsewhere).
 *
 * @example
 * ```ts ignore
 * import { kernelEnvironment } from "./kernel_choice.ts";
 * kernelEnvironment(); // { abi: 7, cpuFlags: "9c1f…" }
 * ```
 */
export function kernelEnvironment(): KernelEnvironment {
  const cpuinfo = readSmallTextFile("/proc/cpuinfo", 4 << 20) ?? "";
  const flags = /^(flags|Features)\s*:\s*(.+)$/m.exec(cpuinfo)?.[2]?.trim() ?? Deno.build.target;
  return { abi: BITLOAD_ABI_VERSION, cpuFlags: fnv1a(flags) };
}

/**
 * Why a stored choice must be timed again, or `null` when it can be used as it is: no record,
 * another library ABI, another CPU feature set, a record without a spread (older cache), or a
 * win inside the timing noise (the runner-up within the larger of the two spreads or
 * {@link MIN_MARGIN}) that has not yet been re-timed {@link MAX_RETUNES} times.
 *
 * @example
 * ```ts
 * import { choiceDoubt } from "./kernel_choice.ts";
 * const env = { abi: 1, cpuFlags: "abc" };
 * const base = { level: "avx2" as const, threads: 2, abi: 1, cpuFlags: "abc" };
 * choiceDoubt({ ...base, msPerToken: 10, spreadMs: 0.2, runnerUpMs: 14, runnerUpSpreadMs: 0.3 }, env); // null
 * choiceDoubt({ ...base, msPerToken: 10, spreadMs: 2, runnerUpMs: 11, runnerUpSpreadMs: 0.3 }, env);
 * // "the winner is within the timing noise of the runner-up (…)"
 * ```
 */
export function choiceDoubt(
  choice: KernelChoice | undefined,
  env: KernelEnvironment,
): string | null {
  if (!choice) return "no stored choice";
  if (choice.abi !== env.abi) {
    return `the native library changed (ABI ${choice.abi ?? "unknown"} → ${env.abi})`;
  }
  if (choice.cpuFlags !== env.cpuFlags) return "the CPU's feature flags changed";
  if (choice.spreadMs === undefined) return "the stored timing has no spread";
  if (choice.runnerUpMs === undefined || (choice.retunes ?? 0) >= MAX_RETUNES) return null;
  const margin = choice.runnerUpMs - choice.msPerToken;
  const noise = Math.max(
    choice.spreadMs,
    choice.runnerUpSpreadMs ?? 0,
    MIN_MARGIN * choice.msPerToken,
  );
  if (margin <= noise) {
    return `the winner is within the timing noise of the runner-up (${
      margin.toFixed(2)
    } ms apart, spread ${noise.toFixed(2)} ms)`;
  }
  return null;
}

/** Timed rounds of a tuning (each variant once per round, after an untimed warm-up round). */
export const TUNE_ROUNDS = 8;
/**
 * A variant whose first timed sample is more than this many times the round's fastest is dropped
 * from the later rounds: timing it again (scalar decoding, 5–7× slower) would cost most of the
 * tuning. Wide, because one sample under load can take twice its time (seen on a busy 2-core
 * machine: AVX-512 at 243 ms against AVX2's 155 in a round, then 10 % faster over the rest).
 */
export const DROP_FACTOR = 3;

/** A variant's timing by {@link timeInterleaved}. */
export interface TimedVariant<T> {
  /** The variant timed. */
  variant: T;
  /** Its fastest sample, ms: the robust estimate on a shared machine. */
  ms: number;
  /**
   * Spread of the samples the estimate rests on: max − min of the fastest half (rounded up) of
   * its samples, ms. The slow tail under load is other jobs' time, not the variant's.
   */
  spreadMs: number;
  /** Its samples in the order taken, ms. */
  samples: number[];
}

/**
 * The fastest sample and the spread of the fastest half of `samples` (see {@link TimedVariant}).
 *
 * @example
 * ```ts
 * import { timingOf } from "./kernel_choice.ts";
 * timingOf([12, 10, 30, 11, 40]); // { ms: 10, spreadMs: 2 }
 * ```
 */
export function timingOf(samples: readonly number[]): { ms: number; spreadMs: number } {
  const s = [...samples].sort((a, b) => a - b);
  const half = s.slice(0, Math.ceil(s.length / 2));
  return { ms: s[0], spreadMs: half[half.length - 1] - s[0] };
}

/**
 * Times `variants` the way both tunings (one-token steps and prompt batches) do on a shared
 * machine: an untimed warm-up round, then {@link TUNE_ROUNDS} rounds with the variants interleaved
 * within each round (so a busy spell hits all of them), each variant's fastest sample kept, and
 * after the first timed round the variants slower than {@link DROP_FACTOR} × that round's fastest
 * left out. `measure(v)` runs one step of variant `v` and returns its ms. Fastest first.
 *
 * @example
 * ```ts
 * import { timeInterleaved } from "./kernel_choice.ts";
 * const timed = timeInterleaved(["a", "b"], (v) => (v === "a" ? 5 : 3));
 * timed[0].variant; // "b"
 * ```
 */
export function timeInterleaved<T>(
  variants: readonly T[],
  measure: (variant: T) => number,
  rounds = TUNE_ROUNDS,
): TimedVariant<T>[] {
  const all = variants.map((variant) => ({ variant, samples: [] as number[] }));
  for (const v of all) measure(v.variant); // warm-up: pages, caches, branch predictors
  let live = all;
  for (let round = 0; round < rounds; round++) {
    for (const v of live) {
      v.samples.push(measure(v.variant));
    }
    if (round === 0) {
      const best = Math.min(...live.map((v) => v.samples[0]));
      live = live.filter((v) => v.samples[0] <= best * DROP_FACTOR);
    }
  }
  return all
    .map((v) => ({ variant: v.variant, ...timingOf(v.samples), samples: v.samples }))
    .sort((a, b) => a.ms - b.ms);
}

/**
 * The selection rule of both tunings: the fastest of `timed` (fastest first), unless the fastest
 * variant that `preferred` accepts is within {@link MIN_MARGIN} of it (then that one: another
 * variant only for a clear win). `runnerUp` is the fastest other variant, for the record (faster
 * than the choice when the preferred one was kept).
 *
 * @example
 * ```ts
 * import { chooseTimed } from "./kernel_choice.ts";
 * const t = (variant: string, ms: number) => ({ variant, ms, spreadMs: 0, samples: [ms] });
 * chooseTimed([t("avx2", 99), t("avx512", 100)], (v) => v === "avx512").choice.variant; // "avx512"
 * chooseTimed([t("avx2", 90), t("avx512", 100)], (v) => v === "avx512").choice.variant; // "avx2"
 * ```
 */
export function chooseTimed<T>(
  timed: readonly TimedVariant<T>[],
  preferred: (variant: T) => boolean = () => false,
): { choice: TimedVariant<T>; runnerUp?: TimedVariant<T> } {
  const fastest = timed[0];
  const kept = timed.find((t) => preferred(t.variant));
  const choice = kept && fastest.ms > kept.ms * (1 - MIN_MARGIN) ? kept : fastest;
  return { choice, runnerUp: timed.find((t) => t !== choice) };
}

/**
 * The cache key for this machine and a model shape.
 *
 * @example
 * ```ts ignore
 * import { kernelChoiceKey } from "./kernel_choice.ts";
 * kernelChoiceKey(model.config, "I2_S"); // "AMD EPYC|2|bitnet-b1.58|2560|6912|30|128256|I2_S"
 * ```
 */
export function kernelChoiceKey(config: ModelConfig, weightType: string): string {
  const cpuinfo = readSmallTextFile("/proc/cpuinfo", 4 << 20) ?? "";
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? Deno.build.target;
  return [
    cpu,
    navigator.hardwareConcurrency ?? 1,
    config.arch,
    config.nEmbd,
    config.nFf,
    config.nLayer,
    config.nVocab,
    weightType,
  ].join("|");
}

function choicesPath(): string | null {
  const dir = nativeCacheDir();
  return dir === null ? null : join(dir, "kernel-choices.json");
}

function readAll(): Record<string, KernelChoice> {
  const path = choicesPath();
  if (path === null) return {};
  try {
    return JSON.parse(Deno.readTextFileSync(path)) as Record<string, KernelChoice>;
  } catch {
    return {};
  }
}

/**
 * The cached choice for `key`, or undefined.
 *
 * @example
 * ```ts ignore
 * import { cachedKernelChoice } from "./kernel_choice.ts";
 * cachedKernelChoice("…")?.level;
 * ```
 */
export function cachedKernelChoice(key: string): KernelChoice | undefined {
  return readAll()[key];
}

/**
 * Records a choice (atomically; failures are ignored: the cache is only an optimisation).
 *
 * @example
 * ```ts ignore
 * import { saveKernelChoice } from "./kernel_choice.ts";
 * saveKernelChoice("…", { level: "avx512", threads: 2, msPerToken: 31.2, spreadMs: 0.4 });
 * ```
 */
export function saveKernelChoice(key: string, choice: KernelChoice): void {
  const path = choicesPath();
  if (path === null) return;
  try {
    const all = readAll();
    all[key] = choice;
    Deno.mkdirSync(join(path, ".."), { recursive: true });
    writeTextFileAtomicSync(path, JSON.stringify(all, null, 2) + "\n");
  } catch { /* only an optimisation */ }
}

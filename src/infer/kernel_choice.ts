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
  /** Median ms of that batch timing at `promptLevel`. */
  promptMs?: number;
  /** Worker threads. */
  threads: number;
  /** Median ms of one decode step when it was timed. */
  msPerToken: number;
  /** Run-to-run spread of the winner's samples (max − min of the kept samples), ms. */
  spreadMs?: number;
  /** Median ms of the second-fastest variant (absent when only one was timed). */
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
 * when the measured spreads are smaller: 3 % is below what a 3-sample timing resolves reliably.
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

/**
 * Median and spread (max − min) of a few timing samples, ms.
 *
 * @example
 * ```ts
 * import { timingOf } from "./kernel_choice.ts";
 * timingOf([10, 12, 11]); // { ms: 11, spreadMs: 2 }
 * ```
 */
export function timingOf(samples: readonly number[]): { ms: number; spreadMs: number } {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const ms = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { ms, spreadMs: s[s.length - 1] - s[0] };
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

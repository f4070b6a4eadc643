/**
 * The adaptive kernel manager's memory: which SIMD level and thread count won the timing on a
 * given machine for a given model shape, cached in `<cache dir>/kernel-choices.json` so later
 * loads skip the timing. Keys name the CPU model, the hardware threads and the shape (arch,
 * widths, layers, vocabulary, projection type).
 *
 * @module
 */

import { writeTextFileAtomicSync } from "../common/atomic_write.ts";
import { join } from "node:path";
import { nativeCacheDir } from "../../ffi/c_build.ts";
import { readSmallTextFile } from "../../ffi/libc.ts";
import type { InferLevel } from "../../ffi/infer_native.ts";
import type { ModelConfig } from "./config.ts";

/** A cached choice. */
export interface KernelChoice {
  /** SIMD level. */
  level: InferLevel;
  /** Worker threads. */
  threads: number;
  /** Median ms of one decode step when it was timed. */
  msPerToken: number;
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
 * saveKernelChoice("…", { level: "avx512", threads: 2, msPerToken: 31.2 });
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

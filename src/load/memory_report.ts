/**
 * The memory-efficiency validator: what a load cost in resident memory, split into anonymous and
 * file-backed pages, relative to the model's size, with the seed's limits (multiplier ≤ 1.5;
 * ≤ 1.3 above 4 GiB; ≤ 1.2 above 10 GiB) and a warning above 1.05 for mapped loads.
 *
 * @module
 */

import type { ProcessMemory } from "./memory.ts";

/** The report of one load. */
export interface MemoryReport {
  /** Bytes of tensor data loaded. */
  fileBytes: number;
  /** Peak resident memory added during the load (VmHWM − RSS before). */
  peakRssBytes: number;
  /** Anonymous memory added (heap, copies). */
  anonBytes: number;
  /** File-backed memory added (mapped pages). */
  fileBackedBytes: number;
  /**
   * `peakRssBytes / (fileBytes + outputBytes)`: 1.0 means the load cost exactly the model's size
   * (plus the dequantized copies asked for).
   */
  multiplier: number;
  /** Bytes of dequantized copies the caller asked for (expected memory, not overhead). */
  outputBytes: number;
  /** Resident memory the metadata parse added (not counted in the multiplier). */
  parseOverheadBytes: number;
  /** Tensors served as views of the mapping. */
  zeroCopyTensors: number;
  /** Tensors copied (read path) or dequantized into new arrays. */
  copiedTensors: number;
  /** Wall time of the load. */
  seconds: number;
  /** Tensor bytes per second. */
  throughputBytesPerSec: number;
  /** Whether the data was mapped. */
  mapped: boolean;
  /** The multiplier limit that applies to this model size. */
  limit: number;
  /** Whether the multiplier is within the limit (true when memory could not be measured). */
  ok: boolean;
  /** Whether /proc readings were available. */
  measured: boolean;
  /** Limit breaches and notable findings. */
  warnings: string[];
}

const GIB = 1024 ** 3;
/**
 * Below this size the multiplier is dominated by fixed costs (page rounding, runtime heap
 * growth), so it is reported but does not fail validation.
 */
export const MIN_JUDGED_BYTES = 64 * 1024 * 1024;

/** A mapped load should cost no more than this multiple of the model's size. */
export const MAPPED_TARGET_MULTIPLIER = 1.05;

/**
 * The seed's memory multiplier limit for a model of `bytes`.
 *
 * @example
 * ```ts
 * import { memoryLimitFor } from "./memory_report.ts";
 * memoryLimitFor(2 * 1024 ** 3); // 1.5
 * memoryLimitFor(12 * 1024 ** 3); // 1.2
 * ```
 */
export function memoryLimitFor(bytes: number): number {
  if (bytes > 10 * GIB) return 1.2;
  if (bytes > 4 * GIB) return 1.3;
  return 1.5;
}

/** Inputs of {@link evaluateMemory}. */
export interface MemoryMeasurement {
  /** Bytes of tensor data loaded. */
  fileBytes: number;
  /** Process memory before the load (VmHWM reset just after). */
  before: ProcessMemory | null;
  /** Process memory after the load. */
  after: ProcessMemory | null;
  /** Whether the data was mapped. */
  mapped: boolean;
  /** Tensors served as views of the mapping. */
  zeroCopyTensors: number;
  /** Tensors copied or dequantized. */
  copiedTensors: number;
  /** Wall time of the load. */
  seconds: number;
  /**
   * Resident bytes of the model's own mappings (from smaps). When given, this is the file-backed
   * memory counted, instead of the growth of RssFile (which also moves with the runtime's code).
   */
  mappedResidentBytes?: number | null;
  /** Resident memory the metadata parse added. Default 0. */
  parseOverheadBytes?: number;
  /** Bytes of dequantized copies the caller asked for; they count as expected memory. Default 0. */
  outputBytes?: number;
  /**
   * Whether VmHWM was reset just before the load (`resetPeakRss` succeeded). When it was
   * not (Deno refuses the write to `/proc/self/clear_refs` without `--allow-all`), VmHWM is the
   * process's all-time peak — whatever ran earlier, e.g. another benchmark's buffers — so the
   * growth of the resident set is used instead. Default true.
   */
  peakReset?: boolean;
}

/**
 * Builds the report from before/after readings and checks it against the limits.
 *
 * @example
 * ```ts
 * import { evaluateMemory } from "./memory_report.ts";
 * const mib = 1024 * 1024;
 * const r = evaluateMemory({
 *   fileBytes: 100 * mib, mapped: true, zeroCopyTensors: 10, copiedTensors: 0, seconds: 0.1,
 *   before: { rss: 30 * mib, peakRss: 30 * mib, anon: 10 * mib, file: 20 * mib },
 *   after: { rss: 131 * mib, peakRss: 131 * mib, anon: 11 * mib, file: 120 * mib },
 * });
 * r.multiplier; // 1.01
 * r.ok; // true
 * ```
 */
export function evaluateMemory(m: MemoryMeasurement): MemoryReport {
  const limit = memoryLimitFor(m.fileBytes);
  const warnings: string[] = [];
  const measured = m.before !== null && m.after !== null;
  const peakNow = m.peakReset === false ? m.after?.rss : m.after?.peakRss;
  const peak = measured ? Math.max(0, peakNow! - m.before!.rss) : 0;
  const fileGrowth = measured ? Math.max(0, m.after!.file - m.before!.file) : 0;
  // Anonymous memory at its peak: the peak's growth minus what file pages explain, or the
  // anonymous growth still resident at the end, whichever is larger.
  const anon = measured ? Math.max(0, m.after!.anon - m.before!.anon, peak - fileGrowth) : 0;
  const file = m.mappedResidentBytes ?? fileGrowth;
  const added = anon + file;
  const expected = m.fileBytes + (m.outputBytes ?? 0);
  const multiplier = expected > 0 && measured ? added / expected : 0;
  let ok = true;
  if (!measured) {
    warnings.push(
      "process memory could not be read (/proc/self/status); the multiplier was not measured",
    );
  } else if (multiplier > limit && m.fileBytes < MIN_JUDGED_BYTES) {
    warnings.push(
      `memory multiplier ${
        multiplier.toFixed(3)
      } is above ${limit}, but a model under 64 MiB is too small to judge (fixed costs dominate)`,
    );
  } else if (multiplier > limit) {
    ok = false;
    warnings.push(
      `memory multiplier ${
        multiplier.toFixed(3)
      } is above the limit ${limit} for a model of this size`,
    );
  } else if (m.mapped && multiplier > MAPPED_TARGET_MULTIPLIER) {
    warnings.push(
      `memory multiplier ${
        multiplier.toFixed(3)
      } is above ${MAPPED_TARGET_MULTIPLIER} for a mapped load` +
        (m.fileBytes < 64 * 1024 * 1024
          ? " (fixed overheads dominate for a model this small)"
          : ""),
    );
  }
  return {
    fileBytes: m.fileBytes,
    peakRssBytes: added,
    anonBytes: anon,
    fileBackedBytes: file,
    multiplier,
    outputBytes: m.outputBytes ?? 0,
    parseOverheadBytes: m.parseOverheadBytes ?? 0,
    zeroCopyTensors: m.zeroCopyTensors,
    copiedTensors: m.copiedTensors,
    seconds: m.seconds,
    throughputBytesPerSec: m.seconds > 0 ? m.fileBytes / m.seconds : 0,
    mapped: m.mapped,
    limit,
    ok,
    measured,
    warnings,
  };
}

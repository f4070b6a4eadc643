/**
 * `@bitload/bitload/load`: the loading layer under the root module's pipeline — memory mapping
 * with safe lifetimes and the read path, the progressive loader (batches, progress, cancellation,
 * memory pressure), `/proc` memory readings and the memory report. Most callers want the root
 * module's `openGguf(path)` → `model.load()` instead.
 *
 * @example
 * ```ts ignore
 * import { mapFile } from "@bitload/bitload/load";
 * using mapping = mapFile("model.gguf");
 * console.log(mapping.size, mapping.mapped);
 * ```
 *
 * @module
 */

export { InsufficientMemoryError, LoadError, type LoadErrorCode } from "./errors.ts";
export { ModelFile, type TensorAccessOptions } from "./open.ts";
export type { BackgroundReadAhead } from "./file_handle.ts";
export {
  ClosedError,
  type FileBytes,
  FileMapping,
  mapFile,
  type MapOptions,
  mappingUnavailableReason,
  type PrefetchAdvice,
  ReadBuffer,
} from "./mapping.ts";
export {
  loadModel,
  type LoadOptions,
  type LoadProgress,
  type LoadResult,
  PROGRESSIVE_THRESHOLD_BYTES,
  ProgressiveLoader,
} from "./loader.ts";
export { buildLoadPlan, type LoadBatch, type LoadPlan } from "./plan.ts";
export { type MemoryBudget, memoryBudget, type ProcessMemory, processMemory } from "./memory.ts";
export {
  evaluateMemory,
  MAPPED_TARGET_MULTIPLIER,
  memoryLimitFor,
  type MemoryMeasurement,
  type MemoryReport,
  MIN_JUDGED_BYTES,
} from "./memory_report.ts";

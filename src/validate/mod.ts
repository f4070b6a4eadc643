/**
 * `@bitload/bitload/validate`: the parts of validation — cross-validation against ggml, tensor
 * data scans, accuracy against an original model, determinism, hash manifests, the memory
 * report and the report renderer — for callers who want one check without the whole
 * `validateModel` run of the root module.
 *
 * @example
 * ```ts
 * import { compareArrays } from "@bitload/bitload/validate";
 * compareArrays(Float32Array.of(1, 2), Float32Array.of(1, 2.5)).maxAbsError; // 0.5
 * ```
 *
 * @module
 */

export {
  evaluateMemory,
  MAPPED_TARGET_MULTIPLIER,
  memoryLimitFor,
  type MemoryMeasurement,
  type MemoryReport,
  MIN_JUDGED_BYTES,
} from "../load/memory_report.ts";
export { compareArrays, type CompareOptions, type DiffStats } from "./compare.ts";
export {
  CROSSVAL_DEFAULTS,
  crossValidateTensor,
  type CrossvalOptions,
  type CrossvalTolerances,
  F16_ROUNDING_BOUND,
  i2sToTq2,
  sampleIndices,
} from "./crossval.ts";
export {
  checkTensorData,
  SCALE_LAYOUTS,
  type ScaleLayout,
  scanTensorData,
  type TensorDataFinding,
} from "./check_tensors.ts";
export {
  ACCURACY_DEFAULTS,
  type AccuracyMetrics,
  accuracyMetrics,
  accuracyRow,
  type AccuracyThresholds,
  accuracyVerdict,
} from "./accuracy.ts";
export {
  checkDeterminism,
  DEFAULT_SEED,
  DETERMINISM_VARIANCE_LIMIT,
  type DeterminismOptions,
  type DeterminismSettings,
  determinismSettings,
} from "./determinism.ts";
export {
  checkManifest,
  HASH_MANIFEST_FORMAT,
  type HashManifest,
  hashModel,
  type HashOptions,
  type ManifestCheck,
  meaningfulBytes,
  parseManifest,
  type TensorHash,
} from "./hash.ts";
export {
  findGgmlReferenceLibrary,
  GGML_REFERENCE_SYMBOLS,
  type GgmlGgufSummary,
  type GgmlReferenceLibrary,
  type GgmlTypeTraits,
  openGgmlReferenceLibrary,
} from "./ggml_reference.ts";
export {
  type CheckResult,
  type CheckStatus,
  type Figures,
  formatFigure,
  makeReport,
  renderValidationReport,
  reportToJson,
  statusOf,
  type TensorResult,
  type ValidationReport,
} from "./report.ts";
export { validateModel, type ValidateOptions, type ValidationSubject } from "./validate.ts";
export { ValidateError, type ValidateErrorCode } from "./errors.ts";
export type { ProcessMemory } from "../load/memory.ts";

/**
 * bitload: load GGUF models — BitNet b1.58 with its I2_S ternary weights first, every ggml type
 * after — fast, safely and provably correctly.
 *
 * Read a model's metadata and tensor directory (any part of a split model, a local path, bytes,
 * a stream, or an HTTP URL read with range requests), summarise it, and write GGUF files:
 *
 * ```ts ignore
 * import { openGguf, summarizeModel } from "@bitload/bitload";
 *
 * const model = await openGguf("ggml-model-i2_s.gguf");
 * const summary = summarizeModel(model);
 * console.log(summary.architecture, summary.parameters, summary.quantMix);
 * for (const t of model.tensors) console.log(t.name, t.type.name, t.dims, t.byteSize);
 * ```
 *
 * @module
 */

export { GgufError, type GgufErrorCode } from "./src/gguf/errors.ts";
export { BitloadError, type BitloadErrorOptions } from "./src/common/errors.ts";
export * from "./src/gguf/limits.ts";
export type {
  GgufArrayItem,
  GgufArrayValues,
  GgufFile,
  GgufMetadataEntry,
  GgufModel,
  GgufNestedArray,
  GgufTensorInfo,
  GgufTypedArray,
  GgufValue,
} from "./src/gguf/model.ts";
export { HttpError, type HttpErrorCode, type HttpRequestOptions } from "./src/common/http.ts";
export { NotRegularFileError } from "./src/common/file_kind.ts";
export {
  type GgufSource,
  type HttpRangeOptions,
  httpRangeReader,
  type RangeReader,
  readGguf,
  readGgufFileSync,
  type ReadGgufOptions,
} from "./src/gguf/reader.ts";
export { openGgufModel, parseSplitName, splitPartPath } from "./src/gguf/split.ts";
export { type GgufModelWithData, openGguf, type TensorAccessOptions } from "./src/load/open.ts";
export {
  ClosedError,
  type FileBytes,
  FileMapping,
  mapFile,
  type MapOptions,
  mappingUnavailableReason,
  type PrefetchAdvice,
  ReadBuffer,
} from "./src/load/mapping.ts";
export {
  InsufficientMemoryError,
  type LoadedModel,
  loadModel,
  type LoadOptions,
  type LoadProgress,
  PROGRESSIVE_THRESHOLD_BYTES,
  ProgressiveLoader,
} from "./src/load/loader.ts";
export { buildLoadPlan, type LoadBatch, type LoadPlan } from "./src/load/plan.ts";
export {
  type MemoryBudget,
  memoryBudget,
  type ProcessMemory,
  processMemory,
} from "./src/load/memory.ts";
export {
  evaluateMemory,
  MAPPED_TARGET_MULTIPLIER,
  memoryLimitFor,
  type MemoryMeasurement,
  type MemoryReport,
  MIN_JUDGED_BYTES,
} from "./src/load/memory_report.ts";
export {
  dequantize,
  type DequantizeBackend,
  type DequantizeOptions,
  dequantizeToNew,
  resolveGgmlType,
} from "./src/quant/dequantize.ts";
export {
  checkTlConfig,
  findTlConfig,
  parseKernelConfigIni,
  readKernelConfigIni,
  resolveTlConfig,
  type TlConfigChoice,
  TlConfigError,
  type TlConfigFile,
  type TlConfigOptions,
  type TlPreset,
  tlPresets,
  type TlTileConfig,
  type TlType,
} from "./src/quant/tl_config.ts";
export { decodeTl, encodeTl, quantizeTl, tlToI2S } from "./src/quant/tl.ts";
export { dequantizeTlTensor, type TlTranscode, transcodeTlTensor } from "./src/quant/tl_tensor.ts";
export { byteSwapTensor, canByteSwap } from "./src/quant/endian.ts";
export { type KernelInfo, kernelInfo, type SimdLevel } from "./ffi/native.ts";
export * from "./src/plan/mod.ts";
export {
  type PerfAlert,
  PerfMonitor,
  type PerfSpan,
  type PerfThresholds,
} from "./src/common/perf_monitor.ts";
export {
  type MachineInfo,
  machineInfo,
  measureMemcpyBandwidth,
  measureReadBandwidth,
} from "./src/bench/machine.ts";
export { measure, type MeasureOptions, summarize, type TimingStats } from "./src/bench/measure.ts";
export {
  compareReports,
  type ComparisonResult,
  DEFAULT_THRESHOLDS,
  type MetricComparison,
  type RegressionThresholds,
} from "./src/bench/compare.ts";
export {
  type BenchReport,
  type Metric,
  parseBenchReport,
  type Target,
} from "./src/bench/report.ts";
export { GgufStringArray } from "./src/gguf/string_array.ts";
export {
  allGgmlTypes,
  BITNET_ARCHITECTURES,
  bitsPerWeight,
  dialectForArchitecture,
  elementCount,
  fileTypeName,
  GGML_TYPE_COUNT,
  ggmlType,
  ggmlTypeByName,
  type GgmlTypeInfo,
  QK_K,
  tensorByteSize,
  type TypeDialect,
} from "./src/gguf/types.ts";
export { GgufValueType, isGgufValueType, valueTypeName } from "./src/gguf/value_types.ts";
export {
  formatValue,
  type GgufMetadata,
  type JsonValue,
  metadataArrayLength,
  metadataBoolean,
  metadataNumber,
  metadataString,
  valueToJson,
} from "./src/gguf/metadata.ts";
export {
  type InspectJson,
  inspectJson,
  type InspectJsonTensor,
  type ModelSummary,
  type PartSummary,
  type QuantMixRow,
  summarizeModel,
} from "./src/gguf/summary.ts";
export {
  type GgufMetadataInput,
  type GgufTensorInput,
  kv,
  rewriteGgufMetadata,
  serializeGguf,
  writeGguf,
  type WriteGgufOptions,
} from "./src/gguf/writer.ts";
export {
  BITNET_SYNTH_DEFAULTS,
  bitnetModelParts,
  type BitnetSynthOptions,
  synthesizeBitnetModel,
} from "./src/synth/bitnet_model.ts";
export { packI2S } from "./src/quant/i2s_pack.ts";
export {
  fp32ToBf16Bits,
  fp32ToFp16Bits,
  I2S_ZERO_THRESHOLD,
  i2sScale,
  quantize,
  QUANTIZE_BLOCK_SIZE,
  QUANTIZE_TYPES,
  quantizeBF16,
  quantizeF16,
  quantizeI2S,
  quantizeQ4_0,
  quantizeQ8_0,
  quantizeTQ2_0,
  type QuantizeType,
} from "./src/quant/quantize.ts";
export {
  FILE_TYPE_FOR,
  type ModelTargetType,
  type QuantizedTensor,
  quantizeModel,
  type QuantizeModelOptions,
  type QuantizeSource,
} from "./src/quant/quantize_model.ts";
export { compareArrays, type CompareOptions, type DiffStats } from "./src/validate/compare.ts";
export {
  CROSSVAL_DEFAULTS,
  crossValidateTensor,
  type CrossvalOptions,
  type CrossvalTolerances,
  F16_ROUNDING_BOUND,
  i2sToTq2,
  sampleIndices,
} from "./src/validate/crossval.ts";
export {
  checkTensorData,
  SCALE_LAYOUTS,
  type ScaleLayout,
  scanTensorData,
  type TensorDataFinding,
} from "./src/validate/check_tensors.ts";
export {
  ACCURACY_DEFAULTS,
  type AccuracyMetrics,
  accuracyMetrics,
  accuracyRow,
  type AccuracyThresholds,
  accuracyVerdict,
} from "./src/validate/accuracy.ts";
export {
  checkDeterminism,
  DEFAULT_SEED,
  DETERMINISM_VARIANCE_LIMIT,
  type DeterminismOptions,
  type DeterminismSettings,
  determinismSettings,
} from "./src/validate/determinism.ts";
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
} from "./src/validate/hash.ts";
export {
  findGgmlReferenceLibrary,
  GGML_REFERENCE_SYMBOLS,
  type GgmlGgufSummary,
  type GgmlReferenceLibrary,
  type GgmlTypeTraits,
  openGgmlReferenceLibrary,
} from "./src/validate/ggml_reference.ts";
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
} from "./src/validate/report.ts";
export { validateModel, type ValidateOptions } from "./src/validate/validate.ts";
export * from "./src/tokenizer/mod.ts";
export {
  argmax,
  compareLogits,
  decodeLogits,
  encodeLogits,
  generate,
  type GenerateOptions,
  type GenerateResult,
  type InferArchitecture,
  InferenceModel,
  type LinearBackend,
  loadModel as loadInferenceModel,
  type LoadModelOptions,
  type LogitsComparison,
  type LogitsTable,
  makeSampler,
  type ModelConfig,
  type PositionAgreement,
  readModelConfig,
  type Sampler,
  type SamplingOptions,
  type SlotTokens,
  SUPPORTED_ARCHITECTURES,
  teacherForcedLogits,
  type TlTranscodeReport,
} from "./src/infer/mod.ts";
export { cacheDirectory, type CacheEntry, DownloadCache } from "./src/download/cache.ts";
export {
  DEFAULT_MAX_DOWNLOAD_BYTES,
  DownloadError,
  type DownloadErrorCode,
  downloadFile,
  type DownloadOptions,
  type DownloadProgress,
  type DownloadResult,
} from "./src/download/resumable.ts";

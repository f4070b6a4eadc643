/**
 * bitload: load GGUF models — BitNet b1.58 with its I2_S ternary weights first, every ggml type
 * after — fast, safely and provably correctly.
 *
 * One pipe, one object per stage, the file opened once:
 *
 * ```ts ignore
 * import { openGguf } from "@bitload/bitload";
 *
 * await using model = await openGguf("ggml-model-i2_s.gguf"); // header parsed once
 * model.tensorData("token_embd.weight"); // zero-copy view (the file is mapped lazily)
 * const plan = model.plan({ devices: "cpu:16GiB,cuda0:8GiB", ctx: 4096 });
 * using loaded = await model.load({ plan, batchLayers: 4, onProgress: (e) => {} });
 * const report = await loaded.validate({ checkTensors: true }); // { ok, checks, tensors }
 * using engine = await loaded.engine({ threads: 2 }); // runs on the loaded tensors
 * const out = await engine.complete("Hello", { maxTokens: 16, temperature: 0 });
 * for await (const piece of engine.stream("Hello", { maxTokens: 16 })) console.log(piece);
 * ```
 *
 * @module
 */

export {
  GgufHandle,
  type ModelLoadOptions,
  type ModelPlanOptions,
  openGguf,
} from "./src/pipeline/open.ts";
export { type GpuUpload, LoadedModel, type PlacementResult } from "./src/pipeline/loaded.ts";
export {
  type CompleteOptions,
  type Completion,
  type CompletionStats,
  Engine,
  type EngineOptions,
} from "./src/infer/engine.ts";
export { InsufficientMemoryError, LoadError, type LoadErrorCode } from "./src/load/errors.ts";
export { ModelConfigError, type ModelConfigErrorCode } from "./src/infer/errors.ts";
export { ModelFile, type TensorAccessOptions } from "./src/load/open.ts";

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
export {
  openGgufModel,
  type OpenGgufModelOptions,
  parseSplitName,
  splitPartPath,
} from "./src/gguf/split.ts";
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
  type LoadOptions,
  type LoadProgress,
  type LoadResult,
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
  type TlConfigErrorCode,
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
export {
  validateModel,
  type ValidateOptions,
  type ValidationSubject,
} from "./src/validate/validate.ts";
export * from "./src/tokenizer/mod.ts";
export {
  argmax,
  compareLogits,
  decodeLogits,
  encodeLogits,
  generate,
  type GenerateOptions,
  type GenerateResult,
  generateSteps,
  type InferArchitecture,
  InferenceModel,
  type LinearBackend,
  type LoadModelOptions,
  type LogitsComparison,
  type LogitsTable,
  makeSampler,
  type ModelConfig,
  type ModelWeights,
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

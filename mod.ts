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
 * The root holds the pipeline (open, plan, load, validate, engine), dequantization and the typed
 * errors a caller may catch. Everything else has its own entry: `@bitload/bitload/gguf`
 * (reading and writing GGUF), `/quant`, `/plan`, `/load`, `/tokenizer`, `/validate`, `/infer`,
 * `/chat`, `/serve`, `/download`, `/synth`, `/bench` and `/cli`.
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
export {
  InferError,
  type InferErrorCode,
  ModelConfigError,
  type ModelConfigErrorCode,
} from "./src/infer/errors.ts";
export { ModelFile, type OpenStats, type TensorAccessOptions } from "./src/load/open.ts";

// Planning: the devices and the plan `model.plan()` returns.
export {
  detectDevices,
  type Device,
  type DeviceKind,
  parseDeviceSpec,
  type PlacementPlan,
  type PlanOptions,
  planPlacement,
  type Strategy,
} from "./src/plan/mod.ts";
// Loading: what `model.load()` reports while it runs and when it is done.
export { type LoadOptions, type LoadProgress, type LoadResult } from "./src/load/loader.ts";
export { type MemoryReport } from "./src/load/memory_report.ts";
// Validation of a loaded model.
export {
  validateModel,
  type ValidateOptions,
  type ValidationSubject,
} from "./src/validate/validate.ts";
export {
  type CheckResult,
  type CheckStatus,
  type TensorResult,
  type ValidationReport,
} from "./src/validate/report.ts";
// Dequantization of any ggml type (native kernels or their TypeScript twins).
export {
  dequantize,
  type DequantizeBackend,
  type DequantizeOptions,
  dequantizeToNew,
  resolveGgmlType,
} from "./src/quant/dequantize.ts";
export { type KernelInfo, kernelInfo, type SimdLevel } from "./ffi/native.ts";
// The model's header, as every stage sees it.
export type { GgufMetadataEntry, GgufModel, GgufTensorInfo, GgufValue } from "./src/gguf/model.ts";
export type { GgmlTypeInfo } from "./src/gguf/types.ts";
// Typed errors: a stable `code` each (see docs/architecture.md).
export { GgufError, type GgufErrorCode } from "./src/gguf/errors.ts";
export { BitloadError, type BitloadErrorOptions } from "./src/common/errors.ts";
export { HttpError, type HttpErrorCode } from "./src/common/http.ts";
export { NotRegularFileError } from "./src/common/file_kind.ts";
export { SizeError, type SizeErrorCode } from "./src/common/size.ts";
export { ClosedError } from "./src/load/mapping.ts";
export { PlanError, type PlanErrorCode } from "./src/plan/errors.ts";
export { QuantError, type QuantErrorCode } from "./src/quant/errors.ts";
export { TlConfigError, type TlConfigErrorCode } from "./src/quant/tl_config.ts";
export { ValidateError, type ValidateErrorCode } from "./src/validate/errors.ts";
export { TokenizerError, type TokenizerErrorCode } from "./src/tokenizer/errors.ts";
export { DownloadError, type DownloadErrorCode } from "./src/download/resumable.ts";
export { NativeKernelError, type NativeKernelErrorCode } from "./ffi/errors.ts";
export { GpuError, type GpuErrorCode } from "./src/gpu/errors.ts";
export { SynthError, type SynthErrorCode } from "./src/synth/errors.ts";
export { BenchError, type BenchErrorCode } from "./src/bench/errors.ts";
export { ChatTemplateError } from "./src/chat/template.ts";
// Types the API above refers to (exported so the documentation is complete; their modules'
// entries hold the functions that go with them).
export type { HttpRequestOptions } from "./src/common/http.ts";
export type { PerfAlert, PerfMonitor, PerfSpan } from "./src/common/perf_monitor.ts";
export type { GgufMetadata } from "./src/gguf/metadata.ts";
export type {
  GgufArrayItem,
  GgufArrayValues,
  GgufFile,
  GgufNestedArray,
  GgufTypedArray,
} from "./src/gguf/model.ts";
export type {
  GgufSource,
  HttpRangeOptions,
  RangeReader,
  ReadGgufOptions,
} from "./src/gguf/reader.ts";
export type { GgufStringArray } from "./src/gguf/string_array.ts";
export type { TypeDialect } from "./src/gguf/types.ts";
export type { GgufValueType } from "./src/gguf/value_types.ts";
export type {
  InferArchitecture,
  ModelConfig,
  SUPPORTED_ARCHITECTURES,
} from "./src/infer/config.ts";
export type { GenerateOptions, GenerateResult } from "./src/infer/generate.ts";
export type { LinearBackend } from "./src/infer/linear.ts";
export type {
  InferenceModel,
  LoadModelOptions,
  ModelWeights,
  SlotTokens,
  TlTranscodeReport,
} from "./src/infer/model.ts";
export type { SamplingOptions } from "./src/infer/sample.ts";
export type { FileBytes, PrefetchAdvice } from "./src/load/mapping.ts";
export type { LoadBatch, LoadPlan } from "./src/load/plan.ts";
export type { KvType, Margins, ModelShape, TensorRole } from "./src/plan/accounting.ts";
export type { DetectDevicesOptions, NumaNode } from "./src/plan/devices.ts";
export type {
  DeviceUsage,
  PlanStep,
  PlanTensor,
  PrecisionSuggestion,
  TensorOverride,
} from "./src/plan/strategies.ts";
export type { TlConfigFile, TlTileConfig } from "./src/quant/tl_config.ts";
export type { PreTokenizerConfig } from "./src/tokenizer/pretokenize.ts";
export type {
  DecodeOptions,
  EncodeOptions,
  Tokenizer,
  TokenizerOptions,
  VocabType,
} from "./src/tokenizer/tokenizer.ts";
export type { SpecialIds } from "./src/tokenizer/vocab.ts";
export type { ACCURACY_DEFAULTS, AccuracyThresholds } from "./src/validate/accuracy.ts";
export type { CROSSVAL_DEFAULTS, CrossvalTolerances } from "./src/validate/crossval.ts";
export type { DeterminismSettings } from "./src/validate/determinism.ts";
export type {
  GgmlGgufSummary,
  GgmlReferenceLibrary,
  GgmlTypeTraits,
} from "./src/validate/ggml_reference.ts";
export type { Figures } from "./src/validate/report.ts";

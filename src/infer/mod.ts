/**
 * End-to-end inference: model loading for inference, forward pass with KV cache, sampling and
 * generation. See `docs/inference.md`.
 *
 * @example
 * ```ts ignore
 * import { generate, InferenceModel } from "./mod.ts";
 * using model = await InferenceModel.fromGguf("model.gguf", { threads: 2 });
 * const { tokens } = generate(model, [1, 2, 3], { maxTokens: 16 });
 * ```
 *
 * @module
 */

export {
  type InferArchitecture,
  type ModelConfig,
  readModelConfig,
  SUPPORTED_ARCHITECTURES,
} from "./config.ts";
export type { GgufMetadata } from "../gguf/metadata.ts";
export type { GgufMetadataInput, GgufTensorInput } from "../gguf/writer.ts";
export type { LinearBackend } from "./linear.ts";
export {
  InferenceModel,
  type LoadModelOptions,
  type ModelWeights,
  rmsNorm,
  type SlotTokens,
  type TlTranscodeReport,
} from "./model.ts";
export {
  type CompleteOptions,
  type Completion,
  type CompletionStats,
  Engine,
  type EngineOptions,
} from "./engine.ts";
export { argmax, makeSampler, type Sampler, type SamplingOptions } from "./sample.ts";
export { generate, type GenerateOptions, type GenerateResult, generateSteps } from "./generate.ts";
export {
  compareLogits,
  decodeLogits,
  encodeLogits,
  type LogitsComparison,
  type LogitsTable,
  type PositionAgreement,
  teacherForcedLogits,
} from "./logits.ts";
export {
  type DecodeBytes,
  decodeBytesPerToken,
  type DecodeOps,
  decodeOpsPerToken,
  type DecodeReads,
  type ProductReads,
} from "./decode_bytes.ts";
export {
  type CoreRates,
  type DecodeRoofline,
  decodeRoofline,
  type RooflineModel,
} from "./decode_roofline.ts";
export { bitnetToUpstream, rescaleTernary, type UpstreamWeightType } from "./convert.ts";
export {
  InferError,
  type InferErrorCode,
  ModelConfigError,
  type ModelConfigErrorCode,
} from "./errors.ts";

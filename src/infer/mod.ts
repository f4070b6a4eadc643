/**
 * End-to-end inference: model loading for inference, forward pass with KV cache, sampling and
 * generation. See `docs/inference.md`.
 *
 * @example
 * ```ts ignore
 * import { generate, loadModel } from "./mod.ts";
 * using model = await loadModel("model.gguf", { threads: 2 });
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
export type { GgufModelWithData } from "../load/open.ts";
export type { GgufMetadataInput, GgufTensorInput } from "../gguf/writer.ts";
export type { LinearBackend } from "./linear.ts";
export {
  InferenceModel,
  loadModel,
  type LoadModelOptions,
  rmsNorm,
  type SlotTokens,
  type TlTranscodeReport,
} from "./model.ts";
export { argmax, makeSampler, type Sampler, type SamplingOptions } from "./sample.ts";
export { generate, type GenerateOptions, type GenerateResult } from "./generate.ts";
export {
  compareLogits,
  decodeLogits,
  encodeLogits,
  type LogitsComparison,
  type LogitsTable,
  type PositionAgreement,
  teacherForcedLogits,
} from "./logits.ts";
export { bitnetToUpstream, rescaleTernary, type UpstreamWeightType } from "./convert.ts";

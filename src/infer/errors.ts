/**
 * The typed error of the inference stage, in the style of `GgufError`: a model bitload cannot
 * run (its architecture, a missing key or tensor, an option out of range), with a stable code.
 *
 * @module
 */

import { BitloadError } from "../common/errors.ts";

/** Stable machine-readable reasons a model cannot be run. */
export type ModelConfigErrorCode =
  | "UNSUPPORTED_ARCHITECTURE" // general.architecture is not one the forward pass implements
  | "MISSING_KEY" // a hyperparameter the architecture needs is absent
  | "MISSING_TENSOR" // a weight the architecture needs is absent
  | "BAD_OPTION" // an engine option out of its range (kvType, dequantize, lmHead…)
  | "NO_TOKENIZER" // text was given but the model carries no usable tokenizer
  | "BUSY"; // a completion is already running on this engine (one KV cache)

/**
 * A model cannot be run as asked.
 *
 * @example
 * ```ts
 * import { ModelConfigError } from "./errors.ts";
 * try {
 *   throw new ModelConfigError("MISSING_TENSOR", "The model has no tensor output_norm.weight");
 * } catch (e) {
 *   if (e instanceof ModelConfigError) console.log(e.code); // MISSING_TENSOR
 * }
 * ```
 */
export class ModelConfigError extends BitloadError<ModelConfigErrorCode> {}

/** Stable machine-readable reasons a forward pass, a generation or a logits file is refused. */
export type InferErrorCode =
  | "CONTEXT_FULL" // the KV cache (or a slot's share of it) cannot hold the tokens
  | "BATCH_TOO_LARGE" // more tokens in one call or step than maxBatch
  | "BAD_SLOT" // a sequence slot that is not allocated, repeated, empty, or a bad slot count
  | "BAD_TOKEN" // a token id outside the vocabulary
  | "BAD_PROMPT" // an empty prompt, or a request option out of range (maxTokens < 1)
  | "BAD_LOGITS"; // a logits file that does not parse, or two that cannot be compared

/**
 * A forward pass, a generation or a logits file was refused.
 *
 * @example
 * ```ts
 * import { InferError } from "./errors.ts";
 * const e = new InferError("BAD_TOKEN", "Token id 70000 is outside the vocabulary (0…31999)");
 * console.log(e.code); // BAD_TOKEN
 * ```
 */
export class InferError extends BitloadError<InferErrorCode> {}

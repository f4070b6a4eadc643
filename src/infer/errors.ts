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

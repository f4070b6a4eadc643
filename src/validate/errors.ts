/**
 * The typed error of validation: comparisons, accuracy figures, determinism settings and the ggml
 * reference library.
 *
 * @module
 */

import { BitloadError } from "../common/errors.ts";

/** Stable machine-readable reasons a validation step fails (a failed check is not an error). */
export type ValidateErrorCode =
  | "BAD_LENGTH" // two arrays to compare differ in length, or a row length does not divide them
  | "BAD_ENV" // an environment setting (BITNET_SEED) that does not parse
  | "BAD_OPTION" // an option out of range (an unknown reference)
  | "BAD_MANIFEST" // a hash manifest that does not parse or is not bitload's format
  | "REFERENCE"; // the ggml reference cannot do what was asked (no to_float, unknown type, short write)

/**
 * A validation step was asked something it cannot do.
 *
 * @example
 * ```ts
 * import { ValidateError } from "./errors.ts";
 * import { compareArrays } from "./compare.ts";
 * try {
 *   compareArrays(new Float32Array(2), new Float32Array(3));
 * } catch (e) {
 *   if (e instanceof ValidateError) console.log(e.code); // BAD_LENGTH
 * }
 * ```
 */
export class ValidateError extends BitloadError<ValidateErrorCode> {}

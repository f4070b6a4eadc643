/**
 * The typed error of the tokenizers: building one from GGUF metadata or a sidecar file, and
 * encoding or decoding with it.
 *
 * @module
 */

import { BitloadError } from "../common/errors.ts";

/** Stable machine-readable reasons a tokenizer cannot be built or used. */
export type TokenizerErrorCode =
  | "BAD_METADATA" // a tokenizer.ggml.* key is missing, of the wrong type or too short
  | "UNSUPPORTED_MODEL" // a tokenizer model or pre-tokenizer bitload does not implement
  | "BAD_SIDECAR" // tokenizer.json / tokenizer.model is malformed or of a kind bitload cannot read
  | "BAD_CHARSMAP" // a UGM precompiled_charsmap that runs out of bounds
  | "BAD_REGEX" // a pre-tokenizer regex bitload cannot translate
  | "NOT_FOUND" // no tokenizer in the model, next to it, or at the URL
  | "BAD_TOKEN"; // a token id out of range, or text the vocabulary cannot encode

/**
 * A tokenizer could not be built, or was asked something its vocabulary cannot do.
 *
 * @example
 * ```ts
 * import { TokenizerError } from "./errors.ts";
 * const e = new TokenizerError("BAD_TOKEN", "Token id 99 is out of range [0, 10)");
 * console.log(e.code, e instanceof TokenizerError); // BAD_TOKEN true
 * ```
 */
export class TokenizerError extends BitloadError<TokenizerErrorCode> {}

/**
 * The one error type that GGUF parsing, validation and writing throws for bad input.
 *
 * @module
 */

/**
 * Stable machine-readable reasons a GGUF file is refused. Each is documented in the README's
 * error table; they never change meaning between releases.
 */
export type GgufErrorCode =
  | "IO" // the file could not be read (missing, permission, short read)
  | "BAD_MAGIC" // the first four bytes are not "GGUF"
  | "UNSUPPORTED_VERSION" // version 1, or newer than 3
  | "TRUNCATED" // the file ends inside a header, key, value or tensor info
  | "LIMIT_EXCEEDED" // a count, length or depth is above a named limit (see limits.ts)
  | "BAD_VALUE_TYPE" // a metadata value type id is not 0–12
  | "BAD_UTF8" // a key or string is not valid UTF-8
  | "BAD_KEY" // an empty key
  | "DUPLICATE_KEY" // the same key twice
  | "BAD_ALIGNMENT" // general.alignment is not a u32 power of two
  | "BAD_TENSOR_NAME" // empty, or 64 bytes or longer (GGML_MAX_NAME)
  | "DUPLICATE_TENSOR" // the same tensor name twice
  | "BAD_DIMS" // n_dims above 4, or a negative/overflowing dimension
  | "UNKNOWN_TYPE" // a tensor type id no dialect defines
  | "REMOVED_TYPE" // a tombstoned type id (e.g. Q4_0_4_4)
  | "BAD_BLOCK_MULTIPLE" // ne[0] is not a multiple of the type's block size
  | "TENSOR_TOO_LARGE" // element or byte count beyond 2^53
  | "TENSOR_MISALIGNED" // a tensor offset is not a multiple of the alignment
  | "TENSOR_OUT_OF_BOUNDS" // a tensor's data runs past the end of the file
  | "TENSOR_OVERLAP" // two tensors' data overlap
  | "DIALECT_MISMATCH" // neither the BitNet nor the upstream size of ids 36–39 fits the file
  | "UNSUPPORTED_TYPE" // a type that is known but cannot be decoded (TL1, TL2, I8_S)
  | "SPLIT_INCONSISTENT" // split parts disagree with each other or with their names
  | "SPLIT_MISSING_PART" // a part of a split model is missing
  | "FILE_CHANGED" // a mapped or opened file shrank (or a mapped page vanished) while in use
  | "BAD_ARGUMENT"; // the caller passed something the writer cannot encode

/**
 * A GGUF file (or a value destined for one) was refused.
 *
 * `code` is stable, `offset` is the byte offset in the file where the problem was found
 * (0 where no single offset applies), `reason` is a one-line human explanation, and `path`
 * names the file where one is known.
 *
 * @example
 * ```ts
 * import { GgufError } from "./errors.ts";
 * try {
 *   throw new GgufError("BAD_MAGIC", 0, 'Expected "GGUF" but found "PK\\x03\\x04"');
 * } catch (e) {
 *   if (e instanceof GgufError) console.log(e.code, e.offset); // BAD_MAGIC 0
 * }
 * ```
 */
export class GgufError extends Error {
  /** Stable machine-readable reason. */
  readonly code: GgufErrorCode;
  /** Byte offset in the file where the problem was found. */
  readonly offset: number;
  /** The human explanation, without the path. */
  readonly reason: string;
  /** The file the problem is in, when known. */
  path?: string;

  /** Creates an error; `options.path` names the file, `options.cause` chains an underlying error. */
  constructor(
    code: GgufErrorCode,
    offset: number,
    reason: string,
    options: { path?: string; cause?: unknown } = {},
  ) {
    super(`${reason} (${code} at byte ${offset})`, { cause: options.cause });
    this.name = "GgufError";
    this.code = code;
    this.offset = offset;
    this.reason = reason;
    this.path = options.path;
  }

  /** Returns this error with `path` set, for errors raised below the layer that knows it. */
  withPath(path: string): this {
    this.path ??= path;
    return this;
  }
}

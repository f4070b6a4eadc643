/**
 * The shared base of bitload's typed errors, in the style of `GgufError`: a stable `code` a caller
 * can switch on, a one-line `reason`, the file when one is known, and the underlying error as
 * `cause`. Each area has its own subclass and code list (`PlanError` in `src/plan/errors.ts`,
 * `QuantError` in `src/quant/errors.ts`, …), so `instanceof` says which stage failed and `code`
 * says why. The message is `reason (CODE)`, which is what the CLI prints after `bitload: `.
 *
 * @module
 */

/** Options of a {@link BitloadError}. */
export interface BitloadErrorOptions {
  /** The file concerned, when known. */
  path?: string;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * A failure a caller may catch: a stable `code`, a one-line `reason`, the `path` when known.
 *
 * @example
 * ```ts
 * import { BitloadError } from "./errors.ts";
 * try {
 *   throw new BitloadError("BAD_SIZE", 'Invalid size "12 parsecs"');
 * } catch (e) {
 *   if (e instanceof BitloadError) console.log(e.code, e.message); // BAD_SIZE Invalid size … (BAD_SIZE)
 * }
 * ```
 */
export class BitloadError<Code extends string = string> extends Error {
  /** Stable machine-readable reason; never changes meaning between releases. */
  readonly code: Code;
  /** The human explanation, without the code. */
  readonly reason: string;
  /** The file the problem is in, when known. */
  path?: string;

  /** Creates an error with its code and one-line reason. */
  constructor(code: Code, reason: string, options: BitloadErrorOptions = {}) {
    super(`${reason} (${code})`, options.cause === undefined ? {} : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.reason = reason;
    this.path = options.path;
  }

  /** Returns this error with `path` set (when not already), for errors raised below the caller. */
  withPath(path: string): this {
    this.path ??= path;
    return this;
  }
}

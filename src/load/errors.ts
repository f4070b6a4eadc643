/**
 * The typed error of the load stage (opening a model's data, loading it, placing it), in the
 * style of `GgufError`: a stable code, a one-line reason, the file when known.
 *
 * @module
 */

import { BitloadError } from "../common/errors.ts";

/** Stable machine-readable reasons a load fails. */
export type LoadErrorCode =
  | "NO_TENSOR" // the model has no tensor of that name
  | "NOT_LOCAL" // tensor data was asked of a remote model, bytes or a stream
  | "CLOSED" // the model (or the loaded model) was closed
  | "INSUFFICIENT_MEMORY" // the load would not fit in the memory budget
  | "BAD_OPTION" // an option out of its range (batchLayers < 1, a plan of another model…)
  | "MAP_FAILED" // mmap (or the open for it) failed, or mapping is unavailable here
  | "MLOCK_FAILED" // mlock refused (RLIMIT_MEMLOCK)
  | "SHORT_READ" // the file ended before a tensor's bytes on the copy path
  | "PLACEMENT"; // a plan put tensors on a device that could not take them

/**
 * A load failed.
 *
 * @example
 * ```ts
 * import { LoadError } from "./errors.ts";
 * try {
 *   throw new LoadError("NO_TENSOR", 'No tensor named "x"');
 * } catch (e) {
 *   if (e instanceof LoadError) console.log(e.code); // NO_TENSOR
 * }
 * ```
 */
export class LoadError extends BitloadError<LoadErrorCode> {}

/**
 * The load would not fit in memory; `needed` and `available` say by how much.
 *
 * @example
 * ```ts
 * import { InsufficientMemoryError } from "./errors.ts";
 * const e = new InsufficientMemoryError(2e9, 1e9, "needs 2 GB, 1 GB available");
 * console.log(e.code, e.needed - e.available); // INSUFFICIENT_MEMORY 1000000000
 * ```
 */
export class InsufficientMemoryError extends LoadError {
  /** Creates the error with the numbers. */
  constructor(readonly needed: number, readonly available: number, message: string) {
    super("INSUFFICIENT_MEMORY", message);
  }
}

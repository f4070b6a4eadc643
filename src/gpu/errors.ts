/**
 * The typed error of GPU placement.
 *
 * @module
 */

import { BitloadError } from "../common/errors.ts";

/** Stable machine-readable reasons a GPU placement fails. */
export type GpuErrorCode = "NO_TENSOR"; // a tensor named for upload is not in the model

/**
 * A GPU placement was asked something it cannot do.
 *
 * @example
 * ```ts
 * import { GpuError } from "./errors.ts";
 * const e = new GpuError("NO_TENSOR", 'No tensor "x" in the model');
 * console.log(e.code, e.message); // NO_TENSOR No tensor "x" in the model (NO_TENSOR)
 * ```
 */
export class GpuError extends BitloadError<GpuErrorCode> {}

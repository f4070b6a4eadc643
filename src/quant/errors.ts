/**
 * The typed error of the quant layer: dequantizing, quantizing, byte-swapping and converting
 * models.
 *
 * @module
 */

import { BitloadError } from "../common/errors.ts";

/** Stable machine-readable reasons a quant operation fails. */
export type QuantErrorCode =
  | "UNKNOWN_TYPE" // a ggml type name or id that no dialect defines
  | "UNSUPPORTED_TYPE" // a known type this operation cannot handle (no decoder, no byte order, not a quantize target)
  | "BAD_LENGTH" // an element or byte count that does not match the type's blocks or the buffer
  | "BAD_VALUE" // a value outside the type's range (an I2_S value other than −1, 0, +1)
  | "BAD_OPTION" // an option out of range (an unknown backend)
  | "NATIVE_UNAVAILABLE" // the native backend was asked for but the kernels are not loaded
  | "ARCHITECTURE_MISMATCH" // a type the model's architecture cannot hold (I2_S…TL2 outside BitNet)
  | "BYTE_ORDER"; // a big-endian tensor whose type has no defined byte order

/**
 * A quant operation was asked something it cannot do.
 *
 * @example
 * ```ts
 * import { QuantError } from "./errors.ts";
 * import { resolveGgmlType } from "./dequantize.ts";
 * try {
 *   resolveGgmlType("Q9_K");
 * } catch (e) {
 *   if (e instanceof QuantError) console.log(e.code); // UNKNOWN_TYPE
 * }
 * ```
 */
export class QuantError extends BitloadError<QuantErrorCode> {}

/**
 * The error types of the native layer: {@link NativeKernelError} for the CPU library (a C status
 * turned into an exception by {@link check}, an argument check, a library that cannot be built or
 * used) and {@link CudaError} for the CUDA library. Codes are stable; each has a one-line meaning
 * below.
 *
 * @module
 */

import { BitloadError } from "../src/common/errors.ts";
import { BitloadStatus } from "./symbols.ts";

/**
 * Stable machine-readable reasons a native kernel call or library load failed.
 */
export type NativeKernelErrorCode =
  | "UNKNOWN_TYPE" // BL_ERR_UNKNOWN_TYPE: the type id is unknown or cannot be dequantized
  | "BAD_LENGTH" // BL_ERR_BAD_LENGTH: a count is negative or not a multiple of the block size
  | "NULL_BUFFER" // BL_ERR_NULL: a buffer is missing
  | "BAD_LEVEL" // BL_ERR_BAD_LEVEL: the SIMD level is not supported here (or capped by BITLOAD_SIMD)
  | "THREADS" // BL_ERR_THREADS: a worker thread could not be started
  | "NO_MEMORY" // BL_ERR_NO_MEMORY: a kernel could not allocate its scratch memory
  | "BAD_STATUS" // a status the header does not define
  | "UNAVAILABLE" // the library could not be found, built or opened (see the reason)
  | "BAD_ARGUMENT" // an argument failed the TypeScript-side check (type, count, threads, level name)
  | "BUILD_FAILED" // a native library could not be compiled (compiler, sources, cache or lock)
  | "ABI_MISMATCH"; // the library's ABI version is not the one bitload expects

/**
 * A native kernel refused its arguments, ran out of memory, or the library is unavailable.
 *
 * `code` is stable, `status` is the C status when one was returned, `reason` is the one-line
 * explanation (with the call's context in front).
 *
 * @example
 * ```ts
 * import { NativeKernelError } from "./errors.ts";
 * try {
 *   throw new NativeKernelError("NO_MEMORY", "blk.0.ffn_up.weight: scratch memory", { status: -6 });
 * } catch (e) {
 *   if (e instanceof NativeKernelError) console.log(e.code, e.status); // NO_MEMORY -6
 * }
 * ```
 */
export class NativeKernelError extends BitloadError<NativeKernelErrorCode> {
  /** The C status (`BL_ERR_*`), when the error comes from one. */
  readonly status?: number;

  /** Creates an error; `options.status` is the C status, `options.context` the call. */
  constructor(
    code: NativeKernelErrorCode,
    reason: string,
    options: { status?: number; context?: string; cause?: unknown } = {},
  ) {
    super(code, options.context ? `${options.context}: ${reason}` : reason, {
      cause: options.cause,
    });
    this.status = options.status;
  }
}

/**
 * Stable machine-readable reasons a CUDA call failed.
 */
export type CudaErrorCode =
  | "UNAVAILABLE" // no CUDA runtime, driver, device, toolkit or library (see the reason)
  | "BAD_ARGUMENT" // an argument failed the TypeScript-side check (shape, byte count, mode, index)
  | "UNSUPPORTED_TYPE" // the CUDA kernels have no path for this ggml type id
  | "FREED" // the CUDA buffer was already freed
  | "KERNEL_REFUSED" // bitload's CUDA library refused its arguments (a negative status)
  | "CUDA_STATUS"; // the CUDA runtime reported an error (its cudaGetErrorString is in the message)

/**
 * A CUDA call was refused, failed in the CUDA runtime, or CUDA is unavailable.
 *
 * `code` is stable; `status` is the library's status when one was returned (negative: bitload's
 * own argument check in C, positive: a `cudaError_t`).
 *
 * @example
 * ```ts
 * import { CudaError } from "./errors.ts";
 * try {
 *   throw new CudaError("FREED", "CUDA buffer already freed");
 * } catch (e) {
 *   if (e instanceof CudaError) console.log(e.code); // FREED
 * }
 * ```
 */
export class CudaError extends BitloadError<CudaErrorCode> {
  /** The status the CUDA library returned, when the error comes from one. */
  readonly status?: number;

  /** Creates an error; `options.status` is the library's status. */
  constructor(
    code: CudaErrorCode,
    reason: string,
    options: { status?: number; cause?: unknown } = {},
  ) {
    super(code, reason, { cause: options.cause });
    this.status = options.status;
  }
}

const STATUS: Readonly<Record<number, [NativeKernelErrorCode, string]>> = {
  [BitloadStatus.UNKNOWN_TYPE]: ["UNKNOWN_TYPE", "the type id is unknown or cannot be dequantized"],
  [BitloadStatus.BAD_LENGTH]: [
    "BAD_LENGTH",
    "the element count is negative or not a multiple of the block size",
  ],
  [BitloadStatus.NULL_BUFFER]: ["NULL_BUFFER", "a buffer is missing"],
  [BitloadStatus.BAD_LEVEL]: [
    "BAD_LEVEL",
    "the SIMD level is not supported by this CPU (or capped by BITLOAD_SIMD)",
  ],
  [BitloadStatus.THREADS]: ["THREADS", "a worker thread could not be started"],
  [BitloadStatus.NO_MEMORY]: ["NO_MEMORY", "the kernel could not allocate its scratch memory"],
};

/**
 * Turns a C status into an exception: returns non-negative values unchanged (a count, a level),
 * throws a {@link NativeKernelError} for a negative one. The one place that does so.
 *
 * @example
 * ```ts
 * import { check } from "./errors.ts";
 * check(0, "bl_dequantize_f32"); // 0
 * try {
 *   check(-6, "blk.0.attn_q.weight");
 * } catch (e) {
 *   console.log((e as Error).message); // "blk.0.attn_q.weight: the kernel could not … (NO_MEMORY)"
 * }
 * ```
 */
export function check(status: number, context: string): number {
  if (status >= 0) return status;
  const [code, reason] = STATUS[status] ?? ["BAD_STATUS", `unexpected status ${status}`];
  throw new NativeKernelError(code, reason, { status, context });
}

/**
 * Formats an error for a one-line reason (`Name: first line of the message`).
 *
 * @example
 * ```ts
 * import { describeError } from "./errors.ts";
 * describeError(new TypeError("bad\nmore")); // "TypeError: bad"
 * ```
 */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message.split("\n")[0]}`;
  return String(error);
}

/**
 * The public dequantization entry point: turns tensor bytes of any readable ggml type (and BitNet
 * I2_S) into f32, through the native kernels when asked and available, otherwise through the
 * pure-TypeScript decoders of this folder. Both give bit for bit ggml's results.
 *
 * @module
 */

import { QuantError } from "./errors.ts";
import { type NativeKernels, nativeKernels } from "../../ffi/native.ts";
import { NativeKernelError } from "../../ffi/errors.ts";
import { checkMappedFiles } from "../gguf/mapped_files.ts";
import { ggmlType, ggmlTypeByName, type GgmlTypeInfo } from "../gguf/types.ts";
import { assertDequantizeArgs, dequantizeTs } from "./dequantize_ts.ts";
import { dequantizeTlTensor } from "./tl_tensor.ts";
import type { TlConfigFile } from "./tl_config.ts";

export type { GgmlTypeInfo } from "../gguf/types.ts";

/** Which implementation to run. */
export type DequantizeBackend = "native" | "ts" | "auto";

/** Options of {@link dequantize}. */
export interface DequantizeOptions {
  /**
   * `"auto"` (default): the native kernels when they are available and have the type, otherwise
   * TypeScript, silently (callers that want to tell the user check
   * {@link nativeDequantizeAvailable}). `"native"`: the
   * native kernels or an Error. `"ts"`: always TypeScript.
   */
  backend?: DequantizeBackend;
  /** Worker threads for the native kernels (ignored by the single-threaded TypeScript path). */
  threads?: number;
  /**
   * The tensor's ggml dims. Required for TL1/TL2, whose byte layout is tiled by the weight shape
   * `(M, K) = (dims[1], dims[0])`; ignored by every other type.
   */
  dims?: readonly number[];
  /**
   * A parsed bitnet.cpp `kernel_config.ini` (`parseKernelConfigIni` of `tl_config.ts`) for TL1/TL2, searched
   * before the built-in presets of the official models.
   */
  tlConfig?: TlConfigFile;
  /** The tensor's name, for messages (TL1/TL2 refusals name it). */
  name?: string;
}

/**
 * The native kernels (`ffi/native.ts`, built and loaded on first use), or `null` when they are
 * unavailable; that module prints its own one-time notice on stderr in that case.
 */
function nativeDequantizer(): NativeKernels | null {
  return nativeKernels();
}

/**
 * Whether the native kernels can be used by {@link dequantize}.
 *
 * @example
 * ```ts
 * import { nativeDequantizeAvailable } from "./dequantize.ts";
 * if (!nativeDequantizeAvailable()) console.log("using the TypeScript dequantizers");
 * ```
 */
export function nativeDequantizeAvailable(): boolean {
  return nativeDequantizer() !== null;
}

/**
 * Resolves a type given as registry entry, name or id. A name is a ggml type name in any case
 * (`"q4_k"`, `"I2_S"`); a number is an upstream ggml id, except that 36 (a removed id upstream)
 * means BitNet's I2_S.
 *
 * @throws {QuantError} `UNKNOWN_TYPE` for an unknown name or id.
 *
 * @example
 * ```ts
 * import { resolveGgmlType } from "./dequantize.ts";
 * resolveGgmlType("q4_k").id; // 12
 * resolveGgmlType(36).name; // "I2_S"
 * ```
 */
export function resolveGgmlType(type: GgmlTypeInfo | string | number): GgmlTypeInfo {
  if (typeof type === "string") {
    const info = ggmlTypeByName(type);
    if (!info) throw new QuantError("UNKNOWN_TYPE", `Unknown ggml type name "${type}"`);
    return info;
  }
  if (typeof type === "number") {
    const info = ggmlType(type, type === 36 ? "bitnet" : "ggml");
    if (!info) throw new QuantError("UNKNOWN_TYPE", `Unknown ggml type id ${type}`);
    return info;
  }
  return type;
}

/**
 * Dequantizes `out.length` elements of `type` from `src` into `out`. `src` must be exactly those
 * elements' bytes; for I2_S it is the whole tensor (`n/4` bytes of codes, then the 32-byte slot
 * holding the f32 scale).
 *
 * @throws {QuantError} `UNKNOWN_TYPE`; `BAD_LENGTH` for a count that is not a whole number of
 * blocks or a wrong `src` length (`Expected 144 bytes of Q4_K data for 256 elements but got 100`);
 * `UNSUPPORTED_TYPE` for types that cannot be dequantized (TL1, TL2, I8_S, removed ids);
 * `NATIVE_UNAVAILABLE` for `backend: "native"` when the native kernels are unavailable.
 *
 * @example
 * ```ts
 * import { dequantize } from "./dequantize.ts";
 * const block = new Uint8Array(34); // one Q8_0 block: f16 d, then 32 int8
 * block[1] = 0x3c; // d = 1.0
 * block[2] = 5;
 * const out = new Float32Array(32);
 * dequantize("Q8_0", block, out); // out[0] === 5
 * ```
 */
export function dequantize(
  type: GgmlTypeInfo | string | number,
  src: Uint8Array,
  out: Float32Array,
  options: DequantizeOptions = {},
): void {
  // A mapped model that shrank reads as zeros where its pages vanished: refuse before and after.
  checkMappedFiles();
  dequantizeUnchecked(type, src, out, options);
  checkMappedFiles();
}

function dequantizeUnchecked(
  type: GgmlTypeInfo | string | number,
  src: Uint8Array,
  out: Float32Array,
  options: DequantizeOptions = {},
): void {
  const info = resolveGgmlType(type);
  const backend = options.backend ?? "auto";
  if (backend !== "ts" && backend !== "auto" && backend !== "native") {
    throw new QuantError(
      "BAD_OPTION",
      `Unknown dequantize backend "${backend}": use "native", "ts" or "auto"`,
    );
  }
  if ((info.name === "TL1" || info.name === "TL2") && options.dims) {
    dequantizeTlTensor(info.name, src, out, options.dims, { ...options, backend });
    return;
  }
  if (backend !== "ts") {
    const native = nativeDequantizer();
    if (native !== null) {
      assertDequantizeArgs(info, src, out.length);
      try {
        native.dequantize(info.id, src, out, options.threads);
        return;
      } catch (error) {
        // The arguments were checked above, so UNKNOWN_TYPE here means the kernels lack this
        // type (Q8_1, for one): "auto" then uses TypeScript; "native" reports it.
        const lacksType = error instanceof NativeKernelError && error.code === "UNKNOWN_TYPE";
        if (backend === "native" || !lacksType) throw error;
      }
    }
    if (backend === "native") {
      throw new QuantError(
        "NATIVE_UNAVAILABLE",
        `Cannot dequantize ${info.name} with the native backend: the native kernels are unavailable (see the notice above, or kernelInfo().reason); use backend "ts" or "auto"`,
      );
    }
  }
  dequantizeTs(info, src, out);
}

/**
 * Like {@link dequantize}, but allocates and returns the output of `n` elements.
 *
 * @example
 * ```ts
 * import { dequantizeToNew } from "./dequantize.ts";
 * const values = dequantizeToNew("F16", Uint8Array.of(0x00, 0x3c), 1); // Float32Array [1]
 * ```
 */
export function dequantizeToNew(
  type: GgmlTypeInfo | string | number,
  src: Uint8Array,
  n: number,
  options: DequantizeOptions = {},
): Float32Array {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new QuantError(
      "BAD_LENGTH",
      `Cannot dequantize ${n} elements: the count must be a non-negative integer`,
    );
  }
  const out = new Float32Array(n);
  dequantize(type, src, out, options);
  return out;
}

/**
 * TL1/TL2 tensors as the rest of bitload meets them: a type, ggml dims, the file's bytes and the
 * caller's TL options. Resolves the tile configuration (`tl_config.ts`), checks the byte length
 * against the fork's `ggml_nbytes`, and decodes to f32 or transcodes to I2_S with the layouts of
 * `tl.ts`.
 *
 * @module
 */

import { QuantError } from "./errors.ts";
import { nativeKernels } from "../../ffi/native.ts";
import { dequantizeTl, tlShape, tlTensorBytes, tlToI2S } from "./tl.ts";
import {
  resolveTlConfig,
  type TlConfigChoice,
  type TlConfigOptions,
  type TlType,
} from "./tl_config.ts";

export { describeTlTensor, isTlType } from "./tl_describe.ts";

function checkBytes(type: TlType, src: Uint8Array, dims: readonly number[], name: string) {
  const { M, K } = tlShape(dims);
  const expected = tlTensorBytes(type, M, K);
  if (src.byteLength !== expected) {
    throw new QuantError(
      "BAD_LENGTH",
      `Expected ${expected} bytes of ${type} data for ${name} [${dims}] but got ${src.byteLength}`,
    );
  }
  return { M, K };
}

/**
 * Dequantizes a whole TL1/TL2 tensor of ggml dims `dims` into `out`.
 *
 * @throws {TlConfigError} When no configuration is known for the shape, or it breaks the rule.
 * @throws {QuantError} `BAD_LENGTH` for a wrong length, `BAD_VALUE` for a code the converter never writes.
 *
 * @example
 * ```ts
 * import { encodeTl } from "./tl.ts";
 * import { dequantizeTlTensor } from "./tl_tensor.ts";
 * const cfg = { m: 1536, k: 1536, BM: 128, BK: 64, bm: 64 }; // bitnet_b1_58-large's preset
 * const tl = encodeTl("TL1", new Int8Array(1536 * 1536).fill(1), 1536, 1536, cfg, 0.5);
 * const out = new Float32Array(1536 * 1536);
 * dequantizeTlTensor("TL1", tl, out, [1536, 1536]); // out[0] === 0.5
 * ```
 */
export function dequantizeTlTensor(
  type: TlType,
  src: Uint8Array,
  out: Float32Array,
  dims: readonly number[],
  options: TlConfigOptions & { name?: string; backend?: "native" | "ts" | "auto" } = {},
): void {
  const name = options.name ?? "tensor";
  const { config } = resolveTlConfig(type, dims, options, name);
  const { M, K } = checkBytes(type, src, dims, name);
  if (out.length !== M * K) {
    throw new QuantError(
      "BAD_LENGTH",
      `Expected an output of ${M * K} values for ${name} [${dims}], got ${out.length}`,
    );
  }
  const native = options.backend === "ts" ? null : nativeKernels();
  if (!native && options.backend === "native") {
    throw new Error(
      `Cannot decode ${type} with the native backend: the native kernels are unavailable`,
    );
  }
  if (native && native.tlDecode(type === "TL1" ? 1 : 2, src, M, K, config, null, out) === 0) return;
  // TypeScript: no native kernels, or a bad code (the TS decoder names its byte)
  dequantizeTl(type, src, M, K, config, out);
}

/** What a transcode did, for the load report. */
export interface TlTranscode {
  /** The I2_S bytes (`n/4 + 32`). */
  data: Uint8Array;
  /** The configuration used and where it came from. */
  choice: TlConfigChoice;
  /** Milliseconds it took. */
  ms: number;
}

/**
 * Transcodes a whole TL1/TL2 tensor to I2_S: same ternary values, same f32 scale.
 *
 * @throws {TlConfigError} When no configuration is known for the shape, or it breaks the rule.
 *
 * @example
 * ```ts
 * import { encodeTl } from "./tl.ts";
 * import { transcodeTlTensor } from "./tl_tensor.ts";
 * const cfg = { m: 1536, k: 1536, BM: 128, BK: 64, bm: 64 };
 * const tl = encodeTl("TL1", new Int8Array(1536 * 1536), 1536, 1536, cfg, 1);
 * transcodeTlTensor("TL1", tl, [1536, 1536]).data.length; // 589856
 * ```
 */
export function transcodeTlTensor(
  type: TlType,
  src: Uint8Array,
  dims: readonly number[],
  options: TlConfigOptions & { name?: string; backend?: "native" | "ts" | "auto" } = {},
): TlTranscode {
  const start = performance.now();
  const name = options.name ?? "tensor";
  const choice = resolveTlConfig(type, dims, options, name);
  const { M, K } = checkBytes(type, src, dims, name);
  const native = options.backend === "ts" ? null : nativeKernels();
  let data: Uint8Array;
  const i2s = new Uint8Array(M * K / 4 + 32);
  if (
    native && native.tlDecode(type === "TL1" ? 1 : 2, src, M, K, choice.config, i2s, null) === 0
  ) {
    data = i2s;
  } else data = tlToI2S(type, src, M, K, choice.config);
  return { data, choice, ms: performance.now() - start };
}

/**
 * The pure-TypeScript dequantizer: picks the per-type decoder for a {@link GgmlTypeInfo}, checks
 * the element count and byte length, and decodes into a Float32Array. Every decoder is bit for bit
 * equal to ggml's `to_float` (llama.cpp v0.5.0) for the ggml types, and to the BitNet fork's
 * decoding for I2_S.
 *
 * @module
 */

import { QuantError } from "./errors.ts";
import type { GgmlTypeInfo } from "../gguf/types.ts";
import {
  dequantizeBF16,
  dequantizeF16,
  dequantizeF32,
  dequantizeF64,
  dequantizeI16,
  dequantizeI32,
  dequantizeI64,
  dequantizeI8,
} from "./float.ts";
import { dequantizeMXFP4, dequantizeNVFP4 } from "./fp4.ts";
import {
  dequantizeIQ1_M,
  dequantizeIQ1_S,
  dequantizeIQ2_S,
  dequantizeIQ2_XS,
  dequantizeIQ2_XXS,
  dequantizeIQ3_S,
  dequantizeIQ3_XXS,
  dequantizeIQ4_NL,
  dequantizeIQ4_XS,
} from "./iq_quants.ts";
import {
  dequantizeQ2_K,
  dequantizeQ3_K,
  dequantizeQ4_K,
  dequantizeQ5_K,
  dequantizeQ6_K,
  dequantizeQ8_K,
} from "./k_quants.ts";
import {
  dequantizeQ4_0,
  dequantizeQ4_1,
  dequantizeQ5_0,
  dequantizeQ5_1,
  dequantizeQ8_0,
  dequantizeQ8_1,
} from "./legacy.ts";
import {
  dequantizeI2_S,
  dequantizeQ1_0,
  dequantizeQ2_0,
  dequantizeTQ1_0,
  dequantizeTQ2_0,
  I2S_BLOCK_ELEMENTS,
  I2S_SCALE_SLOT_BYTES,
} from "./ternary.ts";

export type { GgmlTypeInfo } from "../gguf/types.ts";

/** A decoder: reads the blocks for `out.length` elements from `src` and writes them to `out`. */
export type RowDecoder = (src: Uint8Array, out: Float32Array) => void;

/** Decoder of every type name the TypeScript path handles. */
const DECODERS: Readonly<Record<string, RowDecoder>> = {
  F32: dequantizeF32,
  F16: dequantizeF16,
  BF16: dequantizeBF16,
  F64: dequantizeF64,
  I8: dequantizeI8,
  I16: dequantizeI16,
  I32: dequantizeI32,
  I64: dequantizeI64,
  Q4_0: dequantizeQ4_0,
  Q4_1: dequantizeQ4_1,
  Q5_0: dequantizeQ5_0,
  Q5_1: dequantizeQ5_1,
  Q8_0: dequantizeQ8_0,
  Q8_1: dequantizeQ8_1,
  Q2_K: dequantizeQ2_K,
  Q3_K: dequantizeQ3_K,
  Q4_K: dequantizeQ4_K,
  Q5_K: dequantizeQ5_K,
  Q6_K: dequantizeQ6_K,
  Q8_K: dequantizeQ8_K,
  IQ2_XXS: dequantizeIQ2_XXS,
  IQ2_XS: dequantizeIQ2_XS,
  IQ2_S: dequantizeIQ2_S,
  IQ3_XXS: dequantizeIQ3_XXS,
  IQ3_S: dequantizeIQ3_S,
  IQ1_S: dequantizeIQ1_S,
  IQ1_M: dequantizeIQ1_M,
  IQ4_NL: dequantizeIQ4_NL,
  IQ4_XS: dequantizeIQ4_XS,
  TQ1_0: dequantizeTQ1_0,
  TQ2_0: dequantizeTQ2_0,
  MXFP4: dequantizeMXFP4,
  NVFP4: dequantizeNVFP4,
  Q1_0: dequantizeQ1_0,
  Q2_0: dequantizeQ2_0,
  I2_S: dequantizeI2_S,
};

/**
 * Whether the TypeScript path can dequantize this type.
 *
 * @example
 * ```ts
 * import { ggmlType } from "../gguf/types.ts";
 * import { canDequantizeTs } from "./dequantize_ts.ts";
 * canDequantizeTs(ggmlType(12)!); // true (Q4_K)
 * canDequantizeTs(ggmlType(38, "bitnet")!); // false (TL1)
 * ```
 */
export function canDequantizeTs(type: GgmlTypeInfo): boolean {
  return type.dequantizable && Object.hasOwn(DECODERS, type.name);
}

/**
 * The number of bytes `n` elements of `type` occupy, or a reason why `n` is not a valid count.
 * I2_S counts the whole tensor: `n/4` bytes of codes plus the 32-byte scale slot.
 *
 * @example
 * ```ts
 * import { ggmlType } from "../gguf/types.ts";
 * import { expectedByteLength } from "./dequantize_ts.ts";
 * expectedByteLength(ggmlType(12)!, 512); // 288
 * expectedByteLength(ggmlType(36, "bitnet")!, 256); // 96
 * ```
 */
export function expectedByteLength(type: GgmlTypeInfo, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new QuantError(
      "BAD_LENGTH",
      `Cannot dequantize ${n} elements: the count must be a non-negative integer`,
    );
  }
  const blockSize = type.name === "I2_S" ? I2S_BLOCK_ELEMENTS : type.blockSize;
  if (blockSize <= 0) {
    throw new QuantError(
      "UNSUPPORTED_TYPE",
      `Type "${type.name}" (id ${type.id}) has no block size`,
    );
  }
  if (n % blockSize !== 0) {
    throw new QuantError(
      "BAD_LENGTH",
      `Cannot dequantize ${n} elements of ${type.name}: the count must be a multiple of its block size ${blockSize}`,
    );
  }
  if (type.name === "I2_S") return n / 4 + I2S_SCALE_SLOT_BYTES;
  return (n / blockSize) * type.typeSize;
}

/**
 * Checks that `n` elements of `type` can be dequantized from `src`: the type is readable, `n` is
 * a whole number of blocks and `src` has exactly the bytes they occupy. Every backend runs this
 * first, so a native kernel never sees a short buffer.
 *
 * @throws {QuantError} `UNSUPPORTED_TYPE` when the type cannot be dequantized (TL1, TL2, I8_S,
 * removed ids); `BAD_LENGTH` for a bad count or byte length.
 *
 * @example
 * ```ts
 * import { ggmlType } from "../gguf/types.ts";
 * import { assertDequantizeArgs } from "./dequantize_ts.ts";
 * assertDequantizeArgs(ggmlType(12)!, new Uint8Array(144), 256); // ok: one Q4_K block
 * ```
 */
export function assertDequantizeArgs(type: GgmlTypeInfo, src: Uint8Array, n: number): void {
  if (!canDequantizeTs(type)) {
    const why = type.refusal ??
      (type.name === "I8_S"
        ? "it is BitNet's activation type, which never holds stored weights"
        : type.name === "TL1" || type.name === "TL2"
        ? "its tiles depend on the tensor's shape and on bitnet.cpp's kernel_config.ini, " +
          "so it decodes only through dequantize() with options.dims (and options.tlConfig)"
        : "bitload has no decoder for it");
    throw new QuantError(
      "UNSUPPORTED_TYPE",
      `Cannot dequantize type "${type.name}" (id ${type.id}): ${why}`,
    );
  }
  const expected = expectedByteLength(type, n);
  if (src.byteLength !== expected) {
    throw new QuantError(
      "BAD_LENGTH",
      `Expected ${expected} bytes of ${type.name} data for ${n} elements but got ${src.byteLength}`,
    );
  }
}

/**
 * Dequantizes `out.length` elements of `type` from `src` into `out` in pure TypeScript, bit for bit
 * as ggml does. `src` must be exactly the bytes of those elements (for I2_S, the whole tensor:
 * codes then the 32-byte scale slot).
 *
 * @throws {QuantError} `BAD_LENGTH` when the element count is not a whole number of blocks or `src` has the
 * wrong length, e.g. `Expected 144 bytes of Q4_K data for 256 elements but got 100`.
 * @throws {QuantError} `UNSUPPORTED_TYPE` when the type cannot be dequantized (TL1, TL2, I8_S, removed ids).
 *
 * @example
 * ```ts
 * import { ggmlType } from "../gguf/types.ts";
 * import { dequantizeTs } from "./dequantize_ts.ts";
 * const block = new Uint8Array(34); // one Q8_0 block
 * block[1] = 0x3c; // d = 1.0
 * block[2] = 7;
 * const out = new Float32Array(32);
 * dequantizeTs(ggmlType(8)!, block, out); // out[0] === 7
 * ```
 */
export function dequantizeTs(type: GgmlTypeInfo, src: Uint8Array, out: Float32Array): void {
  assertDequantizeArgs(type, src, out.length);
  DECODERS[type.name](src, out);
}

/**
 * Byte-order conversion of tensor data, for big-endian GGUF files (GGUF v3 allows them; see
 * docs gguf-and-quant-formats.md §1.4). It swaps exactly the fields gguf-py's
 * `gguf-py/gguf/scripts/gguf_convert_endian.py` (ggml-org/llama.cpp v0.5.0) swaps, and refuses the
 * types that script refuses, since nobody has defined their big-endian layout.
 *
 * @module
 */

import { QuantError } from "./errors.ts";
import type { GgmlTypeInfo } from "../gguf/types.ts";

export type { GgmlTypeInfo } from "../gguf/types.ts";

/** Byte offsets of the 16-bit fields inside one block, per block type. */
const F16_FIELDS_PER_BLOCK: Readonly<Record<string, readonly number[]>> = {
  Q4_0: [0],
  Q8_0: [0],
  Q1_0: [0],
  Q4_K: [0, 2],
  Q6_K: [208],
  TQ2_0: [64],
  MXFP4: [],
  NVFP4: [],
};

/** Types that are plain arrays of one element width. */
const ELEMENT_WIDTH: Readonly<Record<string, number>> = { F32: 4, F16: 2, BF16: 2 };

/**
 * Whether {@link byteSwapTensor} can convert this type.
 *
 * @example
 * ```ts
 * import { ggmlTypeByName } from "../gguf/types.ts";
 * import { canByteSwap } from "./endian.ts";
 * canByteSwap(ggmlTypeByName("Q4_K")!); // true
 * canByteSwap(ggmlTypeByName("Q5_K")!); // false
 * ```
 */
export function canByteSwap(type: GgmlTypeInfo): boolean {
  return Object.hasOwn(ELEMENT_WIDTH, type.name) || Object.hasOwn(F16_FIELDS_PER_BLOCK, type.name);
}

function swap16(bytes: Uint8Array, o: number): void {
  const t = bytes[o];
  bytes[o] = bytes[o + 1];
  bytes[o + 1] = t;
}

/**
 * Swaps the byte order of a tensor's data in place (big-endian ↔ little-endian): the whole array
 * for F32/F16/BF16; for Q4_0, Q8_0 and Q1_0 the f16 `d` of each block, for Q4_K `d` and `dmin`,
 * for Q6_K `d` at byte 208, for TQ2_0 `d` at byte 64; MXFP4 and NVFP4 need nothing. The operation
 * is its own inverse.
 *
 * @throws {QuantError} `UNSUPPORTED_TYPE` for any other type (as gguf_convert_endian.py does),
 * `BAD_LENGTH` when the length is not a whole number of blocks.
 *
 * @example
 * ```ts
 * import { ggmlTypeByName } from "../gguf/types.ts";
 * import { byteSwapTensor } from "./endian.ts";
 * const bytes = Uint8Array.of(0x3c, 0x00); // one big-endian f16: 1.0
 * byteSwapTensor(ggmlTypeByName("F16")!, bytes); // bytes is now [0x00, 0x3c]
 * ```
 */
export function byteSwapTensor(type: GgmlTypeInfo, bytes: Uint8Array): void {
  const width = ELEMENT_WIDTH[type.name];
  if (width !== undefined) {
    if (bytes.length % width !== 0) {
      throw new QuantError(
        "BAD_LENGTH",
        `Cannot byte-swap ${bytes.length} bytes of ${type.name}: not a multiple of ${width}`,
      );
    }
    if (width === 2) {
      for (let o = 0; o < bytes.length; o += 2) swap16(bytes, o);
    } else {
      for (let o = 0; o < bytes.length; o += 4) {
        const b0 = bytes[o];
        const b1 = bytes[o + 1];
        bytes[o] = bytes[o + 3];
        bytes[o + 1] = bytes[o + 2];
        bytes[o + 2] = b1;
        bytes[o + 3] = b0;
      }
    }
    return;
  }
  const fields = F16_FIELDS_PER_BLOCK[type.name];
  if (fields === undefined) {
    throw new QuantError(
      "UNSUPPORTED_TYPE",
      `Cannot byte-swap type "${type.name}": its big-endian layout is undefined (gguf_convert_endian.py refuses it too)`,
    );
  }
  if (bytes.length % type.typeSize !== 0) {
    throw new QuantError(
      "BAD_LENGTH",
      `Cannot byte-swap ${bytes.length} bytes of ${type.name}: not a multiple of its ${type.typeSize}-byte block`,
    );
  }
  for (let o = 0; o < bytes.length; o += type.typeSize) {
    for (const field of fields) swap16(bytes, o + field);
  }
}

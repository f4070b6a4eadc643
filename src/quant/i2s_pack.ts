/**
 * Packing ternary values into BitNet's I2_S layout (microsoft/BitNet `src/ggml-bitnet-mad.cpp`
 * `quantize_i2_s`, the default `ACT_PARALLEL` branch; gguf-and-quant-formats.md §3.2): blocks of
 * 128 elements in 32 bytes, byte p of a block holding elements p, 32+p, 64+p, 96+p in bits
 * 7:6, 5:4, 3:2, 1:0; codes 0/1/2 for −1/0/+1; then one little-endian f32 scale at byte n/4 and
 * 28 bytes of zero padding (the tensor is n/4 + 32 bytes).
 *
 * @module
 */

import { QuantError } from "./errors.ts";

/**
 * Packs values in {−1, 0, +1} with a tensor scale. `values.length` must be a multiple of 128.
 *
 * @example
 * ```ts
 * import { packI2S } from "./i2s_pack.ts";
 * const packed = packI2S(new Int8Array(128).fill(1), 0.5);
 * packed.length; // 64 (32 bytes of codes + 32 for the scale slot)
 * packed[0].toString(2); // "10101010": four +1 codes
 * ```
 */
export function packI2S(values: Int8Array, scale: number): Uint8Array {
  const n = values.length;
  if (n % 128 !== 0) {
    throw new QuantError("BAD_LENGTH", `I2_S needs a multiple of 128 values, got ${n}`);
  }
  const out = new Uint8Array(n / 4 + 32);
  for (let block = 0; block < n / 128; block++) {
    const base = block * 128;
    for (let p = 0; p < 32; p++) {
      let byte = 0;
      for (let g = 0; g < 4; g++) {
        const v = values[base + 32 * g + p];
        if (v < -1 || v > 1) {
          throw new QuantError("BAD_VALUE", `I2_S values must be −1, 0 or +1, got ${v}`);
        }
        byte |= (v + 1) << (6 - 2 * g);
      }
      out[block * 32 + p] = byte;
    }
  }
  new DataView(out.buffer).setFloat32(n / 4, scale, true);
  return out;
}

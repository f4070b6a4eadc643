/**
 * Ternary and low-bit sign formats: TQ1_0, TQ2_0, Q1_0, Q2_0 (ggml) and BitNet's I2_S
 * (microsoft/BitNet).
 *
 * The ggml types mirror `dequantize_row_tq1_0`, `_tq2_0`, `_q1_0` and `_q2_0` of
 * ggml-org/llama.cpp `ggml/src/ggml-quants.c` (release v0.5.0) bit for bit.
 *
 * I2_S is not a ggml block type: a whole tensor of n elements is `n/4` bytes of 2-bit codes in
 * 128-element blocks of 32 bytes, then one little-endian f32 scale at byte `n/4`, padded to
 * `n/4 + 32` bytes (microsoft/BitNet `src/ggml-bitnet-mad.cpp` `quantize_i2_s`, the `ACT_PARALLEL`
 * layout every published file uses). Byte `p` of a block holds elements `p`, `32+p`, `64+p` and
 * `96+p` in bits 7:6, 5:4, 3:2 and 1:0. Codes 0/1/2 mean −1/0/+1. Code 3 is never written by any
 * quantizer; it decodes to 0 here, as the BitNet fork's `dequantize_row_i2_s` (`map2bit =
 * {-1, 0, +1, 0}`) decodes it, whereas ik_llama.cpp's `dequantize_row_ms_i2s` would give +2.
 * Each value is `(float)map2bit[code] * scale`, one f32 product (so code 1 with a negative scale
 * gives −0, as in C).
 *
 * @module
 */

import { F16_TO_F32 } from "./float.ts";

const fround = Math.fround;

/**
 * TQ1_0 (54 bytes: `qs[48]` of five base-3 trits per byte, `qh[4]`@48 of four trits, f16 `d`@52):
 * trit `n` of byte `b` is `((b·3^n mod 256)·3) >> 8`; `y = (trit − 1) * d`.
 *
 * @example
 * ```ts
 * import { dequantizeTQ1_0 } from "./ternary.ts";
 * const block = new Uint8Array(54);
 * block[53] = 0x3c; // d = 1.0
 * const out = new Float32Array(256);
 * dequantizeTQ1_0(block, out); // every trit is 0: every element is -1
 * ```
 */
export function dequantizeTQ1_0(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  let y = 0;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 54) {
    const d = F16_TO_F32[src[o + 52] | (src[o + 53] << 8)];
    // qs[0..31]: element 32n + m; qs[32..47]: element 160 + 16n + m; qh: element 240 + 4n + m.
    for (let n = 0, pow = 1; n < 5; n++, pow *= 3) {
      for (let m = 0; m < 32; m++) {
        out[y++] = fround(((((src[o + m] * pow) & 0xff) * 3 >> 8) - 1) * d);
      }
    }
    for (let n = 0, pow = 1; n < 5; n++, pow *= 3) {
      for (let m = 0; m < 16; m++) {
        out[y++] = fround(((((src[o + 32 + m] * pow) & 0xff) * 3 >> 8) - 1) * d);
      }
    }
    for (let n = 0, pow = 1; n < 4; n++, pow *= 3) {
      for (let m = 0; m < 4; m++) {
        out[y++] = fround(((((src[o + 48 + m] * pow) & 0xff) * 3 >> 8) - 1) * d);
      }
    }
  }
}

/**
 * TQ2_0 (66 bytes: `qs[64]` of 2-bit codes, f16 `d`@64): byte `32h + m` holds elements
 * `128h + 32l + m` at bits `2l`; `y = (code − 1) * d`.
 *
 * @example
 * ```ts
 * import { dequantizeTQ2_0 } from "./ternary.ts";
 * const block = new Uint8Array(66);
 * block.fill(0b10_01_00_10, 0, 64);
 * block[65] = 0x3c; // d = 1.0
 * const out = new Float32Array(256);
 * dequantizeTQ2_0(block, out); // out[0] === 1, out[32] === -1, out[64] === 0, out[96] === 1
 * ```
 */
export function dequantizeTQ2_0(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  let y = 0;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 66) {
    const d = F16_TO_F32[src[o + 64] | (src[o + 65] << 8)];
    for (let h = 0; h < 64; h += 32) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let m = 0; m < 32; m++) out[y++] = fround((((src[o + h + m] >> shift) & 3) - 1) * d);
      }
    }
  }
}

/**
 * Q1_0 (18 bytes per 128 elements: f16 `d`, 16 bytes of sign bits, LSB first): `y = bit ? d : −d`.
 *
 * @example
 * ```ts
 * import { dequantizeQ1_0 } from "./ternary.ts";
 * const block = new Uint8Array(18);
 * block[1] = 0x3c; // d = 1.0
 * block[2] = 0b01;
 * const out = new Float32Array(128);
 * dequantizeQ1_0(block, out); // out[0] === 1, out[1] === -1
 * ```
 */
export function dequantizeQ1_0(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 128;
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 18, y += 128) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const negD = -d;
    for (let j = 0; j < 128; j++) out[y + j] = (src[o + 2 + (j >> 3)] >> (j & 7)) & 1 ? d : negD;
  }
}

/**
 * Q2_0 (18 bytes per 64 elements: f16 `d`, 16 bytes of 2-bit codes, LSB first):
 * `y = (code − 1) * d`, so code 3 gives +2d.
 *
 * @example
 * ```ts
 * import { dequantizeQ2_0 } from "./ternary.ts";
 * const block = new Uint8Array(18);
 * block[1] = 0x3c; // d = 1.0
 * block[2] = 0b11_10_01_00;
 * const out = new Float32Array(64);
 * dequantizeQ2_0(block, out); // out[0..3] = [-1, 0, 1, 2]
 * ```
 */
export function dequantizeQ2_0(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 64;
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 18, y += 64) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    for (let j = 0; j < 64; j++) {
      out[y + j] = fround((((src[o + 2 + (j >> 2)] >> (2 * (j & 3))) & 3) - 1) * d);
    }
  }
}

/** Elements per I2_S block (`QK_I2_S` of the x86 file layout). */
export const I2S_BLOCK_ELEMENTS = 128;

/** Bytes of codes per I2_S block. */
export const I2S_BLOCK_BYTES = 32;

/** Bytes the I2_S scale slot occupies after the codes (an f32 then 28 bytes of padding). */
export const I2S_SCALE_SLOT_BYTES = 32;

/** `map2bit` of the BitNet fork: codes 0, 1, 2, 3 → −1, 0, +1, 0. */
const I2S_VALUES = Int8Array.of(-1, 0, 1, 0);

/**
 * Reads the per-tensor f32 scale stored in an I2_S tensor of `n` elements (at byte `n/4`). The
 * scale a quantizer computes from f32 values is `i2sScale` in `quantize.ts`.
 *
 * @example
 * ```ts
 * import { readI2sScale } from "./ternary.ts";
 * const tensor = new Uint8Array(32 + 32);
 * new DataView(tensor.buffer).setFloat32(32, 0.5, true);
 * readI2sScale(tensor, 128); // 0.5
 * ```
 */
export function readI2sScale(tensor: Uint8Array, n: number): number {
  return new DataView(tensor.buffer, tensor.byteOffset, tensor.byteLength).getFloat32(n / 4, true);
}

/**
 * Decodes I2_S codes with a given scale: `codes` holds `out.length / 4` bytes (whole 128-element
 * blocks). Use this to decode part of a tensor (for example some rows) after reading the scale
 * with {@link readI2sScale}.
 *
 * @example
 * ```ts
 * import { dequantizeI2SCodes } from "./ternary.ts";
 * const codes = new Uint8Array(32).fill(0b10_01_00_10); // +1, 0, −1, +1 for p, 32+p, 64+p, 96+p
 * const out = new Float32Array(128);
 * dequantizeI2SCodes(codes, 0.5, out); // out[0] === 0.5, out[32] === 0, out[64] === -0.5
 * ```
 */
export function dequantizeI2SCodes(codes: Uint8Array, scale: number, out: Float32Array): void {
  const nBlocks = out.length / I2S_BLOCK_ELEMENTS;
  const s = fround(scale);
  // The four possible outputs, each one f32 product as in C.
  const v0 = fround(I2S_VALUES[0] * s);
  const v1 = fround(I2S_VALUES[1] * s);
  const v2 = fround(I2S_VALUES[2] * s);
  const v3 = fround(I2S_VALUES[3] * s);
  const lut = Float32Array.of(v0, v1, v2, v3);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 32, y += 128) {
    for (let p = 0; p < 32; p++) {
      const byte = codes[o + p];
      out[y + p] = lut[byte >> 6];
      out[y + 32 + p] = lut[(byte >> 4) & 3];
      out[y + 64 + p] = lut[(byte >> 2) & 3];
      out[y + 96 + p] = lut[byte & 3];
    }
  }
}

/**
 * I2_S (BitNet b1.58): `src` is the whole tensor, `out.length / 4` bytes of codes followed by the
 * f32 scale slot; see the module documentation for the layout.
 *
 * @example
 * ```ts
 * import { dequantizeI2_S } from "./ternary.ts";
 * const tensor = new Uint8Array(32 + 32);
 * tensor.fill(0b00_01_10_00, 0, 32);
 * new DataView(tensor.buffer).setFloat32(32, 1, true);
 * const out = new Float32Array(128);
 * dequantizeI2_S(tensor, out); // out[0] === -1, out[32] === 0, out[64] === 1, out[96] === -1
 * ```
 */
export function dequantizeI2_S(src: Uint8Array, out: Float32Array): void {
  dequantizeI2SCodes(src, readI2sScale(src, out.length), out);
}

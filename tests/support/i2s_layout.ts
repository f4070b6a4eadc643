/**
 * Independent builders for the BitNet I2_S layout (gguf-and-quant-formats.md §3.2), written from
 * the documented formula rather than from bitload's packer, so the kernel tests check one against
 * the other.
 *
 * @module
 */

/**
 * Packs 2-bit codes (one per element, `codes.length` a multiple of 128) into an I2_S tensor: byte
 * `p` of each 32-byte block holds elements `p, 32+p, 64+p, 96+p` in bits 7:6 … 1:0, then the f32
 * scale at byte n/4, then padding filled with 0xa5 (it is never read).
 *
 * @example
 * ```ts
 * import { packI2SCodes } from "./i2s_layout.ts";
 * packI2SCodes(new Uint8Array(128).fill(2), 1).length; // 64
 * ```
 */
export function packI2SCodes(codes: Uint8Array, scale: number): Uint8Array {
  const n = codes.length;
  const bytes = new Uint8Array(n / 4 + 32);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / 128);
    const r = i % 128;
    const g = Math.floor(r / 32);
    const p = r % 32;
    bytes[32 * b + p] |= codes[i] << (6 - 2 * g);
  }
  new DataView(bytes.buffer).setFloat32(n / 4, scale, true);
  bytes.fill(0xa5, n / 4 + 4);
  return bytes;
}

/**
 * Repacks an I2_S tensor of `n` elements (a multiple of 256) as TQ2_0 blocks: two I2_S blocks a
 * TQ2_0 block, the four 2-bit fields of each byte reversed, `d` = the given f16 bits.
 *
 * @example
 * ```ts
 * import { i2sToTq2Blocks, packI2SCodes } from "./i2s_layout.ts";
 * i2sToTq2Blocks(packI2SCodes(new Uint8Array(256), 1), 256, 0x3c00).length; // 66
 * ```
 */
export function i2sToTq2Blocks(i2s: Uint8Array, n: number, f16Bits: number): Uint8Array {
  const nBlocks = n / 256;
  const out = new Uint8Array(nBlocks * 66);
  for (let b = 0; b < nBlocks; b++) {
    for (let k = 0; k < 64; k++) {
      const v = i2s[64 * b + k];
      out[66 * b + k] = ((v & 3) << 6) | ((v & 0xc) << 2) | ((v & 0x30) >> 2) | (v >> 6);
    }
    out[66 * b + 64] = f16Bits & 0xff;
    out[66 * b + 65] = f16Bits >> 8;
  }
  return out;
}

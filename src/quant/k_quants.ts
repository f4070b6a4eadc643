/**
 * The k-quants: 256-element super-blocks Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and Q8_K.
 *
 * Each function mirrors `dequantize_row_*` of ggml-org/llama.cpp `ggml/src/ggml-quants.c`
 * (release v0.5.0; block structs in `ggml/src/ggml-common.h`), element order and f32 expression
 * alike (`dl = d * sc` rounded, then `dl * q - ml` with one rounding per operation), so the output
 * is bit for bit ggml's. `out.length` must be a multiple of 256.
 *
 * @module
 */

import { F16_TO_F32 } from "./float.ts";

const fround = Math.fround;

/**
 * Q2_K (84 bytes: `scales[16]` (4-bit scale | 4-bit min), `qs[64]`, f16 `d`@80, f16 `dmin`@82):
 * `y = (d * (sc & 0xF)) * q - (dmin * (sc >> 4))`.
 *
 * @example
 * ```ts
 * import { dequantizeQ2_K } from "./k_quants.ts";
 * const block = new Uint8Array(84);
 * block.fill(0x01, 0, 16); // scale 1, min 0
 * block.fill(0xff, 16, 80); // every 2-bit code is 3
 * block[81] = 0x3c; // d = 1.0
 * const out = new Float32Array(256);
 * dequantizeQ2_K(block, out); // every element is 3
 * ```
 */
export function dequantizeQ2_K(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  let y = 0;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 84) {
    const d = F16_TO_F32[src[o + 80] | (src[o + 81] << 8)];
    const dmin = F16_TO_F32[src[o + 82] | (src[o + 83] << 8)];
    let is = o;
    for (let half = 0; half < 2; half++) {
      const q = o + 16 + 32 * half;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let part = 0; part < 32; part += 16) {
          const sc = src[is++];
          const dl = fround(d * (sc & 0xf));
          const ml = fround(dmin * (sc >> 4));
          for (let l = 0; l < 16; l++) {
            out[y++] = fround(fround(dl * ((src[q + part + l] >> shift) & 3)) - ml);
          }
        }
      }
    }
  }
}

/** Unpacks the 16 six-bit Q3_K scales (already minus 32) of the block at `o` into `scales`. */
function unpackQ3KScales(src: Uint8Array, o: number, scales: Int32Array): void {
  const r = o + 96;
  for (let i = 0; i < 16; i++) {
    const low4 = i < 8 ? src[r + i] & 0xf : src[r + i - 8] >> 4;
    const high2 = (src[r + 8 + (i & 3)] >> (2 * (i >> 2))) & 3;
    scales[i] = (low4 | (high2 << 4)) - 32;
  }
}

/**
 * Q3_K (110 bytes: `hmask[32]`, `qs[64]`@32, `scales[12]`@96 (16 six-bit scales), f16 `d`@108):
 * `y = (d * (sc - 32)) * (low2 - (highBit ? 0 : 4))`.
 *
 * @example
 * ```ts
 * import { dequantizeQ3_K } from "./k_quants.ts";
 * const block = new Uint8Array(110);
 * block.fill(0xff, 0, 32); // high bits set: no -4
 * block.fill(0x21, 96, 104); // low 4 bits of the scales: 1
 * block.fill(0xaa, 104, 108); // high 2 bits: 2 → scale 33 - 32 = 1
 * block[109] = 0x3c; // d = 1.0
 * const out = new Float32Array(256);
 * dequantizeQ3_K(block, out); // every element is 0 (code 0, scale 1)
 * ```
 */
export function dequantizeQ3_K(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  const scales = new Int32Array(16);
  let y = 0;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 110) {
    const d = F16_TO_F32[src[o + 108] | (src[o + 109] << 8)];
    unpackQ3KScales(src, o, scales);
    let is = 0;
    let mask = 1;
    for (let half = 0; half < 2; half++) {
      const q = o + 32 + 32 * half;
      for (let shift = 0; shift < 8; shift += 2) {
        for (let part = 0; part < 32; part += 16) {
          const dl = fround(d * scales[is++]);
          for (let l = 0; l < 16; l++) {
            const low = (src[q + part + l] >> shift) & 3;
            const value = low - ((src[o + part + l] & mask) ? 0 : 4);
            out[y++] = fround(dl * value);
          }
        }
        mask <<= 1;
      }
    }
  }
}

/**
 * Writes the 6-bit scale and min `j` (0..7) of a Q4_K/Q5_K `scales[12]` at `r` into
 * `pair[0]`/`pair[1]` (ggml's `get_scale_min_k4`).
 */
function scaleMinK4(src: Uint8Array, r: number, j: number, pair: Int32Array): void {
  if (j < 4) {
    pair[0] = src[r + j] & 63;
    pair[1] = src[r + j + 4] & 63;
  } else {
    pair[0] = (src[r + j + 4] & 0xf) | ((src[r + j - 4] >> 6) << 4);
    pair[1] = (src[r + j + 4] >> 4) | ((src[r + j] >> 6) << 4);
  }
}

/**
 * Q4_K (144 bytes: f16 `d`, f16 `dmin`, `scales[12]`@4 (8 six-bit scale/min pairs), `qs[128]`@16):
 * `y = (d * sc) * q - (dmin * m)`.
 *
 * @example
 * ```ts
 * import { dequantizeQ4_K } from "./k_quants.ts";
 * const block = new Uint8Array(144);
 * block[1] = 0x3c; // d = 1.0
 * block.fill(0x01, 4, 8); // scales 0..3 = 1, mins 0
 * block.fill(0x77, 16); // every nibble 7
 * const out = new Float32Array(256);
 * dequantizeQ4_K(block, out); // out[0] === 7
 * ```
 */
export function dequantizeQ4_K(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  const pair = new Int32Array(2);
  let y = 0;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 144) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const dmin = F16_TO_F32[src[o + 2] | (src[o + 3] << 8)];
    for (let chunk = 0; chunk < 4; chunk++) {
      const q = o + 16 + 32 * chunk;
      scaleMinK4(src, o + 4, 2 * chunk, pair);
      const d1 = fround(d * pair[0]);
      const m1 = fround(dmin * pair[1]);
      scaleMinK4(src, o + 4, 2 * chunk + 1, pair);
      const d2 = fround(d * pair[0]);
      const m2 = fround(dmin * pair[1]);
      for (let l = 0; l < 32; l++) out[y + l] = fround(fround(d1 * (src[q + l] & 0xf)) - m1);
      for (let l = 0; l < 32; l++) out[y + 32 + l] = fround(fround(d2 * (src[q + l] >> 4)) - m2);
      y += 64;
    }
  }
}

/**
 * Q5_K (176 bytes: f16 `d`, f16 `dmin`, `scales[12]`@4, `qh[32]`@16, `qs[128]`@48):
 * like Q4_K with a fifth bit from `qh` adding 16.
 *
 * @example
 * ```ts
 * import { dequantizeQ5_K } from "./k_quants.ts";
 * const block = new Uint8Array(176);
 * block[1] = 0x3c; // d = 1.0
 * block.fill(0x01, 4, 8); // scales 0..3 = 1
 * block.fill(0xff, 16, 48); // every fifth bit set
 * const out = new Float32Array(256);
 * dequantizeQ5_K(block, out); // out[0] === 16
 * ```
 */
export function dequantizeQ5_K(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  const pair = new Int32Array(2);
  let y = 0;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 176) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const dmin = F16_TO_F32[src[o + 2] | (src[o + 3] << 8)];
    const qh = o + 16;
    for (let chunk = 0; chunk < 4; chunk++) {
      const ql = o + 48 + 32 * chunk;
      const bit1 = 1 << (2 * chunk);
      const bit2 = bit1 << 1;
      scaleMinK4(src, o + 4, 2 * chunk, pair);
      const d1 = fround(d * pair[0]);
      const m1 = fround(dmin * pair[1]);
      scaleMinK4(src, o + 4, 2 * chunk + 1, pair);
      const d2 = fround(d * pair[0]);
      const m2 = fround(dmin * pair[1]);
      for (let l = 0; l < 32; l++) {
        const q = (src[ql + l] & 0xf) + ((src[qh + l] & bit1) ? 16 : 0);
        out[y + l] = fround(fround(d1 * q) - m1);
      }
      for (let l = 0; l < 32; l++) {
        const q = (src[ql + l] >> 4) + ((src[qh + l] & bit2) ? 16 : 0);
        out[y + 32 + l] = fround(fround(d2 * q) - m2);
      }
      y += 64;
    }
  }
}

/**
 * Q6_K (210 bytes: `ql[128]`, `qh[64]`@128, int8 `scales[16]`@192, f16 `d`@208):
 * `y = (d * sc) * (q6 - 32)`.
 *
 * @example
 * ```ts
 * import { dequantizeQ6_K } from "./k_quants.ts";
 * const block = new Uint8Array(210);
 * block.fill(1, 192, 208); // scales 1
 * block[209] = 0x3c; // d = 1.0
 * const out = new Float32Array(256);
 * dequantizeQ6_K(block, out); // every element is -32
 * ```
 */
export function dequantizeQ6_K(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 210) {
    const d = F16_TO_F32[src[o + 208] | (src[o + 209] << 8)];
    for (let half = 0; half < 2; half++) {
      const ql = o + 64 * half;
      const qh = o + 128 + 32 * half;
      const sc = o + 192 + 8 * half;
      const y = 256 * b + 128 * half;
      for (let l = 0; l < 32; l++) {
        const is = sc + (l >> 4);
        const h = src[qh + l];
        const low0 = src[ql + l];
        const low1 = src[ql + l + 32];
        const q1 = ((low0 & 0xf) | ((h & 3) << 4)) - 32;
        const q2 = ((low1 & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((low0 >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((low1 >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[y + l] = fround(fround(d * ((src[is] << 24) >> 24)) * q1);
        out[y + l + 32] = fround(fround(d * ((src[is + 2] << 24) >> 24)) * q2);
        out[y + l + 64] = fround(fround(d * ((src[is + 4] << 24) >> 24)) * q3);
        out[y + l + 96] = fround(fround(d * ((src[is + 6] << 24) >> 24)) * q4);
      }
    }
  }
}

/**
 * Q8_K (292 bytes: f32 `d`, int8 `qs[256]`@4, int16 `bsums[16]`@260): `y = d * qs`.
 * ggml's `type_traits` give Q8_K no `to_float`, but `dequantize_row_q8_K` exists and is what this
 * mirrors.
 *
 * @example
 * ```ts
 * import { dequantizeQ8_K } from "./k_quants.ts";
 * const block = new Uint8Array(292);
 * new DataView(block.buffer).setFloat32(0, 0.25, true);
 * block[4] = 8;
 * const out = new Float32Array(256);
 * dequantizeQ8_K(block, out); // out[0] === 2
 * ```
 */
export function dequantizeQ8_K(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 292, y += 256) {
    const d = view.getFloat32(o, true);
    const q = o + 4;
    for (let j = 0; j < 256; j++) out[y + j] = fround(d * ((src[q + j] << 24) >> 24));
  }
}

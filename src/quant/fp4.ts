/**
 * The 4-bit float (E2M1) formats MXFP4 (one E8M0 exponent per 32 elements) and NVFP4 (one UE4M3
 * scale per 16 elements).
 *
 * Mirrors `dequantize_row_mxfp4` / `dequantize_row_nvfp4` of ggml-org/llama.cpp
 * `ggml/src/ggml-quants.c` and the scale conversions `ggml_e8m0_to_fp32_half` /
 * `ggml_ue4m3_to_fp32` of `ggml/src/ggml-impl.h` (release v0.5.0). The element values are ggml's
 * doubled E2M1 table `kvalues_fp4`, which is why both scale conversions halve.
 *
 * @module
 */

import { KVALUES_FP4 } from "./iq_tables.ts";

const fround = Math.fround;

/** `ggml_e8m0_to_fp32_half(e)` = 2^(e−128) for every byte (e = 255 gives 2^127; ggml has no NaN). */
const E8M0_HALF: Float32Array = (() => {
  const bits = new Uint32Array(256);
  for (let e = 0; e < 256; e++) bits[e] = e < 2 ? 0x00200000 << e : (e - 1) << 23;
  return new Float32Array(bits.buffer);
})();

/** `ggml_ue4m3_to_fp32(x)` (already × 0.5) for every byte; 0x00 and 0x7F give 0. */
const UE4M3_HALF: Float32Array = (() => {
  const table = new Float32Array(256);
  for (let x = 0; x < 256; x++) {
    if (x === 0 || x === 0x7f) continue;
    const exponent = (x >> 3) & 0xf;
    const mantissa = x & 7;
    const raw = exponent === 0 ? mantissa * 2 ** -9 : (1 + mantissa / 8) * 2 ** (exponent - 7);
    table[x] = fround(raw * 0.5);
  }
  return table;
})();

/**
 * Converts an E8M0 byte to 2^(e−128), ggml's halved MXFP4 scale.
 *
 * @example
 * ```ts
 * import { e8m0ToFp32Half } from "./fp4.ts";
 * e8m0ToFp32Half(128); // 1
 * ```
 */
export function e8m0ToFp32Half(e: number): number {
  return E8M0_HALF[e & 0xff];
}

/**
 * Converts a UE4M3 byte to its value × 0.5, ggml's NVFP4 scale.
 *
 * @example
 * ```ts
 * import { ue4m3ToFp32Half } from "./fp4.ts";
 * ue4m3ToFp32Half(0x38); // 0.5 (UE4M3 0x38 is 1.0)
 * ```
 */
export function ue4m3ToFp32Half(x: number): number {
  return UE4M3_HALF[x & 0xff];
}

/**
 * MXFP4 (17 bytes per 32 elements: E8M0 `e`, 16 bytes of E2M1 nibbles):
 * `y[j] = F[qs[j] & 0xF] * 2^(e−128)`, `y[j+16] = F[qs[j] >> 4] * 2^(e−128)`.
 *
 * @example
 * ```ts
 * import { dequantizeMXFP4 } from "./fp4.ts";
 * const block = new Uint8Array(17);
 * block[0] = 128; // scale 1
 * block[1] = 0x97; // low nibble 7 → 12, high nibble 9 → -1
 * const out = new Float32Array(32);
 * dequantizeMXFP4(block, out); // out[0] === 12, out[16] === -1
 * ```
 */
export function dequantizeMXFP4(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 32;
  const k = KVALUES_FP4;
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 17, y += 32) {
    const d = E8M0_HALF[src[o]];
    for (let j = 0; j < 16; j++) {
      const q = src[o + 1 + j];
      out[y + j] = fround(k[q & 0xf] * d);
      out[y + j + 16] = fround(k[q >> 4] * d);
    }
  }
}

/**
 * NVFP4 (36 bytes per 64 elements: four UE4M3 scales, one per 16 elements, then 32 bytes of E2M1
 * nibbles; sub-block s uses `qs[8s .. 8s+7]`, low nibbles first).
 *
 * @example
 * ```ts
 * import { dequantizeNVFP4 } from "./fp4.ts";
 * const block = new Uint8Array(36);
 * block.fill(0x38, 0, 4); // scales 1.0 (0.5 after ggml's halving)
 * block.fill(0x22, 4); // every nibble 2 → 2 × 0.5
 * const out = new Float32Array(64);
 * dequantizeNVFP4(block, out); // every element is 1
 * ```
 */
export function dequantizeNVFP4(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 64;
  const k = KVALUES_FP4;
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 36, y += 64) {
    for (let s = 0; s < 4; s++) {
      const d = UE4M3_HALF[src[o + s]];
      const qs = o + 4 + 8 * s;
      const ys = y + 16 * s;
      for (let j = 0; j < 8; j++) {
        const q = src[qs + j];
        out[ys + j] = fround(k[q & 0xf] * d);
        out[ys + j + 8] = fround(k[q >> 4] * d);
      }
    }
  }
}

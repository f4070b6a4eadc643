/**
 * The original 32-element block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q8_1.
 *
 * Each function mirrors `dequantize_row_*` of ggml-org/llama.cpp `ggml/src/ggml-quants.c`
 * (release v0.5.0; block structs in `ggml/src/ggml-common.h`) and evaluates the same f32
 * expression: every C `float` operation is one `Math.fround` here, so the results are bit for bit
 * those of ggml. `out.length` must be a multiple of 32 and `src` must hold `out.length / 32` blocks
 * (the dispatcher in `dequantize_ts.ts` checks this).
 *
 * @module
 */

import { F16_TO_F32 } from "./float.ts";

const fround = Math.fround;

/**
 * `p + m` rounded to f32, with x86's NaN rule made explicit: when both are NaN the result is the
 * first operand, `p` (as in ggml's compiled `x*d + m`). JIT compilers may swap the operands of a
 * commutative add, so the NaN case is resolved by hand; it costs one compare per element.
 */
function addProductAndMin(p: number, m: number): number {
  const sum = fround(p + m);
  if (sum === sum) return sum;
  if (p !== p) return p;
  if (m !== m) return m;
  return sum; // Inf + -Inf: the default NaN
}

/**
 * Q4_0 (18 bytes per 32 elements: f16 `d`, 16 bytes of nibbles):
 * `y[j] = ((qs[j] & 0xF) - 8) * d`, `y[j+16] = ((qs[j] >> 4) - 8) * d`.
 *
 * @example
 * ```ts
 * import { dequantizeQ4_0 } from "./legacy.ts";
 * const block = new Uint8Array(18);
 * block[1] = 0x3c; // d = 1.0
 * block.fill(0x9a, 2); // low nibble 10, high nibble 9
 * const out = new Float32Array(32);
 * dequantizeQ4_0(block, out); // out[0] === 2, out[16] === 1
 * ```
 */
export function dequantizeQ4_0(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 32;
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 18, y += 32) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j];
      out[y + j] = fround(((q & 0xf) - 8) * d);
      out[y + j + 16] = fround(((q >> 4) - 8) * d);
    }
  }
}

/**
 * Q4_1 (20 bytes per 32 elements: f16 `d`, f16 `m`, 16 bytes of nibbles):
 * `y = q * d + m` with two f32 roundings.
 *
 * @example
 * ```ts
 * import { dequantizeQ4_1 } from "./legacy.ts";
 * const block = new Uint8Array(20);
 * block[1] = 0x3c; // d = 1.0
 * block[3] = 0xbc; // m = -1.0
 * block.fill(0x21, 4);
 * const out = new Float32Array(32);
 * dequantizeQ4_1(block, out); // out[0] === 0, out[16] === 1
 * ```
 */
export function dequantizeQ4_1(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 32;
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 20, y += 32) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const m = F16_TO_F32[src[o + 2] | (src[o + 3] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = src[o + 4 + j];
      out[y + j] = addProductAndMin(fround((q & 0xf) * d), m);
      out[y + j + 16] = addProductAndMin(fround((q >> 4) * d), m);
    }
  }
}

/**
 * Q5_0 (22 bytes per 32 elements: f16 `d`, u32 `qh` of fifth bits, 16 bytes of nibbles):
 * `y = ((nibble | fifthBit << 4) - 16) * d`.
 *
 * @example
 * ```ts
 * import { dequantizeQ5_0 } from "./legacy.ts";
 * const block = new Uint8Array(22);
 * block[1] = 0x3c; // d = 1.0
 * block.fill(0xff, 2, 6); // every fifth bit set
 * const out = new Float32Array(32);
 * dequantizeQ5_0(block, out); // out[0] === 0 (16 - 16)
 * ```
 */
export function dequantizeQ5_0(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 32;
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 22, y += 32) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const qh = src[o + 2] | (src[o + 3] << 8) | (src[o + 4] << 16) | (src[o + 5] << 24);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 6 + j];
      const high0 = ((qh >>> j) << 4) & 0x10;
      const high1 = (qh >>> (j + 12)) & 0x10;
      out[y + j] = fround((((q & 0xf) | high0) - 16) * d);
      out[y + j + 16] = fround((((q >> 4) | high1) - 16) * d);
    }
  }
}

/**
 * Q5_1 (24 bytes per 32 elements: f16 `d`, f16 `m`, u32 `qh`, 16 bytes of nibbles):
 * `y = (nibble | fifthBit << 4) * d + m` with two f32 roundings.
 *
 * @example
 * ```ts
 * import { dequantizeQ5_1 } from "./legacy.ts";
 * const block = new Uint8Array(24);
 * block[1] = 0x3c; // d = 1.0
 * const out = new Float32Array(32);
 * dequantizeQ5_1(block, out); // all zero: q = 0, m = 0
 * ```
 */
export function dequantizeQ5_1(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 32;
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 24, y += 32) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const m = F16_TO_F32[src[o + 2] | (src[o + 3] << 8)];
    const qh = src[o + 4] | (src[o + 5] << 8) | (src[o + 6] << 16) | (src[o + 7] << 24);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 8 + j];
      const high0 = ((qh >>> j) << 4) & 0x10;
      const high1 = (qh >>> (j + 12)) & 0x10;
      out[y + j] = addProductAndMin(fround(((q & 0xf) | high0) * d), m);
      out[y + j + 16] = addProductAndMin(fround(((q >> 4) | high1) * d), m);
    }
  }
}

/**
 * Q8_0 (34 bytes per 32 elements: f16 `d`, 32 signed bytes): `y[j] = qs[j] * d`.
 *
 * @example
 * ```ts
 * import { dequantizeQ8_0 } from "./legacy.ts";
 * const block = new Uint8Array(34);
 * block[1] = 0x38; // d = 0.5
 * block[2] = 0xfe; // -2
 * const out = new Float32Array(32);
 * dequantizeQ8_0(block, out); // out[0] === -1
 * ```
 */
export function dequantizeQ8_0(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 32;
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 34, y += 32) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const q = o + 2;
    for (let j = 0; j < 32; j++) out[y + j] = fround(((src[q + j] << 24) >> 24) * d);
  }
}

/**
 * Q8_1 (36 bytes per 32 elements: f16 `d`, f16 `s` = d·Σqs, 32 signed bytes): `y[j] = qs[j] * d`.
 * ggml has no `dequantize_row_q8_1` (Q8_1 is an activation type for dot products); this is the
 * value `quantize_row_q8_1_ref` encodes, computed like Q8_0.
 *
 * @example
 * ```ts
 * import { dequantizeQ8_1 } from "./legacy.ts";
 * const block = new Uint8Array(36);
 * block[1] = 0x3c; // d = 1.0
 * block[4] = 5;
 * const out = new Float32Array(32);
 * dequantizeQ8_1(block, out); // out[0] === 5
 * ```
 */
export function dequantizeQ8_1(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 32;
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 36, y += 32) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const q = o + 4;
    for (let j = 0; j < 32; j++) out[y + j] = fround(((src[q + j] << 24) >> 24) * d);
  }
}

/**
 * The i-quants: IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M (lattice codebooks in
 * `iq_tables.ts`), and the non-linear IQ4_NL and IQ4_XS.
 *
 * Each function mirrors `dequantize_row_*` of ggml-org/llama.cpp `ggml/src/ggml-quants.c`
 * (release v0.5.0; block structs in `ggml/src/ggml-common.h`) in element order and f32 expression:
 * for example IQ2_XXS computes `db = d * (0.5f + s) * 0.25f` then `y = db * grid[j] * (±1.f)`,
 * each operation rounded to f32 as in C. The `* (±1.f)` is a sign flip, as gcc compiles it, so
 * that even NaN bit patterns match ggml's library. `out.length` must be a multiple of the block
 * size.
 *
 * @module
 */

import { F16_TO_F32 } from "./float.ts";
import {
  IQ1S_GRID,
  IQ2S_GRID,
  IQ2XS_GRID,
  IQ2XXS_GRID,
  IQ3S_GRID,
  IQ3XXS_GRID,
  KSIGNS_IQ2XS,
  KVALUES_IQ4NL,
} from "./iq_tables.ts";

const fround = Math.fround;

/** `iq1s_grid` as signed bytes (its entries are −1, 0, +1). */
const IQ1S_GRID_I8 = new Int8Array(IQ1S_GRID.buffer, IQ1S_GRID.byteOffset, IQ1S_GRID.length);

/** `IQ1S_DELTA` / `IQ1M_DELTA` (ggml-common.h). */
const IQ1_DELTA = 0.125;

/**
 * Eight values from two 4-entry grid rows (`grid[g1..g1+3]`, `grid[g2..g2+3]`) times `db`, each
 * negated where its bit of `signs` is set (IQ2_S and IQ3_S; `fround` as ggml's f32 products).
 */
function writeGridPair(
  out: Float32Array,
  y: number,
  grid: ArrayLike<number>,
  g1: number,
  g2: number,
  db: number,
  signs: number,
): void {
  for (let j = 0; j < 4; j++) {
    const v1 = fround(db * grid[g1 + j]);
    const v2 = fround(db * grid[g2 + j]);
    out[y + j] = (signs >> j) & 1 ? -v1 : v1;
    out[y + j + 4] = (signs >> (j + 4)) & 1 ? -v2 : v2;
  }
}
/**
 * Writes the 8 values `db * grid[j] * (sign bit j ? -1.f : 1.f)` at `y`. gcc compiles ggml's
 * multiply by ±1 into a conditional sign flip, which differs from a multiply only in the sign of a
 * NaN; the sign flip is what ggml's library does, so it is what this does.
 */
function writeSignedOctet(
  out: Float32Array,
  y: number,
  db: number,
  grid: Uint8Array,
  g: number,
  signs: number,
): void {
  for (let j = 0; j < 8; j++) {
    const v = fround(db * grid[g + j]);
    out[y + j] = (signs >> j) & 1 ? -v : v;
  }
}

/**
 * IQ2_XXS (66 bytes: f16 `d`, then 8 × (4 grid bytes + u32 of 4×7 sign bits and a 4-bit scale)).
 *
 * @example
 * ```ts
 * import { dequantizeIQ2_XXS } from "./iq_quants.ts";
 * const out = new Float32Array(256);
 * dequantizeIQ2_XXS(new Uint8Array(66), out); // d = 0: all zeros
 * ```
 */
export function dequantizeIQ2_XXS(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  let y = 0;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 66) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    for (let ib = 0; ib < 8; ib++) {
      const q = o + 2 + 8 * ib;
      const aux1 = (src[q + 4] | (src[q + 5] << 8) | (src[q + 6] << 16) | (src[q + 7] << 24)) >>> 0;
      const db = fround(fround(d * (0.5 + (aux1 >>> 28))) * 0.25);
      for (let l = 0; l < 4; l++) {
        const signs = KSIGNS_IQ2XS[(aux1 >>> (7 * l)) & 127];
        writeSignedOctet(out, y, db, IQ2XXS_GRID, 8 * src[q + l], signs);
        y += 8;
      }
    }
  }
}

/**
 * IQ2_XS (74 bytes: f16 `d`, `u16 qs[32]` (9-bit grid index | 7-bit sign index), `scales[8]`@66).
 *
 * @example
 * ```ts
 * import { dequantizeIQ2_XS } from "./iq_quants.ts";
 * const out = new Float32Array(256);
 * dequantizeIQ2_XS(new Uint8Array(74), out); // d = 0: all zeros
 * ```
 */
export function dequantizeIQ2_XS(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  let y = 0;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 74) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    for (let ib = 0; ib < 8; ib++) {
      const sc = src[o + 66 + ib];
      const db0 = fround(fround(d * (0.5 + (sc & 0xf))) * 0.25);
      const db1 = fround(fround(d * (0.5 + (sc >> 4))) * 0.25);
      for (let l = 0; l < 4; l++) {
        const p = o + 2 + 2 * (4 * ib + l);
        const v = src[p] | (src[p + 1] << 8);
        writeSignedOctet(
          out,
          y,
          l < 2 ? db0 : db1,
          IQ2XS_GRID,
          8 * (v & 511),
          KSIGNS_IQ2XS[v >> 9],
        );
        y += 8;
      }
    }
  }
}

/**
 * IQ2_S (82 bytes: f16 `d`, `qs[32]` grid low bits, `signs[32]`@34, `qh[8]`@66, `scales[8]`@74).
 *
 * @example
 * ```ts
 * import { dequantizeIQ2_S } from "./iq_quants.ts";
 * const out = new Float32Array(256);
 * dequantizeIQ2_S(new Uint8Array(82), out); // d = 0: all zeros
 * ```
 */
export function dequantizeIQ2_S(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  let y = 0;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 82) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    for (let ib = 0; ib < 8; ib++) {
      const sc = src[o + 74 + ib];
      const qh = src[o + 66 + ib];
      const db0 = fround(fround(d * (0.5 + (sc & 0xf))) * 0.25);
      const db1 = fround(fround(d * (0.5 + (sc >> 4))) * 0.25);
      for (let l = 0; l < 4; l++) {
        const index = src[o + 2 + 4 * ib + l] | ((qh << (8 - 2 * l)) & 0x300);
        const signs = src[o + 34 + 4 * ib + l];
        writeSignedOctet(out, y, l < 2 ? db0 : db1, IQ2S_GRID, 8 * index, signs);
        y += 8;
      }
    }
  }
}

/**
 * IQ3_XXS (98 bytes: f16 `d`, `qs[64]` grid indices, then 8 × u32 of 4×7 sign bits and a scale).
 *
 * @example
 * ```ts
 * import { dequantizeIQ3_XXS } from "./iq_quants.ts";
 * const out = new Float32Array(256);
 * dequantizeIQ3_XXS(new Uint8Array(98), out); // d = 0: all zeros
 * ```
 */
export function dequantizeIQ3_XXS(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  const grid = IQ3XXS_GRID;
  let y = 0;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 98) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    for (let ib = 0; ib < 8; ib++) {
      const s = o + 66 + 4 * ib;
      const aux = (src[s] | (src[s + 1] << 8) | (src[s + 2] << 16) | (src[s + 3] << 24)) >>> 0;
      const db = fround(fround(d * (0.5 + (aux >>> 28))) * 0.5);
      const qs = o + 2 + 8 * ib;
      for (let l = 0; l < 4; l++) {
        const signs = KSIGNS_IQ2XS[(aux >>> (7 * l)) & 127];
        const g1 = 4 * src[qs + 2 * l];
        const g2 = 4 * src[qs + 2 * l + 1];
        writeGridPair(out, y, grid, g1, g2, db, signs);
        y += 8;
      }
    }
  }
}

/**
 * IQ3_S (110 bytes: f16 `d`, `qs[64]`, `qh[8]`@66, `signs[32]`@74, `scales[4]`@106).
 *
 * @example
 * ```ts
 * import { dequantizeIQ3_S } from "./iq_quants.ts";
 * const out = new Float32Array(256);
 * dequantizeIQ3_S(new Uint8Array(110), out); // d = 0: all zeros
 * ```
 */
export function dequantizeIQ3_S(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  const grid = IQ3S_GRID;
  let y = 0;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 110) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    // 8 sub-blocks of 32; sub-block ib uses qs[8ib..], qh[ib], signs[4ib..] and a 4-bit scale.
    for (let ib = 0; ib < 8; ib++) {
      const sc = src[o + 106 + (ib >> 1)];
      const db = fround(d * (1 + 2 * ((ib & 1) ? sc >> 4 : sc & 0xf)));
      const qh = src[o + 66 + ib];
      const qs = o + 2 + 8 * ib;
      const sg = o + 74 + 4 * ib;
      for (let l = 0; l < 4; l++) {
        const g1 = 4 * (src[qs + 2 * l] | ((qh << (8 - 2 * l)) & 256));
        const g2 = 4 * (src[qs + 2 * l + 1] | ((qh << (7 - 2 * l)) & 256));
        const signs = src[sg + l];
        writeGridPair(out, y, grid, g1, g2, db, signs);
        y += 8;
      }
    }
  }
}

/**
 * IQ1_S (50 bytes: f16 `d`, `qs[32]` grid low bits, `u16 qh[8]`@34 (3×3 grid high bits, 3-bit
 * scale, delta sign)): `y = (d * (2s + 1)) * (grid[j] ± 0.125)`.
 *
 * @example
 * ```ts
 * import { dequantizeIQ1_S } from "./iq_quants.ts";
 * const out = new Float32Array(256);
 * dequantizeIQ1_S(new Uint8Array(50), out); // d = 0: all zeros
 * ```
 */
export function dequantizeIQ1_S(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  const grid = IQ1S_GRID_I8;
  let y = 0;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 50) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    for (let ib = 0; ib < 8; ib++) {
      const qh = src[o + 34 + 2 * ib] | (src[o + 35 + 2 * ib] << 8);
      const dl = fround(d * (2 * ((qh >> 12) & 7) + 1));
      const delta = qh & 0x8000 ? -IQ1_DELTA : IQ1_DELTA;
      for (let l = 0; l < 4; l++) {
        const g = 8 * (src[o + 2 + 4 * ib + l] | (((qh >> (3 * l)) & 7) << 8));
        for (let j = 0; j < 8; j++) out[y + j] = fround(dl * (grid[g + j] + delta));
        y += 8;
      }
    }
  }
}

/**
 * IQ1_M (56 bytes: `qs[32]`, `qh[16]`@32, `scales[8]`@48; no `d` field: the f16 super-block
 * scale is assembled from the top nibbles of the four u16 scale words, ggml's `iq1m_scale_t`).
 *
 * @example
 * ```ts
 * import { dequantizeIQ1_M } from "./iq_quants.ts";
 * const out = new Float32Array(256);
 * dequantizeIQ1_M(new Uint8Array(56), out); // scale 0: all zeros
 * ```
 */
export function dequantizeIQ1_M(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  const grid = IQ1S_GRID_I8;
  const sc = new Int32Array(4);
  let y = 0;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 56) {
    for (let k = 0; k < 4; k++) sc[k] = src[o + 48 + 2 * k] | (src[o + 49 + 2 * k] << 8);
    const scaleBits = (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) |
      (sc[3] & 0xf000);
    const d = F16_TO_F32[scaleBits];
    for (let ib = 0; ib < 8; ib++) {
      const word = sc[ib >> 1];
      const shift = 6 * (ib & 1);
      const dl1 = fround(d * (2 * ((word >> shift) & 7) + 1));
      const dl2 = fround(d * (2 * ((word >> (shift + 3)) & 7) + 1));
      const qs = o + 4 * ib;
      const qh0 = src[o + 32 + 2 * ib];
      const qh1 = src[o + 33 + 2 * ib];
      for (let l = 0; l < 4; l++) {
        const qh = l < 2 ? qh0 : qh1;
        const high = l & 1 ? (qh << 4) & 0x700 : (qh << 8) & 0x700;
        const g = 8 * (src[qs + l] | high);
        const delta = qh & (l & 1 ? 0x80 : 0x08) ? -IQ1_DELTA : IQ1_DELTA;
        const dl = l < 2 ? dl1 : dl2;
        for (let j = 0; j < 8; j++) out[y + j] = fround(dl * (grid[g + j] + delta));
        y += 8;
      }
    }
  }
}

/**
 * IQ4_NL (18 bytes per 32 elements: f16 `d`, 16 bytes of indices into `kvalues_iq4nl`):
 * `y = d * K[nibble]`.
 *
 * @example
 * ```ts
 * import { dequantizeIQ4_NL } from "./iq_quants.ts";
 * const block = new Uint8Array(18);
 * block[1] = 0x3c; // d = 1.0
 * const out = new Float32Array(32);
 * dequantizeIQ4_NL(block, out); // every element is -127
 * ```
 */
export function dequantizeIQ4_NL(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 32;
  const k = KVALUES_IQ4NL;
  for (let b = 0, o = 0, y = 0; b < nBlocks; b++, o += 18, y += 32) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j];
      out[y + j] = fround(d * k[q & 0xf]);
      out[y + j + 16] = fround(d * k[q >> 4]);
    }
  }
}

/**
 * IQ4_XS (136 bytes: f16 `d`, u16 `scales_h`@2, `scales_l[4]`@4, `qs[128]`@8):
 * `y = (d * (ls - 32)) * K[nibble]` with a 6-bit `ls` per 32 elements.
 *
 * @example
 * ```ts
 * import { dequantizeIQ4_XS } from "./iq_quants.ts";
 * const block = new Uint8Array(136);
 * block[1] = 0x3c; // d = 1.0
 * block[2] = 0x02; // sub-block 0: ls = 32 + 1 → scale 1
 * block[4] = 0x01;
 * const out = new Float32Array(256);
 * dequantizeIQ4_XS(block, out); // out[0] === -127
 * ```
 */
export function dequantizeIQ4_XS(src: Uint8Array, out: Float32Array): void {
  const nBlocks = out.length / 256;
  const k = KVALUES_IQ4NL;
  let y = 0;
  for (let b = 0, o = 0; b < nBlocks; b++, o += 136) {
    const d = F16_TO_F32[src[o] | (src[o + 1] << 8)];
    const scalesHigh = src[o + 2] | (src[o + 3] << 8);
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((src[o + 4 + (ib >> 1)] >> (4 * (ib & 1))) & 0xf) |
        (((scalesHigh >> (2 * ib)) & 3) << 4);
      const dl = fround(d * (ls - 32));
      const qs = o + 8 + 16 * ib;
      for (let j = 0; j < 16; j++) {
        const q = src[qs + j];
        out[y + j] = fround(dl * k[q & 0xf]);
        out[y + j + 16] = fround(dl * k[q >> 4]);
      }
      y += 32;
    }
  }
}

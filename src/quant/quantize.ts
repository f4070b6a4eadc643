/**
 * Quantizers from f32: F16, BF16, Q8_0, Q4_0, TQ2_0 and TQ1_0 bit for bit as ggml's reference quantizers
 * (ggml-org/llama.cpp v0.5.0 `ggml/src/ggml-quants.c` `quantize_row_q8_0_ref`,
 * `quantize_row_q4_0_ref`, `quantize_row_tq2_0_ref`, `quantize_row_tq1_0_ref`; `ggml/src/ggml.c` `ggml_fp32_to_fp16_row`
 * and `ggml_fp32_to_bf16_row_ref`; `ggml/src/ggml-impl.h` `ggml_compute_fp32_to_fp16` and
 * `ggml_compute_fp32_to_bf16`), which is what `ggml_quantize_chunk` runs for these types without an
 * importance matrix; and BitNet's I2_S by microsoft/BitNet's rule (`src/ggml-bitnet-mad.cpp`
 * `quantize_i2_s`, gguf-and-quant-formats.md §3.2): one tensor scale `max|x|` computed in double
 * and stored as f32, and a pure sign code per element (`|x| < 1e-6` → 0).
 *
 * Every product and quotient is rounded to f32 with `Math.fround` exactly where C rounds it, so
 * the bytes equal ggml's (tests/quantize_ggml_test.ts checks them against `ggml_quantize_chunk`).
 *
 * @module
 */

import { QuantError } from "./errors.ts";
import { packI2S } from "./i2s_pack.ts";

const fround = Math.fround;

/** The types {@link quantize} can produce. */
export const QUANTIZE_TYPES = ["F16", "BF16", "Q8_0", "Q4_0", "TQ2_0", "I2_S"] as const;

/** One of {@link QUANTIZE_TYPES}. */
export type QuantizeType = typeof QUANTIZE_TYPES[number];

/** Elements per block of each quantizable type (I2_S packs 128-element blocks). */
export const QUANTIZE_BLOCK_SIZE: Readonly<Record<QuantizeType, number>> = {
  F16: 1,
  BF16: 1,
  Q8_0: 32,
  Q4_0: 32,
  TQ2_0: 256,
  I2_S: 128,
};

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0];
}

function fromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

/**
 * IEEE binary16 bits of an f32, as ggml's `ggml_compute_fp32_to_fp16` computes them (round to
 * nearest even; every NaN becomes `sign | 0x7E00`).
 *
 * @example
 * ```ts
 * import { fp32ToFp16Bits } from "./quantize.ts";
 * fp32ToFp16Bits(1); // 0x3c00
 * fp32ToFp16Bits(65520); // 0x7c00 (rounds to infinity)
 * ```
 */
export function fp32ToFp16Bits(x: number): number {
  const scaleToInf = 5.192296858534828e33; // 0x1.0p+112f
  const scaleToZero = 7.703719777548943e-34; // 0x1.0p-110f
  let base = fround(fround(Math.abs(fround(x)) * scaleToInf) * scaleToZero);
  const w = bitsOf(x);
  const shl1W = (w + w) >>> 0;
  const sign = w & 0x80000000;
  let bias = (shl1W & 0xff000000) >>> 0;
  if (bias < 0x71000000) bias = 0x71000000;
  base = fround(fromBits((bias >>> 1) + 0x07800000) + base);
  const bits = bitsOf(base);
  const expBits = (bits >>> 13) & 0x00007c00;
  const mantissaBits = bits & 0x00000fff;
  const nonsign = expBits + mantissaBits;
  return ((sign >>> 16) | (shl1W > 0xff000000 ? 0x7e00 : nonsign)) & 0xffff;
}

/** Stores `bits` (a 16-bit pattern) little-endian at `out[offset]`. */
function writeU16(out: Uint8Array, offset: number, bits: number): void {
  out[offset] = bits & 0xff;
  out[offset + 1] = bits >>> 8;
}

/**
 * bfloat16 bits of an f32, as ggml's `ggml_compute_fp32_to_bf16` computes them (round to nearest
 * even; a NaN keeps its top bits and is forced quiet).
 *
 * @example
 * ```ts
 * import { fp32ToBf16Bits } from "./quantize.ts";
 * fp32ToBf16Bits(1); // 0x3f80
 * ```
 */
export function fp32ToBf16Bits(x: number): number {
  const i = bitsOf(x);
  if ((i & 0x7fffffff) > 0x7f800000) return ((i >>> 16) | 64) & 0xffff;
  return ((i + (0x7fff + ((i >>> 16) & 1))) >>> 16) & 0xffff;
}

function checkBlocks(type: string, n: number, block: number): void {
  if (n % block !== 0) {
    throw new QuantError(
      "BAD_LENGTH",
      `Cannot quantize ${n} values to ${type}: the count must be a multiple of ${block}`,
    );
  }
}

/**
 * F16: one binary16 per value (`ggml_fp32_to_fp16_row`).
 *
 * @example
 * ```ts
 * import { quantizeF16 } from "./quantize.ts";
 * quantizeF16(Float32Array.of(1, -2)); // Uint8Array [0x00, 0x3c, 0x00, 0xc0]
 * ```
 */
export function quantizeF16(src: Float32Array): Uint8Array {
  const out = new Uint8Array(src.length * 2);
  for (let i = 0; i < src.length; i++) {
    writeU16(out, 2 * i, fp32ToFp16Bits(src[i]));
  }
  return out;
}

/**
 * BF16: one bfloat16 per value (`ggml_fp32_to_bf16_row_ref`).
 *
 * @example
 * ```ts
 * import { quantizeBF16 } from "./quantize.ts";
 * quantizeBF16(Float32Array.of(1)); // Uint8Array [0x80, 0x3f]
 * ```
 */
export function quantizeBF16(src: Float32Array): Uint8Array {
  const out = new Uint8Array(src.length * 2);
  for (let i = 0; i < src.length; i++) {
    writeU16(out, 2 * i, fp32ToBf16Bits(src[i]));
  }
  return out;
}

/** C's `roundf`: halves away from zero. */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/**
 * Q8_0 (`quantize_row_q8_0_ref`): per 32 values `d = amax/127` (stored f16), `q = roundf(x/d)`.
 *
 * @example
 * ```ts
 * import { quantizeQ8_0 } from "./quantize.ts";
 * const block = quantizeQ8_0(new Float32Array(32).fill(1));
 * block.length; // 34
 * block[2]; // 127
 * ```
 */
export function quantizeQ8_0(src: Float32Array): Uint8Array {
  checkBlocks("Q8_0", src.length, 32);
  const nb = src.length / 32;
  const out = new Uint8Array(nb * 34);
  for (let i = 0; i < nb; i++) {
    const x = i * 32;
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const a = Math.abs(src[x + j]);
      amax = amax > a ? amax : a; // MAX(amax, fabsf(v)), NaN behaviour included
    }
    const d = fround(amax / 127);
    const id = d ? fround(1 / d) : 0;
    const o = i * 34;
    writeU16(out, o, fp32ToFp16Bits(d));
    for (let j = 0; j < 32; j++) {
      const q = roundHalfAway(fround(src[x + j] * id));
      out[o + 2 + j] = q & 0xff; // int8 two's complement (|q| ≤ 127 for finite input)
    }
  }
  return out;
}

/**
 * Q4_0 (`quantize_row_q4_0_ref`): per 32 values `d = max/−8` where `max` is the value of largest
 * magnitude (first one on a tie), `q = min(15, (int8)(x/d + 8.5))`, low nibbles the first 16.
 *
 * @example
 * ```ts
 * import { quantizeQ4_0 } from "./quantize.ts";
 * const block = quantizeQ4_0(new Float32Array(32).fill(2));
 * block.length; // 18
 * ```
 */
export function quantizeQ4_0(src: Float32Array): Uint8Array {
  checkBlocks("Q4_0", src.length, 32);
  const nb = src.length / 32;
  const out = new Uint8Array(nb * 18);
  for (let i = 0; i < nb; i++) {
    const x = i * 32;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = src[x + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fround(max / -8);
    const id = d ? fround(1 / d) : 0;
    const o = i * 18;
    writeU16(out, o, fp32ToFp16Bits(d));
    for (let j = 0; j < 16; j++) {
      const x0 = fround(src[x + j] * id);
      const x1 = fround(src[x + 16 + j] * id);
      const xi0 = Math.min(15, toInt8(fround(x0 + 8.5)));
      const xi1 = Math.min(15, toInt8(fround(x1 + 8.5)));
      out[o + 2 + j] = ((xi0 & 0xff) | (xi1 << 4)) & 0xff;
    }
  }
  return out;
}

/** `(int8_t)f` for the values Q4_0 produces (truncation toward zero; NaN gives 0 here). */
function toInt8(f: number): number {
  const t = Math.trunc(f);
  if (!Number.isFinite(t)) return 0;
  return (t << 24) >> 24;
}

/** C's `lroundf` for the small values TQ2_0 and TQ1_0 round. */
function lround(x: number): number {
  if (!Number.isFinite(x)) return 0;
  return roundHalfAway(x);
}

/**
 * TQ2_0 (`quantize_row_tq2_0_ref`): per 256 values `d = amax` (stored f16),
 * `code = lroundf(x/d) + 1` in 2 bits, byte `32h + m` holding elements `128h + 32n + m` at bits
 * `2n`; the f16 `d` last (byte 64).
 *
 * @example
 * ```ts
 * import { quantizeTQ2_0 } from "./quantize.ts";
 * const block = quantizeTQ2_0(new Float32Array(256).fill(-0.5));
 * block.length; // 66
 * block[0]; // 0 (four −1 codes)
 * ```
 */
export function quantizeTQ2_0(src: Float32Array): Uint8Array {
  checkBlocks("TQ2_0", src.length, 256);
  const nb = src.length / 256;
  const out = new Uint8Array(nb * 66);
  for (let i = 0; i < nb; i++) {
    const x = i * 256;
    let amax = 0;
    for (let j = 0; j < 256; j++) {
      const a = Math.abs(src[x + j]);
      amax = amax > a ? amax : a;
    }
    const d = fround(amax);
    const id = d ? fround(1 / d) : 0;
    const o = i * 66;
    for (let h = 0; h < 2; h++) {
      for (let m = 0; m < 32; m++) {
        let q = 0;
        for (let n = 0; n < 4; n++) {
          const xi = lround(fround(src[x + 128 * h + m + 32 * n] * id)) + 1;
          q += (xi & 3) << (2 * n);
        }
        out[o + 32 * h + m] = q & 0xff;
      }
    }
    writeU16(out, o + 64, fp32ToFp16Bits(d));
  }
  return out;
}

/**
 * TQ1_0 (`quantize_row_tq1_0_ref`): per 256 values `d = amax` (stored f16), trits
 * `lroundf(x/d) + 1` packed five a byte along 32 bytes, then five a byte along 16 bytes, then four
 * a byte in `qh` (first value in the most significant trit), each byte stored as
 * `ceil(value · 256 / 243)`; the f16 `d` last (byte 52). Not a `bitload quantize` target: the
 * inference cross-validation uses it to write upstream `bitnet` models.
 *
 * @example
 * ```ts
 * import { quantizeTQ1_0 } from "./quantize.ts";
 * quantizeTQ1_0(new Float32Array(256).fill(0.5)).length; // 54
 * ```
 */
export function quantizeTQ1_0(src: Float32Array): Uint8Array {
  checkBlocks("TQ1_0", src.length, 256);
  const nb = src.length / 256;
  const out = new Uint8Array(nb * 54);
  for (let i = 0; i < nb; i++) {
    const x = i * 256;
    let amax = 0;
    for (let j = 0; j < 256; j++) {
      const a = Math.abs(src[x + j]);
      amax = amax > a ? amax : a;
    }
    const d = fround(amax);
    const id = d ? fround(1 / d) : 0;
    const o = i * 54;
    const trit = (k: number) => lround(fround(src[x + k] * id)) + 1;
    const pack = (q: number) => Math.floor((q * 256 + 242) / 243) & 0xff;
    for (let m = 0; m < 32; m++) {
      let q = 0;
      for (let n = 0; n < 5; n++) q = q * 3 + trit(m + n * 32);
      out[o + m] = pack(q);
    }
    for (let m = 0; m < 16; m++) {
      let q = 0;
      for (let n = 0; n < 5; n++) q = q * 3 + trit(160 + m + n * 16);
      out[o + 32 + m] = pack(q);
    }
    for (let j = 0; j < 4; j++) {
      let q = 0;
      for (let n = 0; n < 4; n++) q = q * 3 + trit(240 + j + n * 4);
      out[o + 48 + j] = pack(q * 3);
    }
    writeU16(out, o + 52, fp32ToFp16Bits(d));
  }
  return out;
}

/** Values with `|x|` below this are encoded as 0 by {@link quantizeI2S} (microsoft/BitNet). */
export const I2S_ZERO_THRESHOLD = 1e-6;

/**
 * The I2_S tensor scale of microsoft/BitNet's `quantize_i2_s`: `max|x|` accumulated in double,
 * returned as the f32 that is stored.
 *
 * @example
 * ```ts
 * import { i2sScale } from "./quantize.ts";
 * i2sScale(Float32Array.of(0.25, -0.5)); // 0.5
 * ```
 */
export function i2sScale(src: Float32Array): number {
  let max = 0;
  for (let i = 0; i < src.length; i++) {
    const a = Math.abs(src[i]);
    if (a > max) max = a;
  }
  return fround(max);
}

/**
 * I2_S of a whole tensor (microsoft/BitNet `quantize_i2_s`, the `ACT_PARALLEL` layout): one f32
 * scale `max|x|`; code 1 (0) where `|x| < 1e-6`, otherwise 2 (+1) or 0 (−1) by the sign of `x`.
 * There is no rounding: the input is expected to be ternary already (±s or 0); anything else is
 * reduced to its sign. `src.length` must be a multiple of 128. The result is `n/4 + 32` bytes.
 *
 * @example
 * ```ts
 * import { quantizeI2S } from "./quantize.ts";
 * const packed = quantizeI2S(new Float32Array(128).fill(0.5));
 * packed.length; // 64
 * packed[0]; // 0b10101010
 * ```
 */
export function quantizeI2S(src: Float32Array): Uint8Array {
  checkBlocks("I2_S", src.length, 128);
  const scale = i2sScale(src);
  const values = new Int8Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const x = src[i];
    values[i] = Math.abs(x) < I2S_ZERO_THRESHOLD ? 0 : (x * scale > 0 ? 1 : -1);
  }
  return packI2S(values, scale);
}

/**
 * Quantizes f32 values to one of {@link QUANTIZE_TYPES}. For block types the count must be a
 * multiple of the block size; rows are independent, so a whole tensor is quantized at once.
 *
 * @throws {QuantError} `UNSUPPORTED_TYPE` for an unsupported type, `BAD_LENGTH` for a count that is not a whole number of blocks.
 *
 * @example
 * ```ts
 * import { quantize } from "./quantize.ts";
 * quantize("Q8_0", new Float32Array(64)).length; // 68
 * ```
 */
export function quantize(type: string, src: Float32Array): Uint8Array {
  switch (type.toUpperCase()) {
    case "F16":
      return quantizeF16(src);
    case "BF16":
      return quantizeBF16(src);
    case "Q8_0":
      return quantizeQ8_0(src);
    case "Q4_0":
      return quantizeQ4_0(src);
    case "TQ2_0":
      return quantizeTQ2_0(src);
    case "I2_S":
      return quantizeI2S(src);
    case "F32":
      return new Uint8Array(Float32Array.from(src).buffer);
  }
  throw new QuantError(
    "UNSUPPORTED_TYPE",
    `Cannot quantize to "${type}": bitload quantizes to ${QUANTIZE_TYPES.join(", ")} (and F32)`,
  );
}

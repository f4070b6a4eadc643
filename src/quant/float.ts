/**
 * Plain (unblocked) element types to f32: F32, F16, BF16, F64 and the integer types I8, I16, I32,
 * I64, plus the scalar conversions the block formats share (f16 → f32).
 *
 * Every function here reads little-endian bytes (GGUF's byte order) whatever the host's order, and
 * writes `out.length` elements.
 *
 * f16 → f32 follows ggml's software conversion `ggml_compute_fp16_to_fp32`
 * (ggml-org/llama.cpp `ggml/src/ggml-impl.h`), which is what `libggml-base`'s `to_float` runs: exact
 * for normals, subnormals and infinities; a NaN comes out quiet (its payload shifted left by 13 and
 * the quiet bit set, because ggml multiplies it by 2^-112), with its sign kept.
 *
 * @module
 */

/** Whether this machine stores multi-byte numbers least significant byte first. */
export const HOST_IS_LITTLE_ENDIAN: boolean = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Bit pattern of the f32 ggml produces for each f16 bit pattern (65,536 entries). */
export const F16_TO_F32_BITS: Uint32Array = buildF16Table();

/**
 * The f32 value of each f16 bit pattern, sharing memory with {@link F16_TO_F32_BITS}.
 * Index it with the raw 16-bit pattern: `F16_TO_F32[bytes[o] | (bytes[o + 1] << 8)]`.
 */
export const F16_TO_F32: Float32Array = new Float32Array(F16_TO_F32_BITS.buffer);

function buildF16Table(): Uint32Array {
  const table = new Uint32Array(65536);
  const scratch = new Float32Array(1);
  const scratchBits = new Uint32Array(scratch.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    let bits: number;
    if (exponent === 0) {
      // Zero or subnormal: mantissa · 2^-24, exact in f32.
      scratch[0] = mantissa * 2 ** -24;
      bits = scratchBits[0];
    } else if (exponent === 31) {
      // Infinity, or a NaN that ggml's multiply by 2^-112 makes quiet.
      bits = mantissa === 0 ? 0x7f800000 : 0x7fc00000 | (mantissa << 13);
    } else {
      bits = ((exponent + 112) << 23) | (mantissa << 13);
    }
    table[h] = (sign | bits) >>> 0;
  }
  return table;
}

/**
 * Converts one IEEE binary16 bit pattern to its f32 value exactly as ggml does.
 *
 * @example
 * ```ts
 * import { fp16ToFp32 } from "./float.ts";
 * fp16ToFp32(0x3c00); // 1
 * fp16ToFp32(0x0001); // 5.960464477539063e-8 (the smallest subnormal)
 * ```
 */
export function fp16ToFp32(bits: number): number {
  return F16_TO_F32[bits & 0xffff];
}

/** A Uint32Array over the same memory as `out`, so f32 bit patterns can be written directly. */
function bitsView(out: Float32Array): Uint32Array {
  return new Uint32Array(out.buffer, out.byteOffset, out.length);
}

/**
 * Copies little-endian f32 values (ggml type F32) into `out`, bit for bit (NaN payloads kept).
 *
 * @example
 * ```ts
 * import { dequantizeF32 } from "./float.ts";
 * const out = new Float32Array(1);
 * dequantizeF32(new Uint8Array(Float32Array.of(1.5).buffer), out); // out[0] === 1.5
 * ```
 */
export function dequantizeF32(src: Uint8Array, out: Float32Array): void {
  const n = out.length;
  if (HOST_IS_LITTLE_ENDIAN) {
    // Byte copy: avoids any float load/store that could touch a NaN payload.
    new Uint8Array(out.buffer, out.byteOffset, n * 4).set(src.subarray(0, n * 4));
    return;
  }
  const bits = bitsView(out);
  for (let i = 0, o = 0; i < n; i++, o += 4) {
    bits[i] = (src[o] | (src[o + 1] << 8) | (src[o + 2] << 16) | (src[o + 3] << 24)) >>> 0;
  }
}

/**
 * Converts little-endian f16 values (ggml type F16) to f32 as `ggml_fp16_to_fp32_row` does.
 *
 * @example
 * ```ts
 * import { dequantizeF16 } from "./float.ts";
 * const out = new Float32Array(2);
 * dequantizeF16(Uint8Array.of(0x00, 0x3c, 0x00, 0xc0), out); // out = [1, -2]
 * ```
 */
export function dequantizeF16(src: Uint8Array, out: Float32Array): void {
  const n = out.length;
  const bits = bitsView(out);
  const table = F16_TO_F32_BITS;
  if (HOST_IS_LITTLE_ENDIAN && src.byteOffset % 2 === 0) {
    const halves = new Uint16Array(src.buffer, src.byteOffset, n);
    for (let i = 0; i < n; i++) bits[i] = table[halves[i]];
    return;
  }
  for (let i = 0, o = 0; i < n; i++, o += 2) bits[i] = table[src[o] | (src[o + 1] << 8)];
}

/**
 * Converts little-endian bfloat16 values (ggml type BF16) to f32: the 16 bits become the top half
 * of the f32 (`ggml_compute_bf16_to_fp32`), so NaN payloads are kept as they are.
 *
 * @example
 * ```ts
 * import { dequantizeBF16 } from "./float.ts";
 * const out = new Float32Array(1);
 * dequantizeBF16(Uint8Array.of(0xc0, 0x3f), out); // out[0] === 1.5
 * ```
 */
export function dequantizeBF16(src: Uint8Array, out: Float32Array): void {
  const n = out.length;
  const bits = bitsView(out);
  if (HOST_IS_LITTLE_ENDIAN && src.byteOffset % 2 === 0) {
    const halves = new Uint16Array(src.buffer, src.byteOffset, n);
    for (let i = 0; i < n; i++) bits[i] = halves[i] << 16 >>> 0;
    return;
  }
  for (let i = 0, o = 0; i < n; i++, o += 2) bits[i] = ((src[o] | (src[o + 1] << 8)) << 16) >>> 0;
}

/**
 * Converts little-endian f64 values (ggml type F64) to f32 with round-to-nearest-even, as a C
 * `(float)` cast does.
 *
 * @example
 * ```ts
 * import { dequantizeF64 } from "./float.ts";
 * const out = new Float32Array(1);
 * dequantizeF64(new Uint8Array(Float64Array.of(0.1).buffer), out); // out[0] === Math.fround(0.1)
 * ```
 */
export function dequantizeF64(src: Uint8Array, out: Float32Array): void {
  const n = out.length;
  if (HOST_IS_LITTLE_ENDIAN && src.byteOffset % 8 === 0) {
    out.set(new Float64Array(src.buffer, src.byteOffset, n));
    return;
  }
  const view = new DataView(src.buffer, src.byteOffset, n * 8);
  for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
}

/**
 * Converts signed 8-bit integers (ggml type I8) to f32.
 *
 * @example
 * ```ts
 * import { dequantizeI8 } from "./float.ts";
 * const out = new Float32Array(2);
 * dequantizeI8(Uint8Array.of(0xff, 0x7f), out); // out = [-1, 127]
 * ```
 */
export function dequantizeI8(src: Uint8Array, out: Float32Array): void {
  out.set(new Int8Array(src.buffer, src.byteOffset, out.length));
}

/**
 * Converts little-endian signed 16-bit integers (ggml type I16) to f32.
 *
 * @example
 * ```ts
 * import { dequantizeI16 } from "./float.ts";
 * const out = new Float32Array(1);
 * dequantizeI16(Uint8Array.of(0x00, 0x80), out); // out[0] === -32768
 * ```
 */
export function dequantizeI16(src: Uint8Array, out: Float32Array): void {
  const n = out.length;
  for (let i = 0, o = 0; i < n; i++, o += 2) out[i] = ((src[o] | (src[o + 1] << 8)) << 16) >> 16;
}

/**
 * Converts little-endian signed 32-bit integers (ggml type I32) to f32, rounding to nearest even
 * above 2^24 as a C `(float)` cast does.
 *
 * @example
 * ```ts
 * import { dequantizeI32 } from "./float.ts";
 * const out = new Float32Array(1);
 * dequantizeI32(Uint8Array.of(0xff, 0xff, 0xff, 0xff), out); // out[0] === -1
 * ```
 */
export function dequantizeI32(src: Uint8Array, out: Float32Array): void {
  const n = out.length;
  // An int32 is exact in a double; the one rounding happens on the store into f32.
  for (let i = 0, o = 0; i < n; i++, o += 4) {
    out[i] = src[o] | (src[o + 1] << 8) | (src[o + 2] << 16) | (src[o + 3] << 24);
  }
}

/**
 * Converts little-endian signed 64-bit integers (ggml type I64) to f32 with a single
 * round-to-nearest-even, as a C `(float)` cast does (no double rounding through f64).
 *
 * @example
 * ```ts
 * import { dequantizeI64 } from "./float.ts";
 * const out = new Float32Array(1);
 * dequantizeI64(new Uint8Array(BigInt64Array.of(-3n).buffer), out); // out[0] === -3
 * ```
 */
export function dequantizeI64(src: Uint8Array, out: Float32Array): void {
  const n = out.length;
  const view = new DataView(src.buffer, src.byteOffset, n * 8);
  for (let i = 0; i < n; i++) {
    const lo = view.getUint32(i * 8, true);
    const hi = view.getInt32(i * 8 + 4, true);
    if (hi >= -0x200000 && hi < 0x200000) {
      out[i] = hi * 4294967296 + lo; // |v| < 2^53: exact in a double, one rounding on store
    } else {
      out[i] = int64ToF32(view.getBigInt64(i * 8, true));
    }
  }
}

/** Rounds an int64 to f32 once: round to odd at 53 bits first, which makes the second rounding exact. */
function int64ToF32(v: bigint): number {
  const negative = v < 0n;
  let magnitude = negative ? -v : v;
  const bitLength = magnitude.toString(2).length;
  if (bitLength > 53) {
    const drop = BigInt(bitLength - 53);
    const kept = magnitude >> drop;
    const sticky = (kept << drop) !== magnitude ? 1n : 0n;
    magnitude = (kept | sticky) << drop;
  }
  const value = Math.fround(Number(magnitude));
  return negative ? -value : value;
}

/**
 * binary32 → binary16 conversion in TypeScript, the reference for the CUDA kernels' f16 output: round
 * to nearest even, overflow to Inf, gradual underflow, NaN → sign | 0x7e00 | the top 10 payload bits
 * (the bits x86's F16C `vcvtps2ph` gives with rounding mode 0).
 *
 * @module
 */

/**
 * binary16 bits of the binary32 value with bits `x` (an unsigned 32-bit integer).
 *
 * @example
 * ```ts
 * import { f32BitsToF16Bits } from "./f16.ts";
 * f32BitsToF16Bits(0x3f800000); // 0x3c00 (1.0)
 * f32BitsToF16Bits(0x7f800001); // 0x7e00 (a quiet NaN)
 * ```
 */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const ax = (x & 0x7fffffff) >>> 0;
  if (ax > 0x7f800000) return sign | 0x7e00 | ((ax >>> 13) & 0x3ff);
  if (ax >= 0x477ff000) return sign | 0x7c00;
  if (ax >= 0x38800000) {
    let h = (ax >>> 13) - (112 << 10);
    const rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
    return sign | h;
  }
  if (ax < 0x33000000) return sign;
  const exp = ax >>> 23;
  const mant = (ax & 0x7fffff) | 0x800000;
  const s = 126 - exp;
  let h = mant >>> s;
  const rem = mant & ((1 << s) - 1);
  const half = 1 << (s - 1);
  if (rem > half || (rem === half && (h & 1))) h++;
  return sign | h;
}

/**
 * binary16 bits of every element of `values` (a view of binary32 values).
 *
 * @example
 * ```ts
 * import { f32ArrayToF16Bits } from "./f16.ts";
 * f32ArrayToF16Bits(new Float32Array([1, -2, 0.5])); // Uint16Array [0x3c00, 0xc000, 0x3800]
 * ```
 */
export function f32ArrayToF16Bits(values: Float32Array): Uint16Array<ArrayBuffer> {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16Bits(bits[i]);
  return out;
}

/**
 * Deterministic random tensor bytes for the CUDA tests and benchmarks: reproducible from a seed, with
 * the special values (NaN, Inf, subnormal scales) that random bits produce for f16 fields, and explicit
 * special scales for I2_S.
 *
 * @module
 */

import { cudaSourceBytes } from "../../ffi/cuda.ts";

/** I2_S tensor scales worth testing: numbers, zeros, subnormals, infinities, quiet and signalling NaNs. */
export const I2S_SPECIAL_SCALE_BITS: readonly number[] = [
  0x3f800000, // 1
  0xbf000000, // -0.5
  0x00000000, // +0
  0x80000000, // -0
  0x00000001, // smallest subnormal
  0x7f7fffff, // largest finite
  0x7f800000, // +Inf
  0xff800000, // -Inf
  0x7fc00000, // quiet NaN
  0x7f800001, // signalling NaN with payload 1
  0xffbfffff, // negative signalling NaN, full payload
];

/**
 * Fills `out` with xorshift32 bytes from `seed` (never 0) and returns it.
 *
 * @example
 * ```ts
 * import { fillRandom } from "./gpu_fixtures.ts";
 * const bytes = fillRandom(new Uint8Array(16), 42);
 * console.log(bytes[0]);
 * ```
 */
export function fillRandom<T extends Uint8Array>(out: T, seed: number): T {
  let x = (seed >>> 0) || 0x9e3779b9;
  const words = Math.floor(out.byteLength / 4);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < words; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    view.setUint32(4 * i, x, true);
  }
  for (let i = words * 4; i < out.byteLength; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Random source bytes for `n` elements of `typeId` (a CUDA-supported ggml type). For I2_S the tensor
 * scale is `i2sScaleBits` when given (little-endian f32 bits), else random.
 *
 * @example
 * ```ts
 * import { randomTensorBytes } from "./gpu_fixtures.ts";
 * const q4k = randomTensorBytes(12, 256 * 4, 7); // four Q4_K blocks: 576 bytes
 * console.log(q4k.byteLength);
 * ```
 */
export function randomTensorBytes(
  typeId: number,
  n: number,
  seed: number,
  i2sScaleBits?: number,
): Uint8Array<ArrayBuffer> {
  const bytes = fillRandom(new Uint8Array(cudaSourceBytes(typeId, n)), seed);
  if (typeId === 36 && i2sScaleBits !== undefined) {
    new DataView(bytes.buffer).setUint32(n / 4, i2sScaleBits >>> 0, true);
  }
  return bytes;
}

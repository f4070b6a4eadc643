/**
 * TypeScript reference for the CUDA I2_S × int8 matvec (`cudaI2sMatvec`): BitNet-style absmax int8
 * activation quantization and the exact-integer-sum product.
 *
 * @module
 */

/** int8 activations with their scale: x[k] ≈ q[k] · scale. */
export interface QuantizedActivations {
  /** The int8 values. */
  q: Int8Array<ArrayBuffer>;
  /** The f32 scale (max|x| / 127; 1 for an all-zero vector). */
  scale: number;
}

/**
 * Absmax int8 quantization (BitNet b1.58's activation scheme): q = round(x · 127 / max|x|), clamped.
 *
 * @example
 * ```ts
 * import { quantizeActivationsI8 } from "./i2s_matvec.ts";
 * const { q, scale } = quantizeActivationsI8(new Float32Array([0.5, -1, 0.25]));
 * console.log(q, scale); // Int8Array [64, -127, 32], 1/127
 * ```
 */
export function quantizeActivationsI8(x: Float32Array): QuantizedActivations {
  let max = 0;
  for (const v of x) max = Math.max(max, Math.abs(v));
  const scale = max > 0 && Number.isFinite(max) ? Math.fround(max / 127) : 1;
  const q = new Int8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    q[i] = Math.max(-127, Math.min(127, Math.round(x[i] / scale)));
  }
  return { q, scale };
}

/**
 * y[r] = ((float)isum_r · xScale) · wScale with isum_r = Σ_k map2bit(code[r][k]) · q[k], each product
 * rounded to f32 (the formula of `blc_i2s_matvec`). `w` is an I2_S tensor of rows × cols elements
 * followed by its little-endian f32 scale.
 *
 * @example
 * ```ts
 * import { i2sMatvecReference } from "./i2s_matvec.ts";
 * const w = new Uint8Array(128 / 4 + 4).fill(0x80); // per byte: +1, -1, -1, -1
 * new DataView(w.buffer).setFloat32(32, 0.5, true);
 * i2sMatvecReference(w, 1, 128, new Int8Array(128).fill(2), 1); // Float32Array [-64]
 * ```
 */
export function i2sMatvecReference(
  w: Uint8Array,
  rows: number,
  cols: number,
  x: Int8Array,
  xScale: number,
): Float32Array<ArrayBuffer> {
  const map = [-1, 0, 1, 0];
  const wScale = new DataView(w.buffer, w.byteOffset, w.byteLength).getFloat32(
    (rows * cols) / 4,
    true,
  );
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let k = 0; k < cols; k++) {
      const e = r * cols + k;
      const byte = w[Math.floor(e / 128) * 32 + (e % 32)];
      const g = Math.floor((e % 128) / 32);
      sum += map[(byte >> (6 - 2 * g)) & 3] * x[k];
    }
    y[r] = Math.fround(Math.fround(sum * Math.fround(xScale)) * wScale);
  }
  return y;
}

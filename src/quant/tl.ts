/**
 * bitnet.cpp's lookup-table weight formats TL1 and TL2, in TypeScript: decoding to ternary values
 * (and from there to f32 or to an I2_S tensor, exactly: same ternary values, same scale) and
 * encoding. This is the twin of the native decoder in `kernels/tl.c`.
 *
 * The layouts are those microsoft/BitNet `utils/convert-hf-to-gguf-bitnet.py` writes (identical at
 * c82b5e6 and HEAD); the index algebra below is derived from its reshapes and transposes, and
 * `tests/quant_tl_test.ts` checks it against bytes that the converter's own functions produced
 * (`scripts/gen_tl_fixtures.py`). A weight has `M` rows (ggml `ne[1]`) and `K` columns (`ne[0]`);
 * element `(m, k)` is `w[m·K + k]` ∈ {−1, 0, +1}; the tensor's f32 scale multiplies all of them.
 *
 * **TL1** (`preprocess_weights_tl1`, `process_tl1`; config `(BM, BK, bm)`, `by = 256/bm`): pairs
 * `(w[m][2p], w[m][2p+1])` become `idx = 3·w0 + w1 + 4` ∈ 0..8. The `M·K/4` bytes run over
 * `(i < M/BM, j < K/BK, a < BM/bm, c < BK/by, d < bm/16, f < by/4, e < 16)`; the byte's high nibble
 * is the pair at column `j·BK + c·by + 4f`, its low nibble the pair 2 columns on, both of row
 * `i·BM + a·bm + 16d + e`. The scale follows at byte `M·K/4`.
 *
 * **TL2** (`preprocess_weights_tl2`; `bm = 32`, `by = 6`): with `K3 = K − K % BK`, triples of the
 * first `K3` columns become `v = 9·w0 + 3·w1 + w2` ∈ −13..13, stored as `|v|` in a nibble and a sign
 * bit. Three planes follow each other:
 * 1. `M·K3/6` index bytes over `(i, j < K3/BK, a < BM/32, c < BK/6)`, each a row of 32 bytes whose
 *    8-byte groups 1 and 2 are swapped (`weight[:, [0,1,2,3], :] = weight[:, [0,2,1,3], :]`):
 *    byte `8u + v` of a row is row `i·BM + 32a + 8σ(u) + v` (σ swaps 1 and 2), high nibble the
 *    triple at column `j·BK + 6c`, low nibble the one at `j·BK + 6c + 3`.
 * 2. `M·K3/24` sign bytes over `(i, j, a, c' < BK/24)`, each 16 little-endian u16 words: bit
 *    `15 − h` of word `l` is 1 iff the triple at column `j·BK + 24c' + 3⌊h/2⌋` of row
 *    `i·BM + 32a + 16(h mod 2) + l` is negative.
 * 3. The tail columns `K3..K` TL1-style with `BK = 32, bm = 32, by = 4` (and the same σ row swap):
 *    rows of 32 bytes over `(i, j < (K−K3)/32, a < BM/32, c < 8)`, byte `8u + v` for row
 *    `i·BM + 32a + 8σ(u) + v`, high nibble the pair at column `K3 + 32j + 4c`, low nibble `+2`.
 *
 * Then zero bytes up to `pad32((K−256)·M/3·5/8 + 256·M/2·4/8)`, where the f32 scale sits.
 *
 * @module
 */

import { QuantError } from "./errors.ts";
import { packI2S } from "./i2s_pack.ts";
import { I2S_ZERO_THRESHOLD, i2sScale as i2sScaleOf } from "./quantize.ts";
import { dequantizeI2SCodes, readI2sScale } from "./ternary.ts";
import {
  checkTlConfig,
  TlConfigError,
  tlScaleOffset,
  type TlTileConfig,
  type TlType,
} from "./tl_config.ts";

/** σ of the TL2 rows: the 8-byte groups 1 and 2 of each 32-byte row are swapped. */
const SIGMA = [0, 2, 1, 3] as const;

/**
 * The `(M, K)` of ggml dims `[K, M, …]` (higher dims fold into M).
 *
 * @example
 * ```ts
 * import { tlShape } from "./tl.ts";
 * tlShape([8640, 3200]); // { M: 3200, K: 8640 }
 * ```
 */
export function tlShape(dims: readonly number[]): { M: number; K: number } {
  const K = dims[0] ?? 1;
  return { M: dims.slice(1).reduce((a, b) => a * b, 1), K };
}

/**
 * The byte length of a whole TL tensor (the fork's `ggml_nbytes`): the scale offset plus 32.
 *
 * @example
 * ```ts
 * import { tlTensorBytes } from "./tl.ts";
 * tlTensorBytes("TL1", 256, 256); // 16416
 * ```
 */
export function tlTensorBytes(type: TlType, M: number, K: number): number {
  return tlScaleOffset(type, M, K) + 32;
}

function assertUsable(type: TlType, M: number, K: number, config: TlTileConfig, src?: Uint8Array) {
  const why = checkTlConfig(type, M, K, config);
  if (why) throw new TlConfigError("TL_CONFIG_INVALID", `${type} M = ${M}, K = ${K}: ${why}`);
  if (src && src.byteLength !== tlTensorBytes(type, M, K)) {
    throw new QuantError(
      "BAD_LENGTH",
      `Expected ${
        tlTensorBytes(type, M, K)
      } bytes of ${type} data for M = ${M}, K = ${K} but got ${src.byteLength}`,
    );
  }
}

function badCode(type: TlType, what: string, value: number, at: number): never {
  throw new QuantError(
    "BAD_VALUE",
    `${type} tensor has ${what} ${value} at byte ${at}, which bitnet.cpp's converter never writes`,
  );
}

/** Writes the two ternary digits of a pair index (3·w0 + w1 + 4). */
function putPair(type: TlType, idx: number, out: Int8Array, o: number, at: number): void {
  if (idx > 8) badCode(type, "pair index", idx, at);
  const hi = (idx / 3) | 0;
  out[o] = hi - 1;
  out[o + 1] = idx - 3 * hi - 1;
}

/** Writes the three ternary digits of a triple magnitude (9·w0 + 3·w1 + w2, before the sign). */
function putTriple(idx: number, out: Int8Array, o: number, at: number): void {
  if (idx > 13) badCode("TL2", "triple index", idx, at);
  const t = idx + 13; // 0..26: base-3 digits w+1
  const d0 = (t / 9) | 0;
  const r = t - 9 * d0;
  const d1 = (r / 3) | 0;
  out[o] = d0 - 1;
  out[o + 1] = d1 - 1;
  out[o + 2] = r - 3 * d1 - 1;
}

/**
 * Decodes the ternary values of a TL tensor (row-major `[M][K]`, each −1, 0 or +1) and its scale.
 *
 * @throws {TlConfigError} When `config` breaks the rule of `tl_config.ts`.
 * @throws {QuantError} `BAD_LENGTH` for a wrong byte length, `BAD_VALUE` for a code the converter never writes.
 *
 * @example
 * ```ts
 * import { decodeTl, encodeTl } from "./tl.ts";
 * const config = { m: 64, k: 256, BM: 64, BK: 64, bm: 64 };
 * const w = new Int8Array(64 * 256).map((_, i) => (i % 3) - 1);
 * const bytes = encodeTl("TL1", w, 64, 256, config, 0.5);
 * decodeTl("TL1", bytes, 64, 256, config).values[4]; // 0
 * ```
 */
export function decodeTl(
  type: TlType,
  src: Uint8Array,
  M: number,
  K: number,
  config: TlTileConfig,
): { values: Int8Array; scale: number } {
  assertUsable(type, M, K, config, src);
  const out = new Int8Array(M * K);
  const scale = new DataView(src.buffer, src.byteOffset, src.byteLength)
    .getFloat32(tlScaleOffset(type, M, K), true);
  if (type === "TL1") decodeTl1(src, M, K, config, out);
  else decodeTl2(src, M, K, config, out);
  return { values: out, scale };
}

function decodeTl1(src: Uint8Array, M: number, K: number, c: TlTileConfig, out: Int8Array): void {
  const { BM, BK, bm } = c;
  const by = 256 / bm;
  let b = 0;
  for (let i = 0; i < M / BM; i++) {
    for (let j = 0; j < K / BK; j++) {
      for (let a = 0; a < BM / bm; a++) {
        for (let cc = 0; cc < BK / by; cc++) {
          for (let d = 0; d < bm / 16; d++) {
            for (let f = 0; f < by / 4; f++) {
              const col = j * BK + cc * by + 4 * f;
              const row0 = i * BM + a * bm + 16 * d;
              for (let e = 0; e < 16; e++, b++) {
                const o = (row0 + e) * K + col;
                putPair("TL1", src[b] >> 4, out, o, b);
                putPair("TL1", src[b] & 15, out, o + 2, b);
              }
            }
          }
        }
      }
    }
  }
}

function decodeTl2(src: Uint8Array, M: number, K: number, c: TlTileConfig, out: Int8Array): void {
  const { BM, BK } = c;
  const k3 = K - K % BK;
  let b = 0;
  // 1. magnitudes of the triples
  for (let i = 0; i < M / BM; i++) {
    for (let j = 0; j < k3 / BK; j++) {
      for (let a = 0; a < BM / 32; a++) {
        for (let cc = 0; cc < BK / 6; cc++, b += 32) {
          const col = j * BK + 6 * cc;
          for (let u = 0; u < 4; u++) {
            for (let v = 0; v < 8; v++) {
              const at = b + 8 * u + v;
              const o = (i * BM + 32 * a + 8 * SIGMA[u] + v) * K + col;
              putTriple(src[at] >> 4, out, o, at);
              putTriple(src[at] & 15, out, o + 3, at);
            }
          }
        }
      }
    }
  }
  // 2. signs: negate the three digits of each negative triple
  for (let i = 0; i < M / BM; i++) {
    for (let j = 0; j < k3 / BK; j++) {
      for (let a = 0; a < BM / 32; a++) {
        for (let cc = 0; cc < BK / 24; cc++, b += 32) {
          for (let l = 0; l < 16; l++) {
            const word = src[b + 2 * l] | (src[b + 2 * l + 1] << 8);
            if (word === 0) continue;
            for (let h = 0; h < 16; h++) {
              if (((word >> (15 - h)) & 1) === 0) continue;
              const o = (i * BM + 32 * a + 16 * (h & 1) + l) * K + j * BK + 24 * cc + 3 * (h >> 1);
              out[o] = -out[o];
              out[o + 1] = -out[o + 1];
              out[o + 2] = -out[o + 2];
            }
          }
        }
      }
    }
  }
  // 3. the tail columns, TL1-style pairs with BK = 32, bm = 32, by = 4
  for (let i = 0; i < M / BM; i++) {
    for (let j = 0; j < (K - k3) / 32; j++) {
      for (let a = 0; a < BM / 32; a++) {
        for (let cc = 0; cc < 8; cc++, b += 32) {
          const col = k3 + 32 * j + 4 * cc;
          for (let u = 0; u < 4; u++) {
            for (let v = 0; v < 8; v++) {
              const at = b + 8 * u + v;
              const o = (i * BM + 32 * a + 8 * SIGMA[u] + v) * K + col;
              putPair("TL2", src[at] >> 4, out, o, at);
              putPair("TL2", src[at] & 15, out, o + 2, at);
            }
          }
        }
      }
    }
  }
}

/**
 * Encodes ternary values (row-major `[M][K]`) and a scale as a whole TL tensor, byte for byte what
 * microsoft/BitNet's converter and the fork's gguf writer produce (codes, zero padding, the f32
 * scale in a 32-byte slot).
 *
 * @throws {TlConfigError} When `config` breaks the rule of `tl_config.ts`.
 * @throws {QuantError} `BAD_VALUE` for values outside {−1, 0, +1}, `BAD_LENGTH` for a wrong count.
 *
 * @example
 * ```ts
 * import { encodeTl } from "./tl.ts";
 * const bytes = encodeTl("TL2", new Int8Array(32 * 288), 32, 288, { m: 32, k: 288, BM: 32, BK: 96, bm: 32 }, 1);
 * bytes.length; // 1952
 * ```
 */
export function encodeTl(
  type: TlType,
  values: Int8Array,
  M: number,
  K: number,
  config: TlTileConfig,
  scale: number,
): Uint8Array {
  assertUsable(type, M, K, config);
  if (values.length !== M * K) {
    throw new QuantError(
      "BAD_LENGTH",
      `Expected ${M * K} ternary values for M = ${M}, K = ${K}, got ${values.length}`,
    );
  }
  for (let i = 0; i < values.length; i++) {
    if (values[i] < -1 || values[i] > 1) {
      throw new QuantError(
        "BAD_VALUE",
        `${type} values must be −1, 0 or +1, got ${values[i]} at ${i}`,
      );
    }
  }
  const out = new Uint8Array(tlTensorBytes(type, M, K));
  const w = values;
  const pair = (o: number) => 3 * w[o] + w[o + 1] + 4;
  const { BM, BK } = config;
  let b = 0;
  if (type === "TL1") {
    const bm = config.bm;
    const by = 256 / bm;
    for (let i = 0; i < M / BM; i++) {
      for (let j = 0; j < K / BK; j++) {
        for (let a = 0; a < BM / bm; a++) {
          for (let cc = 0; cc < BK / by; cc++) {
            for (let d = 0; d < bm / 16; d++) {
              for (let f = 0; f < by / 4; f++) {
                const col = j * BK + cc * by + 4 * f;
                const row0 = i * BM + a * bm + 16 * d;
                for (let e = 0; e < 16; e++) {
                  const o = (row0 + e) * K + col;
                  out[b++] = (pair(o) << 4) | pair(o + 2);
                }
              }
            }
          }
        }
      }
    }
  } else {
    const k3 = K - K % BK;
    const triple = (o: number) => 9 * w[o] + 3 * w[o + 1] + w[o + 2];
    for (let i = 0; i < M / BM; i++) {
      for (let j = 0; j < k3 / BK; j++) {
        for (let a = 0; a < BM / 32; a++) {
          for (let cc = 0; cc < BK / 6; cc++, b += 32) {
            const col = j * BK + 6 * cc;
            for (let u = 0; u < 4; u++) {
              for (let v = 0; v < 8; v++) {
                const o = (i * BM + 32 * a + 8 * SIGMA[u] + v) * K + col;
                out[b + 8 * u + v] = (Math.abs(triple(o)) << 4) | Math.abs(triple(o + 3));
              }
            }
          }
        }
      }
    }
    for (let i = 0; i < M / BM; i++) {
      for (let j = 0; j < k3 / BK; j++) {
        for (let a = 0; a < BM / 32; a++) {
          for (let cc = 0; cc < BK / 24; cc++, b += 32) {
            for (let l = 0; l < 16; l++) {
              let word = 0;
              for (let h = 0; h < 16; h++) {
                const o = (i * BM + 32 * a + 16 * (h & 1) + l) * K + j * BK + 24 * cc +
                  3 * (h >> 1);
                if (triple(o) < 0) word |= 1 << (15 - h);
              }
              out[b + 2 * l] = word & 0xff;
              out[b + 2 * l + 1] = word >> 8;
            }
          }
        }
      }
    }
    for (let i = 0; i < M / BM; i++) {
      for (let j = 0; j < (K - k3) / 32; j++) {
        for (let a = 0; a < BM / 32; a++) {
          for (let cc = 0; cc < 8; cc++, b += 32) {
            const col = k3 + 32 * j + 4 * cc;
            for (let u = 0; u < 4; u++) {
              for (let v = 0; v < 8; v++) {
                const o = (i * BM + 32 * a + 8 * SIGMA[u] + v) * K + col;
                out[b + 8 * u + v] = (pair(o) << 4) | pair(o + 2);
              }
            }
          }
        }
      }
    }
  }
  new DataView(out.buffer).setFloat32(tlScaleOffset(type, M, K), scale, true);
  return out;
}

/**
 * Transcodes a TL tensor to I2_S (`n/4 + 32` bytes): the same ternary values and the same f32
 * scale, so the integer I2_S kernels compute exactly what bitnet.cpp's TL kernels would be given.
 *
 * @example
 * ```ts
 * import { encodeTl, tlToI2S } from "./tl.ts";
 * const config = { m: 64, k: 256, BM: 64, BK: 64, bm: 64 };
 * const tl = encodeTl("TL1", new Int8Array(64 * 256).fill(1), 64, 256, config, 2);
 * tlToI2S("TL1", tl, 64, 256, config)[0]; // 0b10101010
 * ```
 */
export function tlToI2S(
  type: TlType,
  src: Uint8Array,
  M: number,
  K: number,
  config: TlTileConfig,
): Uint8Array {
  const { values, scale } = decodeTl(type, src, M, K, config);
  return packI2S(values, scale);
}

/**
 * Dequantizes a TL tensor into `out` (`M·K` f32): each value is one f32 product `w · scale`, as
 * I2_S decodes, so TL and its I2_S transcode give identical floats.
 *
 * @example
 * ```ts
 * import { dequantizeTl, encodeTl } from "./tl.ts";
 * const config = { m: 64, k: 256, BM: 64, BK: 64, bm: 64 };
 * const tl = encodeTl("TL1", new Int8Array(64 * 256).fill(-1), 64, 256, config, 0.5);
 * const out = new Float32Array(64 * 256);
 * dequantizeTl("TL1", tl, 64, 256, config, out); // out[0] === -0.5
 * ```
 */
export function dequantizeTl(
  type: TlType,
  src: Uint8Array,
  M: number,
  K: number,
  config: TlTileConfig,
  out: Float32Array,
): void {
  if (out.length !== M * K) {
    throw new QuantError(
      "BAD_LENGTH",
      `Expected an output of ${M * K} values for M = ${M}, K = ${K}, got ${out.length}`,
    );
  }
  const i2s = tlToI2S(type, src, M, K, config);
  const n = M * K;
  if (n % 128 === 0) {
    dequantizeI2SCodes(
      i2s.subarray(0, n / 4),
      readI2sScale(i2s, n),
      out,
    );
    return;
  }
  const { values, scale } = decodeTl(type, src, M, K, config);
  const s = Math.fround(scale);
  for (let i = 0; i < n; i++) out[i] = Math.fround(values[i] * s);
}

/**
 * Quantizes f32 weights (row-major `[M][K]`) to a TL tensor by the converter's rule, which is
 * I2_S's: `|x| < 1e-6` → 0, otherwise the sign; the scale is `max|x|` as f32. So
 * `tlToI2S(quantizeTl(x))` equals `quantizeI2S(x)` byte for byte.
 *
 * @example
 * ```ts
 * import { quantizeTl } from "./tl.ts";
 * const x = new Float32Array(64 * 256).fill(0.25);
 * quantizeTl("TL1", x, 64, 256, { m: 64, k: 256, BM: 64, BK: 64, bm: 64 }).length; // 4128
 * ```
 */
export function quantizeTl(
  type: TlType,
  src: Float32Array,
  M: number,
  K: number,
  config: TlTileConfig,
): Uint8Array {
  const scale = i2sScaleOf(src);
  const values = new Int8Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const x = src[i];
    values[i] = Math.abs(x) < I2S_ZERO_THRESHOLD ? 0 : (x * scale > 0 ? 1 : -1);
  }
  return encodeTl(type, values, M, K, config, scale);
}

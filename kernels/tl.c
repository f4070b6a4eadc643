/*
 * bitnet.cpp's lookup-table weight formats TL1 and TL2: decoding to I2_S (the transcode used at
 * load, same ternary values and scale) and to f32. The twin of src/quant/tl.ts, whose module
 * documentation derives the layouts from microsoft/BitNet utils/convert-hf-to-gguf-bitnet.py
 * (process_tl1, preprocess_weights_tl1, preprocess_{two,three}_weights_tl2; identical at c82b5e6
 * and HEAD). tests/quant_tl_test.ts checks both against bytes the converter's own functions wrote.
 *
 * A weight has M rows (ggml ne[1]) and K columns (ne[0]); (BM, BK, bm) is the tile configuration of
 * its shape (kernel_config.ini). The caller (src/quant/tl_tensor.ts) has already checked the
 * configuration against the rule of src/quant/tl_config.ts; this file checks only what it needs not
 * to read or write out of bounds (divisibility and the source length).
 *
 * Work goes strip by strip (BM whole rows, so the strip is a contiguous run of I2_S blocks because
 * BM·K is a multiple of 128): the strip's codes are decoded into a scratch of BM·K int8 values
 * (I2_S codes 0/1/2 for -1/0/+1), then packed to I2_S and/or expanded to f32. A 256-entry table
 * turns one TL1 byte into its four codes in one 32-bit store; a 16-entry table gives a TL2 triple.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bitload.h"

/* Bit set in a table entry whose nibble is not a code the converter writes. */
#define TL_BAD 0x80u

/* TL1 / TL2-tail byte -> four I2_S codes (little-endian: byte 0 = first column). A pair index
 * idx = 3*w0 + w1 + 4 gives codes w0+1 = idx/3, w1+1 = idx%3; indices 9..15 are invalid. */
static uint32_t pair_lut[256];
/* TL2 triple magnitude |9*w0 + 3*w1 + w2| (0..13) -> the three values' codes for v >= 0 and v < 0. */
static uint8_t triple_pos[16][3];
static uint8_t triple_neg[16][3];
static int tables_ready = 0;

static void init_tables(void) {
  if (tables_ready) return;
  for (int b = 0; b < 256; b++) {
    int hi = b >> 4, lo = b & 15;
    uint32_t e = 0;
    if (hi > 8 || lo > 8) e = TL_BAD;
    else e = (uint32_t)(hi / 3) | ((uint32_t)(hi % 3) << 8) | ((uint32_t)(lo / 3) << 16) | ((uint32_t)(lo % 3) << 24);
    pair_lut[b] = e;
  }
  for (int m = 0; m < 16; m++) {
    if (m > 13) {
      triple_pos[m][0] = triple_pos[m][1] = triple_pos[m][2] = TL_BAD;
      triple_neg[m][0] = triple_neg[m][1] = triple_neg[m][2] = TL_BAD;
      continue;
    }
    int t = m + 13; /* base-3 digits of v + 13 are w + 1 */
    triple_pos[m][0] = (uint8_t)(t / 9);
    triple_pos[m][1] = (uint8_t)((t / 3) % 3);
    triple_pos[m][2] = (uint8_t)(t % 3);
    for (int d = 0; d < 3; d++) triple_neg[m][d] = (uint8_t)(2 - triple_pos[m][d]);
  }
  tables_ready = 1; /* idempotent: a race only computes the same tables twice */
}

static const int SIGMA[4] = {0, 2, 1, 3};

/* Stores four codes at c (unaligned). */
static inline void put4(uint8_t *c, uint32_t v) { memcpy(c, &v, 4); }

/* TL1: decodes strip i (rows i*BM .. +BM) into codes[BM*K]; returns the OR of the table flags. */
static uint32_t tl1_strip(const uint8_t *s, int64_t K, int32_t BM, int32_t BK, int32_t bm, uint8_t *codes) {
  const int by = 256 / bm;
  uint32_t bad = 0;
  for (int64_t j = 0; j < K / BK; j++)
    for (int a = 0; a < BM / bm; a++)
      for (int c = 0; c < BK / by; c++)
        for (int d = 0; d < bm / 16; d++)
          for (int f = 0; f < by / 4; f++) {
            uint8_t *o = codes + (int64_t)(a * bm + 16 * d) * K + j * BK + c * by + 4 * f;
            for (int e = 0; e < 16; e++) {
              uint32_t v = pair_lut[*s++];
              bad |= v;
              put4(o + (int64_t)e * K, v);
            }
          }
  return bad & TL_BAD;
}

/* TL2: strip i from its three planes. */
static uint32_t tl2_strip(const uint8_t *idx, const uint8_t *sgn, const uint8_t *tail, int64_t K,
                          int32_t BM, int32_t BK, uint8_t *codes) {
  const int64_t k3 = K - K % BK;
  uint32_t bad = 0;
  /* magnitudes and signs together: one 32-byte index row (i, j, a, c) holds triples at columns
   * j*BK + 6c and +3; their signs sit in sign word group (i, j, a, c / 4). */
  for (int64_t j = 0; j < k3 / BK; j++)
    for (int a = 0; a < BM / 32; a++) {
      const uint8_t *sg = sgn + ((j * (BM / 32) + a) * (BK / 24)) * 32;
      for (int c = 0; c < BK / 6; c++, idx += 32) {
        const uint8_t *words = sg + (c / 4) * 32;
        const int h0 = 2 * (2 * (c % 4)); /* t' = 2*(c%4) + t for the two triples of the byte */
        for (int u = 0; u < 4; u++)
          for (int v = 0; v < 8; v++) {
            const int r = 8 * SIGMA[u] + v; /* row within the 32-row block */
            const uint8_t b = idx[8 * u + v];
            const int l = r & 15, half = r >> 4;
            const unsigned word = (unsigned)words[2 * l] | ((unsigned)words[2 * l + 1] << 8);
            uint8_t *o = codes + (int64_t)(a * 32 + r) * K + j * BK + 6 * c;
            for (int t = 0; t < 2; t++) {
              const int h = h0 + 2 * t + half;
              const int neg = (word >> (15 - h)) & 1;
              const uint8_t *tri = neg ? triple_neg[t == 0 ? b >> 4 : b & 15] : triple_pos[t == 0 ? b >> 4 : b & 15];
              bad |= tri[0];
              o[3 * t] = tri[0];
              o[3 * t + 1] = tri[1];
              o[3 * t + 2] = tri[2];
            }
          }
      }
    }
  for (int64_t j = 0; j < (K - k3) / 32; j++)
    for (int a = 0; a < BM / 32; a++)
      for (int c = 0; c < 8; c++, tail += 32)
        for (int u = 0; u < 4; u++)
          for (int v = 0; v < 8; v++) {
            uint32_t x = pair_lut[tail[8 * u + v]];
            bad |= x;
            put4(codes + (int64_t)(a * 32 + 8 * SIGMA[u] + v) * K + k3 + 32 * j + 4 * c, x);
          }
  return bad & TL_BAD;
}

/* Packs n codes (n a multiple of 128) into I2_S blocks. */
static void pack_i2s(const uint8_t *c, int64_t n, uint8_t *out) {
  for (int64_t b = 0; b < n / 128; b++, c += 128, out += 32)
    for (int p = 0; p < 32; p++)
      out[p] = (uint8_t)((c[p] << 6) | (c[32 + p] << 4) | (c[64 + p] << 2) | c[96 + p]);
}

static int64_t bl_tl_tensor_bytes(int32_t tl, int64_t m, int64_t k) {
  if (tl == 1) return m * k / 4 + 32;
  /* the fork's ggml_nbytes: C integer arithmetic left to right, rounded up to 32, plus the slot */
  int64_t nb = (k - 256) * m / 3 * 5 / 8 + 256 * m / 2 * 4 / 8;
  return (nb + 31) / 32 * 32 + 32;
}

BL_API int64_t bl_tl_decode(int32_t tl, const uint8_t *src, int64_t src_len, int64_t m, int64_t k,
                            int32_t BM, int32_t BK, int32_t bm, uint8_t *i2s, float *f32) {
  if (!src || (!i2s && !f32)) return BL_ERR_NULL;
  if ((tl != 1 && tl != 2) || m <= 0 || k <= 0 || BM <= 0 || BK <= 0 || bm <= 0) return BL_ERR_BAD_LENGTH;
  if (m % BM || BM % 32 || (tl == 1 && (bm % 16 || (256 % bm) || k % BK || BK % (256 / bm) || (256 / bm) % 4)))
    return BL_ERR_BAD_LENGTH;
  if (tl == 2 && (bm != 32 || BK % 24 || (k % BK) % 32 || k < 256)) return BL_ERR_BAD_LENGTH;
  const int64_t bytes = bl_tl_tensor_bytes(tl, m, k);
  if (src_len != bytes) return BL_ERR_BAD_LENGTH;
  const int64_t k3 = tl == 2 ? k - k % BK : 0;
  if (tl == 2 && m * k3 / 6 + m * k3 / 24 + m * (k - k3) / 4 > bytes - 32) return BL_ERR_BAD_LENGTH;
  init_tables();
  float scale;
  memcpy(&scale, src + bytes - 32, 4);
  uint8_t *codes = (uint8_t *)malloc((size_t)(BM * k));
  if (!codes) return BL_ERR_NO_MEMORY;
  const int64_t strip = (int64_t)BM * k;
  /* f32 goes through an I2_S strip and the I2_S dequantizer (its SIMD kernels): same products. */
  uint8_t *packed = f32 ? (uint8_t *)malloc((size_t)(strip / 4 + 32)) : NULL;
  if (f32 && !packed) {
    free(codes);
    return BL_ERR_NO_MEMORY;
  }
  if (packed) {
    memset(packed + strip / 4, 0, 32);
    memcpy(packed + strip / 4, &scale, 4);
  }
  int64_t status = BL_OK;
  for (int64_t i = 0; i < m / BM; i++) {
    uint32_t bad;
    if (tl == 1) bad = tl1_strip(src + i * strip / 4, k, BM, BK, bm, codes);
    else
      bad = tl2_strip(src + i * (BM * k3 / 6), src + m * k3 / 6 + i * (BM * k3 / 24),
                      src + m * k3 / 6 + m * k3 / 24 + i * (BM * (k - k3) / 4), k, BM, BK, codes);
    if (bad) {
      status = 1 + i; /* 1 + the strip with a code the converter never writes */
      break;
    }
    if (i2s) pack_i2s(codes, strip, i2s + i * strip / 4);
    if (f32) {
      if (i2s) memcpy(packed, i2s + i * strip / 4, (size_t)(strip / 4));
      else pack_i2s(codes, strip, packed);
      int r = bl_dequantize_f32(BL_TYPE_I2_S, packed, f32 + i * strip, strip, 1);
      if (r != BL_OK) {
        status = r;
        break;
      }
    }
  }
  free(codes);
  free(packed);
  if (status == BL_OK && i2s) {
    memset(i2s + m * k / 4, 0, 32);
    memcpy(i2s + m * k / 4, &scale, 4);
  }
  return status;
}

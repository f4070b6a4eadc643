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

#include "internal.h"

/* Bit set in a table entry whose nibble is not a code the converter writes. */
#define TL_BAD 0x80u

/* TL1 / TL2-tail byte -> four I2_S codes (little-endian: byte 0 = first column). A pair index
 * idx = 3*w0 + w1 + 4 gives codes w0+1 = idx/3, w1+1 = idx%3; indices 9..15 are invalid. */
static uint32_t pair_lut[256];
/* TL2 triple magnitude |9*w0 + 3*w1 + w2| (0..13) -> the three values' codes for v >= 0 and v < 0. */
static uint8_t triple_pos[16][3];
static uint8_t triple_neg[16][3];
static int tables_ready = 0;
static void init_six(void);

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
  init_six();
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

/* TL2 index byte -> the six codes of its two triples, for each pair of signs (bit 0: the first
 * triple is negative, bit 1: the second); six bytes used of eight. */
static uint64_t six_lut[4][256];
static uint8_t six_bad[256];

static void init_six(void) {
  for (int sg = 0; sg < 4; sg++)
    for (int b = 0; b < 256; b++) {
      const uint8_t *t0 = (sg & 1) ? triple_neg[b >> 4] : triple_pos[b >> 4];
      const uint8_t *t1 = (sg & 2) ? triple_neg[b & 15] : triple_pos[b & 15];
      uint8_t six[8] = {t0[0], t0[1], t0[2], t1[0], t1[1], t1[2], 0, 0};
      uint64_t v;
      memcpy(&v, six, 8);
      six_lut[sg][b] = v;
      six_bad[b] = ((b >> 4) > 13 || (b & 15) > 13) ? TL_BAD : 0;
    }
}

/* TL2: strip i from its three planes. */
static uint32_t tl2_strip(const uint8_t *idx, const uint8_t *sgn, const uint8_t *tail, int64_t K,
                          int32_t BM, int32_t BK, uint8_t *codes) {
  const int64_t k3 = K - K % BK;
  uint32_t bad = 0;
  uint8_t neg[32]; /* row r of a 32-row block: bit t' = the sign of its triple t' (0..7) */
  /* One 32-byte index row (i, j, a, c) holds the triples at columns j*BK + 6c and +3 of 32 rows;
   * their signs sit in the sign word group (i, j, a, c / 4), triples t' = 2(c % 4) and +1. */
  for (int64_t j = 0; j < k3 / BK; j++)
    for (int a = 0; a < BM / 32; a++) {
      const uint8_t *sg = sgn + ((j * (BM / 32) + a) * (BK / 24)) * 32;
      for (int c = 0; c < BK / 6; c++, idx += 32) {
        if (c % 4 == 0) {
          const uint8_t *words = sg + (c / 4) * 32;
          for (int r = 0; r < 32; r++) {
            const int l = r & 15, half = r >> 4;
            const unsigned word = (unsigned)words[2 * l] | ((unsigned)words[2 * l + 1] << 8);
            unsigned m = 0;
            for (int t = 0; t < 8; t++) m |= ((word >> (15 - (2 * t + half))) & 1u) << t;
            neg[r] = (uint8_t)m;
          }
        }
        const int shift = 2 * (c % 4);
        uint8_t *col = codes + (int64_t)(a * 32) * K + j * BK + 6 * c;
        for (int u = 0; u < 4; u++)
          for (int v = 0; v < 8; v++) {
            const int r = 8 * SIGMA[u] + v; /* row within the 32-row block */
            const uint8_t b = idx[8 * u + v];
            const uint64_t six = six_lut[(neg[r] >> shift) & 3][b];
            bad |= six_bad[b];
            uint8_t *o = col + (int64_t)r * K;
            memcpy(o, &six, 4);
            memcpy(o + 4, (const uint8_t *)&six + 4, 2);
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

/* One decode job: strips are independent, so pool tasks take whole strips. */
struct tl_job {
  int32_t tl, BM, BK, bm;
  int64_t m, k, k3, strip;
  const uint8_t *src;
  uint8_t *i2s;
  float *f32;
  float scale;
  int level;          /* the caller's SIMD level, for the I2_S dequantizer in the tasks */
  int64_t first_bad;  /* 1 + the first strip with a bad code (atomic min), or INT64_MAX */
  int status;         /* BL_OK, or the first failure (atomic) */
};

static void tl_task(void *ctx, int64_t begin, int64_t end) {
  struct tl_job *j = (struct tl_job *)ctx;
  const int64_t strip = j->strip, m = j->m, k = j->k, k3 = j->k3;
  uint8_t *codes = (uint8_t *)bl_scratch(0, (size_t)strip);
  uint8_t *packed = j->f32 ? (uint8_t *)bl_scratch(1, (size_t)(strip / 4 + 32)) : NULL;
  if (!codes || (j->f32 && !packed)) {
    __atomic_store_n(&j->status, BL_ERR_NO_MEMORY, __ATOMIC_RELAXED);
    return;
  }
  if (packed) {
    memset(packed + strip / 4, 0, 32);
    memcpy(packed + strip / 4, &j->scale, 4);
  }
  for (int64_t i = begin; i < end; i++) {
    const uint8_t *src = j->src;
    uint32_t bad;
    if (j->tl == 1) bad = tl1_strip(src + i * strip / 4, k, j->BM, j->BK, j->bm, codes);
    else
      bad = tl2_strip(src + i * (j->BM * k3 / 6), src + m * k3 / 6 + i * (j->BM * k3 / 24),
                      src + m * k3 / 6 + m * k3 / 24 + i * (j->BM * (k - k3) / 4), k, j->BM, j->BK, codes);
    if (bad) {
      int64_t seen = __atomic_load_n(&j->first_bad, __ATOMIC_RELAXED);
      while (i + 1 < seen &&
             !__atomic_compare_exchange_n(&j->first_bad, &seen, i + 1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
      }
      return;
    }
    if (j->i2s) pack_i2s(codes, strip, j->i2s + i * strip / 4);
    if (j->f32) {
      if (j->i2s) memcpy(packed, j->i2s + i * strip / 4, (size_t)(strip / 4));
      else pack_i2s(codes, strip, packed);
      int r = bl_dequantize_at(j->level, BL_TYPE_I2_S, packed, j->f32 + i * strip, strip);
      if (r != BL_OK) {
        __atomic_store_n(&j->status, r, __ATOMIC_RELAXED);
        return;
      }
    }
  }
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
  struct tl_job job = {
      .tl = tl, .BM = BM, .BK = BK, .bm = bm, .m = m, .k = k, .k3 = k3, .strip = (int64_t)BM * k,
      .src = src, .i2s = i2s, .f32 = f32, .level = bl_thread_level(), .first_bad = INT64_MAX,
      .status = BL_OK,
  };
  memcpy(&job.scale, src + bytes - 32, 4);
  /* strips on the pool (bl_set_threads threads); f32 goes through an I2_S strip and the I2_S
   * dequantizer of the caller's SIMD level, so the floats are the I2_S decode's */
  bl_parallel_for(tl_task, &job, m / BM, 1);
  if (job.first_bad != INT64_MAX) return job.first_bad;
  if (job.status != BL_OK) return job.status;
  if (i2s) {
    memset(i2s + m * k / 4, 0, 32);
    memcpy(i2s + m * k / 4, &job.scale, 4);
  }
  return BL_OK;
}

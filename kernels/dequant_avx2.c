/*
 * AVX2 (+F16C) dequantizers. The block decoding lives in dequant_x86_body.h; this file supplies the
 * 8-lane float stage and the f16/bf16 row converters. Compiled into every x86-64 build and only called
 * when the CPU reports AVX2 (dispatch.c).
 */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "internal.h"

#define BL_TARGET "avx2,f16c"
#define BL_SUFFIX avx2

/* y[k] = (float)q[k] * d for 16 signed bytes: one rounding, as in the scalar reference. */
static __attribute__((target(BL_TARGET))) inline void emit16(float *y, __m128i q, float d) {
  const __m256 vd = _mm256_set1_ps(d);
  const __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
  const __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)));
  _mm256_storeu_ps(y, _mm256_mul_ps(lo, vd));
  _mm256_storeu_ps(y + 8, _mm256_mul_ps(hi, vd));
}

/* y[k] = (float)q[k] * d - m: a multiply rounded, then a subtract rounded (no FMA). */
static __attribute__((target(BL_TARGET))) inline void emit16_min(float *y, __m128i q, float d, float m) {
  const __m256 vd = _mm256_set1_ps(d);
  const __m256 vm = _mm256_set1_ps(m);
  const __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
  const __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)));
  _mm256_storeu_ps(y, _mm256_sub_ps(_mm256_mul_ps(lo, vd), vm));
  _mm256_storeu_ps(y + 8, _mm256_sub_ps(_mm256_mul_ps(hi, vd), vm));
}

/* y[k] = (float)q[k] * d + m: a multiply rounded, then an add rounded (no FMA). */
static __attribute__((target(BL_TARGET))) inline void emit16_add(float *y, __m128i q, float d, float m) {
  const __m256 vd = _mm256_set1_ps(d);
  const __m256 vm = _mm256_set1_ps(m);
  const __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
  const __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)));
  _mm256_storeu_ps(y, _mm256_add_ps(_mm256_mul_ps(lo, vd), vm));
  _mm256_storeu_ps(y + 8, _mm256_add_ps(_mm256_mul_ps(hi, vd), vm));
}

#include "dequant_x86_body.h"
#include "iq_tables.h"

#define IQ1S_DELTA 0.125f

/*
 * The sign bit in lanes where bit j of `signs` is set: the factor `(signs & kmask_iq2xs[j] ? -1.f : 1.f)`
 * applied as a negation (XOR), like bl_signed in dequant_ref.c and ggml's GCC build.
 */
static __attribute__((target(BL_TARGET))) inline __m256 sign_bits(uint32_t signs) {
  const __m256i bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i set = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)signs), bits), bits);
  return _mm256_castsi256_ps(_mm256_and_si256(set, _mm256_set1_epi32((int)0x80000000u)));
}

/* Eight unsigned grid bytes as floats. */
static __attribute__((target(BL_TARGET))) inline __m256 grid_u8x8(uint64_t grid) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)grid)));
}

/* Two 4-byte grid entries (iq3 grids) as eight floats. */
static __attribute__((target(BL_TARGET))) inline __m256 grid_u8x4x2(uint32_t g1, uint32_t g2) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_setr_epi32((int)g1, (int)g2, 0, 0)));
}

/* y[j] = db * grid[j], then negated where the sign bit is set: ggml's order. */
static __attribute__((target(BL_TARGET))) inline void emit8_signed(float *y, float db, __m256 grid, uint32_t signs) {
  _mm256_storeu_ps(y, _mm256_xor_ps(_mm256_mul_ps(_mm256_set1_ps(db), grid), sign_bits(signs)));
}

/* ggml-quants.c dequantize_row_iq2_xxs */
static __attribute__((target(BL_TARGET))) void deq_iq2_xxs_avx2(const uint8_t *src, float *y, int64_t nb,
                                                                  float s) {
  (void)s;
  const block_iq2_xxs *x = (const block_iq2_xxs *)src;
  uint32_t aux32[2];
  const uint8_t *aux8 = (const uint8_t *)aux32;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
      memcpy(aux32, (const uint8_t *)x[i].qs + 8 * ib32, 2 * sizeof(uint32_t));
      const float db = d * (0.5f + (aux32[1] >> 28)) * 0.25f;
      for (int l = 0; l < 4; ++l, y += 8) {
        emit8_signed(y, db, grid_u8x8(iq2xxs_grid[aux8[l]]), ksigns_iq2xs[(aux32[1] >> 7 * l) & 127]);
      }
    }
  }
}

/* ggml-quants.c dequantize_row_iq2_xs */
static __attribute__((target(BL_TARGET))) void deq_iq2_xs_avx2(const uint8_t *src, float *y, int64_t nb,
                                                                 float s) {
  (void)s;
  const block_iq2_xs *x = (const block_iq2_xs *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint8_t *qs8 = (const uint8_t *)x[i].qs;
    for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
      float db[2];
      db[0] = d * (0.5f + (x[i].scales[ib32] & 0xf)) * 0.25f;
      db[1] = d * (0.5f + (x[i].scales[ib32] >> 4)) * 0.25f;
      for (int l = 0; l < 4; ++l, y += 8) {
        uint16_t qs;
        memcpy(&qs, qs8 + 2 * (4 * ib32 + l), sizeof qs);
        emit8_signed(y, db[l / 2], grid_u8x8(iq2xs_grid[qs & 511]), ksigns_iq2xs[qs >> 9]);
      }
    }
  }
}

/* ggml-quants.c dequantize_row_iq2_s */
static __attribute__((target(BL_TARGET))) void deq_iq2_s_avx2(const uint8_t *src, float *y, int64_t nb,
                                                                float s) {
  (void)s;
  const block_iq2_s *x = (const block_iq2_s *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint8_t *qs = x[i].qs;
    const uint8_t *qh = x[i].qh;
    const uint8_t *signs = qs + QK_K / 8;
    for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, qs += 4, signs += 4) {
      float db[2];
      db[0] = d * (0.5f + (x[i].scales[ib32] & 0xf)) * 0.25f;
      db[1] = d * (0.5f + (x[i].scales[ib32] >> 4)) * 0.25f;
      for (int l = 0; l < 4; ++l, y += 8) {
        const uint64_t grid = iq2s_grid[qs[l] | (qh[ib32] << (8 - 2 * l) & 0x300)];
        emit8_signed(y, db[l / 2], grid_u8x8(grid), signs[l]);
      }
    }
  }
}

/* ggml-quants.c dequantize_row_iq3_xxs */
static __attribute__((target(BL_TARGET))) void deq_iq3_xxs_avx2(const uint8_t *src, float *y, int64_t nb,
                                                                  float s) {
  (void)s;
  const block_iq3_xxs *x = (const block_iq3_xxs *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint8_t *qs = x[i].qs;
    const uint8_t *scales_and_signs = qs + QK_K / 4;
    for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, qs += 8) {
      uint32_t aux32;
      memcpy(&aux32, scales_and_signs + 4 * ib32, sizeof(uint32_t));
      const float db = d * (0.5f + (aux32 >> 28)) * 0.5f;
      for (int l = 0; l < 4; ++l, y += 8) {
        const __m256 grid = grid_u8x4x2(iq3xxs_grid[qs[2 * l + 0]], iq3xxs_grid[qs[2 * l + 1]]);
        emit8_signed(y, db, grid, ksigns_iq2xs[(aux32 >> 7 * l) & 127]);
      }
    }
  }
}

/* ggml-quants.c dequantize_row_iq3_s */
static __attribute__((target(BL_TARGET))) void deq_iq3_s_avx2(const uint8_t *src, float *y, int64_t nb,
                                                                float s) {
  (void)s;
  const block_iq3_s *x = (const block_iq3_s *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint8_t *qs = x[i].qs;
    const uint8_t *qh = x[i].qh;
    const uint8_t *signs = x[i].signs;
    for (int ib32 = 0; ib32 < QK_K / 32; ib32 += 2, qh += 2) {
      const float db1 = d * (1 + 2 * (x[i].scales[ib32 / 2] & 0xf));
      const float db2 = d * (1 + 2 * (x[i].scales[ib32 / 2] >> 4));
      for (int half = 0; half < 2; ++half, qs += 8, signs += 4) {
        const float db = half == 0 ? db1 : db2;
        for (int l = 0; l < 4; ++l, y += 8) {
          const uint32_t g1 = iq3s_grid[qs[2 * l + 0] | ((qh[half] << (8 - 2 * l)) & 256)];
          const uint32_t g2 = iq3s_grid[qs[2 * l + 1] | ((qh[half] << (7 - 2 * l)) & 256)];
          emit8_signed(y, db, grid_u8x4x2(g1, g2), signs[l]);
        }
      }
    }
  }
}

/* y[j] = dl * (grid[j] + delta) for eight signed grid bytes (iq1 grids). */
static __attribute__((target(BL_TARGET))) inline void emit8_iq1(float *y, float dl, uint64_t grid, float delta) {
  const __m256 g = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128((long long)grid)));
  _mm256_storeu_ps(y, _mm256_mul_ps(_mm256_set1_ps(dl), _mm256_add_ps(g, _mm256_set1_ps(delta))));
}

/* ggml-quants.c dequantize_row_iq1_s */
static __attribute__((target(BL_TARGET))) void deq_iq1_s_avx2(const uint8_t *src, float *y, int64_t nb,
                                                                float s) {
  (void)s;
  const block_iq1_s *x = (const block_iq1_s *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint8_t *qs = x[i].qs;
    for (int ib = 0; ib < QK_K / 32; ++ib, qs += 4) {
      uint16_t qh;
      memcpy(&qh, (const uint8_t *)x[i].qh + 2 * ib, sizeof qh);
      const float dl = d * (2 * ((qh >> 12) & 7) + 1);
      const float delta = qh & 0x8000 ? -IQ1S_DELTA : IQ1S_DELTA;
      for (int l = 0; l < 4; ++l, y += 8) {
        emit8_iq1(y, dl, iq1s_grid[qs[l] | (((qh >> 3 * l) & 7) << 8)], delta);
      }
    }
  }
}

/* ggml-quants.c dequantize_row_iq1_m */
static __attribute__((target(BL_TARGET))) void deq_iq1_m_avx2(const uint8_t *src, float *y, int64_t nb,
                                                                float s) {
  (void)s;
  const block_iq1_m *x = (const block_iq1_m *)src;
  for (int64_t i = 0; i < nb; i++) {
    uint16_t sc[4];
    memcpy(sc, x[i].scales, sizeof sc);
    const uint16_t scale_bits =
        (uint16_t)((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
    const float d = bl_fp16_to_fp32(scale_bits);
    const uint8_t *qs = x[i].qs;
    const uint8_t *qh = x[i].qh;
    for (int ib = 0; ib < QK_K / 32; ++ib, qs += 4, qh += 2) {
      const float dl1 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 0)) & 0x7) + 1);
      const float dl2 = d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 0x7) + 1);
      emit8_iq1(y + 0, dl1, iq1s_grid[qs[0] | ((qh[0] << 8) & 0x700)], qh[0] & 0x08 ? -IQ1S_DELTA : IQ1S_DELTA);
      emit8_iq1(y + 8, dl1, iq1s_grid[qs[1] | ((qh[0] << 4) & 0x700)], qh[0] & 0x80 ? -IQ1S_DELTA : IQ1S_DELTA);
      emit8_iq1(y + 16, dl2, iq1s_grid[qs[2] | ((qh[1] << 8) & 0x700)], qh[1] & 0x08 ? -IQ1S_DELTA : IQ1S_DELTA);
      emit8_iq1(y + 24, dl2, iq1s_grid[qs[3] | ((qh[1] << 4) & 0x700)], qh[1] & 0x80 ? -IQ1S_DELTA : IQ1S_DELTA);
      y += 32;
    }
  }
}

/* ggml-quants.c dequantize_row_q1_0: bit j of the block (LSB first) selects d or -d. */
static __attribute__((target(BL_TARGET))) void deq_q1_0_avx2(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q1_0 *x = (const block_q1_0 *)src;
  const __m256i bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const __m256 vd = _mm256_set1_ps(d);
    const __m256 vneg = _mm256_set1_ps(-d);
    for (int byte = 0; byte < 16; ++byte, y += 8) {
      const __m256i set = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(x[i].qs[byte]), bits), bits);
      _mm256_storeu_ps(y, _mm256_blendv_ps(vneg, vd, _mm256_castsi256_ps(set)));
    }
  }
}

/* f16 -> f32 with F16C, the same values as ggml_compute_fp16_to_fp32 (checked bit for bit by the tests). */
static __attribute__((target(BL_TARGET))) void deq_f16_avx2(const uint8_t *src, float *y, int64_t n, float s) {
  (void)s;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
  }
  for (; i < n; i++) y[i] = bl_fp16_to_fp32(bl_load_half(src + 2 * i));
}

/* bf16 -> f32: widen and shift left by 16 (ggml_compute_bf16_to_fp32). */
static __attribute__((target(BL_TARGET))) void deq_bf16_avx2(const uint8_t *src, float *y, int64_t n, float s) {
  (void)s;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + 2 * i)));
    _mm256_storeu_si256((__m256i *)(y + i), _mm256_slli_epi32(w, 16));
  }
  for (; i < n; i++) {
    uint16_t h;
    memcpy(&h, src + 2 * i, sizeof h);
    y[i] = bl_bf16_to_fp32(h);
  }
}

void bl_fill_avx2_kernels(bl_kernel_fn table[BL_TYPE_COUNT]) {
  table[BL_TYPE_F16] = deq_f16_avx2;
  table[BL_TYPE_BF16] = deq_bf16_avx2;
  table[BL_TYPE_Q8_0] = deq_q8_0_avx2;
  table[BL_TYPE_Q4_0] = deq_q4_0_avx2;
  table[BL_TYPE_IQ4_NL] = deq_iq4_nl_avx2;
  table[BL_TYPE_IQ4_XS] = deq_iq4_xs_avx2;
  table[BL_TYPE_TQ2_0] = deq_tq2_0_avx2;
  table[BL_TYPE_I2_S] = deq_i2_s_avx2;
  table[BL_TYPE_Q2_K] = deq_q2_K_avx2;
  table[BL_TYPE_Q3_K] = deq_q3_K_avx2;
  table[BL_TYPE_Q4_K] = deq_q4_K_avx2;
  table[BL_TYPE_Q5_K] = deq_q5_K_avx2;
  table[BL_TYPE_Q6_K] = deq_q6_K_avx2;
  table[BL_TYPE_Q4_1] = deq_q4_1_avx2;
  table[BL_TYPE_Q5_0] = deq_q5_0_avx2;
  table[BL_TYPE_Q5_1] = deq_q5_1_avx2;
  table[BL_TYPE_MXFP4] = deq_mxfp4_avx2;
  table[BL_TYPE_NVFP4] = deq_nvfp4_avx2;
  table[BL_TYPE_Q2_0] = deq_q2_0_avx2;
  table[BL_TYPE_Q1_0] = deq_q1_0_avx2;
  table[BL_TYPE_IQ2_XXS] = deq_iq2_xxs_avx2;
  table[BL_TYPE_IQ2_XS] = deq_iq2_xs_avx2;
  table[BL_TYPE_IQ2_S] = deq_iq2_s_avx2;
  table[BL_TYPE_IQ3_XXS] = deq_iq3_xxs_avx2;
  table[BL_TYPE_IQ3_S] = deq_iq3_s_avx2;
  table[BL_TYPE_IQ1_S] = deq_iq1_s_avx2;
  table[BL_TYPE_IQ1_M] = deq_iq1_m_avx2;
}

#else /* not x86 */

#include "internal.h"

void bl_fill_avx2_kernels(bl_kernel_fn table[BL_TYPE_COUNT]) { (void)table; }

#endif

/*
 * AVX-512 (F/BW/VL) dequantizers: the block decoding of dequant_x86_body.h with a 16-lane float stage,
 * plus f16/bf16 row converters. Only called when the CPU reports AVX-512 F, BW and VL (dispatch.c).
 */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "internal.h"

#define BL_TARGET "avx2,f16c,avx512f,avx512bw,avx512vl"
#define BL_SUFFIX avx512

/* y[k] = (float)q[k] * d for 16 signed bytes: one rounding, as in the scalar reference. */
static __attribute__((target(BL_TARGET))) inline void emit16(float *y, __m128i q, float d) {
  _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), _mm512_set1_ps(d)));
}

/* y[k] = (float)q[k] * d - m: a multiply rounded, then a subtract rounded (no FMA). */
static __attribute__((target(BL_TARGET))) inline void emit16_min(float *y, __m128i q, float d, float m) {
  const __m512 prod = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), _mm512_set1_ps(d));
  _mm512_storeu_ps(y, _mm512_sub_ps(prod, _mm512_set1_ps(m)));
}

/* y[k] = (float)q[k] * d + m: a multiply rounded, then an add rounded (no FMA). */
static __attribute__((target(BL_TARGET))) inline void emit16_add(float *y, __m128i q, float d, float m) {
  const __m512 prod = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), _mm512_set1_ps(d));
  _mm512_storeu_ps(y, _mm512_add_ps(prod, _mm512_set1_ps(m)));
}

#include "dequant_x86_body.h"

/* ggml-quants.c dequantize_row_q1_0: bit j of the block (LSB first) selects d or -d; 16 bits per mask. */
static __attribute__((target(BL_TARGET))) void deq_q1_0_avx512(const uint8_t *src, float *y, int64_t nb,
                                                                 float s) {
  (void)s;
  const block_q1_0 *x = (const block_q1_0 *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const __m512 vd = _mm512_set1_ps(d);
    const __m512 vneg = _mm512_set1_ps(-d);
    for (int g = 0; g < 8; ++g, y += 16) {
      uint16_t bits;
      memcpy(&bits, x[i].qs + 2 * g, sizeof bits);
      _mm512_storeu_ps(y, _mm512_mask_blend_ps((__mmask16)bits, vneg, vd));
    }
  }
}

/* f16 -> f32 with VCVTPH2PS, the same values as ggml_compute_fp16_to_fp32 (checked by the tests). */
static __attribute__((target(BL_TARGET))) void deq_f16_avx512(const uint8_t *src, float *y, int64_t n, float s) {
  (void)s;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + 2 * i))));
  }
  for (; i < n; i++) y[i] = bl_fp16_to_fp32(bl_load_half(src + 2 * i));
}

/* bf16 -> f32: widen and shift left by 16 (ggml_compute_bf16_to_fp32). */
static __attribute__((target(BL_TARGET))) void deq_bf16_avx512(const uint8_t *src, float *y, int64_t n, float s) {
  (void)s;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + 2 * i)));
    _mm512_storeu_si512((void *)(y + i), _mm512_slli_epi32(w, 16));
  }
  for (; i < n; i++) {
    uint16_t h;
    memcpy(&h, src + 2 * i, sizeof h);
    y[i] = bl_bf16_to_fp32(h);
  }
}

void bl_fill_avx512_kernels(bl_kernel_fn table[BL_TYPE_COUNT]) {
  table[BL_TYPE_F16] = deq_f16_avx512;
  table[BL_TYPE_BF16] = deq_bf16_avx512;
  table[BL_TYPE_Q8_0] = deq_q8_0_avx512;
  table[BL_TYPE_Q4_0] = deq_q4_0_avx512;
  table[BL_TYPE_IQ4_NL] = deq_iq4_nl_avx512;
  table[BL_TYPE_IQ4_XS] = deq_iq4_xs_avx512;
  table[BL_TYPE_TQ2_0] = deq_tq2_0_avx512;
  table[BL_TYPE_I2_S] = deq_i2_s_avx512;
  table[BL_TYPE_Q2_K] = deq_q2_K_avx512;
  table[BL_TYPE_Q3_K] = deq_q3_K_avx512;
  table[BL_TYPE_Q4_K] = deq_q4_K_avx512;
  table[BL_TYPE_Q5_K] = deq_q5_K_avx512;
  table[BL_TYPE_Q6_K] = deq_q6_K_avx512;
  table[BL_TYPE_Q4_1] = deq_q4_1_avx512;
  table[BL_TYPE_Q5_0] = deq_q5_0_avx512;
  table[BL_TYPE_Q5_1] = deq_q5_1_avx512;
  table[BL_TYPE_MXFP4] = deq_mxfp4_avx512;
  table[BL_TYPE_NVFP4] = deq_nvfp4_avx512;
  table[BL_TYPE_Q2_0] = deq_q2_0_avx512;
  table[BL_TYPE_Q1_0] = deq_q1_0_avx512;
}

#else /* not x86 */

#include "internal.h"

void bl_fill_avx512_kernels(bl_kernel_fn table[BL_TYPE_COUNT]) { (void)table; }

#endif

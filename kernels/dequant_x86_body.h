/*
 * x86 SIMD dequantizer bodies, shared by dequant_avx2.c and dequant_avx512.c. The including file
 * defines BL_TARGET (the target attribute string), BL_SUFFIX (name suffix), and
 * `emit16(float *y, __m128i q, float d)` (y[k] = (float)q[k] * d for 16 signed bytes),
 * `emit16_min(float *y, __m128i q, float d, float m)` (y[k] = (float)q[k] * d - m) and
 * `emit16_add(float *y, __m128i q, float d, float m)` (y[k] = (float)q[k] * d + m).
 *
 * Each kernel decodes the quants of 16 elements into signed bytes with SSE/AVX2 integer operations and
 * hands them to emit16*, which performs the same float operations as the scalar reference in
 * dequant_ref.c (one multiply, then one subtract where ggml subtracts a min): the per-group scales such
 * as d*sc are computed in scalar code with ggml's operand order, so the results are bit-identical.
 */
#include <immintrin.h>
#include <math.h>

#include "internal.h"

#define BL_CAT2(a, b) a##b
#define BL_CAT(a, b) BL_CAT2(a, b)
#define BL_FN(name) BL_CAT(name, BL_SUFFIX)
#define BL_SIMD_FN static __attribute__((target(BL_TARGET)))

static const int8_t bl_kvalues_iq4nl_x86[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                               1,    13,   25,  38,  53,  69,  89,  113};

BL_SIMD_FN inline __m128i bl_low_nibbles(__m128i q) { return _mm_and_si128(q, _mm_set1_epi8(0x0F)); }
BL_SIMD_FN inline __m128i bl_high_nibbles(__m128i q) {
  return _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0F));
}
BL_SIMD_FN inline __m128i bl_two_bits(__m128i q, int shift) {
  return _mm_and_si128(_mm_srl_epi16(q, _mm_cvtsi32_si128(shift)), _mm_set1_epi8(3));
}
BL_SIMD_FN inline __m128i bl_load16(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

/* ggml-quants.c dequantize_row_q8_0 */
BL_SIMD_FN void BL_FN(deq_q8_0_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q8_0 *x = (const block_q8_0 *)src;
  for (int64_t i = 0; i < nb; i++, y += 32) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    emit16(y, bl_load16(x[i].qs), d);
    emit16(y + 16, bl_load16(x[i].qs + 16), d);
  }
}

/* ggml-quants.c dequantize_row_q4_0 */
BL_SIMD_FN void BL_FN(deq_q4_0_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q4_0 *x = (const block_q4_0 *)src;
  const __m128i eight = _mm_set1_epi8(8);
  for (int64_t i = 0; i < nb; i++, y += 32) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const __m128i q = bl_load16(x[i].qs);
    emit16(y, _mm_sub_epi8(bl_low_nibbles(q), eight), d);
    emit16(y + 16, _mm_sub_epi8(bl_high_nibbles(q), eight), d);
  }
}

/* ggml-quants.c dequantize_row_iq4_nl */
BL_SIMD_FN void BL_FN(deq_iq4_nl_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_iq4_nl *x = (const block_iq4_nl *)src;
  const __m128i table = bl_load16(bl_kvalues_iq4nl_x86);
  for (int64_t i = 0; i < nb; i++, y += 32) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const __m128i q = bl_load16(x[i].qs);
    emit16(y, _mm_shuffle_epi8(table, bl_low_nibbles(q)), d);
    emit16(y + 16, _mm_shuffle_epi8(table, bl_high_nibbles(q)), d);
  }
}

/* ggml-quants.c dequantize_row_iq4_xs */
BL_SIMD_FN void BL_FN(deq_iq4_xs_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_iq4_xs *x = (const block_iq4_xs *)src;
  const __m128i table = bl_load16(bl_kvalues_iq4nl_x86);
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    uint16_t scales_h;
    memcpy(&scales_h, &x[i].scales_h, sizeof scales_h);
    for (int ib = 0; ib < QK_K / 32; ++ib, y += 32) {
      const int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((scales_h >> 2 * ib) & 3) << 4);
      const float dl = d * (ls - 32);
      const __m128i q = bl_load16(x[i].qs + 16 * ib);
      emit16(y, _mm_shuffle_epi8(table, bl_low_nibbles(q)), dl);
      emit16(y + 16, _mm_shuffle_epi8(table, bl_high_nibbles(q)), dl);
    }
  }
}

/* ggml-quants.c dequantize_row_tq2_0 */
BL_SIMD_FN void BL_FN(deq_tq2_0_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_tq2_0 *x = (const block_tq2_0 *)src;
  const __m128i one = _mm_set1_epi8(1);
  for (int64_t i = 0; i < nb; ++i) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    for (int j = 0; j < QK_K / 4; j += 32) {
      const __m128i q0 = bl_load16(x[i].qs + j);
      const __m128i q1 = bl_load16(x[i].qs + j + 16);
      for (int l = 0; l < 4; ++l, y += 32) {
        emit16(y, _mm_sub_epi8(bl_two_bits(q0, 2 * l), one), d);
        emit16(y + 16, _mm_sub_epi8(bl_two_bits(q1, 2 * l), one), d);
      }
    }
  }
}

/* BitNet I2_S, see deq_i2_s in dequant_ref.c: map2bit {-1, 0, +1, 0} through a byte shuffle. */
BL_SIMD_FN void BL_FN(deq_i2_s_)(const uint8_t *src, float *y, int64_t nb, float scale) {
  const __m128i map2bit = _mm_setr_epi8(-1, 0, 1, 0, -1, 0, 1, 0, -1, 0, 1, 0, -1, 0, 1, 0);
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t *q = src + i * I2_S_BLOCK_BYTES;
    const __m128i q0 = bl_load16(q);
    const __m128i q1 = bl_load16(q + 16);
    for (int g = 0; g < 4; ++g, y += 32) {
      emit16(y, _mm_shuffle_epi8(map2bit, bl_two_bits(q0, 6 - 2 * g)), scale);
      emit16(y + 16, _mm_shuffle_epi8(map2bit, bl_two_bits(q1, 6 - 2 * g)), scale);
    }
  }
}

/* ggml-quants.c dequantize_row_q2_K: y = (d*(sc&15)) * q - (dmin*(sc>>4)) per 16 elements */
BL_SIMD_FN void BL_FN(deq_q2_K_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q2_K *x = (const block_q2_K *)src;
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const float min = bl_fp16_to_fp32(bl_load_half(&x[i].dmin));
    const uint8_t *q = x[i].qs;
    int is = 0;
    for (int n = 0; n < QK_K; n += 128, q += 32) {
      const __m128i q0 = bl_load16(q);
      const __m128i q1 = bl_load16(q + 16);
      for (int shift = 0; shift < 8; shift += 2, y += 32) {
        uint8_t sc = x[i].scales[is++];
        emit16_min(y, bl_two_bits(q0, shift), d * (sc & 0xF), min * (sc >> 4));
        sc = x[i].scales[is++];
        emit16_min(y + 16, bl_two_bits(q1, shift), d * (sc & 0xF), min * (sc >> 4));
      }
    }
  }
}

/* ggml-quants.c dequantize_row_q3_K */
BL_SIMD_FN void BL_FN(deq_q3_K_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q3_K *x = (const block_q3_K *)src;
  const uint32_t kmask1 = 0x03030303;
  const uint32_t kmask2 = 0x0f0f0f0f;
  uint32_t aux[4];
  const int8_t *scales = (const int8_t *)aux;
  const __m128i four = _mm_set1_epi8(4);
  const __m128i zero = _mm_setzero_si128();
  for (int64_t i = 0; i < nb; i++) {
    const float d_all = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint8_t *q = x[i].qs;
    const __m128i hm0 = bl_load16(x[i].hmask);
    const __m128i hm1 = bl_load16(x[i].hmask + 16);
    memcpy(aux, x[i].scales, 12);
    const uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    int is = 0;
    int m = 1;
    for (int n = 0; n < QK_K; n += 128, q += 32) {
      const __m128i q0 = bl_load16(q);
      const __m128i q1 = bl_load16(q + 16);
      for (int shift = 0; shift < 8; shift += 2, m <<= 1, y += 32) {
        const __m128i bit = _mm_set1_epi8((char)m);
        /* 4 where the high bit is clear, as `(hm[l] & m) ? 0 : 4` */
        const __m128i sub0 = _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(hm0, bit), zero), four);
        const __m128i sub1 = _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(hm1, bit), zero), four);
        const float dl0 = d_all * (scales[is++] - 32);
        emit16(y, _mm_sub_epi8(bl_two_bits(q0, shift), sub0), dl0);
        const float dl1 = d_all * (scales[is++] - 32);
        emit16(y + 16, _mm_sub_epi8(bl_two_bits(q1, shift), sub1), dl1);
      }
    }
  }
}

/* ggml-quants.c get_scale_min_k4 */
static inline void bl_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

/* ggml-quants.c dequantize_row_q4_K */
BL_SIMD_FN void BL_FN(deq_q4_K_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q4_K *x = (const block_q4_K *)src;
  for (int64_t i = 0; i < nb; i++) {
    const uint8_t *q = x[i].qs;
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const float min = bl_fp16_to_fp32(bl_load_half(&x[i].dmin));
    for (int is = 0; is < QK_K / 32; is += 2, q += 32, y += 64) {
      uint8_t sc, m;
      bl_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      bl_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      const __m128i q0 = bl_load16(q);
      const __m128i q1 = bl_load16(q + 16);
      emit16_min(y, bl_low_nibbles(q0), d1, m1);
      emit16_min(y + 16, bl_low_nibbles(q1), d1, m1);
      emit16_min(y + 32, bl_high_nibbles(q0), d2, m2);
      emit16_min(y + 48, bl_high_nibbles(q1), d2, m2);
    }
  }
}

/* ggml-quants.c dequantize_row_q5_K */
BL_SIMD_FN void BL_FN(deq_q5_K_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q5_K *x = (const block_q5_K *)src;
  const __m128i sixteen = _mm_set1_epi8(16);
  for (int64_t i = 0; i < nb; i++) {
    const uint8_t *ql = x[i].qs;
    const __m128i qh0 = bl_load16(x[i].qh);
    const __m128i qh1 = bl_load16(x[i].qh + 16);
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const float min = bl_fp16_to_fp32(bl_load_half(&x[i].dmin));
    int u1 = 1, u2 = 2;
    for (int is = 0; is < QK_K / 32; is += 2, ql += 32, y += 64, u1 <<= 2, u2 <<= 2) {
      uint8_t sc, m;
      bl_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      bl_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      const __m128i b1 = _mm_set1_epi8((char)u1);
      const __m128i b2 = _mm_set1_epi8((char)u2);
      /* 16 where the bit is set, as `(qh[l] & u) ? 16 : 0` */
      const __m128i h10 = _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(qh0, b1), b1), sixteen);
      const __m128i h11 = _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(qh1, b1), b1), sixteen);
      const __m128i h20 = _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(qh0, b2), b2), sixteen);
      const __m128i h21 = _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(qh1, b2), b2), sixteen);
      const __m128i q0 = bl_load16(ql);
      const __m128i q1 = bl_load16(ql + 16);
      emit16_min(y, _mm_add_epi8(bl_low_nibbles(q0), h10), d1, m1);
      emit16_min(y + 16, _mm_add_epi8(bl_low_nibbles(q1), h11), d1, m1);
      emit16_min(y + 32, _mm_add_epi8(bl_high_nibbles(q0), h20), d2, m2);
      emit16_min(y + 48, _mm_add_epi8(bl_high_nibbles(q1), h21), d2, m2);
    }
  }
}

/* ggml-quants.c dequantize_row_q6_K: y = (d * sc) * q with 16 elements per scale */
BL_SIMD_FN void BL_FN(deq_q6_K_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q6_K *x = (const block_q6_K *)src;
  const __m128i mask30 = _mm_set1_epi8(0x30);
  const __m128i thirty_two = _mm_set1_epi8(32);
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const uint8_t *ql = x[i].ql;
    const uint8_t *qh = x[i].qh;
    const int8_t *sc = x[i].scales;
    for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int half = 0; half < 2; ++half) {
        const int l = 16 * half;
        const __m128i lo = bl_load16(ql + l);
        const __m128i hi = bl_load16(ql + l + 32);
        const __m128i h = bl_load16(qh + l);
        const __m128i q1 = _mm_sub_epi8(_mm_or_si128(bl_low_nibbles(lo), _mm_and_si128(_mm_slli_epi16(h, 4), mask30)),
                                        thirty_two);
        const __m128i q2 = _mm_sub_epi8(_mm_or_si128(bl_low_nibbles(hi), _mm_and_si128(_mm_slli_epi16(h, 2), mask30)),
                                        thirty_two);
        const __m128i q3 =
            _mm_sub_epi8(_mm_or_si128(bl_high_nibbles(lo), _mm_and_si128(h, mask30)), thirty_two);
        const __m128i q4 = _mm_sub_epi8(_mm_or_si128(bl_high_nibbles(hi), _mm_and_si128(_mm_srli_epi16(h, 2), mask30)),
                                        thirty_two);
        emit16(y + l + 0, q1, d * sc[half + 0]);
        emit16(y + l + 32, q2, d * sc[half + 2]);
        emit16(y + l + 64, q3, d * sc[half + 4]);
        emit16(y + l + 96, q4, d * sc[half + 6]);
      }
    }
  }
}

/* ggml-quants.c dequantize_row_q4_1: y = q * d + m */
BL_SIMD_FN void BL_FN(deq_q4_1_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q4_1 *x = (const block_q4_1 *)src;
  for (int64_t i = 0; i < nb; i++, y += 32) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const float m = bl_fp16_to_fp32(bl_load_half(&x[i].m));
    const __m128i q = bl_load16(x[i].qs);
    emit16_add(y, bl_low_nibbles(q), d, m);
    emit16_add(y + 16, bl_high_nibbles(q), d, m);
  }
}

/*
 * The fifth bits of a Q5 block as 0x10 bytes: element j (0..15) takes bit j of qh, element 16+j bit
 * 16+j, as `((qh >> j) << 4) & 0x10` and `(qh >> (j + 12)) & 0x10` in ggml.
 */
BL_SIMD_FN inline void bl_q5_high_bits(const uint8_t qh_bytes[4], __m128i *low, __m128i *high) {
  uint32_t qh;
  memcpy(&qh, qh_bytes, sizeof qh);
  const __m128i bytes = _mm_cvtsi32_si128((int)qh);
  const __m128i bit = _mm_set1_epi64x((long long)0x8040201008040201ULL);
  const __m128i sixteen = _mm_set1_epi8(0x10);
  const __m128i lo_bytes = _mm_shuffle_epi8(bytes, _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const __m128i hi_bytes = _mm_shuffle_epi8(bytes, _mm_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  *low = _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(lo_bytes, bit), bit), sixteen);
  *high = _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(hi_bytes, bit), bit), sixteen);
}

/* ggml-quants.c dequantize_row_q5_0 */
BL_SIMD_FN void BL_FN(deq_q5_0_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q5_0 *x = (const block_q5_0 *)src;
  const __m128i sixteen = _mm_set1_epi8(16);
  for (int64_t i = 0; i < nb; i++, y += 32) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    __m128i h0, h1;
    bl_q5_high_bits(x[i].qh, &h0, &h1);
    const __m128i q = bl_load16(x[i].qs);
    emit16(y, _mm_sub_epi8(_mm_or_si128(bl_low_nibbles(q), h0), sixteen), d);
    emit16(y + 16, _mm_sub_epi8(_mm_or_si128(bl_high_nibbles(q), h1), sixteen), d);
  }
}

/* ggml-quants.c dequantize_row_q5_1 */
BL_SIMD_FN void BL_FN(deq_q5_1_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q5_1 *x = (const block_q5_1 *)src;
  for (int64_t i = 0; i < nb; i++, y += 32) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const float m = bl_fp16_to_fp32(bl_load_half(&x[i].m));
    __m128i h0, h1;
    bl_q5_high_bits(x[i].qh, &h0, &h1);
    const __m128i q = bl_load16(x[i].qs);
    emit16_add(y, _mm_or_si128(bl_low_nibbles(q), h0), d, m);
    emit16_add(y + 16, _mm_or_si128(bl_high_nibbles(q), h1), d, m);
  }
}

static const int8_t bl_kvalues_fp4_x86[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* ggml-impl.h ggml_e8m0_to_fp32_half */
static inline float bl_e8m0_to_fp32_half(uint8_t x) {
  const uint32_t bits = x < 2 ? (UINT32_C(0x00200000) << x) : ((uint32_t)(x - 1) << 23);
  return bl_f32_from_bits(bits);
}

/* ggml-impl.h ggml_ue4m3_to_fp32 */
static inline float bl_ue4m3_to_fp32(uint8_t x) {
  if (x == 0 || x == 0x7F) return 0.0f;
  const int exp = (x >> 3) & 0xF;
  const int man = x & 0x7;
  const float raw = exp == 0 ? ldexpf((float)man, -9) : ldexpf(1.0f + (float)man / 8.0f, exp - 7);
  return raw * 0.5f;
}

/* ggml-quants.c dequantize_row_mxfp4 */
BL_SIMD_FN void BL_FN(deq_mxfp4_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_mxfp4 *x = (const block_mxfp4 *)src;
  const __m128i table = bl_load16(bl_kvalues_fp4_x86);
  for (int64_t i = 0; i < nb; i++, y += 32) {
    const float d = bl_e8m0_to_fp32_half(x[i].e);
    const __m128i q = bl_load16(x[i].qs);
    emit16(y, _mm_shuffle_epi8(table, bl_low_nibbles(q)), d);
    emit16(y + 16, _mm_shuffle_epi8(table, bl_high_nibbles(q)), d);
  }
}

/* ggml-quants.c dequantize_row_nvfp4: 4 sub-blocks of 16 with a UE4M3 scale each */
BL_SIMD_FN void BL_FN(deq_nvfp4_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_nvfp4 *x = (const block_nvfp4 *)src;
  const __m128i table = bl_load16(bl_kvalues_fp4_x86);
  for (int64_t i = 0; i < nb; i++) {
    const __m128i q = bl_load16(x[i].qs);
    const __m128i q2 = bl_load16(x[i].qs + 16);
    const __m128i lo0 = bl_low_nibbles(q), hi0 = bl_high_nibbles(q);
    const __m128i lo1 = bl_low_nibbles(q2), hi1 = bl_high_nibbles(q2);
    /* sub-block sb holds bytes 8sb..8sb+7: low nibbles are elements 0..7, high nibbles 8..15 */
    emit16(y, _mm_shuffle_epi8(table, _mm_unpacklo_epi64(lo0, hi0)), bl_ue4m3_to_fp32(x[i].d[0]));
    emit16(y + 16, _mm_shuffle_epi8(table, _mm_unpackhi_epi64(lo0, hi0)), bl_ue4m3_to_fp32(x[i].d[1]));
    emit16(y + 32, _mm_shuffle_epi8(table, _mm_unpacklo_epi64(lo1, hi1)), bl_ue4m3_to_fp32(x[i].d[2]));
    emit16(y + 48, _mm_shuffle_epi8(table, _mm_unpackhi_epi64(lo1, hi1)), bl_ue4m3_to_fp32(x[i].d[3]));
    y += 64;
  }
}

/* ggml-quants.c dequantize_row_q2_0: element j is bits 2(j%4)..2(j%4)+1 of byte j/4, value q - 1 */
BL_SIMD_FN void BL_FN(deq_q2_0_)(const uint8_t *src, float *y, int64_t nb, float s) {
  (void)s;
  const block_q2_0 *x = (const block_q2_0 *)src;
  const __m128i three = _mm_set1_epi8(3);
  const __m128i one = _mm_set1_epi8(1);
  const __m128i lane0 = _mm_set1_epi32(0x000000FF), lane1 = _mm_set1_epi32(0x0000FF00);
  const __m128i lane2 = _mm_set1_epi32(0x00FF0000), lane3 = _mm_set1_epi32((int)0xFF000000u);
  for (int64_t i = 0; i < nb; i++) {
    const float d = bl_fp16_to_fp32(bl_load_half(&x[i].d));
    const __m128i q = bl_load16(x[i].qs);
    for (int g = 0; g < 4; ++g, y += 16) {
      /* bytes 4g..4g+3, each repeated 4 times */
      const __m128i idx = _mm_add_epi8(_mm_set1_epi8((char)(4 * g)),
                                       _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
      const __m128i b = _mm_shuffle_epi8(q, idx);
      const __m128i v = _mm_or_si128(
          _mm_or_si128(_mm_and_si128(b, lane0), _mm_and_si128(_mm_srli_epi16(b, 2), lane1)),
          _mm_or_si128(_mm_and_si128(_mm_srli_epi16(b, 4), lane2), _mm_and_si128(_mm_srli_epi16(b, 6), lane3)));
      emit16(y, _mm_sub_epi8(_mm_and_si128(v, three), one), d);
    }
  }
}

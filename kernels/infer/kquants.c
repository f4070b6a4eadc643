/*
 * K-quant products on integers, as llama.cpp computes them: activations are quantized to Q8_K
 * (block_q8_K: f32 d, 256 int8, 16 int16 sums of 16) and each weight super-block contributes
 * through its 6-bit sub-block scales and mins.
 *
 * Bit-exact with ggml (llama.cpp v0.5.0's x86 builds of ggml-cpu, ggml-cpu/arch/x86/quants.c):
 * - quantize_row_q8_K (ggml-quants.c quantize_row_q8_K_ref): the signed value of largest
 *   magnitude `max`, iscale = -127 / max, codes = min(127, round-to-nearest-even(iscale * x)),
 *   d = 1 / iscale, bsums = sums of 16 codes;
 * - ggml_vec_dot_q6_K_q8_K: per super-block, 8 int32 lanes (lane k: for each 32-element group,
 *   its 16-element sub-block scale times the products q * x of elements 4k .. 4k + 3 of the
 *   group, q unsigned 0..63), minus the -32 offset from the 16-sums (lane j and 4 + j: 32 *
 *   scale * bsum for sub-blocks 2j, 2j + 1 and 8 + 2j, 9 + 2j); acc = fma(d_x * d_w, lanes, acc),
 *   then hsum_float_8.
 * - ggml_vec_dot_q2_K_q8_K / ggml_vec_dot_q3_K_q8_K: 8 lanes as Q6_K (a 16-element sub-block's
 *   scale per half of each 32-element group); Q2_K's mins first go into the same accumulator as
 *   fma(-d_x * dmin_w, min * bsum pairs, acc), Q3_K's codes are signed (q - 4).
 * - ggml_vec_dot_iq4_xs_q8_K: codes from the IQ4_NL table, 8 lanes with one signed 6-bit scale
 *   per 32-element sub-block, acc = fma(d_w * d_x, lanes, acc), hsum_float_8.
 * - ggml_vec_dot_q5_K_q8_K: the lanes of Q4_K with 5-bit codes; the mins as one integer per
 *   super-block, summs = fma(dmin, sum, summs) (ggml's `summs += dmin * sum`, contracted by its
 *   compiler), result hsum_float_8(acc) + summs.
 * - ggml_vec_dot_q4_K_q8_K: per super-block, 8 int32 lanes (lane k: sub-block scale times the
 *   products of elements 64j + 4k .. 64j + 4k + 3 and 64j + 32 + 4k .. + 3, j < 4), accumulated
 *   as acc = fma(d_x * d_w, lanes, acc); the mins as 4 lanes fma(-d_x * dmin_w, pairs of
 *   min * (bsum + bsum), acc_m); result hsum_float_8(acc) + ((m0 + m2) + (m1 + m3)). The scalar
 *   twin evaluates exactly that.
 */
#include "internal.h"

#define QK_K 256
#define Q8_K_BYTES 292 /* f32 d, int8 qs[256], int16 bsums[16] */
#define Q4_K_BYTES 144 /* f16 d, f16 dmin, scales[12], qs[128] */
#define Q2_K_BYTES 84  /* scales[16] (scale | min << 4), qs[64], f16 d, f16 dmin */
#define Q3_K_BYTES 110 /* hmask[32], qs[64], scales[12], f16 d */
#define Q5_K_BYTES 176 /* f16 d, f16 dmin, scales[12], qh[32], qs[128] */
#define Q6_K_BYTES 210
#define IQ4_XS_BYTES 136 /* f16 d, u16 scales_h, scales_l[4], qs[128] */ /* ql[128], qh[64], int8 scales[16], f16 d */

/* The f32 scale d of a Q8_K block. */
static inline float q8k_d(const uint8_t *xb) {
  float d;
  memcpy(&d, xb, 4);
  return d;
}

/* ------------------------------------------------------------------------------------------ */
/* Q8_K activations                                                                            */

static void quantize_q8_k_row(const float *x, int64_t n, uint8_t *out) {
  for (int64_t b = 0; b < n / QK_K; b++) {
    const float *xb = x + b * QK_K;
    uint8_t *ob = out + b * Q8_K_BYTES;
    int8_t *qs = (int8_t *)(ob + 4);
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < QK_K; i++) {
      float ax = fabsf(xb[i]);
      if (ax > amax) {
        amax = ax;
        max = xb[i];
      }
    }
    float d = 0.0f;
    if (amax == 0.0f) {
      memset(qs, 0, QK_K);
    } else {
      float iscale = -127.0f / max;
      for (int i = 0; i < QK_K; i++) {
        int v = (int)nearbyintf(iscale * xb[i]);
        qs[i] = (int8_t)(v < 127 ? v : 127);
      }
      d = 1.0f / iscale;
    }
    memcpy(ob, &d, 4);
    for (int j = 0; j < 16; j++) {
      int16_t s = 0;
      for (int i = 0; i < 16; i++) s = (int16_t)(s + qs[16 * j + i]);
      memcpy(ob + 4 + QK_K + 2 * j, &s, 2);
    }
  }
}

/**
 * Quantizes `rows` rows of `width` floats (width % 256 == 0) to Q8_K blocks, `width / 256 * 292`
 * bytes per row, with the bytes of ggml's quantize_row_q8_K.
 */
BL_API void bl_quantize_rows_q8_k(const float *x, int64_t rows, int64_t width, uint8_t *out) {
  int64_t row_bytes = width / QK_K * Q8_K_BYTES;
  for (int64_t r = 0; r < rows; r++) quantize_q8_k_row(x + r * width, width, out + r * row_bytes);
}

/* ------------------------------------------------------------------------------------------ */
/* Q4_K                                                                                        */

/* The 8 sub-block scales and 8 mins of a Q4_K super-block (ggml-quants.c get_scale_min_k4). */
static inline void q4_k_scales(const uint8_t *sc12, uint8_t sc[8], uint8_t mn[8]) {
  for (int j = 0; j < 4; j++) {
    sc[j] = sc12[j] & 63;
    mn[j] = sc12[j + 4] & 63;
  }
  for (int j = 4; j < 8; j++) {
    sc[j] = (uint8_t)((sc12[j + 4] & 0xF) | ((sc12[j - 4] >> 6) << 4));
    mn[j] = (uint8_t)((sc12[j + 4] >> 4) | ((sc12[j] >> 6) << 4));
  }
}

/* The mins' 4 int32 lanes: mins[2j] * (b[4j] + b[4j+1]) + mins[2j+1] * (b[4j+2] + b[4j+3]). */
static inline void q4_k_min_lanes(const uint8_t mn[8], const int16_t *bsums, int32_t out[4]) {
  for (int j = 0; j < 4; j++) {
    int16_t s0 = (int16_t)(bsums[4 * j] + bsums[4 * j + 1]);
    int16_t s1 = (int16_t)(bsums[4 * j + 2] + bsums[4 * j + 3]);
    out[j] = mn[2 * j] * s0 + mn[2 * j + 1] * s1;
  }
}

/* The shared head of a Q4_K / Q5_K super-block against a Q8_K block: d = d_x * d_w,
 * dmin = -d_x * dmin_w, the sub-block scales, and the mins' 4 integer lanes. */
typedef struct {
  float d, dmin;
  uint8_t sc[8];
  int32_t mins[4];
} k4_head;

static inline void k4_head_of(const uint8_t *wb, const uint8_t *xb, k4_head *h) {
  const float dy = q8k_d(xb);
  int16_t bsums[16];
  uint8_t mn[8];
  memcpy(bsums, xb + 4 + QK_K, 32);
  h->d = dy * f16_at(wb);
  h->dmin = -dy * f16_at(wb + 2);
  q4_k_scales(wb + 4, h->sc, mn);
  q4_k_min_lanes(mn, bsums, h->mins);
}

/* The 256 codes of a Q4_K (5 = false) or Q5_K (true) super-block in element order: element
 * 64j + l (l < 32) is the low nibble of qs[32j + l], 64j + 32 + l the high one; Q5_K adds bit
 * 2j (low) or 2j + 1 (high) of qh[l] as the fifth bit. */
static void k45_codes(const uint8_t *wb, int five, uint8_t codes[QK_K]) {
  const uint8_t *qh = wb + 16, *qs = wb + (five ? 48 : 16);
  for (int j = 0; j < 4; j++) {
    for (int l = 0; l < 32; l++) {
      uint8_t lo = qs[32 * j + l] & 0xF, hi = qs[32 * j + l] >> 4;
      if (five) {
        lo |= ((qh[l] >> (2 * j)) & 1) << 4;
        hi |= ((qh[l] >> (2 * j + 1)) & 1) << 4;
      }
      codes[64 * j + l] = lo;
      codes[64 * j + 32 + l] = hi;
    }
  }
}

/* Scalar twin of the Q4_K and Q5_K dots: lane (e mod 32) / 4 sums scale[e / 32] * code * x;
 * the mins as 4 fma lanes (Q4_K) or one fma per super-block (Q5_K), in ggml's orders. */
static float dot_k45_scalar(const uint8_t *w, const uint8_t *x, int64_t nblk, int five) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, accm[4] = {0, 0, 0, 0}, summs = 0.0f;
  uint8_t codes[QK_K];
  for (int64_t b = 0; b < nblk; b++) {
    const uint8_t *wb = w + b * (five ? Q5_K_BYTES : Q4_K_BYTES), *xb = x + b * Q8_K_BYTES;
    k4_head h;
    k4_head_of(wb, xb, &h);
    if (five) {
      summs = fmaf(h.dmin, (float)((h.mins[0] + h.mins[1]) + (h.mins[2] + h.mins[3])), summs);
    } else {
      for (int j = 0; j < 4; j++) accm[j] = fmaf(h.dmin, (float)h.mins[j], accm[j]);
    }
    k45_codes(wb, five, codes);
    const int8_t *q8 = (const int8_t *)xb + 4;
    int32_t lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int e = 0; e < QK_K; e++) lane[(e % 32) / 4] += h.sc[e / 32] * codes[e] * q8[e];
    for (int k = 0; k < 8; k++) acc[k] = fmaf(h.d, (float)lane[k], acc[k]);
  }
  return hsum8_scalar(acc) + (five ? summs : ((accm[0] + accm[2]) + (accm[1] + accm[3])));
}

static float dot_q4_k_scalar(const uint8_t *w, const uint8_t *x, int64_t nblk) {
  return dot_k45_scalar(w, x, nblk, 0);
}

static float dot_q5_k_scalar(const uint8_t *w, const uint8_t *x, int64_t nblk) {
  return dot_k45_scalar(w, x, nblk, 1);
}

#if BL_X86
/* q4_k_scales in registers, four codes per 32-bit word, no byte stores (a store-forwarding stall
 * made the first version 3.6x slower): 16 x i16 = scales 0..7, mins 0..7. */
BL_AVX2 static inline __m256i q4_k_scales_avx2(const uint8_t *sc12) {
  uint32_t a0, a1, a2;
  memcpy(&a0, sc12, 4);
  memcpy(&a1, sc12 + 4, 4);
  memcpy(&a2, sc12 + 8, 4);
  const uint32_t k6 = 0x3f3f3f3f, k4 = 0x0f0f0f0f, k2 = 0x03030303;
  __m128i packed = _mm_set_epi32((int)(((a2 >> 4) & k4) | (((a1 >> 6) & k2) << 4)),
                                 (int)(a1 & k6), (int)((a2 & k4) | (((a0 >> 6) & k2) << 4)),
                                 (int)(a0 & k6));
  return _mm256_cvtepu8_epi16(packed);
}

/* k4_head_of for the AVX2 kernels: d, dmin, the 8 scales as i16 in both 128-bit halves, and
 * the mins' 4 int32 lanes (returned). */
BL_AVX2 static inline __m128i k4_head_avx2(const uint8_t *wb, const uint8_t *xb, float *d,
                                           float *dmin, __m256i *scales) {
  const float dy = q8k_d(xb);
  *d = dy * f16c_at(wb);
  *dmin = -dy * f16c_at(wb + 2);
  __m256i sm = q4_k_scales_avx2(wb + 4);
  *scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm));
  __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)(xb + 4 + QK_K)),
                              _mm_loadu_si128((const __m128i *)(xb + 4 + QK_K + 16)));
  return _mm_madd_epi16(_mm256_extracti128_si256(sm, 1), bs);
}

BL_AVX2 static float dot_q4_k_avx2(const uint8_t *w, const uint8_t *x, int64_t nblk) {
  const __m256i m4 = _mm256_set1_epi8(0xF);
  __m256 acc = _mm256_setzero_ps();
  __m128 accm = _mm_setzero_ps();
  for (int64_t b = 0; b < nblk; b++) {
    const uint8_t *wb = w + b * Q4_K_BYTES, *xb = x + b * Q8_K_BYTES;
    float d, dmin;
    __m256i scales;
    __m128i prod = k4_head_avx2(wb, xb, &d, &dmin, &scales);
    accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), accm);
    const uint8_t *q4 = wb + 16;
    const int8_t *q8 = (const int8_t *)xb + 4;
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 4; j++) {
      /* i16 scale 2j (low nibbles) and 2j + 1 (high) in every lane: byte shuffles */
      __m256i scl = _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)(((4 * j + 1) << 8) | 4 * j)));
      __m256i sch = _mm256_shuffle_epi8(
          scales, _mm256_set1_epi16((short)(((4 * j + 3) << 8) | (4 * j + 2))));
      __m256i bits = _mm256_loadu_si256((const __m256i *)(q4 + 32 * j));
      __m256i lo = _mm256_and_si256(bits, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
      __m256i pl = _mm256_madd_epi16(
          scl, _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j))));
      __m256i ph = _mm256_madd_epi16(
          sch, _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32))));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
  accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
  return hsum_f32_avx2(acc) + _mm_cvtss_f32(accm);
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* Q5_K (ggml-common.h block_q5_K): element 64j + l (l < 32) is the low nibble of qs[32j + l]    */
/* plus bit 2j of qh[l] as its 5th bit; element 64j + 32 + l the high nibble plus bit 2j + 1.   */
/* Scales and mins as in Q4_K.                                                                  */

#if BL_X86
BL_AVX2 static float dot_q5_k_avx2(const uint8_t *w, const uint8_t *x, int64_t nblk) {
  const __m256i m4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float summs = 0.0f;
  for (int64_t b = 0; b < nblk; b++) {
    const uint8_t *wb = w + b * Q5_K_BYTES, *xb = x + b * Q8_K_BYTES;
    float d, dmin;
    __m256i scales;
    __m128i prod = k4_head_avx2(wb, xb, &d, &dmin, &scales);
    prod = _mm_hadd_epi32(_mm_hadd_epi32(prod, _mm_setzero_si128()), _mm_setzero_si128());
    /* ggml writes summs += dmin * sum; its build contracts that into one fma */
    summs = fmaf(dmin, (float)_mm_cvtsi128_si32(prod), summs);
    const __m256i hbits = _mm256_loadu_si256((const __m256i *)(wb + 16));
    const int8_t *q8 = (const int8_t *)xb + 4;
    __m256i sumi = _mm256_setzero_si256();
    for (int j = 0; j < 4; j++) {
      __m256i scl = _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)(((4 * j + 1) << 8) | 4 * j)));
      __m256i sch = _mm256_shuffle_epi8(
          scales, _mm256_set1_epi16((short)(((4 * j + 3) << 8) | (4 * j + 2))));
      __m256i bits = _mm256_loadu_si256((const __m256i *)(wb + 48 + 32 * j));
      __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j), one);
      __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(hbits, 2 * j + 1), one);
      __m256i lo = _mm256_or_si256(_mm256_and_si256(bits, m4), _mm256_slli_epi16(h0, 4));
      __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4),
                                   _mm256_slli_epi16(h1, 4));
      __m256i pl = _mm256_madd_epi16(
          scl, _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j))));
      __m256i ph = _mm256_madd_epi16(
          sch, _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 64 * j + 32))));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum_f32_avx2(acc) + summs;
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* Q2_K and Q3_K (ggml-common.h block_q2_K, block_q3_K; ggml-quants.c dequantize_row_q2_K/q3_K): */
/* element 128h + 32i + m (h < 2, i < 4, m < 32) has low bits (qs[32h + m] >> 2i) & 3, and in   */
/* Q3_K the high bit (hmask[m] >> (4h + i)) & 1 (value low + 4 * high - 4); sub-block e / 16.   */

/* The 16 signed sub-block scales of a Q3_K super-block (6 bits each, minus 32). */
static inline void q3_k_scales(const uint8_t *sc12, int8_t out[16]) {
  uint32_t a0, a1, a2;
  memcpy(&a0, sc12, 4);
  memcpy(&a1, sc12 + 4, 4);
  memcpy(&a2, sc12 + 8, 4);
  const uint32_t k4 = 0x0f0f0f0f, k2 = 0x03030303;
  uint32_t w[4] = {(a0 & k4) | ((a2 & k2) << 4), (a1 & k4) | (((a2 >> 2) & k2) << 4),
                   ((a0 >> 4) & k4) | (((a2 >> 4) & k2) << 4),
                   ((a1 >> 4) & k4) | (((a2 >> 6) & k2) << 4)};
  uint8_t u[16];
  memcpy(u, w, 16);
  for (int k = 0; k < 16; k++) out[k] = (int8_t)(u[k] - 32);
}

/* Scalar twin of the Q2_K (three = false) and Q3_K dots. */
static float dot_k23_scalar(const uint8_t *w, const uint8_t *x, int64_t nblk, int three) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t b = 0; b < nblk; b++) {
    const uint8_t *wb = w + b * (three ? Q3_K_BYTES : Q2_K_BYTES), *xb = x + b * Q8_K_BYTES;
    const int8_t *q8 = (const int8_t *)xb + 4;
    const uint8_t *qs = wb + (three ? 32 : 16);
    const float dy = q8k_d(xb);
    const float d = dy * f16_at(wb + (three ? 108 : 80));
    int scale[16];
    if (three) {
      int8_t sc[16];
      q3_k_scales(wb + 96, sc);
      for (int k = 0; k < 16; k++) scale[k] = sc[k];
    } else {
      int16_t bsums[16];
      memcpy(bsums, xb + 4 + QK_K, 32);
      const float dmin = -dy * f16_at(wb + 82);
      for (int k = 0; k < 8; k++) {
        int32_t m = (wb[2 * k] >> 4) * bsums[2 * k] + (wb[2 * k + 1] >> 4) * bsums[2 * k + 1];
        acc[k] = fmaf(dmin, (float)m, acc[k]);
      }
      for (int k = 0; k < 16; k++) scale[k] = wb[k] & 0xF;
    }
    int32_t lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int e = 0; e < QK_K; e++) {
      int h = e / 128, i = (e % 128) / 32, m = e % 32;
      int v = (qs[32 * h + m] >> (2 * i)) & 3;
      if (three) v += 4 * ((wb[m] >> (4 * h + i)) & 1) - 4;
      lane[(e % 32) / 4] += scale[e / 16] * v * q8[e];
    }
    for (int k = 0; k < 8; k++) acc[k] = fmaf(d, (float)lane[k], acc[k]);
  }
  return hsum8_scalar(acc);
}

static float dot_q2_k_scalar(const uint8_t *w, const uint8_t *x, int64_t nblk) {
  return dot_k23_scalar(w, x, nblk, 0);
}

static float dot_q3_k_scalar(const uint8_t *w, const uint8_t *x, int64_t nblk) {
  return dot_k23_scalar(w, x, nblk, 1);
}

#if BL_X86
/* i16 scales 2i (lanes 0..3) and 2i + 1 (lanes 4..7) of a 16 x i16 vector holding 8 scales in
 * both halves. */
BL_AVX2 static inline __m256i scale_pair(__m256i scales8x2, int i) {
  return _mm256_shuffle_epi8(
      scales8x2, _mm256_set_epi16((short)(((4 * i + 3) << 8) | (4 * i + 2)),
                                  (short)(((4 * i + 3) << 8) | (4 * i + 2)),
                                  (short)(((4 * i + 3) << 8) | (4 * i + 2)),
                                  (short)(((4 * i + 3) << 8) | (4 * i + 2)),
                                  (short)(((4 * i + 3) << 8) | (4 * i + 2)),
                                  (short)(((4 * i + 3) << 8) | (4 * i + 2)),
                                  (short)(((4 * i + 3) << 8) | (4 * i + 2)),
                                  (short)(((4 * i + 3) << 8) | (4 * i + 2)),
                                  (short)(((4 * i + 1) << 8) | 4 * i),
                                  (short)(((4 * i + 1) << 8) | 4 * i),
                                  (short)(((4 * i + 1) << 8) | 4 * i),
                                  (short)(((4 * i + 1) << 8) | 4 * i),
                                  (short)(((4 * i + 1) << 8) | 4 * i),
                                  (short)(((4 * i + 1) << 8) | 4 * i),
                                  (short)(((4 * i + 1) << 8) | 4 * i),
                                  (short)(((4 * i + 1) << 8) | 4 * i)));
}

BL_AVX2 static inline __attribute__((always_inline)) float dot_k23_avx2(const uint8_t *w,
                                                                         const uint8_t *x,
                                                                         int64_t nblk, int three) {
  const __m256i m3 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nblk; b++) {
    const uint8_t *wb = w + b * (three ? Q3_K_BYTES : Q2_K_BYTES), *xb = x + b * Q8_K_BYTES;
    const int8_t *q8 = (const int8_t *)xb + 4;
    const uint8_t *qs = wb + (three ? 32 : 16);
    const float dy = q8k_d(xb);
    const float d = dy * f16c_at(wb + (three ? 108 : 80));
    __m256i all;
    if (three) {
      uint32_t a0, a1, a2;
      memcpy(&a0, wb + 96, 4);
      memcpy(&a1, wb + 100, 4);
      memcpy(&a2, wb + 104, 4);
      const uint32_t k4 = 0x0f0f0f0f, k2 = 0x03030303;
      __m128i s128 = _mm_set_epi32((int)(((a1 >> 4) & k4) | (((a2 >> 6) & k2) << 4)),
                                   (int)(((a0 >> 4) & k4) | (((a2 >> 4) & k2) << 4)),
                                   (int)((a1 & k4) | (((a2 >> 2) & k2) << 4)),
                                   (int)((a0 & k4) | ((a2 & k2) << 4)));
      all = _mm256_cvtepi8_epi16(_mm_sub_epi8(s128, _mm_set1_epi8(32)));
    } else {
      const float dmin = -dy * f16c_at(wb + 82);
      __m128i sm = _mm_loadu_si128((const __m128i *)wb);
      __m256i mins = _mm256_cvtepi8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), _mm_set1_epi8(0xF)));
      __m256i prod = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)(xb + 4 + QK_K)));
      acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc);
      all = _mm256_cvtepi8_epi16(_mm_and_si128(sm, _mm_set1_epi8(0xF)));
    }
    __m256i half[2] = {_mm256_permute2x128_si256(all, all, 0x00),
                       _mm256_permute2x128_si256(all, all, 0x11)};
    __m256i hbits = three ? _mm256_loadu_si256((const __m256i *)wb) : _mm256_setzero_si256();
    __m256i sumi = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
      __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
      for (int i = 0; i < 4; i++) {
        __m256i lo = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * i), m3);
        __m256i xv = _mm256_loadu_si256((const __m256i *)(q8 + 128 * h + 32 * i));
        __m256i p = _mm256_maddubs_epi16(lo, xv);
        if (three) {
          /* 4 where the high bit is clear: (low + 4 * high - 4) * x = low * x - that * x */
          __m256i hb = _mm256_set1_epi8((char)(1 << (4 * h + i)));
          __m256i clear = _mm256_cmpeq_epi8(_mm256_and_si256(hbits, hb), _mm256_setzero_si256());
          __m256i four = _mm256_and_si256(clear, _mm256_set1_epi8(4));
          p = _mm256_sub_epi16(p, _mm256_maddubs_epi16(four, xv));
        }
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scale_pair(half[h], i), p));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum_f32_avx2(acc);
}

BL_AVX2 static float dot_q2_k_avx2(const uint8_t *w, const uint8_t *x, int64_t nblk) {
  return dot_k23_avx2(w, x, nblk, 0);
}

BL_AVX2 static float dot_q3_k_avx2(const uint8_t *w, const uint8_t *x, int64_t nblk) {
  return dot_k23_avx2(w, x, nblk, 1);
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* Q6_K (ggml-common.h block_q6_K). Element 128h + 32i + m (h < 2, i < 4, m < 32) has low bits   */
/* from ql[64h + 32(i & 1) + m] (low nibble for i < 2, high for i >= 2) and high bits 2i..2i+1 */
/* of qh[32h + m]; the value is q - 32, scaled by scales[8h + 2i + m / 16].                    */

/* The unsigned 6-bit code q (0..63) of an element. */
static inline int q6_k_code(const uint8_t *ql, const uint8_t *qh, int h, int i, int m) {
  uint8_t lo = ql[64 * h + 32 * (i & 1) + m];
  lo = i < 2 ? (lo & 0xF) : (lo >> 4);
  return lo | (((qh[32 * h + m] >> (2 * i)) & 3) << 4);
}

static float dot_q6_k_scalar(const uint8_t *w, const uint8_t *x, int64_t nblk) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t b = 0; b < nblk; b++) {
    const uint8_t *wb = w + b * Q6_K_BYTES, *xb = x + b * Q8_K_BYTES;
    const uint8_t *ql = wb, *qh = wb + 128;
    const int8_t *sc = (const int8_t *)(wb + 192);
    const int8_t *q8 = (const int8_t *)xb + 4;
    const float d = q8k_d(xb) * f16_at(wb + 208);
    int16_t bsums[16];
    memcpy(bsums, xb + 4 + QK_K, 32);
    int32_t lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int h = 0; h < 2; h++) {
      for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 8; k++) {
          int32_t s = 0;
          for (int m = 4 * k; m < 4 * k + 4; m++)
            s += q6_k_code(ql, qh, h, i, m) * q8[128 * h + 32 * i + m];
          lane[k] += sc[8 * h + 2 * i + k / 4] * s;
        }
      }
    }
    /* the -32 offset, from the 16-sums: lane j (and 4 + j) takes pair j of sub-blocks 0..7
     * (8..15) */
    for (int j = 0; j < 4; j++) {
      lane[j] -= 32 * (bsums[2 * j] * sc[2 * j] + bsums[2 * j + 1] * sc[2 * j + 1]);
      lane[4 + j] -= 32 * (bsums[8 + 2 * j] * sc[8 + 2 * j] + bsums[9 + 2 * j] * sc[9 + 2 * j]);
    }
    for (int k = 0; k < 8; k++) acc[k] = fmaf(d, (float)lane[k], acc[k]);
  }
  return hsum8_scalar(acc);
}

#if BL_X86
BL_AVX2 static float dot_q6_k_avx2(const uint8_t *w, const uint8_t *x, int64_t nblk) {
  const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nblk; b++) {
    const uint8_t *wb = w + b * Q6_K_BYTES, *xb = x + b * Q8_K_BYTES;
    const int8_t *q8 = (const int8_t *)xb + 4;
    const float d = q8k_d(xb) * f16c_at(wb + 208);
    /* the -32 offset: 32 * scale * 16-sum, pairs of sub-blocks per lane (see the scalar twin) */
    __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wb + 192)));
    __m256i bsums16 = _mm256_loadu_si256((const __m256i *)(xb + 4 + QK_K));
    __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(),
                                    _mm256_slli_epi32(_mm256_madd_epi16(bsums16, scales16), 5));
    for (int h = 0; h < 2; h++) {
      __m256i l0 = _mm256_loadu_si256((const __m256i *)(wb + 64 * h));
      __m256i l1 = _mm256_loadu_si256((const __m256i *)(wb + 64 * h + 32));
      __m256i hb = _mm256_loadu_si256((const __m256i *)(wb + 128 + 32 * h));
      __m256i q[4];
      q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m3), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m3), 4));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m3), 4));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m3), 4));
      for (int i = 0; i < 4; i++) {
        __m256i xv = _mm256_loadu_si256((const __m256i *)(q8 + 128 * h + 32 * i));
        __m256i p = _mm256_maddubs_epi16(q[i], xv); /* 63 * 127 * 2 fits int16 */
        int16_t s0 = (int8_t)wb[192 + 8 * h + 2 * i], s1 = (int8_t)wb[192 + 8 * h + 2 * i + 1];
        __m256i sc = _mm256_setr_epi16(s0, s0, s0, s0, s0, s0, s0, s0, s1, s1, s1, s1, s1, s1, s1, s1);
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(sc, p));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum_f32_avx2(acc);
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* IQ4_XS (ggml-common.h block_iq4_xs; ggml-quants.c dequantize_row_iq4_xs): sub-block s (< 8)   */
/* has scale ((scales_l[s / 2] >> 4 (s % 2)) & 15 | ((scales_h >> 2s) & 3) << 4) - 32; element  */
/* 32s + j (j < 16) is kvalues_iq4nl[qs[16s + j] & 15], 32s + 16 + j the high nibble's value.   */

static inline int iq4_xs_scale(const uint8_t *wb, int s) {
  uint16_t sh;
  memcpy(&sh, wb + 2, 2);
  return (((wb[4 + s / 2] >> (4 * (s % 2))) & 0xF) | (((sh >> (2 * s)) & 3) << 4)) - 32;
}

static float dot_iq4_xs_scalar(const uint8_t *w, const uint8_t *x, int64_t nblk) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t b = 0; b < nblk; b++) {
    const uint8_t *wb = w + b * IQ4_XS_BYTES, *xb = x + b * Q8_K_BYTES;
    const int8_t *q8 = (const int8_t *)xb + 4;
    const float d = f16_at(wb) * q8k_d(xb);
    int32_t lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int e = 0; e < QK_K; e++) {
      int s = e / 32, j = e % 32;
      uint8_t byte = wb[8 + 16 * s + (j % 16)];
      int v = KVALUES_IQ4NL[j < 16 ? (byte & 0xF) : (byte >> 4)];
      lane[j / 4] += iq4_xs_scale(wb, s) * v * q8[e];
    }
    for (int k = 0; k < 8; k++) acc[k] = fmaf(d, (float)lane[k], acc[k]);
  }
  return hsum8_scalar(acc);
}

#if BL_X86
BL_AVX2 static float dot_iq4_xs_avx2(const uint8_t *w, const uint8_t *x, int64_t nblk) {
  const __m128i values = _mm_loadu_si128((const __m128i *)KVALUES_IQ4NL);
  const __m128i m4 = _mm_set1_epi8(0xF);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nblk; b++) {
    const uint8_t *wb = w + b * IQ4_XS_BYTES, *xb = x + b * Q8_K_BYTES;
    const int8_t *q8 = (const int8_t *)xb + 4;
    const float d = f16c_at(wb) * q8k_d(xb);
    __m256i sumi = _mm256_setzero_si256();
    for (int s = 0; s < 8; s++) {
      __m128i bits = _mm_loadu_si128((const __m128i *)(wb + 8 + 16 * s));
      __m256i v = _mm256_set_m128i(_mm_shuffle_epi8(values, _mm_and_si128(_mm_srli_epi16(bits, 4), m4)),
                                   _mm_shuffle_epi8(values, _mm_and_si128(bits, m4)));
      __m256i xv = _mm256_loadu_si256((const __m256i *)(q8 + 32 * s));
      /* |v| x sign(x, v): |v| <= 127, so pairs stay within int16 */
      __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(xv, v));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_set1_epi16((short)iq4_xs_scale(wb, s))));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum_f32_avx2(acc);
}
#endif

typedef struct {
  const uint8_t *w;
  int64_t rows, cols, ntok;
  const uint8_t *x; /* ntok rows of Q8_K activations */
  float *y;
  int lvl;
} kq_ctx;

typedef float (*kdot_fn)(const uint8_t *w, const uint8_t *x, int64_t nblk);

static void task_kq(kq_ctx *c, int64_t b, int64_t e, int64_t wbytes, kdot_fn simd, kdot_fn scalar) {
  int64_t nblk = c->cols / QK_K;
  kdot_fn dot = c->lvl >= BL_SIMD_AVX2 && simd ? simd : scalar;
  for (int64_t r = b; r < e; r++) {
    const uint8_t *w = c->w + r * nblk * wbytes;
    for (int64_t t = 0; t < c->ntok; t++)
      c->y[t * c->rows + r] = dot(w, c->x + t * nblk * Q8_K_BYTES, nblk);
  }
}

#if BL_X86
#define SIMD_OR_NULL(fn) fn
#else
#define SIMD_OR_NULL(fn) NULL
#endif

/* The entry points bl_matmul_<fmt>: `fmt` weights (cols % 256 == 0) times Q8_K activations
 * from bl_quantize_rows_q8_k, y[t * rows + r] = W[r, :] . x_t, with their row tasks. */
#define KQ_MATMUL(fmt, BYTES)                                                                  \
  static void task_##fmt(void *p, int64_t b, int64_t e) {                                      \
    task_kq((kq_ctx *)p, b, e, BYTES, SIMD_OR_NULL(dot_##fmt##_avx2), dot_##fmt##_scalar);     \
  }                                                                                            \
  BL_API void bl_matmul_##fmt(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x,    \
                            int64_t ntok, float *y) {                                          \
    kq_ctx c = {w, rows, cols, ntok, x, y, bl_level()};                                       \
    bl_parallel_for(task_##fmt, &c, rows, 8);                                                 \
  }

KQ_MATMUL(iq4_xs, IQ4_XS_BYTES)
KQ_MATMUL(q2_k, Q2_K_BYTES)
KQ_MATMUL(q3_k, Q3_K_BYTES)
KQ_MATMUL(q4_k, Q4_K_BYTES)
KQ_MATMUL(q5_k, Q5_K_BYTES)
KQ_MATMUL(q6_k, Q6_K_BYTES)

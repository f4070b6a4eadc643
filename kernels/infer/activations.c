/*
 * Activation quantization for the ternary and int8 kernels (BitNet's BitLinear scheme): one
 * absmax scale per token row, int8 codes, and the sum of each 32-code group.
 *
 * The arithmetic is bitnet.cpp's `quantize_row_i8_s` (ggml-quants.c of its llama.cpp fork), bit
 * for bit: max|x| in double with a floor of 1e-5, scale = (float)(127.0 / max) (a double
 * division rounded to float), codes = round-half-even((float)(x * scale)) clamped to
 * [-128, 127]. The kernels turn integer sums back into floats by dividing by that scale.
 */
#include "internal.h"

/* The fork's activation scale: 127 / max(max|x|, 1e-5), divided in double, stored as float. */
static inline float act_scale(float amax) {
  double m = (double)amax > 0.00001 ? (double)amax : 0.00001;
  return (float)(127.0 / m);
}


#if BL_X86
BL_AVX2 static float quantize_act_avx2(const float *x, int64_t n,
                                                                        int8_t *q, int32_t *gsum) {
  const __m256 signmask = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(signmask, _mm256_loadu_ps(x + i)));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  float amax = _mm_cvtss_f32(m4);
  float s = act_scale(amax);
  __m256 sv = _mm256_set1_ps(s);
  for (int64_t g = 0; g < n / 32; g++) {
    const float *xg = x + g * 32;
    /* cvtps rounds to nearest even, like nearbyintf and the fork's magic-number nearest_int;
     * |x*s| < 127.5, so no clamping is needed */
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg), sv));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + 8), sv));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + 16), sv));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + 24), sv));
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    gsum[g] = hsum_i32_avx2(sum);
    __m256i p01 = _mm256_packs_epi32(i0, i1); /* lanes interleaved per 128-bit half */
    __m256i p23 = _mm256_packs_epi32(i2, i3);
    __m256i b = _mm256_packs_epi16(p01, p23);
    /* undo the per-lane interleave: dwords 0 4 1 5 2 6 3 7 */
    b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(q + g * 32), b);
  }
  return s;
}
#endif

/**
 * Quantizes `n` floats (n a multiple of 32) to int8 with one absmax scale, writes the sum of each
 * 32-group of codes to `gsum[n/32]` and returns the scale 127 / max(max|x|, 1e-5) (codes are
 * x * scale; integer sums are divided by it to get floats back), bitnet.cpp's arithmetic.
 */
BL_API float bl_quantize_act(const float *x, int64_t n, int8_t *q, int32_t *gsum) {
#if BL_X86
  if (bl_level() >= BL_SIMD_AVX2) return quantize_act_avx2(x, n, q, gsum);
#endif
  float amax = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    float a = fabsf(x[i]);
    if (a > amax) amax = a;
  }
  float s = act_scale(amax);
  for (int64_t g = 0; g < n / 32; g++) {
    int32_t sum = 0;
    for (int i = 0; i < 32; i++) {
      float v = nearbyintf(x[g * 32 + i] * s);
      if (v > 127.0f) v = 127.0f;
      if (v < -128.0f) v = -128.0f;
      int8_t c = (int8_t)v;
      q[g * 32 + i] = c;
      sum += c;
    }
    gsum[g] = sum;
  }
  return s;
}

/** Quantizes `rows` rows of `width` (see bl_quantize_act); scales go to `factor[rows]`. */
BL_API void bl_quantize_rows(const float *x, int64_t rows, int64_t width, int8_t *q, int32_t *gsum,
                           float *factor) {
  for (int64_t r = 0; r < rows; r++)
    factor[r] = bl_quantize_act(x + r * width, width, q + r * width, gsum + r * (width / 32));
}

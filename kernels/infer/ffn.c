/*
 * FFN gating activations: SwiGLU (silu(g) * u, in ggml's arithmetic: its vectorized expf and
 * x / (1 + e^-x), then the product) and BitNet b1.58's squared ReLU (relu(g)^2 * u).
 */
#include "internal.h"

/* ------------------------------------------------------------------------------------------ */
/* FFN activations: g = act(g) * u                                                             */

/* ggml_v_silu: x / (1 + expf(0 - x)) */
static inline float ggml_silu_scalar(float x) { return x / (1.0f + ggml_expf_scalar(0.0f - x)); }

#if BL_X86
BL_AVX2 static inline __m256 ggml_v_expf(__m256 x) {
  const __m256 r = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
  const __m256 n = _mm256_sub_ps(z, r);
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                    _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
  const __m256 k =
      _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1))));
  const __m256i c = _mm256_castps_si256(
      _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n), _mm256_set1_ps(126), _CMP_GT_OQ));
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 j = _mm256_fmadd_ps(
      _mm256_fmadd_ps(
          _mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
          _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
      u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
  if (!_mm256_movemask_ps(_mm256_castsi256_ps(c))) return _mm256_fmadd_ps(j, k, k);
  const __m256i g = _mm256_and_si256(
      _mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
      _mm256_set1_epi32((int)0x82000000u));
  const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
  const __m256i d = _mm256_castps_si256(
      _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n), _mm256_set1_ps(192), _CMP_GT_OQ));
  return _mm256_or_ps(
      _mm256_and_ps(_mm256_castsi256_ps(d), _mm256_mul_ps(s1, s1)),
      _mm256_andnot_ps(
          _mm256_castsi256_ps(d),
          _mm256_or_ps(
              _mm256_and_ps(_mm256_castsi256_ps(c), _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1)),
              _mm256_andnot_ps(_mm256_castsi256_ps(c), _mm256_fmadd_ps(k, j, k)))));
}

/* g = silu(g) * u, 8 at a time (ggml_vec_silu_f32, then ggml_mul by up) */
BL_AVX2 static int64_t swiglu_avx2(float *g, const float *u, int64_t n) {
  int64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_loadu_ps(g + i);
    __m256 e = ggml_v_expf(_mm256_sub_ps(_mm256_setzero_ps(), x));
    __m256 silu = _mm256_div_ps(x, _mm256_add_ps(one, e));
    _mm256_storeu_ps(g + i, _mm256_mul_ps(silu, _mm256_loadu_ps(u + i)));
  }
  return i;
}
#endif

/** `kind` 0: g = silu(g) * u (SwiGLU); 1: g = relu(g)^2 * u. */
BL_API void bl_ffn_act(float *g, const float *u, int64_t n, int32_t kind) {
  int64_t i = 0;
  if (kind == 1) {
    for (; i < n; i++) {
      float a = g[i] > 0.0f ? g[i] : 0.0f;
      g[i] = a * a * u[i];
    }
    return;
  }
#if BL_X86
  if (bl_level() >= BL_SIMD_AVX2) i = swiglu_avx2(g, u, n);
#endif
  /* every level gives the same bits; ggml itself uses libm expf for a tail of n % 8 elements */
  for (; i < n; i++) g[i] = ggml_silu_scalar(g[i]) * u[i];
}

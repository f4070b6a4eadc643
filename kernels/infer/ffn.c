/*
 * FFN gating activations: SwiGLU (silu(g) * u) and BitNet b1.58's squared ReLU (relu(g)^2 * u).
 */
#include "internal.h"

/* ------------------------------------------------------------------------------------------ */
/* FFN activations: g = act(g) * u                                                             */

#if BL_X86
/* Cephes-style expf: |relative error| < 2e-7 on [-87, 88] */
BL_AVX2 static inline __m256 exp_avx2(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f),
                                              _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 z = _mm256_mul_ps(x, x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  y = _mm256_fmadd_ps(y, z, _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

BL_AVX2 static int64_t swiglu_avx2(float *g, const float *u,
                                                                    int64_t n) {
  int64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_loadu_ps(g + i);
    __m256 e = exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x));
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
  for (; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

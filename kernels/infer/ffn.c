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

/* g = relu(g)^2 * u, 8 at a time: max(g, +0) is the scalar `g > 0 ? g : 0` for every input (NaN
 * and -0 give +0: vmaxps returns its second operand when either is NaN or both are zero), then the
 * same two f32 products in the same order. */
BL_AVX2 static int64_t relu2_avx2(float *g, const float *u, int64_t n) {
  int64_t i = 0;
  const __m256 zero = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    __m256 a = _mm256_max_ps(_mm256_loadu_ps(g + i), zero);
    _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_mul_ps(a, a), _mm256_loadu_ps(u + i)));
  }
  return i;
}
#endif

/** `kind` 0: g = silu(g) * u (SwiGLU); 1: g = relu(g)^2 * u. */
BL_API void bl_ffn_act(float *g, const float *u, int64_t n, int32_t kind) {
  int64_t i = 0;
  if (kind == 1) {
#if BL_X86
    if (bl_level() >= BL_SIMD_AVX2) i = relu2_avx2(g, u, n);
#endif
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

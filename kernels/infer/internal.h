/*
 * Shared internals of the inference kernels (kernels/infer/): target macros, the calling thread's
 * x86 level and the horizontal sums and block quantizers every SIMD kernel uses. The f16
 * conversion, the thread pool and scratch memory are the library's own (../internal.h). Nothing
 * here is exported (-fvisibility=hidden).
 */
#ifndef BL_INFER_INTERNAL_H
#define BL_INFER_INTERNAL_H
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BL_X86 1
#else
#define BL_X86 0
#endif

#define BL_AVX2 __attribute__((target("avx2,fma,f16c")))
#define BL_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

/* The calling thread's level as the inference kernels see it (BL_SIMD_SCALAR, _AVX2 or _AVX512):
 * they have no NEON bodies, so NEON reads as scalar. */
static inline int bl_level(void) {
  const int level = bl_thread_level();
  return level == BL_SIMD_NEON ? BL_SIMD_SCALAR : level;
}

/* f32 -> f16 bits, round to nearest even (what F16C's vcvtps2ph with imm 0 does). */
static inline uint16_t f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
  uint32_t ax = x & 0x7fffffff;
  if (ax >= 0x7f800000) return sign | (ax > 0x7f800000 ? 0x7e00 : 0x7c00); /* NaN, Inf */
  if (ax >= 0x477ff000) return sign | 0x7c00;                               /* overflow */
  if (ax < 0x38800000) {                                                     /* subnormal */
    float a;
    memcpy(&a, &ax, 4);
    /* a * 2^24 rounded to nearest even is the subnormal's mantissa */
    return sign | (uint16_t)nearbyintf(a * 16777216.0f);
  }
  uint32_t mant = ax & 0x7fffff;
  uint32_t exp = (ax >> 23) - 112;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return sign | (uint16_t)h;
}

#if BL_X86
BL_AVX2 static inline int32_t hsum_i32_avx2(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

/* ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)): the order of ggml's hsum_float_8; scalar twins that
 * must match bit for bit use hsum8_scalar. */
BL_AVX2 static inline float hsum_f32_avx2(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#endif

/* hsum_f32_avx2's order on 8 floats. */
static inline float hsum8_scalar(const float *a) {
  return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

/* The f16 at p (unaligned, little-endian) as f32. */
static inline float f16_at(const uint8_t *p) { return bl_fp16_to_fp32(bl_load_half(p)); }

/* The 16 values of IQ4_NL / IQ4_XS codes (ggml-common.h kvalues_iq4nl). */
static const int8_t KVALUES_IQ4NL[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                         1,    13,   25,  38,  53,  69,  89,  113};

/* One 32-value block of Q8_0 / Q8_1 activations, as ggml's x86 quantize_row_q8_0/q8_1 compute it:
 * codes c = round-to-nearest-even(x * 127 / max|x|) (0 for an all-zero block), their sum in
 * *sum; returns max|x|. The AVX2 version gives the same bytes. */
static inline float q8_block_scalar(const float *xb, int8_t *c, int32_t *sum) {
  float amax = 0.0f;
  for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(xb[i]));
  float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  int32_t s = 0;
  for (int i = 0; i < 32; i++) {
    c[i] = (int8_t)nearbyintf(xb[i] * id);
    s += c[i];
  }
  *sum = s;
  return amax;
}

#if BL_X86
BL_AVX2 static inline float q8_block_avx2(const float *xb, int8_t *c, int32_t *sum) {
  const __m256 signmask = _mm256_set1_ps(-0.0f);
  __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
  __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
  __m256 m = _mm256_max_ps(
      _mm256_max_ps(_mm256_andnot_ps(signmask, v0), _mm256_andnot_ps(signmask, v1)),
      _mm256_max_ps(_mm256_andnot_ps(signmask, v2), _mm256_andnot_ps(signmask, v3)));
  __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  float amax = _mm_cvtss_f32(m4);
  __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
  __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, id), _MM_ROUND_NEAREST));
  __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, id), _MM_ROUND_NEAREST));
  __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, id), _MM_ROUND_NEAREST));
  __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, id), _MM_ROUND_NEAREST));
  *sum = hsum_i32_avx2(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
  /* packs work per 128-bit lane: dwords 0 4 1 5 2 6 3 7 restore the order */
  __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
  p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256((__m256i *)c, p);
  return amax;
}

/* The f16 at p as f32 through F16C. */
BL_AVX2 static inline float f16c_at(const uint8_t *p) {
  uint16_t h;
  memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

/* 0xFF in byte i where bit i of `bits` is set (ggml's bytes_from_bits_32). */
BL_AVX2 static inline __m256i bytes_from_bits_avx2(int32_t bits) {
  __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(bits),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}
#endif

/* ggml's ggml_v_expf (AVX2 + FMA; the arm-optimized-routines expf, at most 1.5 ulp off), one
 * lane: ggml's SiLU and softmax use it. The AVX2 twin is ggml_v_expf below; fnmadd(a, b, c) is
 * fma(-a, b, c), and a lane's result does not depend on the vector's other lanes. */
static inline float bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static inline uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static inline float ggml_expf_scalar(float x) {
  const float r = 0x1.8p23f;
  const float z = fmaf(x, 0x1.715476p+0f, r);
  const float n = z - r;
  const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
  const uint32_t e = f32_bits(z) << 23;
  const float k = bits_f32(e + f32_bits(1.0f));
  const float u = b * b;
  const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                            fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                       u, 0x1.ffffecp-1f * b);
  if (!(fabsf(n) > 126.0f)) return fmaf(k, j, k);
  const uint32_t g = n <= 0.0f ? 0x82000000u : 0u;
  const float s1 = bits_f32(g + 0x7f000000u);
  const float s2 = bits_f32(e - g);
  if (fabsf(n) > 192.0f) return s1 * s1;
  return fmaf(s2, j, s2) * s1;
}

#if BL_X86
/* ggml_v_expf itself, 8 lanes (each lane's bits those of ggml_expf_scalar): SwiGLU (ffn.c) and the
 * attention softmax (attention.c). */
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
#endif

/* Dense dot products shared by the f16/f32 matmuls and attention (dense.c). */
BL_HIDDEN float bl_dot_f16(int lvl, const uint16_t *w, const float *x, int64_t n);
/* ggml_vec_dot_f16 of two f16 vectors: 4 chains of 8 lanes, GGML_F32x8_REDUCE (attention.c). */
BL_HIDDEN float bl_ggml_vec_dot_f16(int lvl, const uint16_t *x, const uint16_t *y, int n);
BL_HIDDEN float bl_dot_f32(int lvl, const float *w, const float *x, int64_t n);

#endif

/*
 * Causal single- and multi-query attention over the KV cache (f32 or f16), with GQA.
 */
#include "internal.h"

/* ------------------------------------------------------------------------------------------ */
/* Attention for one query token over positions 0..npos-1 of an f32 cache laid out             */
/* [pos][kv_head][head_dim]; GQA maps query head h to kv head h / (n_head / n_kv).             */

typedef struct {
  const float *q;
  const void *k, *v; /* f32, or f16 bits when kv_f16 */
  int n_head, n_kv, head_dim, npos;
  float scale;
  float *out;
  float *scratch; /* n_head * npos */
  int lvl;
  int kv_f16;
  int ggml_decode; /* ggml's one-token arithmetic for V . p (see bl_attention_decode) */
} attn_ctx;

/* ------------------------------------------------------------------------------------------ */
/* The arithmetic is ggml's (llama.cpp's non-flash attention, the fork's and upstream's):      */
/* - scores: K * q by ggml_vec_dot_f16 (q rounded to f16 first, as ggml converts a matmul's    */
/*   f32 input to an f16 weight's type) or ggml_vec_dot_f32 for an f32 cache: 4 chains of 8    */
/*   lanes over 32-element steps, reduced as GGML_F32x8_REDUCE; then times `scale` in f32;     */
/* - softmax: ggml_soft_max_f32: max, e = ggml_v_expf(s - max), the sum of each 8-group of e   */
/*   (hsum8 order) added in double, e * (float)(1.0 / sum);                                    */
/* - output: V * p in llamafile tinyBLAS's order (ggml's f16 matmul of a prompt batch): lane  */
/*   l an fma chain over the positions t = l (mod 8), the 8 lanes summed in hsum8's order.     */
/* ggml's single-token decode rounds p to f16 and uses ggml_vec_dot_f16 instead; bitload uses  */
/* the batch arithmetic for every token, so that batches and single tokens give the same bits. */
/* Every SIMD level gives the same bits.                                                       */

/* GGML_F32x8_REDUCE of 32 lane sums: (x0+x2)+(x1+x3) lane-wise, 128-bit halves, two hadds. */
static inline float ggml_reduce32(const float *a) {
  float v[8];
  for (int l = 0; l < 8; l++) v[l] = (a[l] + a[16 + l]) + (a[8 + l] + a[24 + l]);
  float t0 = v[0] + v[4], t1 = v[1] + v[5], t2 = v[2] + v[6], t3 = v[3] + v[7];
  return (t0 + t1) + (t2 + t3);
}

/* k . q over n elements: f16 k and q (kv_f16) or f32 k and q. */
static float kq_dot_scalar(const void *k, const void *q, int kv_f16, int n) {
  float acc[32];
  for (int l = 0; l < 32; l++) acc[l] = 0.0f;
  int np = n & ~31;
  for (int i = 0; i < np; i += 32) {
    for (int l = 0; l < 32; l++) {
      float a = kv_f16 ? bl_fp16_to_fp32(((const uint16_t *)k)[i + l]) : ((const float *)k)[i + l];
      float b = kv_f16 ? bl_fp16_to_fp32(((const uint16_t *)q)[i + l]) : ((const float *)q)[i + l];
      acc[l] = fmaf(a, b, acc[l]);
    }
  }
  float r = ggml_reduce32(acc);
  if (kv_f16) {
    double sum = r;
    for (int i = np; i < n; i++)
      sum += (double)(bl_fp16_to_fp32(((const uint16_t *)k)[i]) * bl_fp16_to_fp32(((const uint16_t *)q)[i]));
    return (float)sum;
  }
  for (int i = np; i < n; i++) r = fmaf(((const float *)k)[i], ((const float *)q)[i], r);
  return r;
}

#if BL_X86
BL_AVX2 static float kq_dot_avx2(const void *k, const void *q, int kv_f16, int n) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int np = n & ~31;
  for (int i = 0; i < np; i += 32) {
    for (int j = 0; j < 4; j++) {
      __m256 a, b;
      if (kv_f16) {
        a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)k + i + 8 * j)));
        b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)q + i + 8 * j)));
      } else {
        a = _mm256_loadu_ps((const float *)k + i + 8 * j);
        b = _mm256_loadu_ps((const float *)q + i + 8 * j);
      }
      acc[j] = _mm256_fmadd_ps(a, b, acc[j]);
    }
  }
  float lanes[32];
  for (int j = 0; j < 4; j++) _mm256_storeu_ps(lanes + 8 * j, acc[j]);
  float r = ggml_reduce32(lanes);
  if (kv_f16) {
    double sum = r;
    for (int i = np; i < n; i++)
      sum += (double)(bl_fp16_to_fp32(((const uint16_t *)k)[i]) * bl_fp16_to_fp32(((const uint16_t *)q)[i]));
    return (float)sum;
  }
  for (int i = np; i < n; i++) r = fmaf(((const float *)k)[i], ((const float *)q)[i], r);
  return r;
}

/* acc[d] = fma(v[d], w, acc[d]) for d < n (f32 or f16 v). */
BL_AVX2 static void fma_row_avx2(float *acc, const void *v, int kv_f16, float w, int n) {
  __m256 wv = _mm256_set1_ps(w);
  int d = 0;
  for (; d + 8 <= n; d += 8) {
    __m256 vv = kv_f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)v + d)))
                       : _mm256_loadu_ps((const float *)v + d);
    _mm256_storeu_ps(acc + d, _mm256_fmadd_ps(vv, wv, _mm256_loadu_ps(acc + d)));
  }
  for (; d < n; d++) {
    float vd = kv_f16 ? bl_fp16_to_fp32(((const uint16_t *)v)[d]) : ((const float *)v)[d];
    acc[d] = fmaf(vd, w, acc[d]);
  }
}
#endif

static void fma_row_scalar(float *acc, const void *v, int kv_f16, float w, int n) {
  for (int d = 0; d < n; d++) {
    float vd = kv_f16 ? bl_fp16_to_fp32(((const uint16_t *)v)[d]) : ((const float *)v)[d];
    acc[d] = fmaf(vd, w, acc[d]);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* AVX-512: the query heads that share a KV head, together (GQA). Each K row is loaded (and    */
/* converted from f16) once for up to 4 heads and each V block once for all of them; every     */
/* output element keeps the arithmetic above, operation for operation:                        */
/* - a score's 32 lane chains are two zmm accumulators (lanes 0-15 and 16-31), reduced as      */
/*   GGML_F32x8_REDUCE (a[l] + a[16+l]) + (a[8+l] + a[24+l]), then the 4-lane tail of 4 heads  */
/*   at once (attn_reduce4: the same adds, in the same order, lane-wise);                      */
/* - softmax: max (exact in any order), ggml_v_expf 8 at a time, each 8-group summed in        */
/*   hsum8's order (hsum_f32_avx2) and added in double, in position order;                     */
/* - V . p: position t goes to lane t % L (8, or 32 for ggml's one-token order); a lane's fma   */
/*   chain runs over its positions in order, 16 output dims per zmm, blocks of ATTN_PB         */
/*   positions with the lanes' accumulators kept in registers across a block.                 */

#if BL_X86
/* Positions per V block: a multiple of 32 (so that a block starts at lane 0 for L = 8 and 32). */
#define ATTN_PB 32
/* Query heads per pass over K (2 zmm accumulators each). */
#define ATTN_HEADS 4
/* Rows ahead that the score loop prefetches (K into L1, V into L2): a long context's cache is
 * read from memory once per token, strided by the KV heads. */
#define ATTN_PF 8

/* Softmax weights w = e * inv for 8 values e in [0, 1] (inv = (float)(1 / sum) <= 1), each lane's
 * bits those of the f32 product, without an underflowing f32 multiply: when a lane may fall below
 * 2^-126 (e < thr, thr = 2^-125 / inv), the exact products are formed in double and the subnormal
 * ones rounded to the 2^-149 grid (nearest even, as the multiply rounds). */
BL_AVX2 static inline __m256 attn_scale_w(__m256 e, __m256 inv8, __m256 thr) {
  if (!_mm256_movemask_ps(_mm256_cmp_ps(e, thr, _CMP_LT_OQ))) return _mm256_mul_ps(e, inv8);
  const __m256d id = _mm256_cvtps_pd(_mm256_castps256_ps128(inv8));
  const __m256d tiny = _mm256_set1_pd(0x1p-126), one = _mm256_set1_pd(1.0);
  __m128 out[2];
  for (int h = 0; h < 2; h++) {
    __m256d p = _mm256_mul_pd(_mm256_cvtps_pd(h ? _mm256_extractf128_ps(e, 1)
                                                : _mm256_castps256_ps128(e)),
                              id); /* exact: 24 x 24 bits */
    __m256d t = _mm256_cmp_pd(p, tiny, _CMP_LT_OQ);
    __m128i units = _mm256_cvtpd_epi32(_mm256_round_pd(
        _mm256_mul_pd(_mm256_and_pd(p, t), _mm256_set1_pd(0x1p149)),
        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m128 f = _mm256_cvtpd_ps(_mm256_blendv_pd(p, one, t));
    __m128 t4 = _mm256_castps256_ps128(_mm256_permutevar8x32_ps(
        _mm256_castpd_ps(t), _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6)));
    out[h] = _mm_blendv_ps(f, _mm_castsi128_ps(units), t4);
  }
  return _mm256_set_m128(out[1], out[0]);
}

/* ggml_v_expf(x) for the softmax's x = s - max (<= 0, or NaN), each lane's bits the same, without
 * floating-point underflow on the way. ggml's vector computes its slow path (n < -126: the result
 * is subnormal or zero) for every lane once one lane needs it, and an underflowing product costs a
 * microcode assist of ~100+ cycles: peaky attention (scores 90+ below the max, common in a trained
 * model's long context) made the softmax several times slower than the dot products. Here the
 * lanes with n in [-192, -127] round y * 2^-125 (y = fma(s2, j, s2), a normal number) to the
 * subnormal grid in integer arithmetic (round to nearest even, as the multiply does), lanes with
 * n < -192 are +0 (ggml: s1 * s1 = 2^-250 rounded), and the other lanes' operands are replaced by
 * 1 before the products they do not use. */
BL_AVX2 static inline __m256 attn_expf_neg(__m256 x) {
  const __m256 r = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
  const __m256 n = _mm256_sub_ps(z, r);
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                    _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
  const __m256 k =
      _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1))));
  const __m256 an = _mm256_andnot_ps(_mm256_set1_ps(-0.f), n);
  const __m256 slow = _mm256_cmp_ps(an, _mm256_set1_ps(126), _CMP_GT_OQ);
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 j = _mm256_fmadd_ps(
      _mm256_fmadd_ps(
          _mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
          _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
      u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
  if (!_mm256_movemask_ps(slow)) return _mm256_fmadd_ps(j, k, k);
  if (_mm256_movemask_ps(_mm256_cmp_ps(n, _mm256_set1_ps(126), _CMP_GT_OQ)))
    return ggml_v_expf(x); /* the overflow side: not a softmax's input */
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 kk = _mm256_blendv_ps(k, one, slow);
  const __m256 fast = _mm256_fmadd_ps(j, kk, kk);
  const __m256 mid = _mm256_andnot_ps(_mm256_cmp_ps(an, _mm256_set1_ps(192), _CMP_GT_OQ), slow);
  /* s2 = e - g with g = 0x82000000 (n <= 0) */
  const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, _mm256_set1_epi32((int)0x82000000u)));
  const __m256 s2m = _mm256_blendv_ps(one, s2, mid);
  const __m256 y = _mm256_fmadd_ps(s2m, _mm256_and_ps(j, mid), s2m);
  const __m256i yb = _mm256_castps_si256(y);
  const __m256i E = _mm256_srli_epi32(yb, 23);
  const __m256i M = _mm256_or_si256(_mm256_and_si256(yb, _mm256_set1_epi32(0x7fffff)),
                                    _mm256_set1_epi32(0x800000));
  /* y * 2^-125 has biased exponent E - 125; below 1 it is subnormal: M / 2^(126 - E) */
  __m256i sh = _mm256_sub_epi32(_mm256_set1_epi32(126), E);
  sh = _mm256_min_epi32(_mm256_max_epi32(sh, _mm256_set1_epi32(1)), _mm256_set1_epi32(26));
  const __m256i q = _mm256_srlv_epi32(M, sh);
  const __m256i rem = _mm256_and_si256(
      M, _mm256_sub_epi32(_mm256_sllv_epi32(_mm256_set1_epi32(1), sh), _mm256_set1_epi32(1)));
  const __m256i half = _mm256_sllv_epi32(_mm256_set1_epi32(1), _mm256_sub_epi32(sh, _mm256_set1_epi32(1)));
  const __m256i up = _mm256_or_si256(
      _mm256_cmpgt_epi32(rem, half),
      _mm256_and_si256(_mm256_cmpeq_epi32(rem, half),
                       _mm256_cmpeq_epi32(_mm256_and_si256(q, _mm256_set1_epi32(1)),
                                          _mm256_set1_epi32(1))));
  const __m256i sub = _mm256_sub_epi32(q, up); /* up is -1 where rounding up */
  const __m256i nrm = _mm256_sub_epi32(yb, _mm256_set1_epi32(125 << 23));
  const __m256i isn = _mm256_cmpgt_epi32(E, _mm256_set1_epi32(125));
  const __m256 res = _mm256_castsi256_ps(_mm256_blendv_epi8(sub, nrm, isn));
  return _mm256_blendv_ps(fast, _mm256_and_ps(res, mid), slow);
}

/* The 4-lane tail of GGML_F32x8_REDUCE for 4 vectors at once: r_i = (t0 + t1) + (t2 + t3) with
 * t_j = v_i[j] + v_i[j + 4]. */
BL_AVX2 static inline __m128 attn_reduce4(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
  __m256 t01 = _mm256_add_ps(_mm256_permute2f128_ps(v0, v1, 0x20),
                             _mm256_permute2f128_ps(v0, v1, 0x31));
  __m256 t23 = _mm256_add_ps(_mm256_permute2f128_ps(v2, v3, 0x20),
                             _mm256_permute2f128_ps(v2, v3, 0x31));
  __m256 h = _mm256_hadd_ps(t01, t23); /* r0 r2 halves | r1 r3 halves */
  h = _mm256_hadd_ps(h, h);            /* r0 r2 r0 r2 | r1 r3 r1 r3 */
  return _mm_unpacklo_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* (a[l] + a[16+l]) + (a[8+l] + a[24+l]) for the 32 lanes held in lo (0-15) and hi (16-31). */
BL_AVX512 static inline __m256 attn_fold32(__m512 lo, __m512 hi) {
  __m512 s = _mm512_add_ps(lo, hi);
  return _mm256_add_ps(_mm512_castps512_ps256(s),
                       _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
}

/* 16 K/V values at element `off` of row p (f16 or f32), lanes past `m` zero. */
BL_AVX512 static inline __m512 attn_load16(const void *p, int kv_f16, int64_t off, __mmask16 m) {
  if (kv_f16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + off));
  return _mm512_maskz_loadu_ps(m, (const float *)p + off);
}

static inline __mmask16 attn_mask16(int n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u); }

/* The queries src[0..nq-1] (rows of D, f16-rounded for an f16 cache) packed for the score loop:
 * 32-element step s of query i at dst + (s * nq + i) * 32, so that a step's queries are one
 * stream; the D % 32 tail elements of query i at dst + (np / 32 * nq + i) * 32. */
BL_AVX512 static void attn_pack_q(const float *const *src, int nq, int D, int f16, float *dst) {
  const int np = D & ~31;
  for (int i = 0; i < nq; i++) {
    for (int e = 0; e < D; e += 16) {
      __m512 x = _mm512_maskz_loadu_ps(attn_mask16(D - e), src[i] + e);
      if (f16) x = _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      const int s = e / 32;
      float *row = dst + ((size_t)s * nq + i) * 32 + (e & 16);
      if (e >= np) row = dst + ((size_t)(np / 32) * nq + i) * 32 + (e - np);
      _mm512_mask_storeu_ps(row, attn_mask16(D - e), x);
    }
  }
}

/* Scores of NQ (<= 2 * ATTN_HEADS) queries packed at qf (attn_pack_q) against the K rows of
 * positions t0..t1-1: sp[i][t] = (k_t . q_i) * scale. */
BL_AVX512 static inline __attribute__((always_inline)) void attn_scores_avx512(
    const attn_ctx *c, const char *kbase, const char *vbase, int64_t kstride, const float *qf,
    int NQ, int f16, int t0, int t1, float *const *sp) {
  const int D = c->head_dim, np = D & ~31;
  const float *qt = qf + (size_t)(np / 32) * NQ * 32;
  for (int t = t0; t < t1; t++) {
    const char *kt = kbase + (size_t)t * (size_t)kstride;
    if (t + ATTN_PF < t1) { /* the K row ATTN_PF ahead, and its V row for the V pass */
      const char *kp = kbase + (size_t)(t + ATTN_PF) * (size_t)kstride;
      const char *vp = vbase + (size_t)(t + ATTN_PF) * (size_t)kstride;
      for (int l = 0; l < D * (f16 ? 2 : 4); l += 64) {
        _mm_prefetch(kp + l, _MM_HINT_T0);
        _mm_prefetch(vp + l, _MM_HINT_T1);
      }
    }
    __m512 lo[2 * ATTN_HEADS], hi[2 * ATTN_HEADS];
    for (int h = 0; h < NQ; h++) lo[h] = hi[h] = _mm512_setzero_ps();
    const float *q = qf;
    for (int i = 0; i < np; i += 32, q += NQ * 32) {
      __m512 k0 = attn_load16(kt, f16, i, 0xffff), k1 = attn_load16(kt, f16, i + 16, 0xffff);
      for (int h = 0; h < NQ; h++) {
        lo[h] = _mm512_fmadd_ps(k0, _mm512_loadu_ps(q + h * 32), lo[h]);
        hi[h] = _mm512_fmadd_ps(k1, _mm512_loadu_ps(q + h * 32 + 16), hi[h]);
      }
    }
    __m256 v[2 * ATTN_HEADS];
    for (int h = 0; h < 2 * ATTN_HEADS; h++)
      v[h] = h < NQ ? attn_fold32(lo[h], hi[h]) : _mm256_setzero_ps();
    float r[8];
    _mm_storeu_ps(r, attn_reduce4(v[0], v[1], v[2], v[3]));
    if (NQ > 4) _mm_storeu_ps(r + 4, attn_reduce4(v[4], v[5], v[6], v[7]));
    for (int h = 0; h < NQ; h++) {
      float s = r[h];
      const float *qh = qt + h * 32 - np;
      if (np < D && f16) {
        double sum = s;
        for (int i = np; i < D; i++)
          sum += (double)(bl_fp16_to_fp32(((const uint16_t *)kt)[i]) * qh[i]);
        s = (float)sum;
      } else {
        for (int i = np; i < D; i++) s = fmaf(((const float *)kt)[i], qh[i], s);
      }
      sp[h][t] = s * c->scale;
    }
  }
}

/* attn_scores_avx512 with nq and f16 as constants: the accumulators stay in registers. */
BL_AVX512 static void attn_scores_any(const attn_ctx *c, const char *kbase, const char *vbase,
                                      int64_t kstride, const float *qf, int nq, int t0, int t1,
                                      float *const *sp) {
#define ATTN_SC(n)                                                                              \
  case n:                                                                                       \
    if (c->kv_f16) attn_scores_avx512(c, kbase, vbase, kstride, qf, n, 1, t0, t1, sp);                 \
    else attn_scores_avx512(c, kbase, vbase, kstride, qf, n, 0, t0, t1, sp);                           \
    break;
  switch (nq) {
    ATTN_SC(8)
    ATTN_SC(7)
    ATTN_SC(6)
    ATTN_SC(5)
    ATTN_SC(4)
    ATTN_SC(3)
    ATTN_SC(2)
  default:
    ATTN_SC(1)
  }
#undef ATTN_SC
}

/* Attention of query heads h0..h0+nh-1 (nh <= ATTN_HEADS, one KV head's) for nt consecutive
 * tokens cs[0..nt-1] (nt 1, or 2 in the batch arithmetic: cs[1]->npos = cs[0]->npos + 1, so the
 * two share every K row but the last and every V block); token j's head h has its scores at
 * cs[j]->scratch + h * cs[j]->npos. */
BL_AVX512 static void attn_heads_avx512(const attn_ctx *const *cs, int nt, int h0, int nh) {
  const attn_ctx *c = cs[0];
  const int D = c->head_dim, f16 = c->kv_f16, L = c->ggml_decode ? 32 : 8, nq = nt * nh;
  const int Dp = (D + 15) & ~15, qrow = (D & ~31) + 32;
  const int kvh = h0 / (c->n_head / c->n_kv);
  const size_t esz = f16 ? 2 : 4;
  const int64_t stride = (int64_t)c->n_kv * D; /* elements between positions */
  const char *kbase = (const char *)c->k + (size_t)kvh * D * esz;
  const char *vbase = (const char *)c->v + (size_t)kvh * D * esz;
  /* per thread: packed queries (all, then token 1's alone), accumulators [nq][L][Dp], a converted
   * V block [ATTN_PB][Dp] */
  float *qa = (float *)bl_scratch(1, ((size_t)(nq + nh) * qrow + (size_t)nq * L * Dp +
                                      (size_t)ATTN_PB * Dp) * sizeof(float));
  if (!qa) {
    for (int j = 0; j < nt; j++)
      for (int i = 0; i < nh * D; i++) cs[j]->out[(size_t)h0 * D + i] = NAN;
    return;
  }
  float *q1 = qa + (size_t)nq * qrow, *acc = q1 + (size_t)nh * qrow;
  float *vb = acc + (size_t)nq * L * Dp;
  float *sc[2 * ATTN_HEADS];
  const float *src[2 * ATTN_HEADS];
  int np_[2 * ATTN_HEADS];
  for (int j = 0; j < nt; j++)
    for (int h = 0; h < nh; h++) {
      sc[j * nh + h] = cs[j]->scratch + (size_t)(h0 + h) * cs[j]->npos;
      src[j * nh + h] = cs[j]->q + (size_t)(h0 + h) * D;
      np_[j * nh + h] = cs[j]->npos;
    }
  const int64_t kstride = stride * (int64_t)esz;
  attn_pack_q(src, nq, D, f16, qa);
  attn_scores_any(c, kbase, vbase, kstride, qa, nq, 0, c->npos, sc);
  if (nt == 2) { /* the last position: token 1's alone */
    attn_pack_q(src + nh, nh, D, f16, q1);
    attn_scores_any(c, kbase, vbase, kstride, q1, nh, c->npos, cs[1]->npos, sc + nh);
  }
  /* softmax: w_t = e_t * (float)(1 / sum), rounded to f16 in ggml's one-token f16 order */
  for (int i = 0; i < nq; i++) {
    float *s = sc[i];
    const int npos = np_[i];
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (int t = 0; t < npos; t += 16) {
      __m512 x = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), attn_mask16(npos - t), s + t);
      m = _mm512_max_ps(x, m); /* x > m ? x : m, NaN scores skipped as the scalar loop does */
    }
    const __m256 mx = _mm256_set1_ps(_mm512_reduce_max_ps(m));
    double sum = 0.0;
    for (int t = 0; t < npos; t += 8) {
      const __mmask8 k8 = npos - t >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (npos - t)) - 1u);
      __m256 e = attn_expf_neg(_mm256_sub_ps(_mm256_maskz_loadu_ps(k8, s + t), mx));
      e = _mm256_maskz_mov_ps(k8, e);
      _mm256_mask_storeu_ps(s + t, k8, e);
      sum += (double)hsum_f32_avx2(e);
    }
    const float invf = (float)(1.0 / sum);
    const __m256 inv = _mm256_set1_ps(invf), thr = _mm256_set1_ps((float)(0x1p-125 / invf));
    const int round16 = c->ggml_decode && f16;
    for (int t = 0; t < npos; t += 8) {
      const __mmask8 k8 = npos - t >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (npos - t)) - 1u);
      __m256 w = attn_scale_w(_mm256_maskz_loadu_ps(k8, s + t), inv, thr);
      if (round16) w = _mm256_cvtph_ps(_mm256_cvtps_ph(w, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      _mm256_mask_storeu_ps(s + t, k8, w);
    }
  }
  /* V . p */
  const int nlast = cs[nt - 1]->npos;
  memset(acc, 0, (size_t)nq * L * Dp * sizeof(float));
  for (int tb = 0; tb < nlast; tb += ATTN_PB) {
    const int te = nlast - tb < ATTN_PB ? nlast : tb + ATTN_PB; /* the last token's block end */
    const int te0 = c->npos - tb < ATTN_PB ? c->npos : tb + ATTN_PB;
    const float *rows;
    int64_t rstride;
    if (f16) {
      for (int t = tb; t < te; t++) {
        const char *vt = vbase + (size_t)t * (size_t)stride * esz;
        for (int d = 0; d < Dp; d += 16)
          _mm512_storeu_ps(vb + (size_t)(t - tb) * Dp + d, attn_load16(vt, 1, d, attn_mask16(D - d)));
      }
      rows = vb;
      rstride = Dp;
    } else {
      rows = (const float *)vbase + (size_t)tb * (size_t)stride;
      rstride = stride;
    }
    for (int h = 0; h < nh; h++) {
      for (int d = 0; d < D; d += 16) {
        const __mmask16 md = attn_mask16(D - d);
        if (nt == 2) { /* L == 8: both tokens' lanes in registers, each V row loaded once */
          const float *w0 = sc[h] + tb, *w1 = sc[nh + h] + tb;
          float *a0p = acc + (size_t)h * L * Dp + d, *a1p = acc + (size_t)(nh + h) * L * Dp + d;
          __m512 a0[8], a1[8];
          for (int j = 0; j < 8; j++) {
            a0[j] = _mm512_loadu_ps(a0p + (size_t)j * Dp);
            a1[j] = _mm512_loadu_ps(a1p + (size_t)j * Dp);
          }
          for (int t = 0; t < te - tb; t += 8) {
            const float *r = rows + (size_t)t * rstride + d;
            const int n0 = te0 - tb - t, n1 = te - tb - t; /* n0 <= n1 */
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
              if (j < n1) {
                __m512 x = _mm512_maskz_loadu_ps(md, r + (size_t)j * rstride);
                if (j < n0) a0[j] = _mm512_fmadd_ps(x, _mm512_set1_ps(w0[t + j]), a0[j]);
                a1[j] = _mm512_fmadd_ps(x, _mm512_set1_ps(w1[t + j]), a1[j]);
              }
          }
          for (int j = 0; j < 8; j++) {
            _mm512_storeu_ps(a0p + (size_t)j * Dp, a0[j]);
            _mm512_storeu_ps(a1p + (size_t)j * Dp, a1[j]);
          }
          continue;
        }
        const float *w = sc[h] + tb;
        for (int g = 0; g < L; g += 8) {
          float *ag = acc + ((size_t)h * L + g) * Dp + d;
          __m512 a[8];
          for (int j = 0; j < 8; j++) a[j] = _mm512_loadu_ps(ag + (size_t)j * Dp);
          for (int t = g; t < te - tb; t += L) {
            const float *r = rows + (size_t)t * rstride + d;
            const int n = te - tb - t; /* positions left; a[] stays in registers */
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
              if (j < n)
                a[j] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(md, r + (size_t)j * rstride),
                                       _mm512_set1_ps(w[t + j]), a[j]);
          }
          for (int j = 0; j < 8; j++) _mm512_storeu_ps(ag + (size_t)j * Dp, a[j]);
        }
      }
    }
  }
  for (int i = 0; i < nq; i++) {
    float *o = cs[i / nh]->out + (size_t)(h0 + i % nh) * D;
    for (int d = 0; d < D; d += 16) {
      const float *a = acc + (size_t)i * L * Dp + d;
#define A(l) _mm512_loadu_ps(a + (size_t)(l) * Dp)
      __m512 r;
      if (L == 8) {
        r = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(A(0), A(4)), _mm512_add_ps(A(2), A(6))),
                          _mm512_add_ps(_mm512_add_ps(A(1), A(5)), _mm512_add_ps(A(3), A(7))));
      } else {
        __m512 v[8], t[4];
        for (int l = 0; l < 8; l++)
          v[l] = _mm512_add_ps(_mm512_add_ps(A(l), A(16 + l)), _mm512_add_ps(A(8 + l), A(24 + l)));
        for (int k = 0; k < 4; k++) t[k] = _mm512_add_ps(v[k], v[k + 4]);
        r = _mm512_add_ps(_mm512_add_ps(t[0], t[1]), _mm512_add_ps(t[2], t[3]));
      }
#undef A
      _mm512_mask_storeu_ps(o + d, attn_mask16(D - d), r);
    }
  }
}
#endif

static void task_attn(void *p, int64_t b, int64_t e) {
  attn_ctx *c = (attn_ctx *)p;
  int group = c->n_head / c->n_kv;
  int64_t stride = (int64_t)c->n_kv * c->head_dim;
  int D = c->head_dim;
  size_t esz = c->kv_f16 ? 2 : 4;
  /* per thread: L lane rows of D floats, then q as f16 */
  const int L = c->ggml_decode ? 32 : 8;
  float *lanes = (float *)bl_scratch(1, (size_t)D * L * sizeof(float) + (size_t)D * 2);
  for (int64_t h = b; h < e; h++) {
    float *o = c->out + h * D;
    if (!lanes) {
      for (int d = 0; d < D; d++) o[d] = NAN;
      continue;
    }
    const float *qh = c->q + h * D;
    const void *qk = qh;
    if (c->kv_f16) {
      uint16_t *q16 = (uint16_t *)(lanes + (size_t)D * L);
      for (int d = 0; d < D; d++) q16[d] = f32_to_f16(qh[d]);
      qk = q16;
    }
    int kvh = (int)(h / group);
    float *sc = c->scratch + h * c->npos;
    float mx = -INFINITY;
    for (int t = 0; t < c->npos; t++) {
      const void *kt = (const char *)c->k + (size_t)(t * stride + (int64_t)kvh * D) * esz;
#if BL_X86
      float s = c->lvl >= BL_SIMD_AVX2 ? kq_dot_avx2(kt, qk, c->kv_f16, D)
                                     : kq_dot_scalar(kt, qk, c->kv_f16, D);
#else
      float s = kq_dot_scalar(kt, qk, c->kv_f16, D);
#endif
      s = s * c->scale;
      sc[t] = s;
      if (s > mx) mx = s;
    }
    double sum = 0.0;
    for (int t0 = 0; t0 < c->npos; t0 += 8) {
      float g[8];
      for (int l = 0; l < 8; l++) {
        int t = t0 + l;
        g[l] = t < c->npos ? (sc[t] = ggml_expf_scalar(sc[t] - mx)) : 0.0f;
      }
      sum += (double)hsum8_scalar(g);
    }
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < L * D; i++) lanes[i] = 0.0f;
    for (int t = 0; t < c->npos; t++) {
      float w = sc[t] * inv;
      /* one-token decode: ggml converts p to the f16 V's type */
      if (c->ggml_decode && c->kv_f16) w = bl_fp16_to_fp32(f32_to_f16(w));
      const void *vt = (const char *)c->v + (size_t)(t * stride + (int64_t)kvh * D) * esz;
      float *acc = lanes + (size_t)(t % L) * D;
#if BL_X86
      if (c->lvl >= BL_SIMD_AVX2) fma_row_avx2(acc, vt, c->kv_f16, w, D);
      else
#endif
        fma_row_scalar(acc, vt, c->kv_f16, w, D);
    }
    for (int d = 0; d < D; d++) {
      float a[32];
      for (int l = 0; l < L; l++) a[l] = lanes[(size_t)l * D + d];
      o[d] = c->ggml_decode ? ggml_reduce32(a) : hsum8_scalar(a);
    }
  }
}

typedef struct {
  const float *q;
  const void *k, *v;
  int n_head, n_kv, head_dim, pos0, ntok;
  float scale;
  float *out;
  float *scratch; /* per (token, head): pos0 + ntok floats */
  int lvl;
  int kv_f16;
} attn_batch_ctx;

static void task_attn_batch(void *p, int64_t b, int64_t e) {
  attn_batch_ctx *c = (attn_batch_ctx *)p;
  int64_t qdim = (int64_t)c->n_head * c->head_dim;
  int64_t span = c->pos0 + c->ntok;
  for (int64_t i = b; i < e; i++) {
    int64_t t = i / c->n_head, h = i % c->n_head;
    attn_ctx one = {c->q + t * qdim, c->k, c->v, c->n_head, c->n_kv, c->head_dim,
                    (int)(c->pos0 + t + 1), c->scale, c->out + t * qdim,
                    c->scratch + i * span - h * (c->pos0 + t + 1), c->lvl, c->kv_f16};
    task_attn(&one, h, h + 1);
  }
}

#if BL_X86
/* The same with 256-bit vectors for the AVX2 level (head_dim a multiple of 8): scores of up to 2
 * heads per pass over K (four 8-lane accumulators each: lane 8j + l is acc[j][l]), V in 8-dim
 * chunks. */
BL_AVX2 static inline __m256 attn_load8(const void *p, int kv_f16, int64_t off) {
  if (kv_f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + off)));
  return _mm256_loadu_ps((const float *)p + off);
}

BL_AVX2 static inline __attribute__((always_inline)) void attn_scores_avx2(
    const attn_ctx *c, const char *kbase, const char *vbase, int64_t kstride, const float *qf,
    int NH, int f16, float *const *sc) {
  const int D = c->head_dim, np = D & ~31;
  for (int t = 0; t < c->npos; t++) {
    const char *kt = kbase + (size_t)t * (size_t)kstride;
    if (t + ATTN_PF < c->npos) {
      const char *kp = kbase + (size_t)(t + ATTN_PF) * (size_t)kstride;
      const char *vp = vbase + (size_t)(t + ATTN_PF) * (size_t)kstride;
      for (int l = 0; l < D * (f16 ? 2 : 4); l += 64) {
        _mm_prefetch(kp + l, _MM_HINT_T0);
        _mm_prefetch(vp + l, _MM_HINT_T1);
      }
    }
    __m256 a[2][4];
    for (int h = 0; h < NH; h++)
      for (int j = 0; j < 4; j++) a[h][j] = _mm256_setzero_ps();
    for (int i = 0; i < np; i += 32) {
      for (int j = 0; j < 4; j++) {
        __m256 k = attn_load8(kt, f16, i + 8 * j);
        for (int h = 0; h < NH; h++)
          a[h][j] = _mm256_fmadd_ps(k, _mm256_loadu_ps(qf + (size_t)h * D + i + 8 * j), a[h][j]);
      }
    }
    __m256 v[2];
    for (int h = 0; h < 2; h++)
      v[h] = h < NH ? _mm256_add_ps(_mm256_add_ps(a[h][0], a[h][2]), _mm256_add_ps(a[h][1], a[h][3]))
                    : _mm256_setzero_ps();
    float r[4];
    _mm_storeu_ps(r, attn_reduce4(v[0], v[1], _mm256_setzero_ps(), _mm256_setzero_ps()));
    for (int h = 0; h < NH; h++) {
      float s = r[h];
      const float *qh = qf + (size_t)h * D;
      if (np < D && f16) {
        double sum = s;
        for (int i = np; i < D; i++)
          sum += (double)(bl_fp16_to_fp32(((const uint16_t *)kt)[i]) * qh[i]);
        s = (float)sum;
      } else {
        for (int i = np; i < D; i++) s = fmaf(((const float *)kt)[i], qh[i], s);
      }
      sc[h][t] = s * c->scale;
    }
  }
}

/* attn_heads_avx512 for the AVX2 level (c->head_dim % 8 == 0). */
BL_AVX2 static void attn_heads_avx2(const attn_ctx *c, int h0, int nh) {
  const int D = c->head_dim, npos = c->npos, f16 = c->kv_f16, L = c->ggml_decode ? 32 : 8;
  const int kvh = h0 / (c->n_head / c->n_kv);
  const size_t esz = f16 ? 2 : 4;
  const int64_t stride = (int64_t)c->n_kv * D;
  const char *kbase = (const char *)c->k + (size_t)kvh * D * esz;
  const char *vbase = (const char *)c->v + (size_t)kvh * D * esz;
  float *qf = (float *)bl_scratch(
      1, ((size_t)nh * D + (size_t)nh * L * D + (size_t)ATTN_PB * D) * sizeof(float));
  if (!qf) {
    for (int i = 0; i < nh * D; i++) c->out[(size_t)h0 * D + i] = NAN;
    return;
  }
  float *acc = qf + (size_t)nh * D, *vb = acc + (size_t)nh * L * D;
  float *sc[ATTN_HEADS];
  for (int h = 0; h < nh; h++) {
    sc[h] = c->scratch + (size_t)(h0 + h) * npos;
    const float *q = c->q + (size_t)(h0 + h) * D;
    for (int d = 0; d < D; d += 8) {
      __m256 x = _mm256_loadu_ps(q + d);
      if (f16) x = _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      _mm256_storeu_ps(qf + (size_t)h * D + d, x);
    }
  }
  const int64_t kstride = stride * (int64_t)esz;
  for (int h = 0; h < nh; h += 2) {
    const float *q = qf + (size_t)h * D;
    if (nh - h >= 2) {
      if (f16) attn_scores_avx2(c, kbase, vbase, kstride, q, 2, 1, sc + h);
      else attn_scores_avx2(c, kbase, vbase, kstride, q, 2, 0, sc + h);
    } else {
      if (f16) attn_scores_avx2(c, kbase, vbase, kstride, q, 1, 1, sc + h);
      else attn_scores_avx2(c, kbase, vbase, kstride, q, 1, 0, sc + h);
    }
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int h = 0; h < nh; h++) {
    float *s = sc[h];
    __m256 m = _mm256_set1_ps(-INFINITY);
    int t = 0;
    for (; t + 8 <= npos; t += 8) m = _mm256_max_ps(_mm256_loadu_ps(s + t), m);
    float ml[8], mx;
    _mm256_storeu_ps(ml, m);
    mx = ml[0];
    for (int l = 1; l < 8; l++) mx = ml[l] > mx ? ml[l] : mx;
    for (; t < npos; t++)
      if (s[t] > mx) mx = s[t];
    const __m256 mx8 = _mm256_set1_ps(mx);
    double sum = 0.0;
    for (t = 0; t < npos; t += 8) {
      const int n = npos - t;
      __m256 e;
      if (n >= 8) {
        e = attn_expf_neg(_mm256_sub_ps(_mm256_loadu_ps(s + t), mx8));
        _mm256_storeu_ps(s + t, e);
      } else {
        float g[8] = {0};
        for (int l = 0; l < n; l++) g[l] = s[t + l];
        e = attn_expf_neg(_mm256_sub_ps(_mm256_loadu_ps(g), mx8));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane)));
        _mm256_storeu_ps(g, e);
        for (int l = 0; l < n; l++) s[t + l] = g[l];
      }
      sum += (double)hsum_f32_avx2(e);
    }
    const float inv = (float)(1.0 / sum);
    const __m256 inv8 = _mm256_set1_ps(inv), thr = _mm256_set1_ps((float)(0x1p-125 / inv));
    const int round16 = c->ggml_decode && f16;
    for (t = 0; t + 8 <= npos; t += 8) {
      __m256 w = attn_scale_w(_mm256_loadu_ps(s + t), inv8, thr);
      if (round16) w = _mm256_cvtph_ps(_mm256_cvtps_ph(w, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      _mm256_storeu_ps(s + t, w);
    }
    for (; t < npos; t++) {
      float w = s[t] * inv;
      s[t] = round16 ? _cvtsh_ss(_cvtss_sh(w, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)) : w;
    }
  }
  memset(acc, 0, (size_t)nh * L * D * sizeof(float));
  for (int tb = 0; tb < npos; tb += ATTN_PB) {
    const int te = npos - tb < ATTN_PB ? npos : tb + ATTN_PB;
    const float *rows;
    int64_t rstride;
    if (f16) {
      for (int t = tb; t < te; t++) {
        const char *vt = vbase + (size_t)t * (size_t)stride * esz;
        for (int d = 0; d < D; d += 8)
          _mm256_storeu_ps(vb + (size_t)(t - tb) * D + d, attn_load8(vt, 1, d));
      }
      rows = vb;
      rstride = D;
    } else {
      rows = (const float *)vbase + (size_t)tb * (size_t)stride;
      rstride = stride;
    }
    for (int h = 0; h < nh; h++) {
      const float *w = sc[h] + tb;
      for (int d = 0; d < D; d += 8) {
        for (int g = 0; g < L; g += 8) {
          float *ag = acc + ((size_t)h * L + g) * D + d;
          __m256 a[8];
          for (int j = 0; j < 8; j++) a[j] = _mm256_loadu_ps(ag + (size_t)j * D);
          for (int t = g; t < te - tb; t += L) {
            const float *r = rows + (size_t)t * rstride + d;
            const int n = te - tb - t;
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
              if (j < n)
                a[j] = _mm256_fmadd_ps(_mm256_loadu_ps(r + (size_t)j * rstride),
                                       _mm256_set1_ps(w[t + j]), a[j]);
          }
          for (int j = 0; j < 8; j++) _mm256_storeu_ps(ag + (size_t)j * D, a[j]);
        }
      }
    }
  }
  for (int h = 0; h < nh; h++) {
    float *o = c->out + (size_t)(h0 + h) * D;
    for (int d = 0; d < D; d += 8) {
      const float *a = acc + (size_t)h * L * D + d;
#define A(l) _mm256_loadu_ps(a + (size_t)(l) * D)
      __m256 r;
      if (L == 8) {
        r = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(A(0), A(4)), _mm256_add_ps(A(2), A(6))),
                          _mm256_add_ps(_mm256_add_ps(A(1), A(5)), _mm256_add_ps(A(3), A(7))));
      } else {
        __m256 v[8], t[4];
        for (int l = 0; l < 8; l++)
          v[l] = _mm256_add_ps(_mm256_add_ps(A(l), A(16 + l)), _mm256_add_ps(A(8 + l), A(24 + l)));
        for (int i = 0; i < 4; i++) t[i] = _mm256_add_ps(v[i], v[i + 4]);
        r = _mm256_add_ps(_mm256_add_ps(t[0], t[1]), _mm256_add_ps(t[2], t[3]));
      }
#undef A
      _mm256_storeu_ps(o + d, r);
    }
  }
}

/* The grouped kernel of c's level: AVX-512, or AVX2 when head_dim is a multiple of 8. */
static void attn_heads(const attn_ctx *c, int h0, int nh) {
  if (c->lvl >= BL_SIMD_AVX512) attn_heads_avx512(&c, 1, h0, nh);
  else attn_heads_avx2(c, h0, nh);
}

/* Whether the level has a grouped kernel for this shape. */
static int attn_grouped(int lvl, int n_head, int n_kv, int head_dim) {
  if (n_head % n_kv != 0) return 0;
  return lvl >= BL_SIMD_AVX512 || (lvl >= BL_SIMD_AVX2 && head_dim % 8 == 0);
}

/* The grouped work items: (token, KV head, up to ATTN_HEADS of its query heads). */
static int attn_chunk_heads(int group) { return group < ATTN_HEADS ? group : ATTN_HEADS; }
static int attn_chunks(int group) {
  int hc = attn_chunk_heads(group);
  return (group + hc - 1) / hc;
}

/* Items [b, e) of one token (attn_ctx): item i is chunk i % chunks of KV head i / chunks. */
static void task_attn_groups(void *p, int64_t b, int64_t e) {
  attn_ctx *c = (attn_ctx *)p;
  const int group = c->n_head / c->n_kv, hc = attn_chunk_heads(group), nc = attn_chunks(group);
  for (int64_t i = b; i < e; i++) {
    int kvh = (int)(i / nc), k = (int)(i % nc);
    int h0 = kvh * group + k * hc;
    attn_heads(c, h0, group - k * hc < hc ? group - k * hc : hc);
  }
}

/* Tokens per batch work item: 2 at AVX-512 (they share the K rows and V blocks), else 1. */
static int attn_tile(const attn_batch_ctx *c) { return c->lvl >= BL_SIMD_AVX512 ? 2 : 1; }

/* Items [b, e) of a batch: item i is the tile of tokens i / (n_kv * chunks), then as
 * task_attn_groups. */
static void task_attn_batch_groups(void *p, int64_t b, int64_t e) {
  attn_batch_ctx *c = (attn_batch_ctx *)p;
  const int group = c->n_head / c->n_kv, hc = attn_chunk_heads(group), nc = attn_chunks(group);
  const int64_t qdim = (int64_t)c->n_head * c->head_dim, span = c->pos0 + c->ntok;
  const int64_t per_tile = (int64_t)c->n_kv * nc;
  const int tile = attn_tile(c);
  for (int64_t i = b; i < e; i++) {
    int64_t t0 = i / per_tile * tile, r = i % per_tile;
    int kvh = (int)(r / nc), k = (int)(r % nc);
    int h0 = kvh * group + k * hc, nh = group - k * hc < hc ? group - k * hc : hc;
    int nt = c->ntok - t0 < tile ? (int)(c->ntok - t0) : tile;
    attn_ctx one[2];
    const attn_ctx *ptr[2];
    for (int j = 0; j < nt; j++) {
      int64_t t = t0 + j;
      int npos = (int)(c->pos0 + t + 1);
      /* head h's scores at scratch + (t * n_head + h0) * span + (h - h0) * npos: inside the
       * item's own rows, as npos <= span */
      attn_ctx o = {c->q + t * qdim, c->k, c->v, c->n_head, c->n_kv, c->head_dim, npos, c->scale,
                    c->out + t * qdim,
                    c->scratch + (t * c->n_head + h0) * span - (int64_t)h0 * npos, c->lvl,
                    c->kv_f16, 0};
      one[j] = o;
      ptr[j] = &one[j];
    }
    if (c->lvl >= BL_SIMD_AVX512) attn_heads_avx512(ptr, nt, h0, nh);
    else attn_heads(&one[0], h0, nh);
  }
}
#endif

/* Runs a batch on the level's kernel. */
static void attn_batch_run(attn_batch_ctx *c) {
#if BL_X86
  if (attn_grouped(c->lvl, c->n_head, c->n_kv, c->head_dim)) {
    int64_t tiles = (c->ntok + attn_tile(c) - 1) / attn_tile(c);
    int64_t items = tiles * c->n_kv * attn_chunks(c->n_head / c->n_kv);
    bl_parallel_for(task_attn_batch_groups, c, items, 1);
    return;
  }
#endif
  bl_parallel_for(task_attn_batch, c, (int64_t)c->ntok * c->n_head, 1);
}

/* Runs one token on the level's kernel. */
static void attn_run(attn_ctx *c) {
#if BL_X86
  if (attn_grouped(c->lvl, c->n_head, c->n_kv, c->head_dim)) {
    bl_parallel_for(task_attn_groups, c, (int64_t)c->n_kv * attn_chunks(c->n_head / c->n_kv), 1);
    return;
  }
#endif
  bl_parallel_for(task_attn, c, c->n_head, 1);
}

/**
 * Causal attention for `ntok` query tokens at positions pos0..pos0+ntok-1 (their K/V already in
 * the cache); `scratch` holds ntok * n_head * (pos0 + ntok) floats. Parallel over (token, head).
 */
BL_API void bl_attention_batch(const float *q, const float *k, const float *v, int32_t n_head,
                             int32_t n_kv, int32_t head_dim, int32_t pos0, int32_t ntok,
                             float scale, float *out, float *scratch) {
  attn_batch_ctx c = {q, k, v, n_head, n_kv, head_dim, pos0, ntok, scale, out, scratch, bl_level(), 0};
  attn_batch_run(&c);
}

/** {@link bl_attention_batch} over an f16 KV cache (`k`, `v` hold f16 bits). */
BL_API void bl_attention_batch_f16(const float *q, const uint16_t *k, const uint16_t *v,
                                 int32_t n_head, int32_t n_kv, int32_t head_dim, int32_t pos0,
                                 int32_t ntok, float scale, float *out, float *scratch) {
  attn_batch_ctx c = {q, k, v, n_head, n_kv, head_dim, pos0, ntok, scale, out, scratch, bl_level(), 1};
  attn_batch_run(&c);
}

/** Single-query attention; `scratch` holds n_head * npos floats. */
BL_API void bl_attention(const float *q, const float *k, const float *v, int32_t n_head,
                       int32_t n_kv, int32_t head_dim, int32_t npos, float scale, float *out,
                       float *scratch) {
  attn_ctx c = {q, k, v, n_head, n_kv, head_dim, npos, scale, out, scratch, bl_level(), 0};
  attn_run(&c);
}

/**
 * One query token (its K/V already in the cache) in ggml's one-token arithmetic, as llama.cpp and
 * bitnet.cpp decode: V * p by ggml_vec_dot_f16 (p rounded to f16 for an f16 cache; 4 chains of 8
 * lanes over 32 positions, GGML_F32x8_REDUCE) instead of tinyBLAS's order, which ggml uses only
 * for batches of 2 or more. `k`, `v` are f16 bits when `kv_f16`, else f32.
 */
BL_API void bl_attention_decode(const float *q, const void *k, const void *v, int32_t n_head,
                                int32_t n_kv, int32_t head_dim, int32_t npos, float scale,
                                float *out, float *scratch, int32_t kv_f16) {
  attn_ctx c = {q, k, v, n_head, n_kv, head_dim, npos, scale, out, scratch, bl_level(),
                kv_f16 != 0, 1};
  attn_run(&c);
}

/* ggml_vec_dot_f16 of two f16 vectors (the order of the scores above). */
float bl_ggml_vec_dot_f16(int lvl, const uint16_t *x, const uint16_t *y, int n) {
#if BL_X86
  if (lvl >= BL_SIMD_AVX2) return kq_dot_avx2(x, y, 1, n);
#endif
  (void)lvl;
  return kq_dot_scalar(x, y, 1, n);
}

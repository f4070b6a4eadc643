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

/**
 * Causal attention for `ntok` query tokens at positions pos0..pos0+ntok-1 (their K/V already in
 * the cache); `scratch` holds ntok * n_head * (pos0 + ntok) floats. Parallel over (token, head).
 */
BL_API void bl_attention_batch(const float *q, const float *k, const float *v, int32_t n_head,
                             int32_t n_kv, int32_t head_dim, int32_t pos0, int32_t ntok,
                             float scale, float *out, float *scratch) {
  attn_batch_ctx c = {q, k, v, n_head, n_kv, head_dim, pos0, ntok, scale, out, scratch, bl_level(), 0};
  bl_parallel_for(task_attn_batch, &c, (int64_t)ntok * n_head, 1);
}

/** {@link bl_attention_batch} over an f16 KV cache (`k`, `v` hold f16 bits). */
BL_API void bl_attention_batch_f16(const float *q, const uint16_t *k, const uint16_t *v,
                                 int32_t n_head, int32_t n_kv, int32_t head_dim, int32_t pos0,
                                 int32_t ntok, float scale, float *out, float *scratch) {
  attn_batch_ctx c = {q, k, v, n_head, n_kv, head_dim, pos0, ntok, scale, out, scratch, bl_level(), 1};
  bl_parallel_for(task_attn_batch, &c, (int64_t)ntok * n_head, 1);
}

/** Single-query attention; `scratch` holds n_head * npos floats. */
BL_API void bl_attention(const float *q, const float *k, const float *v, int32_t n_head,
                       int32_t n_kv, int32_t head_dim, int32_t npos, float scale, float *out,
                       float *scratch) {
  attn_ctx c = {q, k, v, n_head, n_kv, head_dim, npos, scale, out, scratch, bl_level(), 0};
  bl_parallel_for(task_attn, &c, n_head, 1);
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
  bl_parallel_for(task_attn, &c, n_head, 1);
}

/* ggml_vec_dot_f16 of two f16 vectors (the order of the scores above). */
float bl_ggml_vec_dot_f16(int lvl, const uint16_t *x, const uint16_t *y, int n) {
#if BL_X86
  if (lvl >= BL_SIMD_AVX2) return kq_dot_avx2(x, y, 1, n);
#endif
  (void)lvl;
  return kq_dot_scalar(x, y, 1, n);
}

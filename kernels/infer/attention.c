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
} attn_ctx;

#if BL_X86
BL_AVX2 static void axpy_avx2(float *o, const float *v, float w,
                                                               int n) {
  __m256 wv = _mm256_set1_ps(w);
  int i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(o + i, _mm256_fmadd_ps(wv, _mm256_loadu_ps(v + i), _mm256_loadu_ps(o + i)));
  for (; i < n; i++) o[i] += w * v[i];
}

BL_AVX2 static void axpy_f16_avx2(float *o, const uint16_t *v,
                                                                   float w, int n) {
  __m256 wv = _mm256_set1_ps(w);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + i)));
    _mm256_storeu_ps(o + i, _mm256_fmadd_ps(wv, vv, _mm256_loadu_ps(o + i)));
  }
  for (; i < n; i++) o[i] += w * bl_fp16_to_fp32(v[i]);
}
#endif

/* q · k for one cached key (f32 or f16 bits). */
static float attn_dot(const attn_ctx *c, const float *qh, int64_t at) {
  if (c->kv_f16) {
    const uint16_t *kt = (const uint16_t *)c->k + at;
    return bl_dot_f16(c->lvl, kt, qh, c->head_dim);
  }
  const float *kt = (const float *)c->k + at;
  return bl_dot_f32(c->lvl, qh, kt, c->head_dim);
}

/* o += w · v for one cached value (f32 or f16 bits). */
static void attn_axpy(const attn_ctx *c, float *o, int64_t at, float w) {
  if (c->kv_f16) {
    const uint16_t *vt = (const uint16_t *)c->v + at;
#if BL_X86
    if (c->lvl >= BL_SIMD_AVX2) {
      axpy_f16_avx2(o, vt, w, c->head_dim);
      return;
    }
#endif
    for (int d = 0; d < c->head_dim; d++) o[d] += w * bl_fp16_to_fp32(vt[d]);
    return;
  }
  const float *vt = (const float *)c->v + at;
#if BL_X86
  if (c->lvl >= BL_SIMD_AVX2) {
    axpy_avx2(o, vt, w, c->head_dim);
    return;
  }
#endif
  for (int d = 0; d < c->head_dim; d++) o[d] += w * vt[d];
}

static void task_attn(void *p, int64_t b, int64_t e) {
  attn_ctx *c = (attn_ctx *)p;
  int group = c->n_head / c->n_kv;
  int64_t stride = (int64_t)c->n_kv * c->head_dim;
  for (int64_t h = b; h < e; h++) {
    const float *qh = c->q + h * c->head_dim;
    int kvh = (int)(h / group);
    float *sc = c->scratch + h * c->npos;
    float mx = -INFINITY;
    for (int t = 0; t < c->npos; t++) {
      float s = attn_dot(c, qh, t * stride + (int64_t)kvh * c->head_dim);
      s *= c->scale;
      sc[t] = s;
      if (s > mx) mx = s;
    }
    float sum = 0.0f;
    for (int t = 0; t < c->npos; t++) {
      sc[t] = expf(sc[t] - mx);
      sum += sc[t];
    }
    float inv = 1.0f / sum;
    float *o = c->out + h * c->head_dim;
    for (int d = 0; d < c->head_dim; d++) o[d] = 0.0f;
    for (int t = 0; t < c->npos; t++) {
      attn_axpy(c, o, t * stride + (int64_t)kvh * c->head_dim, sc[t] * inv);
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

/*
 * Dense products: f16 and f32 weights times f32 activations (embeddings, LM head, types without
 * an integer kernel), and the int8 requantized LM head.
 */
#include "internal.h"


/* Dense dots in the order of llama.cpp's tinyBLAS (llamafile sgemm, which computes ggml's F16 and
 * F32 matmuls of prompt batches on x86): 8 lanes, lane l an f32 fma chain over the elements
 * i = l (mod 8) in order, the lanes summed in hsum8's order; a tail of n % 8 elements (which
 * tinyBLAS refuses) is added by fma in order. Every level gives the same bits: the scalar twins
 * run the 8 chains, AVX2 and AVX-512 four rows at a time (independent chains hide the fma
 * latency). */
static float dot_f16_scalar(const uint16_t *w, const float *x, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) acc[l] = fmaf(bl_fp16_to_fp32(w[i + l]), x[i + l], acc[l]);
  float s = hsum8_scalar(acc);
  for (; i < n; i++) s = fmaf(bl_fp16_to_fp32(w[i]), x[i], s);
  return s;
}

static float dot_f32_scalar(const float *w, const float *x, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; l++) acc[l] = fmaf(w[i + l], x[i + l], acc[l]);
  float s = hsum8_scalar(acc);
  for (; i < n; i++) s = fmaf(w[i], x[i], s);
  return s;
}

#if BL_X86
/* `nr` (1..4) rows of f16 (`f16` = 1) or f32 weights, `stride` elements apart, times x. */
BL_AVX2 static inline __attribute__((always_inline)) void dot_rows_avx2(
    const void *w, int64_t stride, int f16, const float *x, int64_t n, int nr, float *out,
    int64_t pf) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 xv = _mm256_loadu_ps(x + i);
    if (pf && f16 && (i & 31) == 0)
      for (int r = 0; r < nr; r++)
        _mm_prefetch((const char *)((const uint16_t *)w + r * stride + i) + pf, _MM_HINT_T1);
    for (int r = 0; r < nr; r++) {
      __m256 wv = f16 ? _mm256_cvtph_ps(_mm_loadu_si128(
                            (const __m128i *)((const uint16_t *)w + r * stride + i)))
                      : _mm256_loadu_ps((const float *)w + r * stride + i);
      acc[r] = _mm256_fmadd_ps(wv, xv, acc[r]);
    }
  }
  for (int r = 0; r < nr; r++) {
    float s = hsum_f32_avx2(acc[r]);
    for (int64_t j = i; j < n; j++) {
      float wj = f16 ? bl_fp16_to_fp32(((const uint16_t *)w)[r * stride + j])
                     : ((const float *)w)[r * stride + j];
      s = fmaf(wj, x[j], s);
    }
    out[r] = s;
  }
}

BL_AVX2 static void dot_rows_f16_avx2(const uint16_t *w, int64_t stride, const float *x,
                                       int64_t n, int nr, float *out) {
  switch (nr) {
    case 1: dot_rows_avx2(w, stride, 1, x, n, 1, out, 0); break;
    case 2: dot_rows_avx2(w, stride, 1, x, n, 2, out, 0); break;
    case 3: dot_rows_avx2(w, stride, 1, x, n, 3, out, 0); break;
    default: dot_rows_avx2(w, stride, 1, x, n, 4, out, 0); break;
  }
}

/* The F16 product's rows (the LM head: streamed from DRAM once per token) with each row's lines
 * asked for 16 KiB ahead into L2 (prefetcht1): one thread, 164 MB head, f16 bytes per CPU-second,
 * three interleaved rounds: 7.6-9.6 -> 8.3-11.5 GB/s (8 KiB ahead: no better than none). The
 * int8 head (dot_i8_avx512) does the same: 82 MB, 8.5-9.2 -> 9.2-10.6 GB/s. */
#define HEAD_PREFETCH_L2 16384
BL_AVX2 static void dot_rows_f16_stream_avx2(const uint16_t *w, int64_t stride, const float *x,
                                              int64_t n, int nr, float *out) {
  switch (nr) {
    case 1: dot_rows_avx2(w, stride, 1, x, n, 1, out, HEAD_PREFETCH_L2); break;
    case 2: dot_rows_avx2(w, stride, 1, x, n, 2, out, HEAD_PREFETCH_L2); break;
    case 3: dot_rows_avx2(w, stride, 1, x, n, 3, out, HEAD_PREFETCH_L2); break;
    default: dot_rows_avx2(w, stride, 1, x, n, 4, out, HEAD_PREFETCH_L2); break;
  }
}

BL_AVX2 static void dot_rows_f32_avx2(const float *w, int64_t stride, const float *x,
                                       int64_t n, int nr, float *out) {
  switch (nr) {
    case 1: dot_rows_avx2(w, stride, 0, x, n, 1, out, 0); break;
    case 2: dot_rows_avx2(w, stride, 0, x, n, 2, out, 0); break;
    case 3: dot_rows_avx2(w, stride, 0, x, n, 3, out, 0); break;
    default: dot_rows_avx2(w, stride, 0, x, n, 4, out, 0); break;
  }
}
#endif

float bl_dot_f16(int lvl, const uint16_t *w, const float *x, int64_t n) {
#if BL_X86
  if (lvl >= BL_SIMD_AVX2) {
    float s;
    dot_rows_f16_avx2(w, 0, x, n, 1, &s);
    return s;
  }
#endif
  (void)lvl;
  return dot_f16_scalar(w, x, n);
}

float bl_dot_f32(int lvl, const float *w, const float *x, int64_t n) {
#if BL_X86
  if (lvl >= BL_SIMD_AVX2) {
    float s;
    dot_rows_f32_avx2(w, 0, x, n, 1, &s);
    return s;
  }
#endif
  (void)lvl;
  return dot_f32_scalar(w, x, n);
}

/* ------------------------------------------------------------------------------------------ */
/* Matrix products: y[t*rows + r] = W[r,:] . x_t for t < ntok                                  */

typedef struct {
  const void *w;
  int64_t rows, cols, ntok;
  const float *x; /* ntok * cols */
  float *y;
  int lvl;
} dense_ctx;

/* Rows [b, e), four at a time (SIMD levels), each group of rows for every token in turn. */
static void task_dense(dense_ctx *c, int64_t b, int64_t e, int f16) {
  for (int64_t r = b; r < e; r += 4) {
    int nr = e - r < 4 ? (int)(e - r) : 4;
    for (int64_t t = 0; t < c->ntok; t++) {
      const float *x = c->x + t * c->cols;
      float out[4];
#if BL_X86
      if (c->lvl >= BL_SIMD_AVX2) {
        if (f16) {
          dot_rows_f16_stream_avx2((const uint16_t *)c->w + r * c->cols, c->cols, x, c->cols, nr,
                                   out);
        } else {
          dot_rows_f32_avx2((const float *)c->w + r * c->cols, c->cols, x, c->cols, nr, out);
        }
      } else
#endif
      {
        for (int i = 0; i < nr; i++)
          out[i] = f16 ? dot_f16_scalar((const uint16_t *)c->w + (r + i) * c->cols, x, c->cols)
                       : dot_f32_scalar((const float *)c->w + (r + i) * c->cols, x, c->cols);
      }
      for (int i = 0; i < nr; i++) c->y[t * c->rows + r + i] = out[i];
    }
  }
}

static void task_f16(void *p, int64_t b, int64_t e) { task_dense((dense_ctx *)p, b, e, 1); }
static void task_f32(void *p, int64_t b, int64_t e) { task_dense((dense_ctx *)p, b, e, 0); }

typedef struct {
  const uint16_t *w, *x16;
  int64_t rows, cols, ntok;
  float *y;
  int lvl;
} decode_ctx;

static void task_f16_decode(void *p, int64_t b, int64_t e) {
  decode_ctx *c = (decode_ctx *)p;
  for (int64_t r = b; r < e; r++)
    for (int64_t t = 0; t < c->ntok; t++)
      c->y[t * c->rows + r] = bl_ggml_vec_dot_f16(c->lvl, c->w + r * c->cols, c->x16 + t * c->cols,
                                                  (int)c->cols);
}

/**
 * F16 weights times f32 activations in ggml's one-token arithmetic (llama.cpp's and bitnet.cpp's
 * decode steps): the activations rounded to f16, then ggml_vec_dot_f16 per row. Returns 0, or -1
 * when scratch memory cannot be allocated.
 */
BL_API int32_t bl_matmul_f16_decode(const uint16_t *w, int64_t rows, int64_t cols, const float *x,
                                    int64_t ntok, float *y) {
  uint16_t *x16 = (uint16_t *)bl_scratch(0, (size_t)(ntok * cols) * sizeof(uint16_t));
  if (!x16) return -1;
  for (int64_t i = 0; i < ntok * cols; i++) x16[i] = f32_to_f16(x[i]);
  decode_ctx c = {w, x16, rows, cols, ntok, y, bl_level()};
  bl_parallel_for(task_f16_decode, &c, rows, 8);
  return 0;
}

/** F16 weights times f32 activations. */
BL_API void bl_matmul_f16(const uint16_t *w, int64_t rows, int64_t cols, const float *x,
                        int64_t ntok, float *y) {
  dense_ctx c = {w, rows, cols, ntok, x, y, bl_level()};
  bl_parallel_for(task_f16, &c, rows, 8);
}

/** F32 weights times f32 activations. */
BL_API void bl_matmul_f32(const float *w, int64_t rows, int64_t cols, const float *x, int64_t ntok,
                        float *y) {
  dense_ctx c = {w, rows, cols, ntok, x, y, bl_level()};
  bl_parallel_for(task_f32, &c, rows, 8);
}

/* ------------------------------------------------------------------------------------------ */
/* int8 weights (per-row absmax scale) for a requantized LM head: y = sum(w8 * q) / sa * sw.      */

typedef struct {
  const void *src;
  int32_t type; /* 0 = f32, 1 = f16 */
  int64_t cols;
  int8_t *dst;
  float *scale;
  int32_t *wsum;
} qw_ctx;

static void task_quantize_weight(void *p, int64_t b, int64_t e) {
  qw_ctx *c = (qw_ctx *)p;
  for (int64_t r = b; r < e; r++) {
    float amax = 0.0f;
    for (int64_t i = 0; i < c->cols; i++) {
      float v = c->type == 1 ? bl_fp16_to_fp32(((const uint16_t *)c->src)[r * c->cols + i])
                             : ((const float *)c->src)[r * c->cols + i];
      if (fabsf(v) > amax) amax = fabsf(v);
    }
    float s = amax / 127.0f;
    float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    int32_t sum = 0;
    for (int64_t i = 0; i < c->cols; i++) {
      float v = c->type == 1 ? bl_fp16_to_fp32(((const uint16_t *)c->src)[r * c->cols + i])
                             : ((const float *)c->src)[r * c->cols + i];
      int8_t q = (int8_t)nearbyintf(v * inv);
      c->dst[r * c->cols + i] = q;
      sum += q;
    }
    c->scale[r] = s;
    c->wsum[r] = sum;
  }
}

/** Requantizes f32 (type 0) or f16 (type 1) rows to int8 with one absmax scale per row. */
BL_API void bl_quantize_weight_i8(const void *src, int32_t type, int64_t rows, int64_t cols,
                                int8_t *dst, float *scale, int32_t *wsum) {
  qw_ctx c = {src, type, cols, dst, scale, wsum};
  bl_parallel_for(task_quantize_weight, &c, rows, 64);
}

static int32_t dot_i8_scalar(const int8_t *w, const int8_t *q, int64_t n) {
  int32_t s = 0;
  for (int64_t i = 0; i < n; i++) s += w[i] * q[i];
  return s;
}

#if BL_X86
BL_AVX2 static int32_t dot_i8_avx2(const int8_t *w,
                                                                    const int8_t *q, int64_t n) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i wv = _mm256_loadu_si256((const __m256i *)(w + i));
    __m256i qv = _mm256_loadu_si256((const __m256i *)(q + i));
    /* |w| x sign(q, w): no saturation since |w|, |q| <= 127 */
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(qv, wv));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
  }
  int32_t s = hsum_i32_avx2(acc);
  for (; i < n; i++) s += w[i] * q[i];
  return s;
}

BL_AVX512 static int32_t dot_i8_avx512(
    const int8_t *w, const int8_t *q, int64_t n, int32_t wsum) {
  /* n % 64 == 0. (q ^ 0x80) = q + 128 as u8: sum(w * q) = dpbusd(q + 128, w) - 128 * sum(w) */
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  __m512i acc = _mm512_setzero_si512();
  for (int64_t i = 0; i < n; i += 64) {
    _mm_prefetch((const char *)(w + i + HEAD_PREFETCH_L2), _MM_HINT_T1);
    __m512i u = _mm512_xor_si512(_mm512_loadu_si512((const void *)(q + i)), flip);
    acc = _mm512_dpbusd_epi32(acc, u, _mm512_loadu_si512((const void *)(w + i)));
  }
  return _mm512_reduce_add_epi32(acc) - 128 * wsum;
}
#endif

typedef struct {
  const int8_t *w;
  const float *wscale;
  const int32_t *wsum;
  int64_t rows, cols, ntok;
  const int8_t *q;
  const float *factor;
  float *y;
  int lvl;
} i8_ctx;

static void task_i8(void *p, int64_t b, int64_t e) {
  i8_ctx *c = (i8_ctx *)p;
  for (int64_t r = b; r < e; r++) {
    const int8_t *w = c->w + r * c->cols;
    for (int64_t t = 0; t < c->ntok; t++) {
      const int8_t *q = c->q + t * c->cols;
      int32_t s;
#if BL_X86
      if (c->lvl == BL_SIMD_AVX512 && c->cols % 64 == 0) {
        s = dot_i8_avx512(w, q, c->cols, c->wsum[r]);
      } else if (c->lvl >= BL_SIMD_AVX2) {
        s = dot_i8_avx2(w, q, c->cols);
      } else {
        s = dot_i8_scalar(w, q, c->cols);
      }
#else
      s = dot_i8_scalar(w, q, c->cols);
#endif
      c->y[t * c->rows + r] = (float)s / c->factor[t] * c->wscale[r];
    }
  }
}

/** int8 weights (from bl_quantize_weight_i8) times int8 activations. */
BL_API void bl_matmul_i8(const int8_t *w, const float *wscale, const int32_t *wsum, int64_t rows,
                       int64_t cols, const int8_t *q, const float *factor, int64_t ntok, float *y) {
  i8_ctx c = {w, wscale, wsum, rows, cols, ntok, q, factor, y, bl_level()};
  bl_parallel_for(task_i8, &c, rows, 16);
}

/* ------------------------------------------------------------------------------------------ */
/* Any dequantizable type, row by row: each weight row is dequantized into a per-thread f32     */
/* buffer by the library's own bit-exact dequantizers (bl_dequantize_at, at the caller's level), */
/* then multiplied like an F32 row. Memory stays the size of the file.                          */

typedef struct {
  int32_t type;
  const uint8_t *w;
  int64_t rows, cols, row_bytes, ntok;
  const float *x;
  float *y;
  int lvl;     /* the dot products' level (bl_level) */
  int deq_lvl; /* the dequantizers' level: the caller's, NEON included */
  _Atomic int32_t status;
} deq_ctx;

/* Rows dequantized per call: up to 16 KiB of floats (they stay in L1), so that the per-call
 * checks of the dequantizer are paid once per group, not per row (small models). */
#define DEQUANT_GROUP_FLOATS 4096

static void task_dequant(void *p, int64_t b, int64_t e) {
  deq_ctx *c = (deq_ctx *)p;
  int64_t group = DEQUANT_GROUP_FLOATS / c->cols;
  if (group < 1) group = 1;
  float *rows = (float *)bl_scratch(1, (size_t)(group * c->cols) * sizeof(float));
  if (!rows) {
    c->status = BL_ERR_NO_MEMORY;
    return;
  }
  for (int64_t r0 = b; r0 < e; r0 += group) {
    int64_t n = e - r0 < group ? e - r0 : group;
    /* rows are contiguous in the tensor: one call dequantizes the group */
    int st = bl_dequantize_at(c->deq_lvl, c->type, c->w + r0 * c->row_bytes, rows, n * c->cols);
    if (st != 0) {
      c->status = st;
      return;
    }
    for (int64_t i = 0; i < n; i++) {
      for (int64_t t = 0; t < c->ntok; t++)
        c->y[t * c->rows + r0 + i] =
            bl_dot_f32(c->lvl, rows + i * c->cols, c->x + t * c->cols, c->cols);
    }
  }
}

BL_API int32_t bl_matmul_dequant(int32_t type, const uint8_t *w, int64_t rows, int64_t cols,
                                 int64_t row_bytes, const float *x, int64_t ntok, float *y) {
  deq_ctx c = {type, w, rows, cols, row_bytes, ntok, x, y, bl_level(), bl_thread_level(), 0};
  bl_parallel_for(task_dequant, &c, rows, 8);
  return c.status;
}

/*
 * Q8_0, Q4_0 and Q5_0 products on integers, as llama.cpp computes them: activations are quantized per
 * 32-block to Q8_0 (block_q8_0: f16 d, 32 int8) and each block pair contributes
 * d_w * d_x * sum(w * x).
 *
 * Bit-exact with ggml (the x86 builds of ggml-cpu in llama.cpp v0.5.0, ggml-cpu/arch/x86/quants.c):
 * - quantize_row_q8_0: d = max|x| / 127 stored as f16, codes = round-to-nearest-even(x * 127 /
 *   max|x|) (the AVX2 path's `_mm256_round_ps(.., _MM_ROUND_NEAREST)`; the generic C reference
 *   uses roundf and 1/d, which can differ by one code on ties);
 * - ggml_vec_dot_q8_0_q8_0, ggml_vec_dot_q4_0_q8_0 and ggml_vec_dot_q5_0_q8_0 (weights unpacked
 *   to 32 codes in element order first): per block, 8 int32 lanes (lane k sums the products of bytes
 *   4k..4k+3), acc = fma(d_w * d_x, lane, acc) over the blocks in order, then ggml's
 *   hsum_float_8. The scalar twin below evaluates exactly that; AVX2 uses maddubs on |w| and
 *   sign(x, w) like ggml's haswell build, the AVX-512 level vpdpbusd like its zen4 build.
 */
#include "internal.h"

#define Q8_0_BLOCK 32
#define Q8_0_BYTES 34

/* ------------------------------------------------------------------------------------------ */
/* Activation quantization                                                                     */

/* One row: each block's d = max|x| / 127 as f16, then its codes (q8_block_*). */
static void quantize_q8_0_row(const float *x, int64_t n, uint8_t *out, int lvl) {
  for (int64_t b = 0; b < n / Q8_0_BLOCK; b++) {
    uint8_t *ob = out + b * Q8_0_BYTES;
    int32_t sum;
    float amax;
#if BL_X86
    if (lvl >= BL_SIMD_AVX2) amax = q8_block_avx2(x + b * Q8_0_BLOCK, (int8_t *)ob + 2, &sum);
    else
#endif
      amax = q8_block_scalar(x + b * Q8_0_BLOCK, (int8_t *)ob + 2, &sum);
    (void)lvl;
    uint16_t dh = f32_to_f16(amax / 127.0f);
    memcpy(ob, &dh, 2);
  }
}

/**
 * Quantizes `rows` rows of `width` floats (width % 32 == 0) to Q8_0 blocks, `width / 32 * 34`
 * bytes per row, with the bytes of ggml's x86 quantize_row_q8_0.
 */
BL_API void bl_quantize_rows_q8_0(const float *x, int64_t rows, int64_t width, uint8_t *out) {
  int64_t row_bytes = width / Q8_0_BLOCK * Q8_0_BYTES;
  int lvl = bl_level();
  for (int64_t r = 0; r < rows; r++) quantize_q8_0_row(x + r * width, width, out + r * row_bytes, lvl);
}

/* ------------------------------------------------------------------------------------------ */
/* Dot products of a Q8_0 weight row with a Q8_0 activation row                                */

static inline float q8_0_scale(const uint8_t *wb, const uint8_t *xb) {
  return f16_at(wb) * f16_at(xb);
}

/* Weight formats on Q8_0 activations (ggml-common.h, ggml-quants.c dequantize_row_*):
 * - Q8_0, 34-byte blocks: f16 d, 32 int8;
 * - Q4_0, 18-byte blocks: f16 d, 16 bytes whose low nibbles are elements 0..15 and high nibbles
 *   16..31, each minus 8;
 * - Q5_0, 22-byte blocks: f16 d, u32 qh, 16 bytes of nibbles as Q4_0; bit j of qh is the fifth
 *   bit of element j; each minus 16. */
enum { W_Q8_0 = 0, W_Q4_0 = 1, W_Q5_0 = 2, W_IQ4_NL = 3 };

static inline int64_t w_bytes(int fmt) {
  return fmt == W_Q8_0 ? Q8_0_BYTES : fmt == W_Q5_0 ? 22 : 18;
}

/* The 32 codes of a weight block in element order. */
static inline void w_codes(const uint8_t *wb, int fmt, int8_t c[32]) {
  if (fmt == W_Q8_0) {
    memcpy(c, wb + 2, 32);
    return;
  }
  if (fmt == W_Q4_0) {
    for (int j = 0; j < 16; j++) {
      c[j] = (int8_t)((wb[2 + j] & 0xF) - 8);
      c[16 + j] = (int8_t)((wb[2 + j] >> 4) - 8);
    }
    return;
  }
  uint32_t qh;
  memcpy(&qh, wb + 2, 4);
  for (int j = 0; j < 16; j++) {
    c[j] = (int8_t)(((wb[6 + j] & 0xF) | (((qh >> j) & 1) << 4)) - 16);
    c[16 + j] = (int8_t)(((wb[6 + j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16);
  }
}

static float dot_w_q8_scalar(const uint8_t *w, const uint8_t *x, int64_t nblk, int fmt) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int8_t wq[32];
  for (int64_t b = 0; b < nblk; b++) {
    const uint8_t *wb = w + b * w_bytes(fmt), *xb = x + b * Q8_0_BYTES;
    const int8_t *xq = (const int8_t *)xb + 2;
    w_codes(wb, fmt, wq);
    float d = q8_0_scale(wb, xb);
    for (int k = 0; k < 8; k++) {
      int32_t s = 0;
      for (int i = 4 * k; i < 4 * k + 4; i++) s += wq[i] * xq[i];
      acc[k] = fmaf((float)s, d, acc[k]);
    }
  }
  return hsum8_scalar(acc);
}

#if BL_X86
/* The 32 codes of a weight block as one vector (Q4_0: ggml's bytes_from_nibbles_32 minus 8). */
BL_AVX2 static inline __m256i w_codes_avx2(const uint8_t *wb, int fmt) {
  if (fmt == W_Q8_0) return _mm256_loadu_si256((const __m256i *)(wb + 2));
  __m128i nib = _mm_loadu_si128((const __m128i *)(wb + (fmt == W_Q4_0 ? 2 : 6)));
  __m256i lo = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(nib, 4), nib),
                                _mm256_set1_epi8(0xF));
  if (fmt == W_Q4_0) return _mm256_sub_epi8(lo, _mm256_set1_epi8(8));
  /* Q5_0: byte i takes bit i of qh; code = nibble | bit << 4, minus 16 (0xF0 where the bit is
   * clear: the same byte) */
  int32_t qh;
  memcpy(&qh, wb + 2, 4);
  return _mm256_or_si256(lo, _mm256_andnot_si256(bytes_from_bits_avx2(qh), _mm256_set1_epi8((char)0xF0)));
}

/* One row at a time: interleaving two weight rows (two streams 34·cols/32 bytes apart) measured
 * 3× slower on an AMD EPYC (Zen 4) than this single stream. Inlined with a constant `fmt`. */
BL_AVX2 static inline __attribute__((always_inline)) float dot_w_q8_avx2_n(
    const uint8_t *w, const uint8_t *x, const float *xd, int64_t nblk,
    int fmt) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nblk; b++) {
    const uint8_t *wb = w + b * w_bytes(fmt), *xb = x + b * Q8_0_BYTES;
    __m256i qw = w_codes_avx2(wb, fmt);
    __m256i qx = _mm256_loadu_si256((const __m256i *)(xb + 2));
    /* |w| x sign(x, w): the unsigned x signed byte pairs of ggml's mul_sum_i8_pairs_float */
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qx, qw));
    __m256 lanes = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16c_at(wb) * xd[b]), lanes, acc);
  }
  return hsum_f32_avx2(acc);
}

BL_AVX512 static inline __attribute__((always_inline)) float dot_w_q8_vnni_n(
    const uint8_t *w, const uint8_t *x, const float *xd, int64_t nblk,
    int fmt) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nblk; b++) {
    const uint8_t *wb = w + b * w_bytes(fmt), *xb = x + b * Q8_0_BYTES;
    __m256i qw = w_codes_avx2(wb, fmt);
    __m256i qx = _mm256_loadu_si256((const __m256i *)(xb + 2));
    __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(qw, qw),
                                    _mm256_sign_epi8(qx, qw));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16c_at(wb) * xd[b]), _mm256_cvtepi32_ps(s), acc);
  }
  return hsum_f32_avx2(acc);
}

BL_AVX2 static float dot_q8_0_avx2(const uint8_t *w, const uint8_t *x, const float *xd,
                                   int64_t nblk) {
  return dot_w_q8_avx2_n(w, x, xd, nblk, W_Q8_0);
}
BL_AVX2 static float dot_q4_0_avx2(const uint8_t *w, const uint8_t *x, const float *xd,
                                   int64_t nblk) {
  return dot_w_q8_avx2_n(w, x, xd, nblk, W_Q4_0);
}
BL_AVX2 static float dot_q5_0_avx2(const uint8_t *w, const uint8_t *x, const float *xd,
                                   int64_t nblk) {
  return dot_w_q8_avx2_n(w, x, xd, nblk, W_Q5_0);
}
BL_AVX512 static float dot_q8_0_vnni(const uint8_t *w, const uint8_t *x, const float *xd,
                                   int64_t nblk) {
  return dot_w_q8_vnni_n(w, x, xd, nblk, W_Q8_0);
}
BL_AVX512 static float dot_q4_0_vnni(const uint8_t *w, const uint8_t *x, const float *xd,
                                   int64_t nblk) {
  return dot_w_q8_vnni_n(w, x, xd, nblk, W_Q4_0);
}
BL_AVX512 static float dot_q5_0_vnni(const uint8_t *w, const uint8_t *x, const float *xd,
                                   int64_t nblk) {
  return dot_w_q8_vnni_n(w, x, xd, nblk, W_Q5_0);
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* IQ4_NL (ggml-common.h block_iq4_nl, 18 bytes: f16 d, 16 bytes of nibbles; ggml-quants.c       */
/* dequantize_row_iq4_nl): element j (< 16) is kvalues[qs[j] & 15], j + 16 is kvalues[qs[j] >> 4]. */
/* ggml_vec_dot_iq4_nl_q8_0 keeps two 8-lane accumulators (even and odd blocks) added before the  */
/* horizontal sum, and a last odd block as one fma on the scalar sum.                             */

static float dot_iq4_nl_scalar(const uint8_t *w, const uint8_t *x, int64_t nblk) {
  float acc[2][8] = {{0}};
  int64_t pairs = nblk / 2 * 2;
  for (int64_t b = 0; b < pairs; b++) {
    const uint8_t *wb = w + b * 18, *xb = x + b * Q8_0_BYTES;
    const int8_t *xq = (const int8_t *)xb + 2;
    float d = q8_0_scale(wb, xb);
    for (int k = 0; k < 8; k++) {
      int32_t s = 0;
      for (int e = 4 * k; e < 4 * k + 4; e++) {
        uint8_t byte = wb[2 + (e % 16)];
        s += KVALUES_IQ4NL[e < 16 ? (byte & 0xF) : (byte >> 4)] * xq[e];
      }
      acc[b & 1][k] = fmaf((float)s, d, acc[b & 1][k]);
    }
  }
  float sum8[8];
  for (int k = 0; k < 8; k++) sum8[k] = acc[0][k] + acc[1][k];
  float sumf = hsum8_scalar(sum8);
  if (nblk % 2) {
    const uint8_t *wb = w + (nblk - 1) * 18, *xb = x + (nblk - 1) * Q8_0_BYTES;
    const int8_t *xq = (const int8_t *)xb + 2;
    int32_t s1 = 0, s2 = 0;
    for (int j = 0; j < 16; j++) {
      s1 += xq[j] * KVALUES_IQ4NL[wb[2 + j] & 0xF];
      s2 += xq[16 + j] * KVALUES_IQ4NL[wb[2 + j] >> 4];
    }
    sumf = fmaf(q8_0_scale(wb, xb), (float)(s1 + s2), sumf);
  }
  return sumf;
}

#if BL_X86
BL_AVX2 static float dot_iq4_nl_avx2(const uint8_t *w, const uint8_t *x, const float *xd,
                                      int64_t nblk) {
  const __m128i values = _mm_loadu_si128((const __m128i *)KVALUES_IQ4NL);
  const __m128i m4 = _mm_set1_epi8(0xF);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t pairs = nblk / 2 * 2;
  for (int64_t b = 0; b < pairs; b++) {
    const uint8_t *wb = w + b * 18, *xb = x + b * Q8_0_BYTES;
    __m128i bits = _mm_loadu_si128((const __m128i *)(wb + 2));
    __m256i v = _mm256_set_m128i(_mm_shuffle_epi8(values, _mm_and_si128(_mm_srli_epi16(bits, 4), m4)),
                                 _mm_shuffle_epi8(values, _mm_and_si128(bits, m4)));
    __m256i xv = _mm256_loadu_si256((const __m256i *)(xb + 2));
    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(xv, v)),
                                  ones);
    acc[b & 1] = _mm256_fmadd_ps(_mm256_set1_ps(f16c_at(wb) * xd[b]), _mm256_cvtepi32_ps(p),
                                 acc[b & 1]);
  }
  float sumf = hsum_f32_avx2(_mm256_add_ps(acc[0], acc[1]));
  if (nblk % 2) {
    const uint8_t *wb = w + (nblk - 1) * 18, *xb = x + (nblk - 1) * Q8_0_BYTES;
    const int8_t *xq = (const int8_t *)xb + 2;
    int32_t s = 0;
    for (int j = 0; j < 16; j++)
      s += xq[j] * KVALUES_IQ4NL[wb[2 + j] & 0xF] + xq[16 + j] * KVALUES_IQ4NL[wb[2 + j] >> 4];
    sumf = fmaf(f16c_at(wb) * xd[nblk - 1], (float)s, sumf);
  }
  return sumf;
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* Matrix product: y[t*rows + r] = W[r,:] . x_t                                                */

typedef struct {
  const uint8_t *w;
  int64_t rows, cols, ntok;
  const uint8_t *x; /* ntok rows of Q8_0 activations */
  const float *xd;  /* their block scales as f32 (one conversion per call, not per row) */
  float *y;
  int lvl;
} q8_ctx;

static void task_w_q8(q8_ctx *c, int64_t b, int64_t e, int fmt) {
  int64_t nblk = c->cols / Q8_0_BLOCK;
  for (int64_t r = b; r < e; r++) {
    const uint8_t *w = c->w + r * nblk * w_bytes(fmt);
    for (int64_t t = 0; t < c->ntok; t++) {
      const uint8_t *x = c->x + t * nblk * Q8_0_BYTES;
      const float *xd = c->xd + t * nblk;
      float s;
      if (fmt == W_IQ4_NL) {
#if BL_X86
        c->y[t * c->rows + r] = c->lvl >= BL_SIMD_AVX2 ? dot_iq4_nl_avx2(w, x, xd, nblk)
                                                     : dot_iq4_nl_scalar(w, x, nblk);
#else
        c->y[t * c->rows + r] = dot_iq4_nl_scalar(w, x, nblk);
#endif
        continue;
      }
#if BL_X86
      if (c->lvl == BL_SIMD_AVX512)
        s = fmt == W_Q8_0   ? dot_q8_0_vnni(w, x, xd, nblk)
            : fmt == W_Q4_0 ? dot_q4_0_vnni(w, x, xd, nblk)
                            : dot_q5_0_vnni(w, x, xd, nblk);
      else if (c->lvl == BL_SIMD_AVX2)
        s = fmt == W_Q8_0   ? dot_q8_0_avx2(w, x, xd, nblk)
            : fmt == W_Q4_0 ? dot_q4_0_avx2(w, x, xd, nblk)
                            : dot_q5_0_avx2(w, x, xd, nblk);
      else
#endif
        s = dot_w_q8_scalar(w, x, nblk, fmt);
      c->y[t * c->rows + r] = s;
    }
  }
}

/* The activation block scales as f32, in the calling thread's scratch; NULL when out of memory. */
static const float *activation_scales(const uint8_t *x, int64_t n) {
  float *xd = (float *)bl_scratch(0, (size_t)n * sizeof(float));
  if (!xd) return NULL;
  for (int64_t b = 0; b < n; b++) xd[b] = f16_at(x + b * Q8_0_BYTES);
  return xd;
}

/* Runs `task` over the rows; returns BL_ERR_NO_MEMORY when the scale buffer cannot be allocated. */
#define RUN_W_Q8(task)                                                                         \
  const float *xd = activation_scales(x, ntok * (cols / Q8_0_BLOCK));                         \
  if (!xd) return BL_ERR_NO_MEMORY;                                                           \
  q8_ctx c = {w, rows, cols, ntok, x, xd, y, bl_level()};                                     \
  bl_parallel_for(task, &c, rows, 8);                                                         \
  return 0

static void task_q8_0(void *p, int64_t b, int64_t e) { task_w_q8((q8_ctx *)p, b, e, W_Q8_0); }
static void task_q4_0(void *p, int64_t b, int64_t e) { task_w_q8((q8_ctx *)p, b, e, W_Q4_0); }
static void task_q5_0(void *p, int64_t b, int64_t e) { task_w_q8((q8_ctx *)p, b, e, W_Q5_0); }
static void task_iq4_nl(void *p, int64_t b, int64_t e) {
  task_w_q8((q8_ctx *)p, b, e, W_IQ4_NL);
}

/** IQ4_NL weights (cols % 32 == 0) times Q8_0 activations from bl_quantize_rows_q8_0. */
BL_API int32_t bl_matmul_iq4_nl(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x,
                              int64_t ntok, float *y) {
  RUN_W_Q8(task_iq4_nl);
}

/** Q5_0 weights (cols % 32 == 0) times Q8_0 activations from bl_quantize_rows_q8_0. */
BL_API int32_t bl_matmul_q5_0(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x,
                         int64_t ntok, float *y) {
  RUN_W_Q8(task_q5_0);
}

/** Q4_0 weights (cols % 32 == 0) times Q8_0 activations from bl_quantize_rows_q8_0. */
BL_API int32_t bl_matmul_q4_0(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x,
                         int64_t ntok, float *y) {
  RUN_W_Q8(task_q4_0);
}

/** Q8_0 weights (cols % 32 == 0) times Q8_0 activations from bl_quantize_rows_q8_0. */
BL_API int32_t bl_matmul_q8_0(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x,
                         int64_t ntok, float *y) {
  RUN_W_Q8(task_q8_0);
}

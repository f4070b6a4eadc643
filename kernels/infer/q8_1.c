/*
 * Q4_1 and Q5_1 products on integers, as llama.cpp computes them: activations are quantized per
 * 32-block to Q8_1 (block_q8_1: f16 d, f16 s = d * sum(codes), 32 int8) and each block pair
 * contributes d_w * d_x * sum(code_w * x) + m_w * s_x (code_w unsigned, the block's minimum m_w).
 *
 * Bit-exact with ggml (llama.cpp v0.5.0's x86 builds of ggml-cpu):
 * - quantize_row_q8_1: the codes of quantize_row_q8_0 (round to nearest even of x * 127 / max|x|),
 *   d = max|x| / 127 as f16, s = f16(d * sum(codes)) with the unrounded d;
 * - ggml_vec_dot_q4_1_q8_1 / ggml_vec_dot_q5_1_q8_1: 8 int32 lanes per block (lane k: bytes
 *   4k..4k+3), acc = fma(d_w * d_x, lanes, acc) in block order, summs = fma(m_w, s_x, summs) (ggml's
 *   `summs += m * s`, contracted by its compiler), result hsum_float_8(acc) + summs.
 */
#include "internal.h"

#define Q8_1_BYTES 36 /* f16 d, f16 s, int8 qs[32] */
#define Q4_1_BYTES 20 /* f16 d, f16 m, qs[16] */
#define Q5_1_BYTES 24 /* f16 d, f16 m, u32 qh, qs[16] */

/* ------------------------------------------------------------------------------------------ */
/* Q8_1 activations                                                                            */

/* One row: each block's codes (q8_block_*), d = max|x| / 127 and s = d * sum as f16. */
static void quantize_q8_1_row(const float *x, int64_t n, uint8_t *out, int lvl) {
  for (int64_t b = 0; b < n / 32; b++) {
    uint8_t *ob = out + b * Q8_1_BYTES;
    int32_t sum;
    float amax;
#if BL_X86
    if (lvl >= BL_SIMD_AVX2) amax = q8_block_avx2(x + b * 32, (int8_t *)ob + 4, &sum);
    else
#endif
      amax = q8_block_scalar(x + b * 32, (int8_t *)ob + 4, &sum);
    (void)lvl;
    float d = amax / 127.0f;
    uint16_t dh = f32_to_f16(d), sh = f32_to_f16(d * (float)sum);
    memcpy(ob, &dh, 2);
    memcpy(ob + 2, &sh, 2);
  }
}

/**
 * Quantizes `rows` rows of `width` floats (width % 32 == 0) to Q8_1 blocks, `width / 32 * 36`
 * bytes per row, with the bytes of ggml's x86 quantize_row_q8_1.
 */
BL_API void bl_quantize_rows_q8_1(const float *x, int64_t rows, int64_t width, uint8_t *out) {
  int64_t row_bytes = width / 32 * Q8_1_BYTES;
  int lvl = bl_level();
  for (int64_t r = 0; r < rows; r++) quantize_q8_1_row(x + r * width, width, out + r * row_bytes, lvl);
}

/* ------------------------------------------------------------------------------------------ */
/* Q4_1 / Q5_1 weights: element j (< 16) is the low nibble of qs[j], j + 16 the high one; Q5_1   */
/* adds bit j of qh as the fifth bit (ggml-quants.c dequantize_row_q4_1 / q5_1).                */

static float dot_q451_scalar(const uint8_t *w, const uint8_t *x, int64_t nblk, int five) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, summs = 0.0f;
  const int64_t wbytes = five ? Q5_1_BYTES : Q4_1_BYTES;
  for (int64_t b = 0; b < nblk; b++) {
    const uint8_t *wb = w + b * wbytes, *xb = x + b * Q8_1_BYTES;
    const uint8_t *qs = wb + (five ? 8 : 4);
    const int8_t *xq = (const int8_t *)xb + 4;
    uint32_t qh = 0;
    if (five) memcpy(&qh, wb + 4, 4);
    summs = fmaf(f16_at(wb + 2), f16_at(xb + 2), summs);
    float d = f16_at(wb) * f16_at(xb);
    for (int k = 0; k < 8; k++) {
      int32_t s = 0;
      for (int e = 4 * k; e < 4 * k + 4; e++) {
        int j = e % 16;
        int c = e < 16 ? (qs[j] & 0xF) : (qs[j] >> 4);
        if (five) c |= ((qh >> e) & 1) << 4;
        s += c * xq[e];
      }
      acc[k] = fmaf(d, (float)s, acc[k]);
    }
  }
  return hsum8_scalar(acc) + summs;
}

#if BL_X86
BL_AVX2 static inline __attribute__((always_inline)) float dot_q451_avx2(const uint8_t *w,
                                                                          const uint8_t *x,
                                                                          int64_t nblk, int five) {
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t wbytes = five ? Q5_1_BYTES : Q4_1_BYTES;
  __m256 acc = _mm256_setzero_ps();
  float summs = 0.0f;
  for (int64_t b = 0; b < nblk; b++) {
    const uint8_t *wb = w + b * wbytes, *xb = x + b * Q8_1_BYTES;
    summs = fmaf(f16c_at(wb + 2), f16c_at(xb + 2), summs);
    const float d = f16c_at(wb) * f16c_at(xb);
    __m128i nib = _mm_loadu_si128((const __m128i *)(wb + (five ? 8 : 4)));
    __m256i c = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(nib, 4), nib), _mm256_set1_epi8(0xF));
    if (five) {
      int32_t qh;
      memcpy(&qh, wb + 4, 4);
      c = _mm256_or_si256(c, _mm256_and_si256(bytes_from_bits_avx2(qh), _mm256_set1_epi8(0x10)));
    }
    __m256i xv = _mm256_loadu_si256((const __m256i *)(xb + 4));
    __m256i lanes = _mm256_madd_epi16(_mm256_maddubs_epi16(c, xv), ones);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(lanes), acc);
  }
  return hsum_f32_avx2(acc) + summs;
}

BL_AVX2 static float dot_q4_1_avx2(const uint8_t *w, const uint8_t *x, int64_t nblk) {
  return dot_q451_avx2(w, x, nblk, 0);
}
BL_AVX2 static float dot_q5_1_avx2(const uint8_t *w, const uint8_t *x, int64_t nblk) {
  return dot_q451_avx2(w, x, nblk, 1);
}
#endif

typedef struct {
  const uint8_t *w;
  int64_t rows, cols, ntok;
  const uint8_t *x; /* ntok rows of Q8_1 activations */
  float *y;
  int lvl, five;
} q81_ctx;

static void task_q451(void *p, int64_t b, int64_t e) {
  q81_ctx *c = (q81_ctx *)p;
  int64_t nblk = c->cols / 32;
  int64_t wbytes = c->five ? Q5_1_BYTES : Q4_1_BYTES;
  for (int64_t r = b; r < e; r++) {
    const uint8_t *w = c->w + r * nblk * wbytes;
    for (int64_t t = 0; t < c->ntok; t++) {
      const uint8_t *x = c->x + t * nblk * Q8_1_BYTES;
#if BL_X86
      if (c->lvl >= BL_SIMD_AVX2) {
        c->y[t * c->rows + r] = c->five ? dot_q5_1_avx2(w, x, nblk) : dot_q4_1_avx2(w, x, nblk);
        continue;
      }
#endif
      c->y[t * c->rows + r] = dot_q451_scalar(w, x, nblk, c->five);
    }
  }
}

/** Q4_1 weights (cols % 32 == 0) times Q8_1 activations from bl_quantize_rows_q8_1. */
BL_API void bl_matmul_q4_1(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x,
                         int64_t ntok, float *y) {
  q81_ctx c = {w, rows, cols, ntok, x, y, bl_level(), 0};
  bl_parallel_for(task_q451, &c, rows, 8);
}

/** Q5_1 weights (cols % 32 == 0) times Q8_1 activations from bl_quantize_rows_q8_1. */
BL_API void bl_matmul_q5_1(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x,
                         int64_t ntok, float *y) {
  q81_ctx c = {w, rows, cols, ntok, x, y, bl_level(), 1};
  bl_parallel_for(task_q451, &c, rows, 8);
}

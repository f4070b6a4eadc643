/*
 * Ternary products straight from packed weights: I2_S (microsoft/BitNet), TQ2_0 and TQ1_0 (ggml),
 * times int8 activations quantized per token with one absmax scale (activations.c).
 *
 * BitNet's BitLinear scheme, as bitnet.cpp computes it: the weight codes c in {0, 1, 2} stand for
 * {-1, 0, +1}, so sum(w * q) = sum(c * q) - sum(q), an unsigned x signed int8 product that maps
 * onto AVX2 `vpmaddubsw` and AVX-512 VNNI `vpdpbusd`. The integer result is multiplied by the
 * weight scale (one f32 per tensor for I2_S, one f16 per 256-block for TQ2_0/TQ1_0) and divided
 * by the activation scale 127 / max|x| (activations.c).
 *
 * I2_S is bitnet.cpp's arithmetic bit for bit (ggml_vec_dot_i2_i8_s and the epilogue of the
 * fork's ggml_compute_forward_mul_mat_one_chunk): y = ((float)sum(c*q) - (float)sum(q)) /
 * act_scale * weight_scale, in f32 and in that order.
 *
 * Bit-exact twins: integer sums are exact, and the float epilogue is fixed, so scalar, AVX2 and
 * AVX-512 give identical bits:
 * - I2_S: one integer sum per row, then the fork's float expression.
 * - TQ2_0 / TQ1_0: per block, 8 integer lanes (lane k sums the elements e with (e mod 32) / 4 ==
 *   k); lane 0 takes the block's -sum(q); lane k accumulates fma(lane, d, acc[k]) in block order;
 *   the 8 accumulators are reduced in hsum8_scalar's order.
 *
 * The AVX-512 level uses 256-bit VNNI (vpdpbusd on ymm, AVX512VL), except one I2_S token (decode:
 * dot_i2s_zmm_1, 512-bit VNNI on masked codes without shifts). TQ2_0/TQ1_0 batches decode
 * each weight block once for up to 4 tokens; I2_S batches (at AVX2 and AVX-512) go to the
 * register-tiled kernels of i2s_gemm.c. All give the same bits as single tokens.
 */
#include "internal.h"

#include "i2s_gemm.h"

/* ------------------------------------------------------------------------------------------ */
/* Per-call preparation                                                                        */

/* Sums of each 256-group of codes from the 32-group sums. */
static void block_sums(const int32_t *gsum, int64_t cols, int32_t *bsum) {
  for (int64_t b = 0; b < cols / 256; b++) {
    const int32_t *g = gsum + b * 8;
    bsum[b] = g[0] + g[1] + g[2] + g[3] + g[4] + g[5] + g[6] + g[7];
  }
}

typedef struct {
  const uint8_t *w;
  int64_t rows, cols, ntok;
  const int8_t *q;      /* ntok * cols codes */
  const int32_t *gsum;  /* ntok * cols/32 group sums */
  const int32_t *bsum;  /* ntok * cols/256 block sums (TQ2_0) */
  const float *factor;  /* ntok activation scales (127 / max|x|): sums are divided by them */
  float wscale;
  float *y;
  int lvl;
  const int8_t *qp; /* one token's codes in the order of dot_i2s_zmm_1 (I2_S, AVX-512), or NULL */
} tern_ctx;

/* Fills the per-call block sums of c (TQ2_0/TQ1_0); -1 when out of memory. */
static int prepare(tern_ctx *c, int need_bsum) {
  if (need_bsum) {
    int64_t nb = c->cols / 256;
    int32_t *bsum = (int32_t *)bl_scratch(0, (size_t)(c->ntok * nb) * sizeof(int32_t));
    if (!bsum) return -1;
    for (int64_t t = 0; t < c->ntok; t++)
      block_sums(c->gsum + t * (c->cols / 32), c->cols, bsum + t * nb);
    c->bsum = bsum;
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* I2_S: 128-element blocks of 32 bytes; byte p holds elements p, 32+p, 64+p, 96+p in bits      */
/* 7:6, 5:4, 3:2, 1:0 (microsoft/BitNet). The dots return sum(c * q) over the row.              */

/* Bytes ahead of the loads that the ternary dots prefetch: the hardware streamer alone
 * leaves a core's share of DRAM bandwidth unused (codes/s per core of CPU time, 521 MB of 2B-shaped
 * projections: 5.3-6.3 GB/s without, 7.3-8.2 GB/s at 2-4 KiB, 16 KiB no better; at the AVX2
 * level 4.1-4.6 -> 5.5-7.0 GB/s; TQ2_0 at AVX-512 4.0-5.7 -> 5.9-8.8 GB/s). Rows are
 * contiguous, so the prefetch runs on into the next rows of the same matrix; past its end it is
 * a harmless hint. */
#define TERNARY_PREFETCH 4096
/* The one-token AVX-512 I2_S kernel also asks for lines 16 KiB ahead into L2 (prefetcht1): one
 * thread, codes per CPU-second on 521 MB, five interleaved pairs: 8.2-9.9 -> 7.6-11.6 GB/s, the
 * medians 4 times of 5 higher, +12 % on average. */
#define TERNARY_PREFETCH_L2 16384

static int32_t dot_i2s_scalar(const uint8_t *w, const int8_t *q, int64_t cols) {
  int32_t acc = 0;
  for (int64_t blk = 0; blk < cols / 128; blk++) {
    const uint8_t *b = w + blk * 32;
    const int8_t *a = q + blk * 128;
    for (int p = 0; p < 32; p++) {
      uint8_t v = b[p];
      acc += ((v >> 6) & 3) * a[p] + ((v >> 4) & 3) * a[32 + p] + ((v >> 2) & 3) * a[64 + p] +
             (v & 3) * a[96 + p];
    }
  }
  return acc;
}

#if BL_X86
BL_AVX2 static int32_t dot_i2s_avx2(const uint8_t *w,
                                                                     const int8_t *q,
                                                                     int64_t cols) {
  const __m256i mask = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc = _mm256_setzero_si256();
  for (int64_t blk = 0; blk < cols / 128; blk++) {
    if (blk % 2 == 0) _mm_prefetch((const char *)(w + blk * 32 + TERNARY_PREFETCH), _MM_HINT_T0);
    __m256i v = _mm256_loadu_si256((const __m256i *)(w + blk * 32));
    const int8_t *a = q + blk * 128;
    __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(v, 6), mask);
    __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
    __m256i c2 = _mm256_and_si256(_mm256_srli_epi16(v, 2), mask);
    __m256i c3 = _mm256_and_si256(v, mask);
    __m256i p0 = _mm256_maddubs_epi16(c0, _mm256_loadu_si256((const __m256i *)(a)));
    __m256i p1 = _mm256_maddubs_epi16(c1, _mm256_loadu_si256((const __m256i *)(a + 32)));
    __m256i p2 = _mm256_maddubs_epi16(c2, _mm256_loadu_si256((const __m256i *)(a + 64)));
    __m256i p3 = _mm256_maddubs_epi16(c3, _mm256_loadu_si256((const __m256i *)(a + 96)));
    __m256i s = _mm256_add_epi16(_mm256_add_epi16(p0, p1), _mm256_add_epi16(p2, p3));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(s, ones));
  }
  return hsum_i32_avx2(acc);
}


/* AVX-512 level: 256-bit VNNI; the codes of a block are decoded once for up to 4 tokens (always
 * inlined with a constant `nt`, see dot_i2s_vnni). */
BL_AVX512 static inline __attribute__((always_inline)) void dot_i2s_vnni_n(const uint8_t *w, const int8_t *q, int64_t cols, int nt,
                                    int32_t *out) {
  const __m256i mask = _mm256_set1_epi8(3);
  __m256i acc[4];
  for (int t = 0; t < 4; t++) acc[t] = _mm256_setzero_si256();
  for (int64_t blk = 0; blk < cols / 128; blk++) {
    __m256i v = _mm256_loadu_si256((const __m256i *)(w + blk * 32));
    __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(v, 6), mask);
    __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
    __m256i c2 = _mm256_and_si256(_mm256_srli_epi16(v, 2), mask);
    __m256i c3 = _mm256_and_si256(v, mask);
    for (int t = 0; t < nt; t++) {
      const __m256i *a = (const __m256i *)(q + t * cols + blk * 128);
      /* two short chains per block, so the loop-carried dependency is one add */
      __m256i p0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), c0, _mm256_loadu_si256(a));
      __m256i p1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), c2, _mm256_loadu_si256(a + 2));
      p0 = _mm256_dpbusd_epi32(p0, c1, _mm256_loadu_si256(a + 1));
      p1 = _mm256_dpbusd_epi32(p1, c3, _mm256_loadu_si256(a + 3));
      acc[t] = _mm256_add_epi32(acc[t], _mm256_add_epi32(p0, p1));
    }
  }
  for (int t = 0; t < nt; t++) out[t] = hsum_i32_avx2(acc[t]);
}

BL_AVX512 static void dot_i2s_vnni(const uint8_t *w, const int8_t *q, int64_t cols, int nt,
                                    int32_t *out) {
  switch (nt) {
    case 1: dot_i2s_vnni_n(w, q, cols, 1, out); break;
    case 2: dot_i2s_vnni_n(w, q, cols, 2, out); break;
    case 3: dot_i2s_vnni_n(w, q, cols, 3, out); break;
    default: dot_i2s_vnni_n(w, q, cols, 4, out); break;
  }
}
#endif

/* Tokens per call of the multi-token tile kernels (i2s_gemm.c): their activation sums are summed
 * here on the stack. */
#define I2S_GEMM_GROUP 64

/* One token at the AVX-512 level (decode): 512-bit VNNI over two 32-byte blocks at a time, with
 * no shifts. Masking a byte with 0xC0, 0x30, 0x0C and 0x03 leaves 64, 16, 4 and 1 times the codes of
 * elements p, 32+p, 64+p and 96+p of its block; each mask has its own accumulators, so every lane
 * of one sums an exact multiple (64x, 16x, 4x, 1x) of true products, shifted back (exactly) lane
 * by lane before the one horizontal sum. The activations are reordered once per product (permute_q_pairs) so that the
 * 64 bytes matching a mask are contiguous: for blocks 2j and 2j+1, class k's 64 bytes are
 * q[(2j)*128 + 32k ..+32] then q[(2j+1)*128 + 32k ..+32]. An odd last block runs on ymm in the
 * same way on the codes in their own order. 4 ALU ops and 4 vpdpbusd per 64 weight bytes (the
 * shift-and-mask path takes 16 per 64). The integer sum is the same, so the bits are. */

/* Columns up to which the scaled lanes stay in int32: a lane of a class sums at most cols/64
 * products of at most 64 * 3 * 128 (a code of 3 included), the a + b sums included. */
#define I2S_1_MAX_COLS (1 << 18)

static void permute_q_pairs(const int8_t *q, int64_t cols, int8_t *qp) {
  const int64_t npair = cols / 256;
  for (int64_t j = 0; j < npair; j++)
    for (int k = 0; k < 4; k++)
      for (int h = 0; h < 2; h++)
        memcpy(qp + j * 256 + k * 64 + h * 32, q + (2 * j + h) * 128 + k * 32, 32);
  memcpy(qp + npair * 256, q + npair * 256, (size_t)(cols % 256));
}


#if BL_X86
BL_AVX512 static int32_t dot_i2s_zmm_1(const uint8_t *w, const int8_t *qp, int64_t cols) {
  const __m512i m0 = _mm512_set1_epi8((char)0xC0), m1 = _mm512_set1_epi8(0x30);
  const __m512i m2 = _mm512_set1_epi8(0x0C), m3 = _mm512_set1_epi8(0x03);
  /* two accumulator sets: the loop-carried chains are half as long as the loop */
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  __m512i b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  const int64_t npair = cols / 256;
  int64_t j = 0;
  for (; j + 2 <= npair; j += 2) {
    _mm_prefetch((const char *)(w + j * 64 + TERNARY_PREFETCH_L2), _MM_HINT_T1);
    _mm_prefetch((const char *)(w + j * 64 + TERNARY_PREFETCH_L2 + 64), _MM_HINT_T1);
    _mm_prefetch((const char *)(w + j * 64 + TERNARY_PREFETCH), _MM_HINT_T0);
    _mm_prefetch((const char *)(w + j * 64 + TERNARY_PREFETCH + 64), _MM_HINT_T0);
    const __m512i v = _mm512_loadu_si512((const void *)(w + j * 64));
    const __m512i u = _mm512_loadu_si512((const void *)(w + j * 64 + 64));
    const int8_t *a = qp + j * 256;
    a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(v, m0), _mm512_loadu_si512(a));
    a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(v, m1), _mm512_loadu_si512(a + 64));
    a2 = _mm512_dpbusd_epi32(a2, _mm512_and_si512(v, m2), _mm512_loadu_si512(a + 128));
    a3 = _mm512_dpbusd_epi32(a3, _mm512_and_si512(v, m3), _mm512_loadu_si512(a + 192));
    b0 = _mm512_dpbusd_epi32(b0, _mm512_and_si512(u, m0), _mm512_loadu_si512(a + 256));
    b1 = _mm512_dpbusd_epi32(b1, _mm512_and_si512(u, m1), _mm512_loadu_si512(a + 320));
    b2 = _mm512_dpbusd_epi32(b2, _mm512_and_si512(u, m2), _mm512_loadu_si512(a + 384));
    b3 = _mm512_dpbusd_epi32(b3, _mm512_and_si512(u, m3), _mm512_loadu_si512(a + 448));
  }
  if (j < npair) {
    const __m512i v = _mm512_loadu_si512((const void *)(w + j * 64));
    const int8_t *a = qp + j * 256;
    a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(v, m0), _mm512_loadu_si512(a));
    a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(v, m1), _mm512_loadu_si512(a + 64));
    a2 = _mm512_dpbusd_epi32(a2, _mm512_and_si512(v, m2), _mm512_loadu_si512(a + 128));
    a3 = _mm512_dpbusd_epi32(a3, _mm512_and_si512(v, m3), _mm512_loadu_si512(a + 192));
  }
  if (cols % 256) {
    /* the odd last block on ymm, into the low halves of the same accumulators */
    const __m256i v = _mm256_loadu_si256((const __m256i *)(w + npair * 64));
    const int8_t *a = qp + npair * 256;
    const __m256i z = _mm256_setzero_si256();
#define TAIL(acc, m, off)                                                                        \
  acc = _mm512_add_epi32(                                                                        \
      acc, _mm512_zextsi256_si512(_mm256_dpbusd_epi32(                                          \
               z, _mm256_and_si256(v, _mm512_castsi512_si256(m)),                                \
               _mm256_loadu_si256((const __m256i *)(a + off)))))
    TAIL(b0, m0, 0);
    TAIL(b1, m1, 32);
    TAIL(b2, m2, 64);
    TAIL(b3, m3, 96);
#undef TAIL
  }
  /* every lane of a class is an exact multiple of its scale: shift back lane by lane, then one
   * horizontal sum */
  const __m512i s = _mm512_add_epi32(
      _mm512_add_epi32(_mm512_srai_epi32(_mm512_add_epi32(a0, b0), 6),
                       _mm512_srai_epi32(_mm512_add_epi32(a1, b1), 4)),
      _mm512_add_epi32(_mm512_srai_epi32(_mm512_add_epi32(a2, b2), 2), _mm512_add_epi32(a3, b3)));
  return _mm512_reduce_add_epi32(s);
}
#endif

#if BL_X86
/* Rows [b, e) of one token: the integer sums of 16 rows, then the epilogue on 16 lanes (the same
 * IEEE operations as the scalar expression, lane by lane: int -> f32, minus, divide, times). */
BL_AVX512 static void task_i2s_zmm_1(const tern_ctx *c, int64_t b, int64_t e, int32_t qsum) {
  const int64_t row_bytes = c->cols / 4;
  const __m512 fq = _mm512_set1_ps((float)qsum), ff = _mm512_set1_ps(c->factor[0]);
  const __m512 fw = _mm512_set1_ps(c->wscale);
  int32_t s[16];
  for (int64_t r0 = b; r0 < e; r0 += 16) {
    const int n = e - r0 < 16 ? (int)(e - r0) : 16;
    for (int i = 0; i < n; i++) s[i] = dot_i2s_zmm_1(c->w + (r0 + i) * row_bytes, c->qp, c->cols);
    const __mmask16 m = (__mmask16)((1u << n) - 1);
    const __m512 v = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, s));
    _mm512_mask_storeu_ps(c->y + r0, m,
                          _mm512_mul_ps(_mm512_div_ps(_mm512_sub_ps(v, fq), ff), fw));
  }
}
#endif

static void task_i2s(void *p, int64_t b, int64_t e) {
  tern_ctx *c = (tern_ctx *)p;
  int64_t row_bytes = c->cols / 4;
  if (c->ntok > 1 && bl_i2s_gemm_supported(c->lvl, c->cols)) {
    /* prompts: register-blocked rows x tokens tiles */
    int32_t gq[I2S_GEMM_GROUP];
    for (int64_t t0 = 0; t0 < c->ntok; t0 += I2S_GEMM_GROUP) {
      int64_t nt = c->ntok - t0 < I2S_GEMM_GROUP ? c->ntok - t0 : I2S_GEMM_GROUP;
      for (int64_t t = 0; t < nt; t++) {
        const int32_t *gs = c->gsum + (t0 + t) * (c->cols / 32);
        int32_t sum = 0;
        for (int64_t g = 0; g < c->cols / 32; g++) sum += gs[g];
        gq[t] = sum;
      }
      bl_i2s_gemm_rows(c->lvl, c->w, c->rows, c->cols, c->q + t0 * c->cols, gq,
                       c->factor + t0, c->wscale, nt, b, e, c->y + t0 * c->rows);
    }
    return;
  }
#if BL_X86
  if (c->qp) {
    /* one token, AVX-512: the shift-free 512-bit kernel on the reordered codes */
    int32_t qsum = 0;
    for (int64_t g = 0; g < c->cols / 32; g++) qsum += c->gsum[g];
    task_i2s_zmm_1(c, b, e, qsum);
    return;
  }
#endif
  int32_t qsum[4], s[4];
  for (int64_t t0 = 0; t0 < c->ntok; t0 += 4) {
    int nt = c->ntok - t0 < 4 ? (int)(c->ntok - t0) : 4;
    for (int t = 0; t < nt; t++) {
      const int32_t *gs = c->gsum + (t0 + t) * (c->cols / 32);
      int32_t sum = 0;
      for (int64_t g = 0; g < c->cols / 32; g++) sum += gs[g];
      qsum[t] = sum;
    }
    for (int64_t r = b; r < e; r++) {
      const uint8_t *w = c->w + r * row_bytes;
      const int8_t *q = c->q + t0 * c->cols;
#if BL_X86
      if (c->lvl == BL_SIMD_AVX512) {
        dot_i2s_vnni(w, q, c->cols, nt, s);
      } else
#endif
      {
        for (int t = 0; t < nt; t++) {
#if BL_X86
          if (c->lvl >= BL_SIMD_AVX2) s[t] = dot_i2s_avx2(w, q + t * c->cols, c->cols);
          else
#endif
            s[t] = dot_i2s_scalar(w, q + t * c->cols, c->cols);
        }
      }
      for (int t = 0; t < nt; t++)
        c->y[(t0 + t) * c->rows + r] =
            ((float)s[t] - (float)qsum[t]) / c->factor[t0 + t] * c->wscale;
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* TQ2_0 and TQ1_0: 256-element blocks with one f16 scale d; codes c in {0, 1, 2} stand for     */
/* c - 1. Both kernels decode a block into eight 32-byte code vectors, vector i holding the      */
/* codes of elements 32i .. 32i+31 in order, and share one accumulation step (below). The dots  */
/* return sum over blocks of d * sum((c - 1) * q).                                              */
/*                                                                                              */
/* TQ2_0 (ggml-common.h block_tq2_0, 66 bytes: qs[64], d): byte m of 32-byte chunk j holds the  */
/* codes of elements j*128 + 32l + m in bits 2l+1:2l (ggml-quants.c dequantize_row_tq2_0).      */
/*                                                                                              */
/* TQ1_0 (block_tq1_0, 54 bytes: qs[48], qh[4], d): trit n of byte b is ((b * 3^n) mod 256) * 3 */
/* >> 8 (ggml-quants.c dequantize_row_tq1_0): qs[0..31] hold elements 32n + m (n < 5),          */
/* qs[32..47] elements 160 + 16n + m, qh[0..3] elements 240 + 4n + m (n < 4).                   */

enum { FMT_TQ2 = 0, FMT_TQ1 = 1 };

static inline int fmt_bytes(int fmt) { return fmt == FMT_TQ2 ? 66 : 54; }

static inline float block_scale(const uint8_t *b, int fmt) {
  return f16_at(b + (fmt == FMT_TQ2 ? 64 : 52));
}

/* The 256 codes of a block in element order (scalar twins). */
static void decode_codes_scalar(const uint8_t *b, int fmt, uint8_t *codes) {
  if (fmt == FMT_TQ2) {
    for (int j = 0; j < 2; j++)
      for (int l = 0; l < 4; l++)
        for (int m = 0; m < 32; m++) codes[j * 128 + 32 * l + m] = (b[j * 32 + m] >> (2 * l)) & 3;
    return;
  }
  static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
#define TRIT(byte, n) ((uint8_t)((((uint16_t)(uint8_t)((byte) * pow3[n])) * 3) >> 8))
  for (int n = 0; n < 5; n++) {
    for (int m = 0; m < 32; m++) codes[32 * n + m] = TRIT(b[m], n);
    for (int m = 0; m < 16; m++) codes[160 + 16 * n + m] = TRIT(b[32 + m], n);
  }
  for (int n = 0; n < 4; n++)
    for (int m = 0; m < 4; m++) codes[240 + 4 * n + m] = TRIT(b[48 + m], n);
#undef TRIT
}

/* Scalar twin of the SIMD accumulation: 8 integer lanes, lane k summing the elements e with
 * (e mod 32) / 4 == k (what maddubs + madd, or vpdpbusd, give per 32-byte vector); lane 0 takes
 * the block's -sum(q); acc[k] = fma(lane, d, acc[k]) in block order; hsum8 at the end. */
static float dot_codes_scalar(const uint8_t *w, const int8_t *q, const int32_t *bsum,
                              int64_t nblk, int fmt) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  uint8_t codes[256];
  for (int64_t blk = 0; blk < nblk; blk++) {
    const uint8_t *b = w + blk * fmt_bytes(fmt);
    const int8_t *a = q + blk * 256;
    decode_codes_scalar(b, fmt, codes);
    int32_t lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int e = 0; e < 256; e++) lane[(e % 32) / 4] += codes[e] * a[e];
    lane[0] -= bsum[blk];
    float d = block_scale(b, fmt);
    for (int k = 0; k < 8; k++) acc[k] = fmaf((float)lane[k], d, acc[k]);
  }
  return hsum8_scalar(acc);
}

#if BL_X86
BL_AVX2 static inline __m256 block_scale8(const uint8_t *b, int fmt) {
  int16_t dh;
  memcpy(&dh, b + (fmt == FMT_TQ2 ? 64 : 52), 2);
  return _mm256_cvtph_ps(_mm_set1_epi16(dh));
}

/* (3x) >> 8 for unsigned bytes x: 1 from 86, 2 from 171 (signed compares after a 0x80 flip). */
BL_AVX2 static inline __m256i trits_avx2(__m256i x) {
  __m256i s = _mm256_xor_si256(x, _mm256_set1_epi8((char)0x80));
  __m256i ge86 = _mm256_cmpgt_epi8(s, _mm256_set1_epi8((char)(85 ^ 0x80)));
  __m256i ge171 = _mm256_cmpgt_epi8(s, _mm256_set1_epi8((char)(170 ^ 0x80)));
  return _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), ge86), ge171);
}

BL_AVX2 static inline __m256i times3_avx2(__m256i x) {
  return _mm256_add_epi8(x, _mm256_add_epi8(x, x));
}

BL_AVX2 static inline __m128i times3_sse(__m128i x) { return _mm_add_epi8(x, _mm_add_epi8(x, x)); }

/* The eight code vectors of a block (see the section comment). */
BL_AVX2 static inline __attribute__((always_inline)) void decode_codes_avx2(const uint8_t *b,
                                                                             int fmt,
                                                                             __m256i c[8]) {
  if (fmt == FMT_TQ2) {
    const __m256i mask = _mm256_set1_epi8(3);
    __m256i v0 = _mm256_loadu_si256((const __m256i *)b);
    __m256i v1 = _mm256_loadu_si256((const __m256i *)(b + 32));
    for (int l = 0; l < 4; l++) {
      c[l] = _mm256_and_si256(_mm256_srli_epi16(v0, 2 * l), mask);
      c[4 + l] = _mm256_and_si256(_mm256_srli_epi16(v1, 2 * l), mask);
    }
    return;
  }
  /* qs[0..31]: trit n of every byte is vector n */
  __m256i x = _mm256_loadu_si256((const __m256i *)b);
  for (int n = 0; n < 5; n++) {
    c[n] = trits_avx2(x);
    x = times3_avx2(x);
  }
  /* qs[32..47] times 1, 3, 9, 27, 81 and qh times 1, 3, 9, 27 (one power per dword) */
  __m128i y1 = _mm_loadu_si128((const __m128i *)(b + 32));
  __m128i y3 = times3_sse(y1), y9 = times3_sse(y3), y27 = times3_sse(y9), y81 = times3_sse(y27);
  int32_t qh;
  memcpy(&qh, b + 48, 4);
  __m128i h1 = _mm_set1_epi32(qh);
  __m128i h3 = times3_sse(h1), h9 = times3_sse(h3), h27 = times3_sse(h9);
  __m128i h = _mm_blend_epi32(_mm_blend_epi32(h1, h3, 0x2), _mm_blend_epi32(h9, h27, 0x8), 0xc);
  c[5] = trits_avx2(_mm256_set_m128i(y3, y1));   /* elements 160..191 */
  c[6] = trits_avx2(_mm256_set_m128i(y27, y9));  /* 192..223 */
  c[7] = trits_avx2(_mm256_set_m128i(h, y81));   /* 224..255 */
}

/* Up to 4 tokens per decoded block (q rows nblk * 256 apart, block sums nblk apart); always
 * inlined with constant `nt` and `fmt` (dot_codes_avx2) so that everything stays in registers. */
BL_AVX2 static inline __attribute__((always_inline)) void dot_codes_avx2_n(
    const uint8_t *w, const int8_t *q, const int32_t *bsum, int64_t nblk, int nt, int fmt,
    float *out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 accf[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                    _mm256_setzero_ps()};
  int64_t cols = nblk * 256;
  for (int64_t blk = 0; blk < nblk; blk++) {
    const uint8_t *b = w + blk * fmt_bytes(fmt);
    _mm_prefetch((const char *)(b + TERNARY_PREFETCH), _MM_HINT_T0);
    __m256i c[8];
    decode_codes_avx2(b, fmt, c);
    __m256 d = block_scale8(b, fmt);
    for (int t = 0; t < nt; t++) {
      const __m256i *a = (const __m256i *)(q + t * cols + blk * 256);
      /* each i16 lane sums 2 products of at most 3 * 128: 8 of them stay far below 32767 */
      __m256i s16 = _mm256_add_epi16(
          _mm256_add_epi16(
              _mm256_add_epi16(_mm256_maddubs_epi16(c[0], _mm256_loadu_si256(a)),
                               _mm256_maddubs_epi16(c[1], _mm256_loadu_si256(a + 1))),
              _mm256_add_epi16(_mm256_maddubs_epi16(c[2], _mm256_loadu_si256(a + 2)),
                               _mm256_maddubs_epi16(c[3], _mm256_loadu_si256(a + 3)))),
          _mm256_add_epi16(
              _mm256_add_epi16(_mm256_maddubs_epi16(c[4], _mm256_loadu_si256(a + 4)),
                               _mm256_maddubs_epi16(c[5], _mm256_loadu_si256(a + 5))),
              _mm256_add_epi16(_mm256_maddubs_epi16(c[6], _mm256_loadu_si256(a + 6)),
                               _mm256_maddubs_epi16(c[7], _mm256_loadu_si256(a + 7)))));
      __m256i s32 = _mm256_madd_epi16(s16, ones);
      s32 = _mm256_sub_epi32(s32,
                             _mm256_zextsi128_si256(_mm_cvtsi32_si128(bsum[t * nblk + blk])));
      accf[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), d, accf[t]);
    }
  }
  for (int t = 0; t < nt; t++) out[t] = hsum_f32_avx2(accf[t]);
}

/* AVX-512 level: the same with 256-bit VNNI (vpdpbusd on ymm, AVX512VL) in place of maddubs +
 * adds + madd; two short chains per block keep the dependency latency off the loop. */
BL_AVX512 static inline __attribute__((always_inline)) void dot_codes_vnni_n(
    const uint8_t *w, const int8_t *q, const int32_t *bsum, int64_t nblk, int nt, int fmt,
    float *out) {
  __m256 accf[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                    _mm256_setzero_ps()};
  int64_t cols = nblk * 256;
  for (int64_t blk = 0; blk < nblk; blk++) {
    const uint8_t *b = w + blk * fmt_bytes(fmt);
    _mm_prefetch((const char *)(b + TERNARY_PREFETCH), _MM_HINT_T0);
    __m256i c[8];
    decode_codes_avx2(b, fmt, c);
    __m256 d = block_scale8(b, fmt);
    for (int t = 0; t < nt; t++) {
      const __m256i *a = (const __m256i *)(q + t * cols + blk * 256);
      __m256i s0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), c[0], _mm256_loadu_si256(a));
      __m256i s1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), c[4], _mm256_loadu_si256(a + 4));
      for (int l = 1; l < 4; l++) {
        s0 = _mm256_dpbusd_epi32(s0, c[l], _mm256_loadu_si256(a + l));
        s1 = _mm256_dpbusd_epi32(s1, c[4 + l], _mm256_loadu_si256(a + 4 + l));
      }
      __m256i s32 = _mm256_add_epi32(s0, s1);
      s32 = _mm256_sub_epi32(s32,
                             _mm256_zextsi128_si256(_mm_cvtsi32_si128(bsum[t * nblk + blk])));
      accf[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), d, accf[t]);
    }
  }
  for (int t = 0; t < nt; t++) out[t] = hsum_f32_avx2(accf[t]);
}

#define DISPATCH_NT(fn, fmt)                                                                   \
  switch (nt) {                                                                                \
    case 1: fn(w, q, bsum, nblk, 1, fmt, out); break;                                          \
    case 2: fn(w, q, bsum, nblk, 2, fmt, out); break;                                          \
    case 3: fn(w, q, bsum, nblk, 3, fmt, out); break;                                          \
    default: fn(w, q, bsum, nblk, 4, fmt, out); break;                                         \
  }

BL_AVX2 static void dot_tq2_avx2(const uint8_t *w, const int8_t *q, const int32_t *bsum,
                                  int64_t nblk, int nt, float *out) {
  DISPATCH_NT(dot_codes_avx2_n, FMT_TQ2)
}
BL_AVX2 static void dot_tq1_avx2(const uint8_t *w, const int8_t *q, const int32_t *bsum,
                                  int64_t nblk, int nt, float *out) {
  DISPATCH_NT(dot_codes_avx2_n, FMT_TQ1)
}
BL_AVX512 static void dot_tq2_vnni(const uint8_t *w, const int8_t *q, const int32_t *bsum,
                                    int64_t nblk, int nt, float *out) {
  DISPATCH_NT(dot_codes_vnni_n, FMT_TQ2)
}
BL_AVX512 static void dot_tq1_vnni(const uint8_t *w, const int8_t *q, const int32_t *bsum,
                                    int64_t nblk, int nt, float *out) {
  DISPATCH_NT(dot_codes_vnni_n, FMT_TQ1)
}
#undef DISPATCH_NT
#endif

/* Rows [b, e) of a TQ2_0 or TQ1_0 product, up to 4 tokens per pass over a weight row. */
static void task_codes(tern_ctx *c, int64_t b, int64_t e, int fmt) {
  int64_t nblk = c->cols / 256;
  int64_t row_bytes = nblk * fmt_bytes(fmt);
  float s[4];
  for (int64_t t0 = 0; t0 < c->ntok; t0 += 4) {
    int nt = c->ntok - t0 < 4 ? (int)(c->ntok - t0) : 4;
    const int32_t *bsum = c->bsum + t0 * nblk;
    const int8_t *q = c->q + t0 * c->cols;
    for (int64_t r = b; r < e; r++) {
      const uint8_t *w = c->w + r * row_bytes;
#if BL_X86
      if (c->lvl == BL_SIMD_AVX512) {
        if (fmt == FMT_TQ2) dot_tq2_vnni(w, q, bsum, nblk, nt, s);
        else dot_tq1_vnni(w, q, bsum, nblk, nt, s);
      } else if (c->lvl == BL_SIMD_AVX2) {
        if (fmt == FMT_TQ2) dot_tq2_avx2(w, q, bsum, nblk, nt, s);
        else dot_tq1_avx2(w, q, bsum, nblk, nt, s);
      } else
#endif
      {
        for (int t = 0; t < nt; t++)
          s[t] = dot_codes_scalar(w, q + t * c->cols, bsum + t * nblk, nblk, fmt);
      }
      for (int t = 0; t < nt; t++) c->y[(t0 + t) * c->rows + r] = s[t] / c->factor[t0 + t];
    }
  }
}

static void task_tq2(void *p, int64_t b, int64_t e) { task_codes((tern_ctx *)p, b, e, FMT_TQ2); }
static void task_tq1(void *p, int64_t b, int64_t e) { task_codes((tern_ctx *)p, b, e, FMT_TQ1); }

/* ------------------------------------------------------------------------------------------ */
/* Entry points: y[t*rows + r] = W[r,:] . x_t for t < ntok. They return 0, or -1 when scratch   */
/* memory cannot be allocated (y is then left unchanged).                                       */

/** I2_S product (cols % 128 == 0); `wscale` is the tensor's f32 scale. */
BL_API int32_t bl_matmul_i2s(const uint8_t *w, int64_t rows, int64_t cols, float wscale,
                           const int8_t *q, const int32_t *gsum, const float *factor,
                           int64_t ntok, float *y) {
  tern_ctx c = {w, rows, cols, ntok, q, gsum, NULL, factor, wscale, y, bl_level(), NULL};
  if (prepare(&c, 0) != 0) return BL_ERR_NO_MEMORY;
  if (ntok == 1 && c.lvl == BL_SIMD_AVX512 && cols <= I2S_1_MAX_COLS) {
    int8_t *qp = (int8_t *)bl_scratch(0, (size_t)cols);
    if (!qp) return BL_ERR_NO_MEMORY;
    permute_q_pairs(q, cols, qp);
    c.qp = qp;
  }
  bl_parallel_for(task_i2s, &c, rows, 8);
  return 0;
}

/* Several I2_S products of the same activations as one pool job (decode: q/k/v, gate/up): the
 * work list is each matrix's rows in units of 8, back to back, so a job's chunk may span two
 * matrices; each piece runs task_i2s on its own matrix with rows starting at a multiple of 8,
 * exactly as in a separate call, so the bits are the same (one barrier instead of several). */
#define FUSED_MAX 3
typedef struct {
  tern_ctx c[FUSED_MAX];
  int64_t unit0[FUSED_MAX + 1]; /* first unit of each matrix, then the total */
  int count;
} fused_ctx;

static void task_i2s_fused(void *p, int64_t b, int64_t e) {
  fused_ctx *f = (fused_ctx *)p;
  for (int i = 0; i < f->count; i++) {
    int64_t lb = b > f->unit0[i] ? b : f->unit0[i];
    int64_t le = e < f->unit0[i + 1] ? e : f->unit0[i + 1];
    if (lb >= le) continue;
    int64_t rb = (lb - f->unit0[i]) * 8, re = (le - f->unit0[i]) * 8;
    if (re > f->c[i].rows) re = f->c[i].rows;
    task_i2s(&f->c[i], rb, re);
  }
}

/** `count` (2 or 3) I2_S products of the same activations in one pool job; bits as separate calls. */
BL_API int32_t bl_matmul_i2s_fused(int32_t count, const uint8_t *w0, int64_t rows0, float wscale0,
                                   float *y0, const uint8_t *w1, int64_t rows1, float wscale1,
                                   float *y1, const uint8_t *w2, int64_t rows2, float wscale2,
                                   float *y2, int64_t cols, const int8_t *q, const int32_t *gsum,
                                   const float *factor, int64_t ntok) {
  if (count < 1 || count > FUSED_MAX) return BL_ERR_BAD_LENGTH;
  const uint8_t *w[FUSED_MAX] = {w0, w1, w2};
  const int64_t rows[FUSED_MAX] = {rows0, rows1, rows2};
  const float ws[FUSED_MAX] = {wscale0, wscale1, wscale2};
  float *y[FUSED_MAX] = {y0, y1, y2};
  fused_ctx f;
  f.count = count;
  f.unit0[0] = 0;
  const int lvl = bl_level();
  const int8_t *qp = NULL;
  if (ntok == 1 && lvl == BL_SIMD_AVX512 && cols <= I2S_1_MAX_COLS) {
    int8_t *buf = (int8_t *)bl_scratch(0, (size_t)cols);
    if (!buf) return BL_ERR_NO_MEMORY;
    permute_q_pairs(q, cols, buf);
    qp = buf;
  }
  for (int i = 0; i < count; i++) {
    f.c[i] = (tern_ctx){w[i], rows[i], cols, ntok, q, gsum, NULL, factor, ws[i], y[i], lvl, qp};
    f.unit0[i + 1] = f.unit0[i] + (rows[i] + 7) / 8;
  }
  bl_parallel_for(task_i2s_fused, &f, f.unit0[count], 1);
  return 0;
}

/** TQ2_0 product (cols % 256 == 0). */
BL_API int32_t bl_matmul_tq2(const uint8_t *w, int64_t rows, int64_t cols, const int8_t *q,
                           const int32_t *gsum, const float *factor, int64_t ntok, float *y) {
  tern_ctx c = {w, rows, cols, ntok, q, gsum, NULL, factor, 1.0f, y, bl_level(), NULL};
  if (prepare(&c, 1) != 0) return BL_ERR_NO_MEMORY;
  bl_parallel_for(task_tq2, &c, rows, 8);
  return 0;
}

/** TQ1_0 product (cols % 256 == 0). */
BL_API int32_t bl_matmul_tq1(const uint8_t *w, int64_t rows, int64_t cols, const int8_t *q,
                           const int32_t *gsum, const float *factor, int64_t ntok, float *y) {
  tern_ctx c = {w, rows, cols, ntok, q, gsum, NULL, factor, 1.0f, y, bl_level(), NULL};
  if (prepare(&c, 1) != 0) return BL_ERR_NO_MEMORY;
  bl_parallel_for(task_tq1, &c, rows, 8);
  return 0;
}

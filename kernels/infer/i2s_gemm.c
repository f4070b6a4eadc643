/*
 * I2_S prompt products: a register-blocked GEMM micro-kernel for several tokens at once.
 *
 * ternary.c computes one weight row at a time; for a prompt that re-loads every token's
 * activations for every row and decodes each row's codes once per 4 tokens, so loads, not
 * multiply-adds, bound it. Here a tile of R rows x T tokens keeps R*T int32 accumulators in
 * registers: each row's 2-bit codes are decoded once per tile and each token's activations are
 * loaded once per tile, for all K. The integer sum of each (row, token) is exact in any order,
 * and the float epilogue is ternary.c's (bitnet.cpp's) expression, so the bits equal the
 * single-token path's at every level.
 *
 * AVX-512 (VNNI, 512-bit vpdpbusd): R = 4 rows x T = 4 tokens (27 of the 32 zmm registers). A
 * 128-element I2_S block (32 bytes: byte p holds elements p, 32+p, 64+p, 96+p in bits 7:6, 5:4,
 * 3:2, 1:0) is broadcast to both 256-bit halves of a zmm register; masking with 0xC0 in the low
 * half and 0x30 in the high half leaves 64 * code(p) beside 16 * code(32+p) without a shift, so
 * the matching activations are the 64 contiguous bytes q[0..63]; shifting the words left by 4
 * first gives 64 * code(64+p) beside 16 * code(96+p) for q[64..127]. The lanes of the low half
 * therefore sum 64x, those of the high half 16x the true products (exact multiples): they are
 * shifted back (exactly) per lane before the horizontal sum. Decoding costs 3 ALU operations
 * and 1 broadcast load per row and block, shared by the T tokens' 2 vpdpbusd each.
 *
 * Bounds: a lane adds, per block, 2 x 4 products of at most 192 * 128 (a code of 3, which valid
 * files never hold, included), so int32 cannot overflow below I2S_GEMM_MAX_COLS columns; wider
 * rows go to the one-row kernels.
 *
 * AVX2: R = 1 row x T = 4 tokens with vpmaddubsw/vpmaddwd (16 ymm registers do not hold more):
 * the row's codes are decoded once for the 4 tokens.
 */
#include "internal.h"

#include "i2s_gemm.h"

/* Columns up to which the AVX-512 lanes (64x the true sums) cannot overflow int32: 8192 blocks
 * of at most 2 * 4 * 192 * 128 per lane. */
#define I2S_GEMM_MAX_COLS (1 << 20)

/* Tile sizes (rows x tokens) of the two levels. */
#define VNNI_R 4
#define VNNI_T 4
#define AVX2_T 4

#if BL_X86
/* R x T tile over all `cols` (a multiple of 128): rows `row_bytes` apart from w, tokens `cols`
 * apart from q; out[r * T + t] = sum(code * q). Always inlined with constant R and T. */
BL_AVX512 static inline __attribute__((always_inline)) void tile_vnni(
    const uint8_t *w, int64_t row_bytes, const int8_t *q, int64_t cols, int R, int T,
    int32_t *out) {
  const __m512i mask =
      _mm512_inserti64x4(_mm512_set1_epi8((char)0xC0), _mm256_set1_epi8(0x30), 1);
  __m512i acc[VNNI_R][VNNI_T];
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++) acc[r][t] = _mm512_setzero_si512();
  const int64_t nblk = cols / 128;
  for (int64_t blk = 0; blk < nblk; blk++) {
    __m512i c01[VNNI_R], c23[VNNI_R];
    for (int r = 0; r < R; r++) {
      __m512i v = _mm512_broadcast_i64x4(
          _mm256_loadu_si256((const __m256i *)(w + r * row_bytes + blk * 32)));
      c01[r] = _mm512_and_si512(v, mask);
      c23[r] = _mm512_and_si512(_mm512_slli_epi16(v, 4), mask);
    }
    for (int t = 0; t < T; t++) {
      const int8_t *a = q + t * cols + blk * 128;
      __m512i a01 = _mm512_loadu_si512((const void *)a);
      __m512i a23 = _mm512_loadu_si512((const void *)(a + 64));
      for (int r = 0; r < R; r++) {
        acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], c01[r], a01);
        acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], c23[r], a23);
      }
    }
  }
  /* lanes 0..7 hold 64x, lanes 8..15 16x their true sums: exact arithmetic shifts back */
  const __m512i shift = _mm512_inserti64x4(_mm512_set1_epi32(6), _mm256_set1_epi32(4), 1);
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++)
      out[r * T + t] = _mm512_reduce_add_epi32(_mm512_srav_epi32(acc[r][t], shift));
}

/* One row x T tokens with vpmaddubsw + vpmaddwd (AVX2 level). Each i16 lane of a maddubs sums
 * 2 products of at most 3 * 128, and 4 of them are added before the widening madd: no
 * saturation. */
BL_AVX2 static inline __attribute__((always_inline)) void tile_avx2(const uint8_t *w,
                                                                     const int8_t *q,
                                                                     int64_t cols, int T,
                                                                     int32_t *out) {
  const __m256i mask = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[AVX2_T];
  for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_si256();
  for (int64_t blk = 0; blk < cols / 128; blk++) {
    __m256i v = _mm256_loadu_si256((const __m256i *)(w + blk * 32));
    __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(v, 6), mask);
    __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
    __m256i c2 = _mm256_and_si256(_mm256_srli_epi16(v, 2), mask);
    __m256i c3 = _mm256_and_si256(v, mask);
    for (int t = 0; t < T; t++) {
      const __m256i *a = (const __m256i *)(q + t * cols + blk * 128);
      __m256i p0 = _mm256_maddubs_epi16(c0, _mm256_loadu_si256(a));
      __m256i p1 = _mm256_maddubs_epi16(c1, _mm256_loadu_si256(a + 1));
      __m256i p2 = _mm256_maddubs_epi16(c2, _mm256_loadu_si256(a + 2));
      __m256i p3 = _mm256_maddubs_epi16(c3, _mm256_loadu_si256(a + 3));
      __m256i s = _mm256_add_epi16(_mm256_add_epi16(p0, p1), _mm256_add_epi16(p2, p3));
      acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(s, ones));
    }
  }
  for (int t = 0; t < T; t++) out[t] = hsum_i32_avx2(acc[t]);
}

/* Instantiations with constant tile sizes (R rows, any T up to the level's tile). */
#define VNNI_TILE(R, T)                                                                          \
  BL_AVX512 static void tile_vnni_##R##x##T(const uint8_t *w, int64_t row_bytes,              \
                                            const int8_t *q, int64_t cols, int32_t *out) {    \
    tile_vnni(w, row_bytes, q, cols, R, T, out);                                              \
  }
VNNI_TILE(4, 1)
VNNI_TILE(4, 2)
VNNI_TILE(4, 3)
VNNI_TILE(4, 4)
VNNI_TILE(1, 1)
VNNI_TILE(1, 2)
VNNI_TILE(1, 3)
VNNI_TILE(1, 4)
#undef VNNI_TILE

typedef void (*vnni_tile_fn)(const uint8_t *, int64_t, const int8_t *, int64_t, int32_t *);
static const vnni_tile_fn VNNI_TILES[2][VNNI_T] = {
    {tile_vnni_1x1, tile_vnni_1x2, tile_vnni_1x3, tile_vnni_1x4},
    {tile_vnni_4x1, tile_vnni_4x2, tile_vnni_4x3, tile_vnni_4x4},
};

#define AVX2_TILE(T)                                                                             \
  BL_AVX2 static void tile_avx2_##T(const uint8_t *w, const int8_t *q, int64_t cols,          \
                                    int32_t *out) {                                            \
    tile_avx2(w, q, cols, T, out);                                                             \
  }
AVX2_TILE(1)
AVX2_TILE(2)
AVX2_TILE(3)
AVX2_TILE(4)
#undef AVX2_TILE

typedef void (*avx2_tile_fn)(const uint8_t *, const int8_t *, int64_t, int32_t *);
static const avx2_tile_fn AVX2_TILES[AVX2_T] = {tile_avx2_1, tile_avx2_2, tile_avx2_3,
                                                tile_avx2_4};
#endif

int bl_i2s_gemm_supported(int lvl, int64_t cols) {
#if BL_X86
  return lvl >= BL_SIMD_AVX2 && cols % 128 == 0 && cols <= I2S_GEMM_MAX_COLS;
#else
  (void)lvl;
  (void)cols;
  return 0;
#endif
}

void bl_i2s_gemm_rows(int lvl, const uint8_t *w, int64_t rows, int64_t cols, const int8_t *q,
                      const int32_t *qsum, const float *factor, float wscale, int64_t ntok,
                      int64_t rb, int64_t re, float *y) {
#if BL_X86
  const int64_t row_bytes = cols / 4;
  const int vnni = lvl == BL_SIMD_AVX512;
  const int tile_t = vnni ? VNNI_T : AVX2_T;
  int32_t s[VNNI_R * VNNI_T];
  for (int64_t t0 = 0; t0 < ntok; t0 += tile_t) {
    const int nt = ntok - t0 < tile_t ? (int)(ntok - t0) : tile_t;
    const int8_t *qt = q + t0 * cols;
    for (int64_t r0 = rb; r0 < re;) {
      int nr;
      if (vnni) {
        nr = re - r0 >= VNNI_R ? VNNI_R : 1;
        VNNI_TILES[nr == VNNI_R][nt - 1](w + r0 * row_bytes, row_bytes, qt, cols, s);
      } else {
        nr = 1;
        AVX2_TILES[nt - 1](w + r0 * row_bytes, qt, cols, s);
      }
      for (int r = 0; r < nr; r++)
        for (int t = 0; t < nt; t++)
          y[(t0 + t) * rows + r0 + r] =
              ((float)s[r * nt + t] - (float)qsum[t0 + t]) / factor[t0 + t] * wscale;
      r0 += nr;
    }
  }
#else
  (void)lvl, (void)w, (void)rows, (void)cols, (void)q, (void)qsum, (void)factor, (void)wscale;
  (void)ntok, (void)rb, (void)re, (void)y;
#endif
}

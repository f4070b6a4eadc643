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
 * shifted back exactly in the reduction. Decoding costs 3 ALU operations and 1 broadcast load per
 * row and block, shared by the T tokens' 2 vpdpbusd each. The reduction turns a token's 4 row
 * accumulators into one xmm of 4 sums and the epilogue runs on that vector (the same IEEE
 * operations, so the same bits as the scalar expression).
 *
 * Bounds: a lane adds, per block, 2 x 4 products of at most 192 * 128 (a code of 3, which valid
 * files never hold, included), and the reduction adds 4 lanes before shifting, so int32 cannot
 * overflow below I2S_GEMM_MAX_COLS columns; wider rows go to the one-row kernels.
 *
 * AVX2: R = 1 row x T = 4 tokens with vpmaddubsw/vpmaddwd (16 ymm registers do not hold more):
 * the row's codes are decoded once for the 4 tokens.
 */
#include "internal.h"

#include "i2s_gemm.h"

/* Columns up to which the AVX-512 lanes (64x the true sums) cannot overflow int32: 4 lanes of
 * 2048 blocks of at most 2 * 4 * 192 * 128 each, 1.61e9 < 2^31. */
#define I2S_GEMM_MAX_COLS (1 << 18)

/* Tile sizes (rows x tokens) of the two levels (the AVX-512 tile's 4 rows are fixed by its
 * reduction), and the rows of a row block: a block's weights (64 x cols / 4 bytes: 110 KB at
 * cols 6912) stay in L2 while every token tile passes over them; measured 10-20 % faster than no
 * blocking on the 6912-wide shapes, the same on 2560 x 2560. */
#define VNNI_R 4
#define VNNI_T 4
#ifndef ROW_BLOCK
#define ROW_BLOCK 64
#endif
#define AVX2_T 4

#if BL_X86
/* acc += dot(u8 c, s8 a) per dword, in place: GCC's register allocation of the intrinsic
 * (_mm512_dpbusd_epi32) copied every accumulator through another register or the stack on each
 * block; the tied asm operand keeps all 16 in their registers. */
#define DPBUSD(acc, c, a) __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(c), "v"(a))

/* Rows r0 .. r0+R-1 (R <= 4) x tokens t0 .. t0+T-1 over all `cols` (a multiple of 128): weight
 * rows `row_bytes` apart from w, tokens `cols` apart from q, and the epilogue into y (token t's
 * outputs `rows` apart; qsum, factor of the tile's tokens). Always inlined with constant R, T. */
BL_AVX512 static inline __attribute__((always_inline)) void tile_vnni(
    const uint8_t *w, int64_t row_bytes, const int8_t *q, int64_t cols, int R, int T,
    const int32_t *qsum, const float *factor, float wscale, int64_t rows, float *y, int64_t pf) {
  /* Named accumulators (acc<row><token>) rather than an array: GCC keeps these in registers,
   * while a 2-D array of vectors was shuffled through stack copies on every block. Rows and
   * tokens beyond R and T are compile-time dead code. */
  const __m512i mask =
      _mm512_inserti64x4(_mm512_set1_epi8((char)0xC0), _mm256_set1_epi8(0x30), 1);
#define ACC_ROW(r)                                                                               \
  __m512i acc##r##0 = _mm512_setzero_si512(), acc##r##1 = _mm512_setzero_si512();              \
  __m512i acc##r##2 = _mm512_setzero_si512(), acc##r##3 = _mm512_setzero_si512();
  ACC_ROW(0) ACC_ROW(1) ACC_ROW(2) ACC_ROW(3)
#undef ACC_ROW
  const int64_t nblk = cols / 128;
  for (int64_t blk = 0; blk < nblk; blk++) {
    __m512i lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3;
#define DECODE(r)                                                                                \
  if (R > r) {                                                                                   \
    __m512i v = _mm512_broadcast_i64x4(                                                          \
        _mm256_loadu_si256((const __m256i *)(w + r * row_bytes + blk * 32)));                    \
    lo##r = _mm512_and_si512(v, mask);                                                           \
    hi##r = _mm512_and_si512(_mm512_slli_epi16(v, 4), mask);                                     \
  } else {                                                                                       \
    lo##r = hi##r = _mm512_setzero_si512();                                                      \
  }
    DECODE(0) DECODE(1) DECODE(2) DECODE(3)
#undef DECODE
    /* the first token tile of a row block pulls the next block's weights into L2: the tile's 4
     * row streams are too short for the hardware prefetcher */
    if (pf && !(blk & 1))
      for (int r = 0; r < R; r++)
        _mm_prefetch((const char *)(w + r * row_bytes + blk * 32 + pf), _MM_HINT_T1);
#define DOT(r, t)                                                                                \
  if (R > r) {                                                                                   \
    DPBUSD(acc##r##t, lo##r, a01);                                                               \
    DPBUSD(acc##r##t, hi##r, a23);                                                               \
  }
#define TOKEN(t)                                                                                 \
  if (T > t) {                                                                                   \
    const int8_t *a = q + t * cols + blk * 128;                                                  \
    __m512i a01 = _mm512_loadu_si512((const void *)a);                                           \
    __m512i a23 = _mm512_loadu_si512((const void *)(a + 64));                                    \
    DOT(0, t) DOT(1, t) DOT(2, t) DOT(3, t)                                                      \
  }
    TOKEN(0) TOKEN(1) TOKEN(2) TOKEN(3)
#undef TOKEN
#undef DOT
  }
  /* Per token, the 4 rows' sums in one xmm: interleave-and-add leaves, in every 128-bit lane,
   * (row 0, 1, 2, 3) partial sums; lanes 0-1 hold 64x, lanes 2-3 16x the true products (exact
   * multiples: shifted back exactly, the bound on cols keeps 4 added lanes inside int32); then
   * the four 128-bit lanes are added. The epilogue is ternary.c's, in f32 vectors. */
  const __m512i shift = _mm512_inserti64x4(_mm512_set1_epi32(6), _mm256_set1_epi32(4), 1);
  const __m128 ws = _mm_set1_ps(wscale);
  const __mmask8 keep = (__mmask8)((1u << R) - 1);
#define FINISH(t)                                                                                \
  if (T > t) {                                                                                   \
    __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(acc0##t, acc1##t),                      \
                                   _mm512_unpackhi_epi32(acc0##t, acc1##t));                     \
    __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(acc2##t, acc3##t),                      \
                                   _mm512_unpackhi_epi32(acc2##t, acc3##t));                     \
    __m512i s = _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23),                                \
                                 _mm512_unpackhi_epi64(s01, s23));                               \
    s = _mm512_srav_epi32(s, shift);                                                             \
    __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));    \
    __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));      \
    __m128 v = _mm_sub_ps(_mm_cvtepi32_ps(sum), _mm_set1_ps((float)qsum[t]));                    \
    v = _mm_mul_ps(_mm_div_ps(v, _mm_set1_ps(factor[t])), ws);                                   \
    if (R == 4) _mm_storeu_ps(y + t * rows, v);                                                  \
    else _mm_mask_storeu_ps(y + t * rows, keep, v);                                              \
  }
  FINISH(0) FINISH(1) FINISH(2) FINISH(3)
#undef FINISH
}

/* One row x T tokens with vpmaddubsw + vpmaddwd (AVX2 level). Each i16 lane of a maddubs sums
 * 2 products of at most 3 * 128 (768), a block adds 4 of them (3072), and AVX2_FOLD blocks are
 * added in i16 before one widening madd (24576 < 32767 even for codes of 3 and activations of
 * -128): no saturation, no wrap, so the sum is exact. Named accumulators keep GCC from copying
 * them around. */
#define AVX2_FOLD 8
BL_AVX2 static inline __attribute__((always_inline)) void tile_avx2(const uint8_t *w,
                                                                     const int8_t *q,
                                                                     int64_t cols, int T,
                                                                     int32_t *out) {
  const __m256i mask = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
  __m256i acc2 = _mm256_setzero_si256(), acc3 = _mm256_setzero_si256();
  const int64_t nblk = cols / 128;
  for (int64_t b0 = 0; b0 < nblk; b0 += AVX2_FOLD) {
    const int64_t b1 = nblk - b0 < AVX2_FOLD ? nblk : b0 + AVX2_FOLD;
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    __m256i s2 = _mm256_setzero_si256(), s3 = _mm256_setzero_si256();
    for (int64_t blk = b0; blk < b1; blk++) {
      __m256i v = _mm256_loadu_si256((const __m256i *)(w + blk * 32));
      __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(v, 6), mask);
      __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
      __m256i c2 = _mm256_and_si256(_mm256_srli_epi16(v, 2), mask);
      __m256i c3 = _mm256_and_si256(v, mask);
#define TOKEN(t)                                                                                 \
  if (T > t) {                                                                                   \
    const __m256i *a = (const __m256i *)(q + t * cols + blk * 128);                             \
    __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(c0, _mm256_loadu_si256(a)),             \
                                   _mm256_maddubs_epi16(c1, _mm256_loadu_si256(a + 1)));        \
    __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(c2, _mm256_loadu_si256(a + 2)),         \
                                   _mm256_maddubs_epi16(c3, _mm256_loadu_si256(a + 3)));        \
    s##t = _mm256_add_epi16(s##t, _mm256_add_epi16(p01, p23));                                   \
  }
      TOKEN(0) TOKEN(1) TOKEN(2) TOKEN(3)
#undef TOKEN
    }
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(s0, ones));
    if (T > 1) acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(s1, ones));
    if (T > 2) acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(s2, ones));
    if (T > 3) acc3 = _mm256_add_epi32(acc3, _mm256_madd_epi16(s3, ones));
  }
  out[0] = hsum_i32_avx2(acc0);
  if (T > 1) out[1] = hsum_i32_avx2(acc1);
  if (T > 2) out[2] = hsum_i32_avx2(acc2);
  if (T > 3) out[3] = hsum_i32_avx2(acc3);
}

/* Instantiations with constant tile sizes: R rows (1..4) x T tokens (1..VNNI_T). */
typedef void (*vnni_tile_fn)(const uint8_t *, int64_t, const int8_t *, int64_t, const int32_t *,
                             const float *, float, int64_t, float *, int64_t);
#define VNNI_TILE(R, T)                                                                          \
  BL_AVX512 static void tile_vnni_##R##x##T(const uint8_t *w, int64_t row_bytes,              \
                                            const int8_t *q, int64_t cols, const int32_t *qs, \
                                            const float *f, float ws, int64_t rows, float *y, \
                                            int64_t pf) {                                     \
    tile_vnni(w, row_bytes, q, cols, R, T, qs, f, ws, rows, y, pf);                           \
  }
#define VNNI_ROW(R) VNNI_TILE(R, 1) VNNI_TILE(R, 2) VNNI_TILE(R, 3) VNNI_TILE(R, 4)
VNNI_ROW(1)
VNNI_ROW(2)
VNNI_ROW(3)
VNNI_ROW(4)
#undef VNNI_ROW
#undef VNNI_TILE
#define VNNI_ROW(R) {tile_vnni_##R##x1, tile_vnni_##R##x2, tile_vnni_##R##x3, tile_vnni_##R##x4}
/* [R - 1][T - 1] */
static const vnni_tile_fn VNNI_TILES[4][4] = {VNNI_ROW(1), VNNI_ROW(2), VNNI_ROW(3), VNNI_ROW(4)};
#undef VNNI_ROW

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
  int32_t s[AVX2_T];
  for (int64_t rs = rb; rs < re; rs += ROW_BLOCK) {
    const int64_t rend = re - rs < ROW_BLOCK ? re : rs + ROW_BLOCK;
    for (int64_t t0 = 0; t0 < ntok; t0 += tile_t) {
      const int nt = ntok - t0 < tile_t ? (int)(ntok - t0) : tile_t;
      const int8_t *qt = q + t0 * cols;
      /* bytes from a row to the same row of the next block, prefetched during the first tile */
      const int64_t pf = t0 == 0 && rend < re ? ROW_BLOCK * row_bytes : 0;
      for (int64_t r0 = rs; r0 < rend;) {
        if (vnni) {
          const int nr = rend - r0 >= VNNI_R ? VNNI_R : (int)(rend - r0);
          VNNI_TILES[nr - 1][nt - 1](w + r0 * row_bytes, row_bytes, qt, cols, qsum + t0,
                                     factor + t0, wscale, rows, y + t0 * rows + r0, pf);
          r0 += nr;
          continue;
        }
        AVX2_TILES[nt - 1](w + r0 * row_bytes, qt, cols, s);
        for (int t = 0; t < nt; t++)
          y[(t0 + t) * rows + r0] =
              ((float)s[t] - (float)qsum[t0 + t]) / factor[t0 + t] * wscale;
        r0++;
      }
    }
  }
#else
  (void)lvl, (void)w, (void)rows, (void)cols, (void)q, (void)qsum, (void)factor, (void)wscale;
  (void)ntok, (void)rb, (void)re, (void)y;
#endif
}

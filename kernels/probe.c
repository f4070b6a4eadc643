/*
 * Machine probes for the decode roofline (docs/inference.md, "Decoding at the bandwidth limit"):
 *
 * - bl_probe_read_bandwidth: streaming read of a caller's buffer on the pool (every 64-byte line
 *   loaded once per pass), the best of a few passes, in bytes/s. Decoding a token reads every
 *   weight once, so this rate over the bytes read per token is the memory bound of tok/s.
 * - bl_probe_mac_rate: int8 multiply-accumulates per second of one instruction on the calling
 *   thread in a tight loop of independent chains (vpmaddubsw + vpaddw on ymm, vpdpbusd on ymm and
 *   zmm) and f32 FMAs per second (vfmadd on ymm): the compute ceiling of one core.
 * - bl_probe_i2s_rate: the I2_S product (bl_matmul_i2s, current level and threads) on a weight
 *   matrix that fits in L2, in weight bytes per second: what the kernel itself can consume when
 *   memory is not the bound. Below the read bandwidth, decoding is compute-bound.
 *
 * Nothing here writes to its inputs; results are rates (0 when the CPU lacks the instruction or an
 * argument is out of range).
 */
#include "infer/internal.h"

#include <stdatomic.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------------------------------ */
/* Read bandwidth                                                                              */

enum { PROBE_UNIT = 64 * 1024 }; /* bytes per pool unit */
#define PROBE_PREFETCH 4096       /* bytes ahead of the loads (into L1) */
#define PROBE_PREFETCH_L2 16384   /* and into L2, as the one-token I2_S kernel */

typedef struct {
  const uint8_t *buf;
  int64_t bytes;
  _Atomic uint64_t sink; /* keeps the loads observable */
} read_ctx;

static uint64_t read_scalar(const uint8_t *p, int64_t n) {
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    uint64_t v0, v1, v2, v3;
    memcpy(&v0, p + i, 8);
    memcpy(&v1, p + i + 16, 8);
    memcpy(&v2, p + i + 32, 8);
    memcpy(&v3, p + i + 48, 8);
    a0 += v0;
    a1 ^= v1;
    a2 += v2;
    a3 ^= v3;
  }
  for (; i < n; i++) a0 += p[i];
  return a0 ^ a1 ^ a2 ^ a3;
}

#if BL_X86
/* Every byte loaded (two ymm loads per line); four independent xor chains; software prefetch
 * 4 KiB (L1) and 16 KiB (L2) ahead, as the decode kernels do (it raises a core's streaming rate a little here: the
 * probe measures the best a reader can get, not the hardware prefetcher alone). */
BL_AVX2 static uint64_t read_avx2(const uint8_t *p, int64_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 128 <= n; i += 128) {
    _mm_prefetch((const char *)(p + i + PROBE_PREFETCH_L2), _MM_HINT_T1);
    _mm_prefetch((const char *)(p + i + PROBE_PREFETCH_L2 + 64), _MM_HINT_T1);
    _mm_prefetch((const char *)(p + i + PROBE_PREFETCH), _MM_HINT_T0);
    _mm_prefetch((const char *)(p + i + PROBE_PREFETCH + 64), _MM_HINT_T0);
    a0 = _mm256_xor_si256(a0, _mm256_loadu_si256((const __m256i *)(p + i)));
    a1 = _mm256_xor_si256(a1, _mm256_loadu_si256((const __m256i *)(p + i + 32)));
    a2 = _mm256_xor_si256(a2, _mm256_loadu_si256((const __m256i *)(p + i + 64)));
    a3 = _mm256_xor_si256(a3, _mm256_loadu_si256((const __m256i *)(p + i + 96)));
  }
  __m256i a = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  uint64_t out[4];
  _mm256_storeu_si256((__m256i *)out, a);
  return out[0] ^ out[1] ^ out[2] ^ out[3] ^ read_scalar(p + i, n - i);
}
#endif

static void task_read(void *p, int64_t b, int64_t e) {
  read_ctx *c = (read_ctx *)p;
  int64_t start = b * PROBE_UNIT;
  int64_t end = e * PROBE_UNIT < c->bytes ? e * PROBE_UNIT : c->bytes;
  uint64_t s;
#if BL_X86
  if (bl_simd_best() >= BL_SIMD_AVX2 && bl_simd_best() != BL_SIMD_NEON)
    s = read_avx2(c->buf + start, end - start);
  else
#endif
    s = read_scalar(c->buf + start, end - start);
  atomic_fetch_xor_explicit(&c->sink, s, memory_order_relaxed);
}

/**
 * Reads `bytes` of `buf` on `threads` threads (the pool, the caller included), `reps` times after
 * one unmeasured pass; returns the fastest pass in bytes/s, or 0 for bad arguments.
 */
BL_API double bl_probe_read_bandwidth(const uint8_t *buf, int64_t bytes, int32_t threads,
                                      int32_t reps) {
  if (!buf || bytes <= 0 || threads < 1 || reps < 1) return 0.0;
  read_ctx c = {buf, bytes, 0};
  int64_t units = (bytes + PROBE_UNIT - 1) / PROBE_UNIT;
  double best = 0.0;
  for (int r = 0; r <= reps; r++) {
    double t0 = now_s();
    bl_parallel_for_n(task_read, &c, units, 1, threads);
    double dt = now_s() - t0;
    if (r > 0 && dt > 0 && (double)bytes / dt > best) best = (double)bytes / dt;
  }
  return best;
}

/* ------------------------------------------------------------------------------------------ */
/* Instruction throughput                                                                      */

/* 12 independent chains: more than latency x throughput of each instruction (5 x 2 at most). */
#define CHAINS 12

#if BL_X86
/* vpmaddubsw + vpaddw (what the AVX2 I2_S dot does per 32 codes): 32 int8 products each. The
 * empty asm makes the inputs opaque so the products are recomputed every iteration. */
BL_AVX2 static double rate_maddubs(int64_t iters) {
  __m256i a = _mm256_set1_epi8(1), b = _mm256_set1_epi8(2);
  __m256i acc[CHAINS];
  for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_setzero_si256();
  double t0 = now_s();
  for (int64_t i = 0; i < iters; i++) {
    __asm__ volatile("" : "+x"(a), "+x"(b));
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_add_epi16(acc[k], _mm256_maddubs_epi16(a, b));
  }
  double dt = now_s() - t0;
  __m256i s = acc[0];
  for (int k = 1; k < CHAINS; k++) s = _mm256_xor_si256(s, acc[k]);
  __asm__ volatile("" : : "x"(s));
  return dt > 0 ? (double)iters * CHAINS * 32 / dt : 0.0;
}

BL_AVX2 static double rate_fma(int64_t iters) {
  __m256 a = _mm256_set1_ps(1.0f), b = _mm256_set1_ps(1e-9f);
  __m256 acc[CHAINS];
  for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_setzero_ps();
  double t0 = now_s();
  for (int64_t i = 0; i < iters; i++) {
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_fmadd_ps(a, b, acc[k]);
  }
  double dt = now_s() - t0;
  __m256 s = acc[0];
  for (int k = 1; k < CHAINS; k++) s = _mm256_add_ps(s, acc[k]);
  __asm__ volatile("" : : "x"(s));
  return dt > 0 ? (double)iters * CHAINS * 8 / dt : 0.0;
}

/* vpdpbusd ymm: 32 int8 products per instruction. */
BL_AVX512 static double rate_dpbusd_ymm(int64_t iters) {
  __m256i a = _mm256_set1_epi8(1), b = _mm256_set1_epi8(2);
  __m256i acc[CHAINS];
  for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_setzero_si256();
  double t0 = now_s();
  for (int64_t i = 0; i < iters; i++) {
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_dpbusd_epi32(acc[k], a, b);
  }
  double dt = now_s() - t0;
  __m256i s = acc[0];
  for (int k = 1; k < CHAINS; k++) s = _mm256_xor_si256(s, acc[k]);
  __asm__ volatile("" : : "x"(s));
  return dt > 0 ? (double)iters * CHAINS * 32 / dt : 0.0;
}

/* vpdpbusd zmm: 64 int8 products per instruction. */
BL_AVX512 static double rate_dpbusd_zmm(int64_t iters) {
  __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(2);
  __m512i acc[CHAINS];
  for (int k = 0; k < CHAINS; k++) acc[k] = _mm512_setzero_si512();
  double t0 = now_s();
  for (int64_t i = 0; i < iters; i++) {
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm512_dpbusd_epi32(acc[k], a, b);
  }
  double dt = now_s() - t0;
  __m512i s = acc[0];
  for (int k = 1; k < CHAINS; k++) s = _mm512_xor_si512(s, acc[k]);
  __asm__ volatile("" : : "v"(s));
  return dt > 0 ? (double)iters * CHAINS * 64 / dt : 0.0;
}
#endif

/**
 * Multiply-accumulates per second of one instruction on the calling thread, `iters` iterations of
 * 12 independent chains: kind 0 vpmaddubsw+vpaddw ymm (int8 products, AVX2), 1 vpdpbusd ymm and
 * 2 vpdpbusd zmm (int8 products, AVX-512 VNNI), 3 vfmadd ymm (f32 FMAs, AVX2+FMA). Returns 0 when
 * the CPU lacks the instruction (or for another kind).
 */
BL_API double bl_probe_mac_rate(int32_t kind, int64_t iters) {
  if (iters < 1) return 0.0;
#if BL_X86
  int best = bl_simd_best();
  if (best == BL_SIMD_NEON) return 0.0;
  switch (kind) {
    case 0: return best >= BL_SIMD_AVX2 ? rate_maddubs(iters) : 0.0;
    case 1: return best >= BL_SIMD_AVX512 ? rate_dpbusd_ymm(iters) : 0.0;
    case 2: return best >= BL_SIMD_AVX512 ? rate_dpbusd_zmm(iters) : 0.0;
    case 3: return best >= BL_SIMD_AVX2 ? rate_fma(iters) : 0.0;
    default: return 0.0;
  }
#else
  (void)kind;
  return 0.0;
#endif
}

/* ------------------------------------------------------------------------------------------ */
/* The I2_S product with its weights in cache                                                  */

/**
 * Weight bytes per second of bl_matmul_i2s on one token (the calling thread's level, the pool's
 * threads) over a rows x cols matrix of fixed pseudo-random codes (cols % 128 == 0; choose it to
 * fit in L2), the fastest of `reps` calls after one warm-up. 0 for bad arguments or no memory.
 */
BL_API double bl_probe_i2s_rate(int64_t rows, int64_t cols, int32_t reps) {
  if (rows < 1 || cols < 128 || cols % 128 != 0 || reps < 1) return 0.0;
  size_t wbytes = (size_t)(rows * cols / 4);
  uint8_t *w = NULL;
  int8_t *q = NULL;
  int32_t *gsum = NULL;
  float *y = NULL;
  double best = 0.0;
  if (posix_memalign((void **)&w, 64, wbytes) != 0) w = NULL;
  if (posix_memalign((void **)&q, 64, (size_t)cols) != 0) q = NULL;
  gsum = (int32_t *)calloc((size_t)(cols / 32), sizeof(int32_t));
  y = (float *)malloc((size_t)rows * sizeof(float));
  if (w && q && gsum && y) {
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < wbytes; i++) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      w[i] = (uint8_t)x;
    }
    for (int64_t i = 0; i < cols; i++) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      q[i] = (int8_t)(x % 255 - 127);
      gsum[i / 32] += q[i];
    }
    float factor = 1.0f;
    for (int r = 0; r <= reps; r++) {
      double t0 = now_s();
      if (bl_matmul_i2s(w, rows, cols, 1.0f, q, gsum, &factor, 1, y) != 0) break;
      double dt = now_s() - t0;
      if (r > 0 && dt > 0 && (double)wbytes / dt > best) best = (double)wbytes / dt;
    }
  }
  free(w);
  free(q);
  free(gsum);
  free(y);
  return best;
}

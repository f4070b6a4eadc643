/*
 * bitload inference kernels: ternary matrix-vector / small matrix-matrix products straight from
 * packed I2_S and TQ2_0 weights, f16/f32 products for the embedding/LM head, and single-query
 * attention over an f32 KV cache.
 *
 * Ternary scheme (BitNet's BitLinear, as bitnet.cpp does it): each token's activation vector is
 * quantized to int8 with one absmax scale (q = round(x * 127 / max|x|)); the weight codes c in
 * {0, 1, 2} stand for {-1, 0, +1}, so  sum(w * q) = sum(c * q) - sum(q), an unsigned x signed
 * int8 product that maps onto AVX2 `vpmaddubsw` and AVX-512 VNNI `vpdpbusd`. The integer result is
 * then multiplied by the weight scale (one f32 per tensor for I2_S, one f16 per 256 block for
 * TQ2_0) and by the activation scale max|x| / 127.
 *
 * Every ISA variant has a scalar twin; integer sums are exact, so scalar, AVX2 and AVX-512 agree
 * bit for bit on the ternary kernels (the float epilogue is evaluated in the same order).
 *
 * Threads: a small persistent pool splits output rows into contiguous chunks.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BLI_X86 1
#else
#define BLI_X86 0
#endif

#define API __attribute__((visibility("default")))
#define BLI_ABI 4

/* ------------------------------------------------------------------------------------------ */
/* f16 conversion (scalar)                                                                     */

static inline float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {
      float f = (float)man * (1.0f / 16777216.0f); /* 2^-24 */
      memcpy(&bits, &f, 4);
      bits |= sign;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000 | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  float out;
  memcpy(&out, &bits, 4);
  return out;
}

/* ------------------------------------------------------------------------------------------ */
/* ISA level                                                                                   */

enum { LEVEL_SCALAR = 0, LEVEL_AVX2 = 1, LEVEL_AVX512 = 2 };
/* Per calling thread: Deno runs parallel test files as workers in one process, and one of them
 * forcing a level must not change another's results. Pool workers get the caller's level
 * through the job context. */
static __thread int g_level = -1;

static int detect_level(void) {
#if BLI_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vnni"))
    return LEVEL_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    return LEVEL_AVX2;
#endif
  return LEVEL_SCALAR;
}

/**
 * Sets the ISA level of the calling thread: -1 = best available, else min(requested, available).
 * Returns the level.
 */
API int bli_init(int force) {
  int best = detect_level();
  g_level = (force < 0 || force > best) ? best : force;
  return g_level;
}

API int bli_abi_version(void) { return BLI_ABI; }

static inline int level(void) {
  if (g_level < 0) bli_init(-1);
  return g_level;
}

/* ------------------------------------------------------------------------------------------ */
/* Thread pool                                                                                 */
/*                                                                                             */
/* Dynamic chunks: a job is cut into chunks of whole `align` rows; the caller and the workers  */
/* claim chunks from one 64-bit ticket (job generation << 32 | next chunk) with a CAS, so a    */
/* worker that wakes late (or is descheduled by other processes) costs nothing: the caller     */
/* takes the remaining chunks itself. Each output row is computed by exactly one thread with   */
/* the same code, so results do not depend on the thread count. Workers spin briefly on the    */
/* ticket, then nap with backoff.                                                               */

typedef void (*task_fn)(void *ctx, int64_t begin, int64_t end);

#define MAX_THREADS 64
static pthread_t g_workers[MAX_THREADS];
static int g_nthreads = 1; /* including the caller */
/* Serializes jobs (and pool resizes) from different calling threads: the pool runs one job at a
 * time. */
static pthread_mutex_t g_job_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t g_ticket = 0;
static _Atomic int64_t g_done = 0;
static _Atomic int g_quit = 0;
/* Job parameters, double-buffered by generation parity: while job g runs, the caller can only
 * be writing job g+1's slot, so a worker holding a ticket of job g always reads g's own bounds
 * (a single shared copy let a late worker pair job g's ticket with job g+1's chunk count, claim a
 * nonexistent chunk and corrupt the completion count). */
typedef struct {
  task_fn fn;
  void *ctx;
  int64_t total, chunk, nchunks;
} job_t;
static job_t g_jobs[2];

static void run_chunks(uint32_t gen) {
  const job_t *job = &g_jobs[gen & 1];
  for (;;) {
    uint64_t t = atomic_load_explicit(&g_ticket, memory_order_acquire);
    if ((uint32_t)(t >> 32) != gen) return;
    int64_t i = (int64_t)(t & 0xffffffffu);
    if (i >= job->nchunks) return;
    task_fn fn = job->fn;
    void *ctx = job->ctx;
    int64_t total = job->total, chunk = job->chunk;
    if (!atomic_compare_exchange_weak_explicit(&g_ticket, &t, t + 1, memory_order_acq_rel,
                                               memory_order_acquire))
      continue;
    int64_t b = i * chunk, e = b + chunk;
    if (e > total) e = total;
    fn(ctx, b, e);
    atomic_fetch_add_explicit(&g_done, 1, memory_order_release);
  }
}

static void *worker_main(void *arg) {
  uint32_t last = (uint32_t)(uintptr_t)arg;
  long nap_ns = 20000;
  for (;;) {
    uint32_t gen = last;
    /* spin briefly (decode issues a job every few tens of microseconds), then nap with
     * exponential backoff up to 1 ms: no condition variable, so nothing can be lost or stuck,
     * and a sleeping worker never delays a job (the caller claims the chunks itself) */
    for (int i = 0; i < 4000; i++) {
      gen = (uint32_t)(atomic_load_explicit(&g_ticket, memory_order_acquire) >> 32);
      if (gen != last || atomic_load_explicit(&g_quit, memory_order_relaxed)) break;
#if BLI_X86
      _mm_pause();
#endif
    }
    if (atomic_load(&g_quit)) return NULL;
    if (gen == last) {
      struct timespec ts = {0, nap_ns};
      nanosleep(&ts, NULL);
      if (nap_ns < 1000000) nap_ns *= 2;
      continue;
    }
    nap_ns = 20000;
    last = gen;
    run_chunks(gen);
  }
}

static void stop_pool(void) {
  atomic_store(&g_quit, 1);
  for (int i = 1; i < g_nthreads; i++) pthread_join(g_workers[i], NULL);
  atomic_store(&g_quit, 0);
  g_nthreads = 1;
}

/** Sets the number of threads (1..64, the caller included). Returns the number in use. */
API int bli_set_threads(int n) {
  if (n < 1) n = 1;
  if (n > MAX_THREADS) n = MAX_THREADS;
  pthread_mutex_lock(&g_job_mu);
  if (n == g_nthreads) {
    pthread_mutex_unlock(&g_job_mu);
    return n;
  }
  stop_pool();
  uint32_t gen = (uint32_t)(atomic_load(&g_ticket) >> 32);
  g_nthreads = n;
  for (int i = 1; i < n; i++) {
    if (pthread_create(&g_workers[i], NULL, worker_main, (void *)(uintptr_t)gen) != 0) {
      g_nthreads = i;
      break;
    }
  }
  int got = g_nthreads;
  pthread_mutex_unlock(&g_job_mu);
  return got;
}

static void parallel_for(task_fn fn, void *ctx, int64_t total, int64_t align) {
  if (total <= align) {
    fn(ctx, 0, total);
    return;
  }
  pthread_mutex_lock(&g_job_mu);
  int n = g_nthreads;
  if (n <= 1) {
    pthread_mutex_unlock(&g_job_mu);
    fn(ctx, 0, total);
    return;
  }
  int64_t units = (total + align - 1) / align;
  int64_t want = (int64_t)n * 4;
  int64_t per = (units + want - 1) / want;
  uint32_t gen = (uint32_t)(atomic_load(&g_ticket) >> 32) + 1;
  job_t *job = &g_jobs[gen & 1];
  job->fn = fn;
  job->ctx = ctx;
  job->total = total;
  job->chunk = per * align;
  job->nchunks = (total + job->chunk - 1) / job->chunk;
  atomic_store_explicit(&g_done, 0, memory_order_relaxed);
  atomic_store_explicit(&g_ticket, (uint64_t)gen << 32, memory_order_release);
  run_chunks(gen);
  int spins = 0;
  while (atomic_load_explicit(&g_done, memory_order_acquire) < job->nchunks) {
    if (++spins > 1000) sched_yield();
#if BLI_X86
    else _mm_pause();
#endif
  }
  pthread_mutex_unlock(&g_job_mu);
}

/* ------------------------------------------------------------------------------------------ */
/* Activation quantization                                                                     */

#if BLI_X86
__attribute__((target("avx2,fma,f16c"))) static inline int32_t hsum_i32_avx2(__m256i v);

__attribute__((target("avx2,fma,f16c"))) static float quantize_act_avx2(const float *x, int64_t n,
                                                                        int8_t *q, int32_t *gsum) {
  const __m256 signmask = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(signmask, _mm256_loadu_ps(x + i)));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  float amax = _mm_cvtss_f32(m4);
  float s = amax > 0.0f ? 127.0f / amax : 0.0f;
  __m256 sv = _mm256_set1_ps(s);
  for (int64_t g = 0; g < n / 32; g++) {
    const float *xg = x + g * 32;
    /* cvtps rounds to nearest even, like nearbyintf; |x*s| <= 127 so no clamping is needed */
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg), sv));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + 8), sv));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + 16), sv));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xg + 24), sv));
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    gsum[g] = hsum_i32_avx2(sum);
    __m256i p01 = _mm256_packs_epi32(i0, i1); /* lanes interleaved per 128-bit half */
    __m256i p23 = _mm256_packs_epi32(i2, i3);
    __m256i b = _mm256_packs_epi16(p01, p23);
    /* undo the per-lane interleave: dwords 0 4 1 5 2 6 3 7 */
    b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(q + g * 32), b);
  }
  return amax / 127.0f;
}
#endif

/**
 * Quantizes `n` floats (n a multiple of 32) to int8 with one absmax scale, writes the sum of each
 * 32-group of codes to `gsum[n/32]` and returns max|x| / 127 (the factor that turns integer sums
 * back into floats; 0 for an all-zero vector).
 */
API float bli_quantize_act(const float *x, int64_t n, int8_t *q, int32_t *gsum) {
#if BLI_X86
  if (level() >= LEVEL_AVX2) return quantize_act_avx2(x, n, q, gsum);
#endif
  float amax = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    float a = fabsf(x[i]);
    if (a > amax) amax = a;
  }
  float s = amax > 0.0f ? 127.0f / amax : 0.0f;
  for (int64_t g = 0; g < n / 32; g++) {
    int32_t sum = 0;
    for (int i = 0; i < 32; i++) {
      float v = nearbyintf(x[g * 32 + i] * s);
      if (v > 127.0f) v = 127.0f;
      if (v < -128.0f) v = -128.0f;
      int8_t c = (int8_t)v;
      q[g * 32 + i] = c;
      sum += c;
    }
    gsum[g] = sum;
  }
  return amax / 127.0f;
}

/** Quantizes `rows` rows of `width` (see bli_quantize_act); factors go to `factor[rows]`. */
API void bli_quantize_rows(const float *x, int64_t rows, int64_t width, int8_t *q, int32_t *gsum,
                           float *factor) {
  for (int64_t r = 0; r < rows; r++)
    factor[r] = bli_quantize_act(x + r * width, width, q + r * width, gsum + r * (width / 32));
}

/* ------------------------------------------------------------------------------------------ */
/* I2_S: 128-element blocks of 32 bytes; byte p holds elements p, 32+p, 64+p, 96+p in bits      */
/* 7:6, 5:4, 3:2, 1:0. Returns sum(c * q) over the row.                                        */

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

/* TQ2_0: 256-element blocks of 66 bytes: qs[64], then f16 d. Byte m of 32-byte chunk j holds    */
/* elements j*128 + m + 32*l in bits 2l+1:2l (l = 0..3). Returns sum over blocks of             */
/* d * (sum(c*q) - sum(q)) as a float.                                                          */

static float dot_tq2_scalar(const uint8_t *w, const int8_t *q, const int32_t *gsum, int64_t cols) {
  float acc = 0.0f;
  for (int64_t blk = 0; blk < cols / 256; blk++) {
    const uint8_t *b = w + blk * 66;
    const int8_t *a = q + blk * 256;
    int32_t s = 0;
    for (int j = 0; j < 2; j++) {
      for (int m = 0; m < 32; m++) {
        uint8_t v = b[j * 32 + m];
        s += (v & 3) * a[j * 128 + m] + ((v >> 2) & 3) * a[j * 128 + 32 + m] +
             ((v >> 4) & 3) * a[j * 128 + 64 + m] + ((v >> 6) & 3) * a[j * 128 + 96 + m];
      }
    }
    const int32_t *gs = gsum + blk * 8;
    int32_t qs = gs[0] + gs[1] + gs[2] + gs[3] + gs[4] + gs[5] + gs[6] + gs[7];
    uint16_t dh;
    memcpy(&dh, b + 64, 2);
    acc += f16_to_f32(dh) * (float)(s - qs);
  }
  return acc;
}

/* TQ1_0: 256-element blocks of 54 bytes: qs[48], qh[4], then f16 d (ggml-common.h block_tq1_0).
 * Trit n of byte b is ((b·3^n mod 256)·3) >> 8 ∈ {0,1,2} (ggml-quants.c dequantize_row_tq1_0):
 * qs[0..31] hold elements 32n+m (n < 5), qs[32..47] elements 160+16n+m, qh[0..3] elements
 * 240+4n+m (n < 4). As for TQ2_0, Σ (t−1)·a = Σ t·a − Σ a. */
static float dot_tq1_scalar(const uint8_t *w, const int8_t *q, const int32_t *gsum, int64_t cols) {
  static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
  float acc = 0.0f;
  for (int64_t blk = 0; blk < cols / 256; blk++) {
    const uint8_t *b = w + blk * 54;
    const int8_t *a = q + blk * 256;
    int32_t s = 0;
    for (int n = 0; n < 5; n++) {
      for (int m = 0; m < 32; m++) {
        uint8_t x = (uint8_t)(b[m] * pow3[n]);
        s += (int32_t)(((uint16_t)x * 3) >> 8) * a[32 * n + m];
      }
      for (int m = 0; m < 16; m++) {
        uint8_t x = (uint8_t)(b[32 + m] * pow3[n]);
        s += (int32_t)(((uint16_t)x * 3) >> 8) * a[160 + 16 * n + m];
      }
    }
    for (int n = 0; n < 4; n++) {
      for (int m = 0; m < 4; m++) {
        uint8_t x = (uint8_t)(b[48 + m] * pow3[n]);
        s += (int32_t)(((uint16_t)x * 3) >> 8) * a[240 + 4 * n + m];
      }
    }
    const int32_t *gs = gsum + blk * 8;
    int32_t qs = gs[0] + gs[1] + gs[2] + gs[3] + gs[4] + gs[5] + gs[6] + gs[7];
    uint16_t dh;
    memcpy(&dh, b + 52, 2);
    acc += f16_to_f32(dh) * (float)(s - qs);
  }
  return acc;
}

#if BLI_X86
__attribute__((target("avx2,fma,f16c"))) static inline int32_t hsum_i32_avx2(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

__attribute__((target("avx2,fma,f16c"))) static inline float hsum_f32_avx2(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma,f16c"))) static int32_t dot_i2s_avx2(const uint8_t *w,
                                                                     const int8_t *q,
                                                                     int64_t cols) {
  const __m256i mask = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc = _mm256_setzero_si256();
  for (int64_t blk = 0; blk < cols / 128; blk++) {
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

__attribute__((target("avx2,fma,f16c"))) static float dot_tq2_avx2(const uint8_t *w,
                                                                   const int8_t *q,
                                                                   const int32_t *gsum,
                                                                   int64_t cols) {
  const __m256i mask = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 accf = _mm256_setzero_ps();
  float corr = 0.0f;
  for (int64_t blk = 0; blk < cols / 256; blk++) {
    const uint8_t *b = w + blk * 66;
    const int8_t *a = q + blk * 256;
    __m256i sum16 = _mm256_setzero_si256();
    for (int j = 0; j < 2; j++) {
      __m256i v = _mm256_loadu_si256((const __m256i *)(b + j * 32));
      const int8_t *aj = a + j * 128;
      __m256i c0 = _mm256_and_si256(v, mask);
      __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(v, 2), mask);
      __m256i c2 = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
      __m256i c3 = _mm256_and_si256(_mm256_srli_epi16(v, 6), mask);
      __m256i p0 = _mm256_maddubs_epi16(c0, _mm256_loadu_si256((const __m256i *)(aj)));
      __m256i p1 = _mm256_maddubs_epi16(c1, _mm256_loadu_si256((const __m256i *)(aj + 32)));
      __m256i p2 = _mm256_maddubs_epi16(c2, _mm256_loadu_si256((const __m256i *)(aj + 64)));
      __m256i p3 = _mm256_maddubs_epi16(c3, _mm256_loadu_si256((const __m256i *)(aj + 96)));
      sum16 = _mm256_add_epi16(sum16,
                               _mm256_add_epi16(_mm256_add_epi16(p0, p1), _mm256_add_epi16(p2, p3)));
    }
    /* 8 products of at most 2*2*128 per i16 lane: |sum| <= 4096, no overflow */
    __m256i s32 = _mm256_madd_epi16(sum16, ones);
    const int32_t *gs = gsum + blk * 8;
    int32_t qs = gs[0] + gs[1] + gs[2] + gs[3] + gs[4] + gs[5] + gs[6] + gs[7];
    uint16_t dh;
    memcpy(&dh, b + 64, 2);
    float d = _cvtsh_ss(dh);
    accf = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_set1_ps(d), accf);
    corr += d * (float)qs;
  }
  return hsum_f32_avx2(accf) - corr;
}

__attribute__((target("avx512f,avx512bw,avx512vnni,f16c"))) static float dot_tq2_avx512(
    const uint8_t *w, const int8_t *q, const int32_t *gsum, int64_t cols) {
  const __m512i mask = _mm512_set1_epi8(3);
  __m512 accf = _mm512_setzero_ps();
  float corr = 0.0f;
  for (int64_t blk = 0; blk < cols / 256; blk++) {
    const uint8_t *b = w + blk * 66;
    const int8_t *a = q + blk * 256;
    /* lanes 0..31: chunk 0 (elements m + 32l), lanes 32..63: chunk 1 (128 + m + 32l) */
    __m512i v = _mm512_loadu_si512((const void *)b);
    __m512i acc = _mm512_setzero_si512();
    for (int l = 0; l < 4; l++) {
      __m512i c = _mm512_and_si512(_mm512_srli_epi16(v, 2 * l), mask);
      __m512i x = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a + 32 * l))),
          _mm256_loadu_si256((const __m256i *)(a + 128 + 32 * l)), 1);
      acc = _mm512_dpbusd_epi32(acc, c, x);
    }
    const int32_t *gs = gsum + blk * 8;
    int32_t qs = gs[0] + gs[1] + gs[2] + gs[3] + gs[4] + gs[5] + gs[6] + gs[7];
    uint16_t dh;
    memcpy(&dh, b + 64, 2);
    float d = _cvtsh_ss(dh);
    accf = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(d), accf);
    corr += d * (float)qs;
  }
  return _mm512_reduce_add_ps(accf) - corr;
}

__attribute__((target("avx512f,avx512bw,avx512vnni,f16c"))) static int32_t dot_i2s_avx512(
    const uint8_t *w, const int8_t *q, int64_t cols) {
  const __m512i mask = _mm512_set1_epi8(3);
  __m512i acc = _mm512_setzero_si512();
  int64_t blk = 0;
  /* two 128-blocks (64 bytes of codes) per step */
  for (; blk + 2 <= cols / 128; blk += 2) {
    __m512i v = _mm512_loadu_si512((const void *)(w + blk * 32));
    const int8_t *a = q + blk * 128;
    /* lanes 0..31 belong to block blk, lanes 32..63 to block blk+1 */
    __m512i c0 = _mm512_and_si512(_mm512_srli_epi16(v, 6), mask);
    __m512i c1 = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
    __m512i c2 = _mm512_and_si512(_mm512_srli_epi16(v, 2), mask);
    __m512i c3 = _mm512_and_si512(v, mask);
    __m512i a0 = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a))),
        _mm256_loadu_si256((const __m256i *)(a + 128)), 1);
    __m512i a1 = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a + 32))),
        _mm256_loadu_si256((const __m256i *)(a + 160)), 1);
    __m512i a2 = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a + 64))),
        _mm256_loadu_si256((const __m256i *)(a + 192)), 1);
    __m512i a3 = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a + 96))),
        _mm256_loadu_si256((const __m256i *)(a + 224)), 1);
    acc = _mm512_dpbusd_epi32(acc, c0, a0);
    acc = _mm512_dpbusd_epi32(acc, c1, a1);
    acc = _mm512_dpbusd_epi32(acc, c2, a2);
    acc = _mm512_dpbusd_epi32(acc, c3, a3);
  }
  int32_t total = _mm512_reduce_add_epi32(acc);
  if (blk < cols / 128) total += dot_i2s_avx2(w + blk * 32, q + blk * 128, cols - blk * 128);
  return total;
}

/* Multi-token variants for prompt batches: the weight codes of a row are decoded once and     */
/* multiplied with up to 4 tokens' activations (q rows `cols` apart).                          */

__attribute__((target("avx512f,avx512bw,avx512vnni,f16c"))) static void dot4_i2s_avx512(
    const uint8_t *w, const int8_t *q, int64_t cols, int nt, int32_t *out) {
  const __m512i mask = _mm512_set1_epi8(3);
  __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                    _mm512_setzero_si512()};
  int64_t blk = 0;
  for (; blk + 2 <= cols / 128; blk += 2) {
    __m512i v = _mm512_loadu_si512((const void *)(w + blk * 32));
    __m512i c[4];
    c[0] = _mm512_and_si512(_mm512_srli_epi16(v, 6), mask);
    c[1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
    c[2] = _mm512_and_si512(_mm512_srli_epi16(v, 2), mask);
    c[3] = _mm512_and_si512(v, mask);
    for (int t = 0; t < nt; t++) {
      const int8_t *a = q + t * cols + blk * 128;
      for (int l = 0; l < 4; l++) {
        __m512i x = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a + 32 * l))),
            _mm256_loadu_si256((const __m256i *)(a + 128 + 32 * l)), 1);
        acc[t] = _mm512_dpbusd_epi32(acc[t], c[l], x);
      }
    }
  }
  for (int t = 0; t < nt; t++) {
    out[t] = _mm512_reduce_add_epi32(acc[t]);
    if (blk < cols / 128)
      out[t] += dot_i2s_avx2(w + blk * 32, q + t * cols + blk * 128, cols - blk * 128);
  }
}

__attribute__((target("avx512f,avx512bw,avx512vnni,f16c"))) static void dot4_tq2_avx512(
    const uint8_t *w, const int8_t *q, const int32_t *gsum, int64_t cols, int nt, float *out) {
  const __m512i mask = _mm512_set1_epi8(3);
  __m512 accf[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                    _mm512_setzero_ps()};
  float corr[4] = {0, 0, 0, 0};
  for (int64_t blk = 0; blk < cols / 256; blk++) {
    const uint8_t *b = w + blk * 66;
    __m512i v = _mm512_loadu_si512((const void *)b);
    __m512i c[4];
    for (int l = 0; l < 4; l++) c[l] = _mm512_and_si512(_mm512_srli_epi16(v, 2 * l), mask);
    uint16_t dh;
    memcpy(&dh, b + 64, 2);
    float d = _cvtsh_ss(dh);
    __m512 dv = _mm512_set1_ps(d);
    for (int t = 0; t < nt; t++) {
      const int8_t *a = q + t * cols + blk * 256;
      __m512i acc = _mm512_setzero_si512();
      for (int l = 0; l < 4; l++) {
        __m512i x = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a + 32 * l))),
            _mm256_loadu_si256((const __m256i *)(a + 128 + 32 * l)), 1);
        acc = _mm512_dpbusd_epi32(acc, c[l], x);
      }
      const int32_t *gs = gsum + t * (cols / 32) + blk * 8;
      int32_t qs = gs[0] + gs[1] + gs[2] + gs[3] + gs[4] + gs[5] + gs[6] + gs[7];
      accf[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), dv, accf[t]);
      corr[t] += d * (float)qs;
    }
  }
  for (int t = 0; t < nt; t++) out[t] = _mm512_reduce_add_ps(accf[t]) - corr[t];
}

__attribute__((target("avx2,fma,f16c"))) static float dot_f16_avx2(const uint16_t *w,
                                                                   const float *x, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
    __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8)));
    a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), a1);
  }
  float s = hsum_f32_avx2(_mm256_add_ps(a0, a1));
  for (; i < n; i++) s += f16_to_f32(w[i]) * x[i];
  return s;
}

__attribute__((target("avx2,fma,f16c"))) static float dot_f32_avx2(const float *w, const float *x,
                                                                   int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
  }
  float s = hsum_f32_avx2(_mm256_add_ps(a0, a1));
  for (; i < n; i++) s += w[i] * x[i];
  return s;
}
#endif

static float dot_f16_scalar(const uint16_t *w, const float *x, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; i++) s += f16_to_f32(w[i]) * x[i];
  return s;
}

static float dot_f32_scalar(const float *w, const float *x, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; i++) s += w[i] * x[i];
  return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Matrix products: y[t*rows + r] = W[r,:] . x_t for t < ntok                                  */

typedef struct {
  const uint8_t *w;
  int64_t rows, cols, ntok;
  const int8_t *q;      /* ntok * cols */
  const int32_t *gsum;  /* ntok * cols/32 */
  const float *factor;  /* ntok activation factors */
  const float *x;       /* f32 activations for f16/f32 weights */
  float wscale;
  float *y;
  int lvl;
} mm_ctx;

static void task_i2s(void *p, int64_t b, int64_t e) {
  mm_ctx *c = (mm_ctx *)p;
  int64_t row_bytes = c->cols / 4;
  int32_t qsum[16];
  /* rows outer, tokens inner: a weight row is read from memory once per batch of 16 tokens */
  for (int64_t t0 = 0; t0 < c->ntok; t0 += 16) {
    int64_t tn = c->ntok - t0 < 16 ? c->ntok - t0 : 16;
    for (int64_t t = 0; t < tn; t++) {
      const int32_t *gs = c->gsum + (t0 + t) * (c->cols / 32);
      int32_t sum = 0;
      for (int64_t g = 0; g < c->cols / 32; g++) sum += gs[g];
      qsum[t] = sum;
    }
    for (int64_t r = b; r < e; r++) {
      const uint8_t *w = c->w + r * row_bytes;
#if BLI_X86
      if (c->lvl == LEVEL_AVX512 && tn > 1) {
        for (int64_t t = 0; t < tn; t += 4) {
          int nt = tn - t < 4 ? (int)(tn - t) : 4;
          int32_t s4[4];
          dot4_i2s_avx512(w, c->q + (t0 + t) * c->cols, c->cols, nt, s4);
          for (int k = 0; k < nt; k++)
            c->y[(t0 + t + k) * c->rows + r] =
                (float)(s4[k] - qsum[t + k]) * (c->factor[t0 + t + k] * c->wscale);
        }
        continue;
      }
#endif
      for (int64_t t = 0; t < tn; t++) {
        const int8_t *q = c->q + (t0 + t) * c->cols;
        int32_t s;
#if BLI_X86
        if (c->lvl == LEVEL_AVX512) s = dot_i2s_avx512(w, q, c->cols);
        else if (c->lvl == LEVEL_AVX2) s = dot_i2s_avx2(w, q, c->cols);
        else s = dot_i2s_scalar(w, q, c->cols);
#else
        s = dot_i2s_scalar(w, q, c->cols);
#endif
        c->y[(t0 + t) * c->rows + r] = (float)(s - qsum[t]) * (c->factor[t0 + t] * c->wscale);
      }
    }
  }
}

static void task_tq2(void *p, int64_t b, int64_t e) {
  mm_ctx *c = (mm_ctx *)p;
  int64_t row_bytes = c->cols / 256 * 66;
  for (int64_t t0 = 0; t0 < c->ntok; t0 += 16) {
    int64_t tn = c->ntok - t0 < 16 ? c->ntok - t0 : 16;
    for (int64_t r = b; r < e; r++) {
      const uint8_t *w = c->w + r * row_bytes;
#if BLI_X86
      if (c->lvl == LEVEL_AVX512 && tn > 1) {
        for (int64_t t = 0; t < tn; t += 4) {
          int nt = tn - t < 4 ? (int)(tn - t) : 4;
          float s4[4];
          dot4_tq2_avx512(w, c->q + (t0 + t) * c->cols, c->gsum + (t0 + t) * (c->cols / 32),
                          c->cols, nt, s4);
          for (int k = 0; k < nt; k++) c->y[(t0 + t + k) * c->rows + r] = s4[k] * c->factor[t0 + t + k];
        }
        continue;
      }
#endif
      for (int64_t t = 0; t < tn; t++) {
        const int8_t *q = c->q + (t0 + t) * c->cols;
        const int32_t *gs = c->gsum + (t0 + t) * (c->cols / 32);
        float s;
#if BLI_X86
        if (c->lvl == LEVEL_AVX512) s = dot_tq2_avx512(w, q, gs, c->cols);
        else if (c->lvl == LEVEL_AVX2) s = dot_tq2_avx2(w, q, gs, c->cols);
        else s = dot_tq2_scalar(w, q, gs, c->cols);
#else
        s = dot_tq2_scalar(w, q, gs, c->cols);
#endif
        c->y[(t0 + t) * c->rows + r] = s * c->factor[t0 + t];
      }
    }
  }
}

static void task_tq1(void *p, int64_t b, int64_t e) {
  mm_ctx *c = (mm_ctx *)p;
  int64_t row_bytes = c->cols / 256 * 54;
  for (int64_t r = b; r < e; r++) {
    const uint8_t *w = c->w + r * row_bytes;
    for (int64_t t = 0; t < c->ntok; t++) {
      float s = dot_tq1_scalar(w, c->q + t * c->cols, c->gsum + t * (c->cols / 32), c->cols);
      c->y[t * c->rows + r] = s * c->factor[t];
    }
  }
}

static void task_f16(void *p, int64_t b, int64_t e) {
  mm_ctx *c = (mm_ctx *)p;
  for (int64_t r = b; r < e; r++) {
    const uint16_t *w = (const uint16_t *)c->w + r * c->cols;
    for (int64_t t = 0; t < c->ntok; t++) {
      const float *x = c->x + t * c->cols;
#if BLI_X86
      float s = c->lvl >= LEVEL_AVX2 ? dot_f16_avx2(w, x, c->cols) : dot_f16_scalar(w, x, c->cols);
#else
      float s = dot_f16_scalar(w, x, c->cols);
#endif
      c->y[t * c->rows + r] = s;
    }
  }
}

static void task_f32(void *p, int64_t b, int64_t e) {
  mm_ctx *c = (mm_ctx *)p;
  for (int64_t r = b; r < e; r++) {
    const float *w = (const float *)c->w + r * c->cols;
    for (int64_t t = 0; t < c->ntok; t++) {
      const float *x = c->x + t * c->cols;
#if BLI_X86
      float s = c->lvl >= LEVEL_AVX2 ? dot_f32_avx2(w, x, c->cols) : dot_f32_scalar(w, x, c->cols);
#else
      float s = dot_f32_scalar(w, x, c->cols);
#endif
      c->y[t * c->rows + r] = s;
    }
  }
}

/** I2_S product (cols % 128 == 0); `wscale` is the tensor's f32 scale. */
API void bli_matmul_i2s(const uint8_t *w, int64_t rows, int64_t cols, float wscale,
                        const int8_t *q, const int32_t *gsum, const float *factor, int64_t ntok,
                        float *y) {
  mm_ctx c = {w, rows, cols, ntok, q, gsum, factor, NULL, wscale, y, level()};
  parallel_for(task_i2s, &c, rows, 8);
}

/** TQ2_0 product (cols % 256 == 0). */
API void bli_matmul_tq2(const uint8_t *w, int64_t rows, int64_t cols, const int8_t *q,
                        const int32_t *gsum, const float *factor, int64_t ntok, float *y) {
  mm_ctx c = {w, rows, cols, ntok, q, gsum, factor, NULL, 1.0f, y, level()};
  parallel_for(task_tq2, &c, rows, 8);
}

/** TQ1_0 product (cols % 256 == 0); scalar at every level (gcc vectorizes the trit loops). */
API void bli_matmul_tq1(const uint8_t *w, int64_t rows, int64_t cols, const int8_t *q,
                        const int32_t *gsum, const float *factor, int64_t ntok, float *y) {
  mm_ctx c = {w, rows, cols, ntok, q, gsum, factor, NULL, 1.0f, y, level()};
  parallel_for(task_tq1, &c, rows, 8);
}

/** F16 weights times f32 activations. */
API void bli_matmul_f16(const uint16_t *w, int64_t rows, int64_t cols, const float *x,
                        int64_t ntok, float *y) {
  mm_ctx c = {(const uint8_t *)w, rows, cols, ntok, NULL, NULL, NULL, x, 1.0f, y, level()};
  parallel_for(task_f16, &c, rows, 8);
}

/** F32 weights times f32 activations. */
API void bli_matmul_f32(const float *w, int64_t rows, int64_t cols, const float *x, int64_t ntok,
                        float *y) {
  mm_ctx c = {(const uint8_t *)w, rows, cols, ntok, NULL, NULL, NULL, x, 1.0f, y, level()};
  parallel_for(task_f32, &c, rows, 8);
}

/* ------------------------------------------------------------------------------------------ */
/* int8 weights (per-row absmax scale) for a requantized LM head: y = sw * fa * sum(w8 * q).    */

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
      float v = c->type == 1 ? f16_to_f32(((const uint16_t *)c->src)[r * c->cols + i])
                             : ((const float *)c->src)[r * c->cols + i];
      if (fabsf(v) > amax) amax = fabsf(v);
    }
    float s = amax / 127.0f;
    float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    int32_t sum = 0;
    for (int64_t i = 0; i < c->cols; i++) {
      float v = c->type == 1 ? f16_to_f32(((const uint16_t *)c->src)[r * c->cols + i])
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
API void bli_quantize_weight_i8(const void *src, int32_t type, int64_t rows, int64_t cols,
                                int8_t *dst, float *scale, int32_t *wsum) {
  qw_ctx c = {src, type, cols, dst, scale, wsum};
  parallel_for(task_quantize_weight, &c, rows, 64);
}

static int32_t dot_i8_scalar(const int8_t *w, const int8_t *q, int64_t n) {
  int32_t s = 0;
  for (int64_t i = 0; i < n; i++) s += w[i] * q[i];
  return s;
}

#if BLI_X86
__attribute__((target("avx2,fma,f16c"))) static int32_t dot_i8_avx2(const int8_t *w,
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

__attribute__((target("avx512f,avx512bw,avx512vnni,f16c"))) static int32_t dot_i8_avx512(
    const int8_t *w, const int8_t *q, int64_t n, int32_t wsum) {
  /* n % 64 == 0. (q ^ 0x80) = q + 128 as u8: sum(w * q) = dpbusd(q + 128, w) - 128 * sum(w) */
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  __m512i acc = _mm512_setzero_si512();
  for (int64_t i = 0; i < n; i += 64) {
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
#if BLI_X86
      if (c->lvl == LEVEL_AVX512 && c->cols % 64 == 0) {
        s = dot_i8_avx512(w, q, c->cols, c->wsum[r]);
      } else if (c->lvl >= LEVEL_AVX2) {
        s = dot_i8_avx2(w, q, c->cols);
      } else {
        s = dot_i8_scalar(w, q, c->cols);
      }
#else
      s = dot_i8_scalar(w, q, c->cols);
#endif
      c->y[t * c->rows + r] = (float)s * (c->wscale[r] * c->factor[t]);
    }
  }
}

/** int8 weights (from bli_quantize_weight_i8) times int8 activations. */
API void bli_matmul_i8(const int8_t *w, const float *wscale, const int32_t *wsum, int64_t rows,
                       int64_t cols, const int8_t *q, const float *factor, int64_t ntok, float *y) {
  i8_ctx c = {w, wscale, wsum, rows, cols, ntok, q, factor, y, level()};
  parallel_for(task_i8, &c, rows, 16);
}

/* ------------------------------------------------------------------------------------------ */
/* FFN activations: g = act(g) * u                                                             */

#if BLI_X86
/* Cephes-style expf: |relative error| < 2e-7 on [-87, 88] */
__attribute__((target("avx2,fma,f16c"))) static inline __m256 exp_avx2(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f),
                                              _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 z = _mm256_mul_ps(x, x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  y = _mm256_fmadd_ps(y, z, _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

__attribute__((target("avx2,fma,f16c"))) static int64_t swiglu_avx2(float *g, const float *u,
                                                                    int64_t n) {
  int64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_loadu_ps(g + i);
    __m256 e = exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x));
    __m256 silu = _mm256_div_ps(x, _mm256_add_ps(one, e));
    _mm256_storeu_ps(g + i, _mm256_mul_ps(silu, _mm256_loadu_ps(u + i)));
  }
  return i;
}
#endif

/** `kind` 0: g = silu(g) * u (SwiGLU); 1: g = relu(g)^2 * u. */
API void bli_ffn_act(float *g, const float *u, int64_t n, int32_t kind) {
  int64_t i = 0;
  if (kind == 1) {
    for (; i < n; i++) {
      float a = g[i] > 0.0f ? g[i] : 0.0f;
      g[i] = a * a * u[i];
    }
    return;
  }
#if BLI_X86
  if (level() >= LEVEL_AVX2) i = swiglu_avx2(g, u, n);
#endif
  for (; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

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

#if BLI_X86
__attribute__((target("avx2,fma,f16c"))) static void axpy_avx2(float *o, const float *v, float w,
                                                               int n) {
  __m256 wv = _mm256_set1_ps(w);
  int i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(o + i, _mm256_fmadd_ps(wv, _mm256_loadu_ps(v + i), _mm256_loadu_ps(o + i)));
  for (; i < n; i++) o[i] += w * v[i];
}

__attribute__((target("avx2,fma,f16c"))) static void axpy_f16_avx2(float *o, const uint16_t *v,
                                                                   float w, int n) {
  __m256 wv = _mm256_set1_ps(w);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + i)));
    _mm256_storeu_ps(o + i, _mm256_fmadd_ps(wv, vv, _mm256_loadu_ps(o + i)));
  }
  for (; i < n; i++) o[i] += w * f16_to_f32(v[i]);
}
#endif

/* q · k for one cached key (f32 or f16 bits). */
static float attn_dot(const attn_ctx *c, const float *qh, int64_t at) {
  if (c->kv_f16) {
    const uint16_t *kt = (const uint16_t *)c->k + at;
#if BLI_X86
    if (c->lvl >= LEVEL_AVX2) return dot_f16_avx2(kt, qh, c->head_dim);
#endif
    return dot_f16_scalar(kt, qh, c->head_dim);
  }
  const float *kt = (const float *)c->k + at;
#if BLI_X86
  if (c->lvl >= LEVEL_AVX2) return dot_f32_avx2(qh, kt, c->head_dim);
#endif
  return dot_f32_scalar(qh, kt, c->head_dim);
}

/* o += w · v for one cached value (f32 or f16 bits). */
static void attn_axpy(const attn_ctx *c, float *o, int64_t at, float w) {
  if (c->kv_f16) {
    const uint16_t *vt = (const uint16_t *)c->v + at;
#if BLI_X86
    if (c->lvl >= LEVEL_AVX2) {
      axpy_f16_avx2(o, vt, w, c->head_dim);
      return;
    }
#endif
    for (int d = 0; d < c->head_dim; d++) o[d] += w * f16_to_f32(vt[d]);
    return;
  }
  const float *vt = (const float *)c->v + at;
#if BLI_X86
  if (c->lvl >= LEVEL_AVX2) {
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
API void bli_attention_batch(const float *q, const float *k, const float *v, int32_t n_head,
                             int32_t n_kv, int32_t head_dim, int32_t pos0, int32_t ntok,
                             float scale, float *out, float *scratch) {
  attn_batch_ctx c = {q, k, v, n_head, n_kv, head_dim, pos0, ntok, scale, out, scratch, level(), 0};
  parallel_for(task_attn_batch, &c, (int64_t)ntok * n_head, 1);
}

/** {@link bli_attention_batch} over an f16 KV cache (`k`, `v` hold f16 bits). */
API void bli_attention_batch_f16(const float *q, const uint16_t *k, const uint16_t *v,
                                 int32_t n_head, int32_t n_kv, int32_t head_dim, int32_t pos0,
                                 int32_t ntok, float scale, float *out, float *scratch) {
  attn_batch_ctx c = {q, k, v, n_head, n_kv, head_dim, pos0, ntok, scale, out, scratch, level(), 1};
  parallel_for(task_attn_batch, &c, (int64_t)ntok * n_head, 1);
}

/** Single-query attention; `scratch` holds n_head * npos floats. */
API void bli_attention(const float *q, const float *k, const float *v, int32_t n_head,
                       int32_t n_kv, int32_t head_dim, int32_t npos, float scale, float *out,
                       float *scratch) {
  attn_ctx c = {q, k, v, n_head, n_kv, head_dim, npos, scale, out, scratch, level(), 0};
  parallel_for(task_attn, &c, n_head, 1);
}

/*
 * ISA level detection and the thread pool shared by every inference kernel.
 */
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

/* ------------------------------------------------------------------------------------------ */
/* ISA level                                                                                   */

/* Per calling thread: Deno runs parallel test files as workers in one process, and one of them
 * forcing a level must not change another's results. Pool workers get the caller's level
 * through the job context. */
static __thread int g_level = -1;

static int detect_level(void) {
#if BLI_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
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

int bli_level(void) {
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

void bli_parallel_for(task_fn fn, void *ctx, int64_t total, int64_t align) {
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
/* Per-thread scratch                                                                          */

static __thread void *g_scratch[2];
static __thread size_t g_scratch_size[2];

void *bli_scratch(int slot, size_t bytes) {
  if (g_scratch_size[slot] >= bytes) return g_scratch[slot];
  size_t size = bytes < 4096 ? 4096 : bytes + bytes / 2;
  void *p = NULL;
  if (posix_memalign(&p, 64, size) != 0) return NULL;
  free(g_scratch[slot]);
  g_scratch[slot] = p;
  g_scratch_size[slot] = size;
  return p;
}

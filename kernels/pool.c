/*
 * The library's one thread pool (dequantization and inference) and per-thread scratch memory.
 */
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BL_PAUSE() _mm_pause()
#else
#define BL_PAUSE() ((void)0)
#endif

/* ------------------------------------------------------------------------------------------ */
/* Thread pool                                                                                 */
/*                                                                                             */
/* Dynamic chunks: a job is cut into chunks of whole `align` rows; the caller and the workers  */
/* claim chunks from one 64-bit ticket (job generation << 32 | next chunk) with a CAS, so a    */
/* worker that wakes late (or is descheduled by other processes) costs nothing: the caller     */
/* takes the remaining chunks itself. Each output row is computed by exactly one thread with   */
/* the same code, so results do not depend on the thread count. Workers spin briefly on the    */
/* ticket, then nap with backoff. A job names how many threads take part (bl_set_threads' count */
/* for the inference kernels, the call's `threads` for a dequantization): worker i joins only   */
/* when i is below it.                                                                          */


#define MAX_THREADS 64
static pthread_t g_workers[MAX_THREADS];
static int g_nthreads = 1; /* threads that exist, the caller included */
static int g_default = 1;  /* threads of a bl_parallel_for job (bl_set_threads) */
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
  bl_task_fn fn;
  void *ctx;
  int64_t total, chunk, nchunks;
  int threads; /* workers with a smaller index take part */
} job_t;
static job_t g_jobs[2];

/* Set while the calling thread runs a pool task: a nested bl_parallel_for (e.g. a dequantization
 * with threads > 1 from inside a product's task) runs inline instead of waiting on the job lock
 * that its own job holds. */
static __thread int t_in_task = 0;

static void run_chunks(uint32_t gen) {
  const job_t *job = &g_jobs[gen & 1];
  for (;;) {
    uint64_t t = atomic_load_explicit(&g_ticket, memory_order_acquire);
    if ((uint32_t)(t >> 32) != gen) return;
    int64_t i = (int64_t)(t & 0xffffffffu);
    if (i >= job->nchunks) return;
    bl_task_fn fn = job->fn;
    void *ctx = job->ctx;
    int64_t total = job->total, chunk = job->chunk;
    if (!atomic_compare_exchange_weak_explicit(&g_ticket, &t, t + 1, memory_order_acq_rel,
                                               memory_order_acquire))
      continue;
    int64_t b = i * chunk, e = b + chunk;
    if (e > total) e = total;
    t_in_task = 1;
    fn(ctx, b, e);
    t_in_task = 0;
    atomic_fetch_add_explicit(&g_done, 1, memory_order_release);
  }
}

/* A worker's start: its index and the generation current when it was created. */
typedef struct {
  int index;
  uint32_t gen;
} worker_start;
static worker_start g_starts[MAX_THREADS];

static void *worker_main(void *arg) {
  const worker_start *start = (const worker_start *)arg;
  const int index = start->index;
  uint32_t last = start->gen;
  long nap_ns = 20000;
  /* A worker that the last job did not include (its index is above the job's thread count, e.g.
   * one started for a many-threaded dequantization) only naps: spinning through every inference
   * job it skips would burn a core. */
  int spin = 4000;
  for (;;) {
    uint32_t gen = last;
    /* spin briefly (decode issues a job every few tens of microseconds), then nap with
     * exponential backoff up to 1 ms: no condition variable, so nothing can be lost or stuck,
     * and a sleeping worker never delays a job (the caller claims the chunks itself) */
    for (int i = 0; i < spin || i == 0; i++) {
      gen = (uint32_t)(atomic_load_explicit(&g_ticket, memory_order_acquire) >> 32);
      if (gen != last || atomic_load_explicit(&g_quit, memory_order_relaxed)) break;
      BL_PAUSE();
    }
    if (atomic_load(&g_quit)) return NULL;
    if (gen == last) {
      struct timespec ts = {0, nap_ns};
      nanosleep(&ts, NULL);
      if (nap_ns < 1000000) nap_ns *= 2;
      continue;
    }
    last = gen;
    if (index < g_jobs[gen & 1].threads) {
      nap_ns = 20000;
      spin = 4000;
      run_chunks(gen);
    } else {
      spin = 0;
    }
  }
}

static void stop_pool(void) {
  atomic_store(&g_quit, 1);
  for (int i = 1; i < g_nthreads; i++) pthread_join(g_workers[i], NULL);
  atomic_store(&g_quit, 0);
  g_nthreads = 1;
}

/* Starts workers g_nthreads..n-1 (fewer when pthread_create fails). Call with g_job_mu held. */
static void grow_pool(int n) {
  uint32_t gen = (uint32_t)(atomic_load(&g_ticket) >> 32);
  for (int i = g_nthreads; i < n; i++) {
    g_starts[i] = (worker_start){i, gen};
    if (pthread_create(&g_workers[i], NULL, worker_main, &g_starts[i]) != 0) break;
    g_nthreads = i + 1;
  }
}

/** Sets the number of threads (1..64, the caller included). Returns the number in use. */
BL_API int bl_set_threads(int n) {
  if (n < 1) n = 1;
  if (n > MAX_THREADS) n = MAX_THREADS;
  pthread_mutex_lock(&g_job_mu);
  if (n == g_nthreads) {
    g_default = n;
    pthread_mutex_unlock(&g_job_mu);
    return n;
  }
  stop_pool();
  grow_pool(n);
  g_default = g_nthreads;
  int got = g_default;
  pthread_mutex_unlock(&g_job_mu);
  return got;
}

/* Runs a job on `threads` threads (the pool grows to that many first), or on bl_set_threads' count
 * when `threads` is 0. */
static void run_job(bl_task_fn fn, void *ctx, int64_t total, int64_t align, int threads) {
  pthread_mutex_lock(&g_job_mu);
  if (threads == 0) threads = g_default;
  else if (threads > g_nthreads) grow_pool(threads > MAX_THREADS ? MAX_THREADS : threads);
  int n = threads < g_nthreads ? threads : g_nthreads;
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
  job->threads = n;
  atomic_store_explicit(&g_done, 0, memory_order_relaxed);
  atomic_store_explicit(&g_ticket, (uint64_t)gen << 32, memory_order_release);
  run_chunks(gen);
  int spins = 0;
  while (atomic_load_explicit(&g_done, memory_order_acquire) < job->nchunks) {
    if (++spins > 1000) sched_yield();
    else BL_PAUSE();
  }
  pthread_mutex_unlock(&g_job_mu);
}

void bl_parallel_for(bl_task_fn fn, void *ctx, int64_t total, int64_t align) {
  if (total <= align || t_in_task) {
    fn(ctx, 0, total);
    return;
  }
  run_job(fn, ctx, total, align, 0);
}

void bl_parallel_for_n(bl_task_fn fn, void *ctx, int64_t total, int64_t align, int threads) {
  if (total <= align || threads <= 1 || t_in_task) {
    fn(ctx, 0, total);
    return;
  }
  run_job(fn, ctx, total, align, threads);
}

/* ------------------------------------------------------------------------------------------ */
/* Per-thread scratch                                                                          */

static __thread void *g_scratch[2];
static __thread size_t g_scratch_size[2];

void *bl_scratch(int slot, size_t bytes) {
  if (g_scratch_size[slot] >= bytes) return g_scratch[slot];
  size_t size = bytes < 4096 ? 4096 : bytes + bytes / 2;
  void *p = NULL;
  if (posix_memalign(&p, 64, size) != 0) return NULL;
  free(g_scratch[slot]);
  g_scratch[slot] = p;
  g_scratch_size[slot] = size;
  return p;
}

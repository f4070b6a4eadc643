/*
 * Splits one dequantization over POSIX threads by whole blocks. Every block is decoded by the same
 * kernel whichever thread runs it, so the output is identical for any thread count. The calling thread
 * takes the first share; small tensors stay on one thread.
 */
#include <pthread.h>

#include "internal.h"

/* Upper bound on worker threads; more than this never helps a memory-bound kernel. */
#define BL_MAX_THREADS 64
/* Below this many output bytes per thread, starting a thread costs more than it saves. */
#define BL_MIN_BYTES_PER_THREAD (256 * 1024)

typedef struct {
  bl_kernel_fn kernel;
  const uint8_t *src;
  float *dst;
  int64_t nblocks;
  float tensor_scale;
} bl_job;

static void *run_job(void *arg) {
  const bl_job *job = (const bl_job *)arg;
  job->kernel(job->src, job->dst, job->nblocks, job->tensor_scale);
  return NULL;
}

int bl_run_threaded(bl_kernel_fn kernel, const uint8_t *src, float *dst, int64_t nblocks, int64_t block_bytes,
                    int64_t block_elements, float tensor_scale, int threads) {
  int64_t wanted = threads < 1 ? 1 : (threads > BL_MAX_THREADS ? BL_MAX_THREADS : threads);
  const int64_t out_bytes = nblocks * block_elements * (int64_t)sizeof(float);
  const int64_t by_size = out_bytes / BL_MIN_BYTES_PER_THREAD;
  if (wanted > by_size) wanted = by_size < 1 ? 1 : by_size;
  if (wanted > nblocks) wanted = nblocks;
  if (wanted <= 1) {
    kernel(src, dst, nblocks, tensor_scale);
    return BL_OK;
  }
  bl_job jobs[BL_MAX_THREADS];
  pthread_t tids[BL_MAX_THREADS];
  int started[BL_MAX_THREADS] = {0};
  const int64_t per = nblocks / wanted, extra = nblocks % wanted;
  int64_t first = 0;
  for (int64_t t = 0; t < wanted; t++) {
    const int64_t count = per + (t < extra ? 1 : 0);
    jobs[t] = (bl_job){kernel, src + first * block_bytes, dst + first * block_elements, count, tensor_scale};
    first += count;
  }
  int status = BL_OK;
  for (int64_t t = 1; t < wanted; t++) {
    if (pthread_create(&tids[t], NULL, run_job, &jobs[t]) == 0) {
      started[t] = 1;
    } else {
      run_job(&jobs[t]); /* still finish the work; report nothing lost */
    }
  }
  run_job(&jobs[0]);
  for (int64_t t = 1; t < wanted; t++) {
    if (started[t]) pthread_join(tids[t], NULL);
  }
  return status;
}

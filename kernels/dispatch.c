/*
 * CPU-feature dispatch: one kernel table per SIMD level, filled once (pthread_once) from
 * __builtin_cpu_supports, the per-thread level, and the exported dequantization entry points.
 *
 * One level enum (BL_SIMD_* in bitload.h) serves every kernel of the library: avx2 means AVX2 + FMA
 * + F16C, avx512 means AVX-512 F/BW/VL/VNNI on top of that (the inference kernels use VNNI).
 * The environment variable BITLOAD_SIMD (scalar | avx2 | avx512 | neon) caps the level; the
 * deprecated BITLOAD_KERNEL (same names, plus "avx512-vnni") is read when BITLOAD_SIMD is unset.
 * bl_set_simd() selects any allowed level for the calling thread: Deno runs test files as workers
 * of one process, and one of them forcing a level must not change another's kernels. Pool workers
 * use the level of the thread that handed them the job.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bl_kernel_fn kernel_tables[BL_SIMD_COUNT][BL_TYPE_COUNT];
static int best_level = BL_SIMD_SCALAR;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
/* The calling thread's level; -1 until it is first read or set (then the best level). */
static __thread int thread_level = -1;

/* Below this many output bytes per thread, another thread costs more than it saves. */
#define BL_MIN_BYTES_PER_THREAD (256 * 1024)
/* Upper bound on threads of one call; more never helps a memory-bound kernel. */
#define BL_MAX_THREADS 64

static int detect_level(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                   __builtin_cpu_supports("f16c");
  if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")) {
    return BL_SIMD_AVX512;
  }
  return avx2 ? BL_SIMD_AVX2 : BL_SIMD_SCALAR;
#elif defined(__aarch64__)
  return BL_SIMD_NEON; /* Advanced SIMD is mandatory on AArch64. */
#else
  return BL_SIMD_SCALAR;
#endif
}

static int level_from_name(const char *name) {
  if (strcmp(name, "scalar") == 0) return BL_SIMD_SCALAR;
  if (strcmp(name, "avx2") == 0) return BL_SIMD_AVX2;
  if (strcmp(name, "avx512") == 0 || strcmp(name, "avx512-vnni") == 0) return BL_SIMD_AVX512;
  if (strcmp(name, "neon") == 0) return BL_SIMD_NEON;
  return -1;
}

/* Whether `level` runs on this machine, given the detected best level. */
static int level_allowed(int level) {
  if (level == BL_SIMD_SCALAR) return 1;
  if (level == BL_SIMD_NEON) return best_level == BL_SIMD_NEON;
  if (best_level == BL_SIMD_NEON) return 0;
  return level <= best_level;
}

/* The level cap from BITLOAD_SIMD (or the deprecated BITLOAD_KERNEL); -1 when neither is set. */
static int level_cap(void) {
  const char *cap = getenv("BITLOAD_SIMD");
  if (cap == NULL || cap[0] == '\0') cap = getenv("BITLOAD_KERNEL");
  if (cap == NULL || cap[0] == '\0') return -1;
  return level_from_name(cap);
}

static void init_tables(void) {
  int detected = detect_level();
  const int capped = level_cap();
  if (capped == BL_SIMD_SCALAR) detected = BL_SIMD_SCALAR;
  else if (capped == BL_SIMD_AVX2 && detected == BL_SIMD_AVX512) detected = BL_SIMD_AVX2;
  best_level = detected;
  for (int level = 0; level < BL_SIMD_COUNT; level++) {
    memcpy(kernel_tables[level], bl_scalar_kernels, sizeof(bl_scalar_kernels));
  }
  bl_fill_avx2_kernels(kernel_tables[BL_SIMD_AVX2]);
  /* The AVX-512 table starts from the AVX2 one, so types without a 512-bit kernel still use AVX2. */
  memcpy(kernel_tables[BL_SIMD_AVX512], kernel_tables[BL_SIMD_AVX2], sizeof(kernel_tables[0]));
  bl_fill_avx512_kernels(kernel_tables[BL_SIMD_AVX512]);
  bl_fill_neon_kernels(kernel_tables[BL_SIMD_NEON]);
}

int bl_thread_level(void) {
  if (thread_level < 0) {
    pthread_once(&init_once, init_tables);
    thread_level = best_level;
  }
  return thread_level;
}

const bl_kernel_fn *bl_kernels_at(int level) {
  pthread_once(&init_once, init_tables);
  return kernel_tables[level];
}

BL_API int bl_abi_version(void) { return BL_ABI_VERSION; }

BL_API int bl_simd_level(void) { return bl_thread_level(); }

BL_API int bl_simd_best(void) {
  pthread_once(&init_once, init_tables);
  return best_level;
}

BL_API const char *bl_simd_name(int level) {
  switch (level) {
    case BL_SIMD_SCALAR: return "scalar";
    case BL_SIMD_AVX2: return "avx2";
    case BL_SIMD_AVX512: return "avx512";
    case BL_SIMD_NEON: return "neon";
    default: return "unknown";
  }
}

BL_API int bl_set_simd(int level) {
  pthread_once(&init_once, init_tables);
  if (level == -1) level = best_level;
  if (level < 0 || level >= BL_SIMD_COUNT || !level_allowed(level)) return BL_ERR_BAD_LEVEL;
  thread_level = level;
  return level;
}

BL_API int bl_type_geometry(int type, int64_t *block_elements, int64_t *block_bytes) {
  if (type < 0 || type >= BL_TYPE_COUNT || !bl_geometry(type, block_elements, block_bytes)) {
    return BL_ERR_UNKNOWN_TYPE;
  }
  return BL_OK;
}

BL_API int64_t bl_source_bytes(int type, int64_t n) {
  int64_t be, bb;
  if (type < 0 || type >= BL_TYPE_COUNT || !bl_geometry(type, &be, &bb)) return BL_ERR_UNKNOWN_TYPE;
  if (n < 0 || n % be != 0) return BL_ERR_BAD_LENGTH;
  const int64_t nblocks = n / be;
  if (nblocks > INT64_MAX / bb) return BL_ERR_BAD_LENGTH;
  return nblocks * bb + (type == BL_TYPE_I2_S ? 4 : 0);
}

/* Checks a dequantization's arguments; 0 (with the kernel, block count and I2_S scale) or a status. */
static int prepare(int level, int type, const void *src, float *dst, int64_t n, bl_kernel_fn *kernel,
                   int64_t *nblocks, int64_t *block_bytes, int64_t *block_elements, float *tensor_scale) {
  int64_t be, bb;
  if (type < 0 || type >= BL_TYPE_COUNT || !bl_geometry(type, &be, &bb)) return BL_ERR_UNKNOWN_TYPE;
  if (n < 0 || n % be != 0) return BL_ERR_BAD_LENGTH;
  if (n == 0) {
    *nblocks = 0;
    return BL_OK;
  }
  if (src == NULL || dst == NULL) return BL_ERR_NULL;
  *kernel = bl_kernels_at(level)[type];
  if (*kernel == NULL) return BL_ERR_UNKNOWN_TYPE;
  *nblocks = n / be;
  *block_bytes = bb;
  *block_elements = be;
  *tensor_scale = 0.0f;
  if (type == BL_TYPE_I2_S) memcpy(tensor_scale, (const uint8_t *)src + *nblocks * bb, sizeof *tensor_scale);
  return BL_OK;
}

int bl_dequantize_at(int level, int type, const void *src, float *dst, int64_t n) {
  bl_kernel_fn kernel = NULL;
  int64_t nblocks, bb, be;
  float scale;
  const int status = prepare(level, type, src, dst, n, &kernel, &nblocks, &bb, &be, &scale);
  if (status != BL_OK || nblocks == 0) return status;
  kernel((const uint8_t *)src, dst, nblocks, scale);
  return BL_OK;
}

/* One dequantization split over the pool by whole blocks: every block is decoded by the same kernel
 * whichever thread runs it, so the output is identical for any thread count. */
typedef struct {
  bl_kernel_fn kernel;
  const uint8_t *src;
  float *dst;
  int64_t block_bytes, block_elements;
  float tensor_scale;
} dequant_job;

static void dequant_task(void *arg, int64_t begin, int64_t end) {
  const dequant_job *job = (const dequant_job *)arg;
  job->kernel(job->src + begin * job->block_bytes, job->dst + begin * job->block_elements, end - begin,
              job->tensor_scale);
}

BL_API int bl_dequantize_f32(int type, const void *src, float *dst, int64_t n, int threads) {
  dequant_job job;
  int64_t nblocks;
  const int status = prepare(bl_thread_level(), type, src, dst, n, &job.kernel, &nblocks, &job.block_bytes,
                             &job.block_elements, &job.tensor_scale);
  if (status != BL_OK || nblocks == 0) return status;
  job.src = (const uint8_t *)src;
  job.dst = dst;
  /* Tensors under BL_MIN_BYTES_PER_THREAD of output per thread stay on fewer threads. */
  int64_t wanted = threads < 1 ? 1 : (threads > BL_MAX_THREADS ? BL_MAX_THREADS : threads);
  const int64_t by_size = nblocks * job.block_elements * (int64_t)sizeof(float) / BL_MIN_BYTES_PER_THREAD;
  if (wanted > by_size) wanted = by_size < 1 ? 1 : by_size;
  if (wanted > nblocks) wanted = nblocks;
  if (wanted <= 1) {
    dequant_task(&job, 0, nblocks);
  } else {
    bl_parallel_for_n(dequant_task, &job, nblocks, 1, (int)wanted);
  }
  return BL_OK;
}

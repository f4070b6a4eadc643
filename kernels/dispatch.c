/*
 * CPU-feature dispatch: one kernel table per SIMD level, filled once (pthread_once) from
 * __builtin_cpu_supports, then the exported entry points. The environment variable BITLOAD_SIMD
 * (scalar | avx2 | avx512 | neon) caps the level; bl_set_simd() selects any allowed level at run time.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bl_kernel_fn kernel_tables[BL_SIMD_COUNT][BL_TYPE_COUNT];
static int best_level = BL_SIMD_SCALAR;
static int active_level = BL_SIMD_SCALAR;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static int detect_level(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  /* AVX-512 kernels use F, BW and VL; AVX2 kernels also need F16C for the f16 conversion. */
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2")) {
    return BL_SIMD_AVX512;
  }
  if (__builtin_cpu_supports("avx2")) return BL_SIMD_AVX2;
  return BL_SIMD_SCALAR;
#elif defined(__aarch64__)
  return BL_SIMD_NEON; /* Advanced SIMD is mandatory on AArch64. */
#else
  return BL_SIMD_SCALAR;
#endif
}

static int level_from_name(const char *name) {
  if (strcmp(name, "scalar") == 0) return BL_SIMD_SCALAR;
  if (strcmp(name, "avx2") == 0) return BL_SIMD_AVX2;
  if (strcmp(name, "avx512") == 0) return BL_SIMD_AVX512;
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

static void init_tables(void) {
  int detected = detect_level();
  const char *cap = getenv("BITLOAD_SIMD");
  if (cap != NULL && cap[0] != '\0') {
    int capped = level_from_name(cap);
    if (capped == BL_SIMD_SCALAR) detected = BL_SIMD_SCALAR;
    else if (capped == BL_SIMD_AVX2 && detected == BL_SIMD_AVX512) detected = BL_SIMD_AVX2;
  }
  best_level = detected;
  for (int level = 0; level < BL_SIMD_COUNT; level++) {
    memcpy(kernel_tables[level], bl_scalar_kernels, sizeof(bl_scalar_kernels));
  }
  bl_fill_avx2_kernels(kernel_tables[BL_SIMD_AVX2]);
  /* The AVX-512 table starts from the AVX2 one, so types without a 512-bit kernel still use AVX2. */
  memcpy(kernel_tables[BL_SIMD_AVX512], kernel_tables[BL_SIMD_AVX2], sizeof(kernel_tables[0]));
  bl_fill_avx512_kernels(kernel_tables[BL_SIMD_AVX512]);
  bl_fill_neon_kernels(kernel_tables[BL_SIMD_NEON]);
  __atomic_store_n(&active_level, best_level, __ATOMIC_RELEASE);
}

const bl_kernel_fn *bl_active_kernels(void) {
  pthread_once(&init_once, init_tables);
  return kernel_tables[__atomic_load_n(&active_level, __ATOMIC_ACQUIRE)];
}

BL_API int bl_abi_version(void) { return BL_ABI_VERSION; }

BL_API int bl_simd_level(void) {
  pthread_once(&init_once, init_tables);
  return __atomic_load_n(&active_level, __ATOMIC_ACQUIRE);
}

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
  __atomic_store_n(&active_level, level, __ATOMIC_RELEASE);
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

BL_API int bl_dequantize_f32(int type, const void *src, float *dst, int64_t n, int threads) {
  int64_t be, bb;
  if (type < 0 || type >= BL_TYPE_COUNT || !bl_geometry(type, &be, &bb)) return BL_ERR_UNKNOWN_TYPE;
  if (n < 0 || n % be != 0) return BL_ERR_BAD_LENGTH;
  if (n == 0) return BL_OK;
  if (src == NULL || dst == NULL) return BL_ERR_NULL;
  const bl_kernel_fn kernel = bl_active_kernels()[type];
  if (kernel == NULL) return BL_ERR_UNKNOWN_TYPE;
  const int64_t nblocks = n / be;
  float tensor_scale = 0.0f;
  if (type == BL_TYPE_I2_S) memcpy(&tensor_scale, (const uint8_t *)src + nblocks * bb, sizeof tensor_scale);
  return bl_run_threaded(kernel, (const uint8_t *)src, dst, nblocks, bb, be, tensor_scale, threads);
}

BL_API bl_dequantize_f32_fn bl_dequantize_f32_address(void) { return bl_dequantize_f32; }

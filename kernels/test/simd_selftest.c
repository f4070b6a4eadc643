/*
 * Self-test through the public ABI: for every type, every SIMD level the CPU has must give exactly the
 * bits of the scalar level on random blocks (and for 1 and 3 threads). Used where the ggml reference is
 * not available, e.g. the NEON kernels under qemu-aarch64:
 *
 *   aarch64-linux-gnu-gcc -O2 -ffp-contract=off -pthread -Ikernels -o selftest \
 *       kernels/test/simd_selftest.c kernels/[a-z]*.c kernels/infer/*.c -lm
 *   qemu-aarch64 -L /usr/aarch64-linux-gnu ./selftest
 *
 * Exit status 0 when all match. The deno tests compare against ggml itself; this only checks SIMD
 * against scalar.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitload.h"

static uint32_t rng_state = 0x12345678u;
static uint32_t next_random(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

int main(void) {
  const int best = bl_simd_best();
  int failures = 0, checked = 0;
  printf("bitload selftest: abi %d, best level %s\n", bl_abi_version(), bl_simd_name(best));
  for (int type = 0; type < BL_TYPE_COUNT; type++) {
    int64_t be, bb;
    if (bl_type_geometry(type, &be, &bb) != BL_OK) continue;
    const int64_t nblocks = (be == 1 ? 4099 : 37);
    const int64_t n = nblocks * be;
    const int64_t bytes = bl_source_bytes(type, n);
    uint8_t *src = malloc((size_t)bytes);
    float *want = malloc((size_t)n * sizeof(float));
    float *got = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < bytes; i++) src[i] = (uint8_t)next_random();
    bl_set_simd(BL_SIMD_SCALAR);
    if (bl_dequantize_f32(type, src, want, n, 1) != BL_OK) {
      printf("type %d: scalar failed\n", type);
      failures++;
    }
    for (int level = 1; level < BL_SIMD_COUNT; level++) {
      if (bl_set_simd(level) < 0) continue;
      for (int threads = 1; threads <= 3; threads += 2) {
        memset(got, 0xAB, (size_t)n * sizeof(float));
        if (bl_dequantize_f32(type, src, got, n, threads) != BL_OK || memcmp(got, want, (size_t)n * 4) != 0) {
          printf("type %d: %s with %d threads differs from scalar\n", type, bl_simd_name(level), threads);
          failures++;
        }
        checked++;
      }
    }
    free(src);
    free(want);
    free(got);
  }
  bl_set_simd(-1);
  printf("%d comparisons, %d failures\n", checked, failures);
  return failures == 0 ? 0 : 1;
}

/*
 * Internal declarations shared by the kernel files: block layouts, scalar conversions and the kernel
 * table. Block layouts follow ggml-org/llama.cpp v0.5.0 ggml/src/ggml-common.h field for field; the
 * _Static_asserts pin their sizes.
 */
#ifndef BITLOAD_INTERNAL_H
#define BITLOAD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bitload.h"

#define BL_HIDDEN __attribute__((visibility("hidden")))

#define QK_K 256
#define K_SCALE_SIZE 12

typedef uint16_t bl_half; /* IEEE binary16 bits */

typedef struct { bl_half d; uint8_t qs[128 / 8]; } block_q1_0;
_Static_assert(sizeof(block_q1_0) == 18, "q1_0 block size");
typedef struct { bl_half d; uint8_t qs[64 / 4]; } block_q2_0;
_Static_assert(sizeof(block_q2_0) == 18, "q2_0 block size");
typedef struct { bl_half d; uint8_t qs[32 / 2]; } block_q4_0;
_Static_assert(sizeof(block_q4_0) == 18, "q4_0 block size");
typedef struct { bl_half d; bl_half m; uint8_t qs[32 / 2]; } block_q4_1;
_Static_assert(sizeof(block_q4_1) == 20, "q4_1 block size");
typedef struct { uint8_t e; uint8_t qs[32 / 2]; } block_mxfp4;
_Static_assert(sizeof(block_mxfp4) == 17, "mxfp4 block size");
typedef struct { uint8_t d[64 / 16]; uint8_t qs[64 / 2]; } block_nvfp4;
_Static_assert(sizeof(block_nvfp4) == 36, "nvfp4 block size");
typedef struct { bl_half d; uint8_t qh[4]; uint8_t qs[32 / 2]; } block_q5_0;
_Static_assert(sizeof(block_q5_0) == 22, "q5_0 block size");
typedef struct { bl_half d; bl_half m; uint8_t qh[4]; uint8_t qs[32 / 2]; } block_q5_1;
_Static_assert(sizeof(block_q5_1) == 24, "q5_1 block size");
typedef struct { bl_half d; int8_t qs[32]; } block_q8_0;
_Static_assert(sizeof(block_q8_0) == 34, "q8_0 block size");
typedef struct { uint8_t qs[(QK_K - 4 * QK_K / 64) / 5]; uint8_t qh[QK_K / 64]; bl_half d; } block_tq1_0;
_Static_assert(sizeof(block_tq1_0) == 54, "tq1_0 block size");
typedef struct { uint8_t qs[QK_K / 4]; bl_half d; } block_tq2_0;
_Static_assert(sizeof(block_tq2_0) == 66, "tq2_0 block size");
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; bl_half d; bl_half dmin; } block_q2_K;
_Static_assert(sizeof(block_q2_K) == 84, "q2_K block size");
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; bl_half d; } block_q3_K;
_Static_assert(sizeof(block_q3_K) == 110, "q3_K block size");
typedef struct { bl_half d; bl_half dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_K;
_Static_assert(sizeof(block_q4_K) == 144, "q4_K block size");
typedef struct {
  bl_half d;
  bl_half dmin;
  uint8_t scales[K_SCALE_SIZE];
  uint8_t qh[QK_K / 8];
  uint8_t qs[QK_K / 2];
} block_q5_K;
_Static_assert(sizeof(block_q5_K) == 176, "q5_K block size");
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; bl_half d; } block_q6_K;
_Static_assert(sizeof(block_q6_K) == 210, "q6_K block size");
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;
_Static_assert(sizeof(block_q8_K) == 292, "q8_K block size");
typedef struct { bl_half d; uint16_t qs[QK_K / 8]; } block_iq2_xxs;
_Static_assert(sizeof(block_iq2_xxs) == 66, "iq2_xxs block size");
typedef struct { bl_half d; uint16_t qs[QK_K / 8]; uint8_t scales[QK_K / 32]; } block_iq2_xs;
_Static_assert(sizeof(block_iq2_xs) == 74, "iq2_xs block size");
typedef struct { bl_half d; uint8_t qs[QK_K / 4]; uint8_t qh[QK_K / 32]; uint8_t scales[QK_K / 32]; } block_iq2_s;
_Static_assert(sizeof(block_iq2_s) == 82, "iq2_s block size");
typedef struct { bl_half d; uint8_t qs[3 * QK_K / 8]; } block_iq3_xxs;
_Static_assert(sizeof(block_iq3_xxs) == 98, "iq3_xxs block size");
typedef struct {
  bl_half d;
  uint8_t qs[QK_K / 4];
  uint8_t qh[QK_K / 32];
  uint8_t signs[QK_K / 8];
  uint8_t scales[QK_K / 64];
} block_iq3_s;
_Static_assert(sizeof(block_iq3_s) == 110, "iq3_s block size");
typedef struct { bl_half d; uint8_t qs[QK_K / 8]; uint16_t qh[QK_K / 32]; } block_iq1_s;
_Static_assert(sizeof(block_iq1_s) == 50, "iq1_s block size");
typedef struct { uint8_t qs[QK_K / 8]; uint8_t qh[QK_K / 16]; uint8_t scales[QK_K / 32]; } block_iq1_m;
_Static_assert(sizeof(block_iq1_m) == 56, "iq1_m block size");
typedef struct { bl_half d; uint8_t qs[32 / 2]; } block_iq4_nl;
_Static_assert(sizeof(block_iq4_nl) == 18, "iq4_nl block size");
typedef struct { bl_half d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; } block_iq4_xs;
_Static_assert(sizeof(block_iq4_xs) == 136, "iq4_xs block size");

/* BitNet I2_S: 128 elements in 32 bytes; the f32 scale follows the whole tensor. */
#define QK_I2_S 128
#define I2_S_BLOCK_BYTES 32

/*
 * A kernel dequantizes `nblocks` whole blocks from `src` to `dst`. `tensor_scale` is the I2_S per-tensor
 * scale and is ignored by every other type.
 */
typedef void (*bl_kernel_fn)(const uint8_t *src, float *dst, int64_t nblocks, float tensor_scale);

/* f32 from raw bits and back, without aliasing trouble. */
static inline float bl_f32_from_bits(uint32_t w) {
  float f;
  memcpy(&f, &w, sizeof f);
  return f;
}
static inline uint32_t bl_f32_bits(float f) {
  uint32_t w;
  memcpy(&w, &f, sizeof w);
  return w;
}

/*
 * binary16 -> binary32 exactly as ggml's generic ggml_compute_fp16_to_fp32 (ggml/src/ggml-impl.h, after
 * Maratyszcza/FP16): the same bit manipulation and the same two float operations, so NaN payloads and
 * quieting come out the same.
 */
static inline float bl_fp16_to_fp32(bl_half h) {
  const uint32_t w = (uint32_t)h << 16;
  const uint32_t sign = w & UINT32_C(0x80000000);
  const uint32_t two_w = w + w;
  const uint32_t exp_offset = UINT32_C(0xE0) << 23;
  const float exp_scale = 0x1.0p-112f;
  const float normalized_value = bl_f32_from_bits((two_w >> 4) + exp_offset) * exp_scale;
  const uint32_t magic_mask = UINT32_C(126) << 23;
  const float magic_bias = 0.5f;
  const float denormalized_value = bl_f32_from_bits((two_w >> 17) | magic_mask) - magic_bias;
  const uint32_t denormalized_cutoff = UINT32_C(1) << 27;
  const uint32_t result =
      sign | (two_w < denormalized_cutoff ? bl_f32_bits(denormalized_value) : bl_f32_bits(normalized_value));
  return bl_f32_from_bits(result);
}

/* bfloat16 -> binary32: a left shift (ggml_compute_bf16_to_fp32). */
static inline float bl_bf16_to_fp32(uint16_t h) { return bl_f32_from_bits((uint32_t)h << 16); }

/* Reads a little-endian binary16 from possibly unaligned memory. */
static inline bl_half bl_load_half(const void *p) {
  bl_half h;
  memcpy(&h, p, sizeof h);
  return h;
}

/* The scalar reference kernel of every type (NULL where the type has none). */
BL_HIDDEN extern const bl_kernel_fn bl_scalar_kernels[BL_TYPE_COUNT];

/* Fill `table` entries for which a SIMD kernel exists (entries without one are left untouched). */
BL_HIDDEN void bl_fill_avx2_kernels(bl_kernel_fn table[BL_TYPE_COUNT]);
BL_HIDDEN void bl_fill_avx512_kernels(bl_kernel_fn table[BL_TYPE_COUNT]);
BL_HIDDEN void bl_fill_neon_kernels(bl_kernel_fn table[BL_TYPE_COUNT]);

/* Elements and bytes per block; 0 when the type is unknown. */
BL_HIDDEN int bl_geometry(int type, int64_t *block_elements, int64_t *block_bytes);

/* The SIMD level of the calling thread (BL_SIMD_*; detected and capped by BITLOAD_SIMD on first use). */
BL_HIDDEN int bl_thread_level(void);

/* The kernel table of `level` (filled once). */
BL_HIDDEN const bl_kernel_fn *bl_kernels_at(int level);

/*
 * Dequantizes n elements on the calling thread with the kernels of `level`: what the row-dequantizing
 * product (infer/dense.c) calls from its pool tasks. Same checks and statuses as bl_dequantize_f32.
 */
BL_HIDDEN int bl_dequantize_at(int level, int type, const void *src, float *dst, int64_t n);

/* The thread pool (pool.c)                                                                        */

/* A unit of parallel work: items [begin, end) of the job described by ctx. */
typedef void (*bl_task_fn)(void *ctx, int64_t begin, int64_t end);

/* Runs fn over [0, total) in chunks of whole `align` units on the pool (the caller included), with as
 * many threads as bl_set_threads set. Returns when every chunk is done. Called from inside a pool
 * task, it runs fn inline on the calling thread (the pool runs one job at a time). */
BL_HIDDEN void bl_parallel_for(bl_task_fn fn, void *ctx, int64_t total, int64_t align);

/* The same with up to `threads` threads (the pool grows to that many, without changing the count
 * bl_set_threads set): the dequantizers' `threads` argument. */
BL_HIDDEN void bl_parallel_for_n(bl_task_fn fn, void *ctx, int64_t total, int64_t align, int threads);

/* Scratch memory of the calling thread, at least `bytes` long and 64-byte aligned; grows (and keeps)
 * its buffer, so steady-state calls allocate nothing. Slots 0 and 1 are independent. NULL when memory
 * runs out. */
BL_HIDDEN void *bl_scratch(int slot, size_t bytes);

#endif /* BITLOAD_INTERNAL_H */

/*
 * bitload native kernels: the C ABI.
 *
 * Type ids are ggml's (`enum ggml_type` of ggml-org/llama.cpp v0.5.0, ggml/include/ggml.h), with one
 * exception: id 36 means BitNet I2_S as in the microsoft/BitNet fork. Upstream 36 is the dead
 * IQ4_NL_4_4 tombstone, so the two meanings cannot clash.
 *
 * Every dequantizer evaluates exactly the formula of ggml's `dequantize_row_*` (ggml/src/ggml-quants.c)
 * so that the f32 results are bit-identical to ggml's `to_float`, for every SIMD level and every thread
 * count. The SIMD variants compute the same products in the same order; nothing is reassociated and the
 * library is built with -ffp-contract=off so that no multiply-add is fused behind our back.
 *
 * BitNet I2_S (id 36): `src` is the whole tensor. Bytes [0, n/4) hold the 2-bit codes in 128-element
 * blocks of 32 bytes; byte p of a block holds elements p, 32+p, 64+p and 96+p in bits 7:6, 5:4, 3:2
 * and 1:0. Codes 0/1/2 decode to -1/0/+1; code 3 (never written by any quantizer) decodes to 0, as the
 * BitNet fork's `map2bit {-1, 0, +1, 0}` does (ik_llama.cpp would give +2). Bytes [n/4, n/4+4) hold one
 * little-endian f32 scale for the whole tensor; y = (float)value * scale. The 28 padding bytes the
 * file format adds after the scale are neither required nor read.
 */
#ifndef BITLOAD_H
#define BITLOAD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define BL_API __declspec(dllexport)
#else
#define BL_API __attribute__((visibility("default")))
#endif

/** Bumped whenever an exported signature or a status code changes meaning. */
#define BL_ABI_VERSION 2

/* Status codes returned by the entry points (0 is success). */
#define BL_OK 0
#define BL_ERR_UNKNOWN_TYPE (-1) /* type id not known or not dequantizable */
#define BL_ERR_BAD_LENGTH (-2)   /* n negative or not a multiple of the block size */
#define BL_ERR_NULL (-3)         /* a NULL buffer with n > 0 */
#define BL_ERR_BAD_LEVEL (-4)    /* SIMD level unknown or not supported by this CPU */
#define BL_ERR_THREADS (-5)      /* a worker thread could not be started */

/* SIMD levels. */
#define BL_SIMD_SCALAR 0
#define BL_SIMD_AVX2 1
#define BL_SIMD_AVX512 2
#define BL_SIMD_NEON 3
#define BL_SIMD_COUNT 4

/* The type ids bitload knows (ggml ids; 36 = BitNet I2_S). */
enum bl_type {
  BL_TYPE_F32 = 0,
  BL_TYPE_F16 = 1,
  BL_TYPE_Q4_0 = 2,
  BL_TYPE_Q4_1 = 3,
  BL_TYPE_Q5_0 = 6,
  BL_TYPE_Q5_1 = 7,
  BL_TYPE_Q8_0 = 8,
  BL_TYPE_Q2_K = 10,
  BL_TYPE_Q3_K = 11,
  BL_TYPE_Q4_K = 12,
  BL_TYPE_Q5_K = 13,
  BL_TYPE_Q6_K = 14,
  BL_TYPE_Q8_K = 15,
  BL_TYPE_IQ2_XXS = 16,
  BL_TYPE_IQ2_XS = 17,
  BL_TYPE_IQ3_XXS = 18,
  BL_TYPE_IQ1_S = 19,
  BL_TYPE_IQ4_NL = 20,
  BL_TYPE_IQ3_S = 21,
  BL_TYPE_IQ2_S = 22,
  BL_TYPE_IQ4_XS = 23,
  BL_TYPE_I8 = 24,
  BL_TYPE_I16 = 25,
  BL_TYPE_I32 = 26,
  BL_TYPE_I64 = 27,
  BL_TYPE_F64 = 28,
  BL_TYPE_IQ1_M = 29,
  BL_TYPE_BF16 = 30,
  BL_TYPE_TQ1_0 = 34,
  BL_TYPE_TQ2_0 = 35,
  BL_TYPE_I2_S = 36,
  BL_TYPE_MXFP4 = 39,
  BL_TYPE_NVFP4 = 40,
  BL_TYPE_Q1_0 = 41,
  BL_TYPE_Q2_0 = 42,
  BL_TYPE_COUNT = 43
};

/** Returns BL_ABI_VERSION of the compiled library. */
BL_API int bl_abi_version(void);

/** The SIMD level now in use (BL_SIMD_*). */
BL_API int bl_simd_level(void);

/** The best level this CPU supports, after the BITLOAD_SIMD cap from the environment. */
BL_API int bl_simd_best(void);

/** "scalar", "avx2", "avx512", "neon", or "unknown" for another value. Static storage. */
BL_API const char *bl_simd_name(int level);

/**
 * Selects a SIMD level for all later calls (process-wide; tests use it to run every path).
 * level -1 restores the best level. Returns the level now in use, or BL_ERR_BAD_LEVEL when the CPU (or
 * the BITLOAD_SIMD cap) does not allow it.
 */
BL_API int bl_set_simd(int level);

/**
 * Block geometry of a type: elements per block and bytes per block. For I2_S: 128 and 32 (the scale is
 * extra, see bl_source_bytes). Returns 0, or BL_ERR_UNKNOWN_TYPE.
 */
BL_API int bl_type_geometry(int type, int64_t *block_elements, int64_t *block_bytes);

/**
 * Bytes bl_dequantize_f32 reads for n elements (for I2_S: n/4 codes plus the 4-byte scale).
 * Returns the count, or a negative status.
 */
BL_API int64_t bl_source_bytes(int type, int64_t n);

/**
 * Dequantizes n elements of `type` from `src` into `dst` (n floats). n must be a multiple of the block
 * size. `threads` <= 1 runs on the calling thread; more split the tensor by whole blocks (the results
 * are identical for any thread count). Returns 0 or a negative status.
 */
BL_API int bl_dequantize_f32(int type, const void *src, float *dst, int64_t n, int threads);

/** The signature of bl_dequantize_f32, for native code handed its address. */
typedef int (*bl_dequantize_f32_fn)(int type, const void *src, float *dst, int64_t n, int threads);

/**
 * The address of bl_dequantize_f32, so that other native libraries (the inference kernels) can
 * dequantize rows on their own threads without linking against this one.
 */
BL_API bl_dequantize_f32_fn bl_dequantize_f32_address(void);

#ifdef __cplusplus
}
#endif

#endif /* BITLOAD_H */

/*
 * bitload native kernels: the C ABI, the one source of truth for every exported function of the
 * library (dequantizers, inference kernels, thread pool, SIMD levels). ffi/symbols.ts mirrors it and
 * tests/native_abi_test.ts checks that every parameter and result type agrees.
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
#define BL_ABI_VERSION 6

/* Status codes returned by the entry points (0 is success). */
#define BL_OK 0
#define BL_ERR_UNKNOWN_TYPE (-1) /* type id not known or not dequantizable */
#define BL_ERR_BAD_LENGTH (-2)   /* n negative or not a multiple of the block size */
#define BL_ERR_NULL (-3)         /* a NULL buffer with n > 0 */
#define BL_ERR_BAD_LEVEL (-4)    /* SIMD level unknown or not supported by this CPU */
#define BL_ERR_THREADS (-5)      /* a worker thread could not be started (no longer returned) */
#define BL_ERR_NO_MEMORY (-6)    /* scratch memory could not be allocated */

/*
 * SIMD levels, one enum for every kernel: avx2 = AVX2 + FMA + F16C; avx512 = that plus AVX-512
 * F/BW/VL/VNNI. The level is per calling thread (pool workers use the level of the thread that gave
 * them the job). BITLOAD_SIMD=scalar|avx2|avx512|neon in the environment caps it (BITLOAD_KERNEL is
 * a deprecated alias, read when BITLOAD_SIMD is unset).
 */
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

/** The SIMD level the calling thread now uses (BL_SIMD_*). */
BL_API int bl_simd_level(void);

/** The best level this CPU supports, after the BITLOAD_SIMD cap from the environment. */
BL_API int bl_simd_best(void);

/** "scalar", "avx2", "avx512", "neon", or "unknown" for another value. Static storage. */
BL_API const char *bl_simd_name(int level);

/**
 * Selects a SIMD level for later calls from the calling thread (tests use it to run every path).
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
 * are identical for any thread count; more than one thread runs on the library's pool). Returns 0 or a
 * negative status.
 */
BL_API int bl_dequantize_f32(int type, const void *src, float *dst, int64_t n, int threads);

/*
 * bitnet.cpp's lookup-table formats TL1 (tl = 1, id 38) and TL2 (tl = 2, id 39) of an m x k weight
 * (ggml ne[1] x ne[0]) tiled by (BM, BK, bm) (kernels/tl.c, src/quant/tl.ts). `src` is the whole
 * tensor (the fork's ggml_nbytes: codes, zero padding, the f32 scale in a 32-byte slot). Writes the
 * I2_S transcode (m*k/4 + 32 bytes: the same ternary values and scale) to `i2s` and/or the f32
 * values (m*k, each (float)w * scale as I2_S decodes) to `f32`; either may be NULL, not both.
 * Returns BL_OK, BL_ERR_NULL, BL_ERR_BAD_LENGTH (a configuration or length that does not fit),
 * BL_ERR_NO_MEMORY, or 1 + the index of the first BM-row strip holding a code the converter never
 * writes (the caller re-decodes in TypeScript for the exact byte). Strips of BM rows run on the pool
 * with the threads bl_set_threads set; the result does not depend on the count.
 */
BL_API int64_t bl_tl_decode(int32_t tl, const uint8_t *src, int64_t src_len, int64_t m, int64_t k,
                            int32_t BM, int32_t BK, int32_t bm, uint8_t *i2s, float *f32);

/* ------------------------------------------------------------------------------------------ */
/* Thread pool and levels of the inference kernels                                             */

/**
 * Sets the threads of the inference kernels (1..64, the caller included); returns the count in use.
 * Process-wide. Results do not depend on it.
 */
BL_API int bl_set_threads(int n);

/* ------------------------------------------------------------------------------------------ */
/* Inference kernels (kernels/infer/). Counts are int64_t; y[t * rows + r] = W[r, :] . x_t.      */
/* The products that return int32_t give 0, BL_ERR_NO_MEMORY, or a dequantizer status.          */

/**
 * Quantizes `n` floats (n a multiple of 32) to int8 with one absmax scale, writes the sum of each
 * 32-group of codes to `gsum[n/32]` and returns the scale 127 / max(max|x|, 1e-5) (codes are
 * x * scale; integer sums are divided by it), bitnet.cpp's arithmetic.
 */
BL_API float bl_quantize_act(const float *x, int64_t n, int8_t *q, int32_t *gsum);

/** Quantizes `rows` rows of `width` (see bl_quantize_act); scales go to `factor[rows]`. */
BL_API void bl_quantize_rows(const float *x, int64_t rows, int64_t width, int8_t *q, int32_t *gsum,
                             float *factor);

/** I2_S weights (cols % 128 == 0) times int8 activations; `wscale` is the tensor's f32 scale. */
BL_API int32_t bl_matmul_i2s(const uint8_t *w, int64_t rows, int64_t cols, float wscale, const int8_t *q,
                             const int32_t *gsum, const float *factor, int64_t ntok, float *y);

/**
 * `count` (1..3) I2_S products of the same activations (each matrix `cols` wide) in one pool job:
 * y_i = W_i x as bl_matmul_i2s would give, bit for bit (decode's q/k/v and gate/up: one barrier
 * instead of several). Unused matrices are ignored. Returns 0, BL_ERR_BAD_LENGTH or BL_ERR_NO_MEMORY.
 */
BL_API int32_t bl_matmul_i2s_fused(int32_t count, const uint8_t *w0, int64_t rows0, float wscale0,
                                   float *y0, const uint8_t *w1, int64_t rows1, float wscale1,
                                   float *y1, const uint8_t *w2, int64_t rows2, float wscale2,
                                   float *y2, int64_t cols, const int8_t *q, const int32_t *gsum,
                                   const float *factor, int64_t ntok);

/** TQ2_0 weights (cols % 256 == 0) times int8 activations. */
BL_API int32_t bl_matmul_tq2(const uint8_t *w, int64_t rows, int64_t cols, const int8_t *q,
                             const int32_t *gsum, const float *factor, int64_t ntok, float *y);

/** TQ1_0 weights (cols % 256 == 0) times int8 activations. */
BL_API int32_t bl_matmul_tq1(const uint8_t *w, int64_t rows, int64_t cols, const int8_t *q,
                             const int32_t *gsum, const float *factor, int64_t ntok, float *y);

/** F16 weights times f32 activations. */
BL_API void bl_matmul_f16(const uint16_t *w, int64_t rows, int64_t cols, const float *x, int64_t ntok,
                          float *y);

/**
 * F16 weights times f32 activations in ggml's one-token arithmetic: activations rounded to f16, then
 * ggml_vec_dot_f16 per row. Returns 0, or -1 when scratch memory cannot be allocated.
 */
BL_API int32_t bl_matmul_f16_decode(const uint16_t *w, int64_t rows, int64_t cols, const float *x,
                                    int64_t ntok, float *y);

/** F32 weights times f32 activations. */
BL_API void bl_matmul_f32(const float *w, int64_t rows, int64_t cols, const float *x, int64_t ntok,
                          float *y);

/** Requantizes f32 (type 0) or f16 (type 1) rows to int8 with one absmax scale per row. */
BL_API void bl_quantize_weight_i8(const void *src, int32_t type, int64_t rows, int64_t cols, int8_t *dst,
                                  float *scale, int32_t *wsum);

/** int8 weights (from bl_quantize_weight_i8) times int8 activations. */
BL_API void bl_matmul_i8(const int8_t *w, const float *wscale, const int32_t *wsum, int64_t rows,
                         int64_t cols, const int8_t *q, const float *factor, int64_t ntok, float *y);

/**
 * Weights of any dequantizable `type` (`row_bytes` per row of `cols` values) times f32 activations:
 * rows are dequantized by bl_dequantize_f32's kernels into per-thread scratch, then multiplied like
 * F32 rows.
 */
BL_API int32_t bl_matmul_dequant(int32_t type, const uint8_t *w, int64_t rows, int64_t cols,
                                 int64_t row_bytes, const float *x, int64_t ntok, float *y);

/** Quantizes `rows` rows of `width` (width % 32 == 0) to Q8_0 blocks, like ggml's x86 quantize_row_q8_0. */
BL_API void bl_quantize_rows_q8_0(const float *x, int64_t rows, int64_t width, uint8_t *out);

/** Quantizes `rows` rows of `width` (width % 32 == 0) to Q8_1 blocks, like ggml's x86 quantize_row_q8_1. */
BL_API void bl_quantize_rows_q8_1(const float *x, int64_t rows, int64_t width, uint8_t *out);

/** Quantizes `rows` rows of `width` (width % 256 == 0) to Q8_K blocks, like ggml's quantize_row_q8_K. */
BL_API void bl_quantize_rows_q8_k(const float *x, int64_t rows, int64_t width, uint8_t *out);

/* Q8_0 / Q4_0 / Q5_0 / IQ4_NL weights (cols % 32 == 0) times Q8_0 activations (infer/q8_0.c). */
BL_API int32_t bl_matmul_q8_0(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x, int64_t ntok,
                              float *y);
BL_API int32_t bl_matmul_q4_0(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x, int64_t ntok,
                              float *y);
BL_API int32_t bl_matmul_q5_0(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x, int64_t ntok,
                              float *y);
BL_API int32_t bl_matmul_iq4_nl(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x,
                                int64_t ntok, float *y);

/* Q4_1 / Q5_1 weights (cols % 32 == 0) times Q8_1 activations (infer/q8_1.c). */
BL_API void bl_matmul_q4_1(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x, int64_t ntok,
                           float *y);
BL_API void bl_matmul_q5_1(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x, int64_t ntok,
                           float *y);

/* IQ4_XS and Q2_K..Q6_K weights (cols % 256 == 0) times Q8_K activations (infer/kquants.c). */
BL_API void bl_matmul_iq4_xs(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x, int64_t ntok,
                             float *y);
BL_API void bl_matmul_q2_k(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x, int64_t ntok,
                           float *y);
BL_API void bl_matmul_q3_k(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x, int64_t ntok,
                           float *y);
BL_API void bl_matmul_q4_k(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x, int64_t ntok,
                           float *y);
BL_API void bl_matmul_q5_k(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x, int64_t ntok,
                           float *y);
BL_API void bl_matmul_q6_k(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x, int64_t ntok,
                           float *y);

/** out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w for `rows` rows of `width` (out may alias x). */
BL_API void bl_rms_norm(const float *x, const float *w, int64_t rows, int64_t width, double eps, float *out);

/**
 * Rotates `ntok` rows of `heads` heads of `head_dim` in place: pairs (i, i + half) when `neox`, else
 * (2i, 2i + 1), with token t's tables cos[t * half + i], sin[t * half + i]; ggml's arithmetic:
 * fmaf(x0, c, -(x1 * s)) and fmaf(x0, s, x1 * c).
 */
BL_API void bl_rope(float *v, int64_t ntok, int32_t heads, int32_t head_dim, int32_t half, const float *cos_t,
                    const float *sin_t, int32_t neox);

/**
 * ggml_rope_cache_init's tables for positions pos0 .. pos0 + ntok - 1: theta = position (f32), times
 * `theta_scale` in f32 per pair; cos_t[t * half + i] = cosf(theta), sin_t[...] = sinf(theta).
 */
BL_API void bl_rope_cache(int64_t pos0, int64_t ntok, int32_t half, float theta_scale, float *cos_t,
                          float *sin_t);

/** The C library's powf (ggml's RoPE theta scale powf(base, -2 / n_rot)). */
BL_API float bl_powf(float base, float exponent);

/** x[i] += o[i] for i < n. */
BL_API void bl_add(float *x, const float *o, int64_t n);

/** `kind` 0: g = silu(g) * u (SwiGLU); 1: g = relu(g)^2 * u. */
BL_API void bl_ffn_act(float *g, const float *u, int64_t n, int32_t kind);

/**
 * Causal attention for `ntok` query tokens at positions pos0..pos0+ntok-1 (their K/V already in the
 * cache); `scratch` holds ntok * n_head * (pos0 + ntok) floats.
 */
BL_API void bl_attention_batch(const float *q, const float *k, const float *v, int32_t n_head, int32_t n_kv,
                               int32_t head_dim, int32_t pos0, int32_t ntok, float scale, float *out,
                               float *scratch);

/** bl_attention_batch over an f16 KV cache (`k`, `v` hold f16 bits). */
BL_API void bl_attention_batch_f16(const float *q, const uint16_t *k, const uint16_t *v, int32_t n_head,
                                   int32_t n_kv, int32_t head_dim, int32_t pos0, int32_t ntok, float scale,
                                   float *out, float *scratch);

/** Single-query attention; `scratch` holds n_head * npos floats. */
BL_API void bl_attention(const float *q, const float *k, const float *v, int32_t n_head, int32_t n_kv,
                         int32_t head_dim, int32_t npos, float scale, float *out, float *scratch);

/**
 * One query token in ggml's one-token arithmetic (llama.cpp's and bitnet.cpp's decode steps): V * p by
 * ggml_vec_dot_f16 with p rounded to f16 for an f16 cache. `k`, `v` are f16 bits when `kv_f16`, else f32.
 */
BL_API void bl_attention_decode(const float *q, const void *k, const void *v, int32_t n_head, int32_t n_kv,
                                int32_t head_dim, int32_t npos, float scale, float *out, float *scratch,
                                int32_t kv_f16);

/*
 * The fault guard (fault_guard.c): a SIGBUS inside a guarded range (a mapped model file that shrank)
 * maps a zero page over the faulting page and is counted, instead of killing the process. Addresses
 * are passed as integers. Unavailable on Windows (install returns -1).
 */

/** Installs the SIGBUS handler (once; chains to the previous one for other faults); 0 or -1. */
BL_API int32_t bl_fault_guard_install(void);

/** Guards [start, start + length); returns a slot, or -1 when none is free. */
BL_API int32_t bl_fault_guard_add(int64_t start, int64_t length);

/** Stops guarding a slot (before the range is unmapped). */
BL_API void bl_fault_guard_remove(int32_t slot);

/** Faults caught in the slot's range since it was added. */
BL_API int64_t bl_fault_guard_events(int32_t slot);

/*
 * Machine probes (probe.c) for the decode roofline: rates, 0 when an argument is out of range or the
 * CPU lacks the instruction.
 */

/** Fastest of `reps` streaming reads of `bytes` of `buf` on `threads` pool threads, in bytes/s. */
BL_API double bl_probe_read_bandwidth(const uint8_t *buf, int64_t bytes, int32_t threads, int32_t reps);

/**
 * Multiply-accumulates per second on the calling thread: kind 0 vpmaddubsw+vpaddw ymm, 1 vpdpbusd
 * ymm, 2 vpdpbusd zmm (int8 products), 3 vfmadd ymm (f32 FMAs); `iters` loop iterations of 12 chains.
 */
BL_API double bl_probe_mac_rate(int32_t kind, int64_t iters);

/** Weight bytes per second of bl_matmul_i2s on one token over a cache-resident rows x cols matrix. */
BL_API double bl_probe_i2s_rate(int64_t rows, int64_t cols, int32_t reps);

/*
 * The GGUF header parser's string-array scan (gguf_strings.c; the TypeScript twin is readStringArray in
 * src/gguf/parse.ts).
 */

/** Flags of bl_gguf_scan_strings. */
enum { BL_GGUF_SCAN_BIG_ENDIAN = 1, BL_GGUF_SCAN_F64_BOUNDS = 2 };

/**
 * Scans strings first..n-1 of a GGUF string array starting at buf[pos]: reads each u64 length, checks it
 * is at most max_len and that the bytes are well-formed UTF-8, and stores where the string starts in
 * bounds[i] (uint32_t, or double with BL_GGUF_SCAN_F64_BOUNDS). Stops before the first string whose bytes
 * are not all in buf[0, buf_len) or that fails a check. Returns the index it stopped at (n when all were
 * scanned); *end_pos is the position after the last string scanned.
 */
BL_API int64_t bl_gguf_scan_strings(const uint8_t *buf, int64_t buf_len, int64_t pos, int64_t first,
                                    int64_t n, int32_t flags, int64_t max_len, void *bounds,
                                    int64_t *end_pos);

#ifdef __cplusplus
}
#endif

#endif /* BITLOAD_H */

/*
 * bitload CUDA kernels: the C ABI of libbitload_cuda.
 *
 * An optional library, built with nvcc only where nvcc exists (scripts/build_cuda.ts) and opened only
 * where a CUDA driver (libcuda.so.1) and a device exist (ffi/cuda.ts). cudart is linked statically, so
 * the library's only run-time dependency is the driver, which cudart dlopens lazily: without a driver
 * every entry point returns a status (cudaErrorInsufficientDriver = 35, ...), never aborts.
 *
 * Status convention: 0 is success; negative values are bitload's own argument errors (BLC_ERR_*);
 * positive values are cudaError_t codes. blc_error_string describes both.
 *
 * Device pointers cross the ABI as uint64_t. Type ids are ggml's, with 36 = BitNet I2_S (see
 * kernels/bitload.h for the I2_S layout: n/4 code bytes, then one little-endian f32 scale).
 *
 * Exactness: every dequantizer evaluates the formula of kernels/dequant_ref.c in the same order, with
 * round-to-nearest intrinsics (__fmul_rn, __fsub_rn) so nvcc cannot fuse a multiply-add, and with x86's
 * NaN rules re-applied (an input NaN is quieted and propagated, an invalid operation gives 0xffc00000),
 * so that the f32 output is bit-identical to the CPU kernels on x86-64. f16 output is the f32 value
 * rounded to nearest-even binary16 (NaN: sign | 0x7e00 | the top payload bits, as F16C's vcvtps2ph);
 * F16 input to f16 output is a plain copy.
 */
#ifndef BITLOAD_CUDA_H
#define BITLOAD_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BLC_API __attribute__((visibility("default")))

/** Bumped whenever an exported signature or a status code changes meaning. */
#define BLC_ABI_VERSION 1

#define BLC_OK 0
#define BLC_ERR_UNKNOWN_TYPE (-1) /* type id not supported by the CUDA kernels */
#define BLC_ERR_BAD_LENGTH (-2)   /* n negative or not a multiple of the block size */
#define BLC_ERR_NULL (-3)         /* a NULL buffer with n > 0 */
#define BLC_ERR_BAD_ARG (-4)      /* another argument out of range */
#define BLC_ERR_SHORT_BUFFER (-5) /* a buffer smaller than the operation needs */

/* Output element kinds. */
#define BLC_OUT_F32 0
#define BLC_OUT_F16 1

/* H2D transfer modes of blc_upload. */
#define BLC_COPY_PAGEABLE 0   /* cudaMemcpy from the caller's (pageable) memory */
#define BLC_COPY_STAGED 1     /* memcpy into cudaHostAlloc'ed staging buffers, async copies on streams */
#define BLC_COPY_REGISTERED 2 /* cudaHostRegister the caller's buffer, async copies on streams */

/** Returns BLC_ABI_VERSION. Needs no driver. */
BLC_API int blc_abi_version(void);

/** cudaGetDeviceCount into *count (0 on failure). Returns the status; never crashes without a driver. */
BLC_API int blc_device_count(int *count);

/** cudaDriverGetVersion / cudaRuntimeGetVersion (0 when unavailable). */
BLC_API int blc_driver_version(void);
BLC_API int blc_runtime_version(void);

/** A static description of a status (bitload's or cudaError_t's). */
BLC_API const char *blc_error_string(int status);

/**
 * Device inventory. name: NUL-terminated, truncated to name_len. total/free: cudaMemGetInfo bytes.
 * ints (at least 8 entries): [0] compute major, [1] compute minor, [2] multiprocessors,
 * [3] memory bus width in bits, [4] memory clock in kHz (0 when the driver does not say),
 * [5] PCI bus id, [6] PCI device id, [7] PCI domain id.
 */
BLC_API int blc_device_info(int device, char *name, int name_len, int64_t *total_bytes, int64_t *free_bytes,
                            int32_t *ints);

/** cudaSetDevice for the calling thread. */
BLC_API int blc_set_device(int device);
BLC_API int blc_synchronize(void);

/** Device memory. */
BLC_API int blc_malloc(int64_t bytes, uint64_t *device_ptr);
BLC_API int blc_free(uint64_t device_ptr);
BLC_API int blc_memset(uint64_t device_ptr, int value, int64_t bytes);

/** Pinned host memory: cudaHostAlloc / cudaFreeHost, and cudaHostRegister / cudaHostUnregister. */
BLC_API int blc_host_alloc(int64_t bytes, void **host_ptr);
BLC_API int blc_host_free(void *host_ptr);
BLC_API int blc_host_register(void *host_ptr, int64_t bytes);
BLC_API int blc_host_unregister(void *host_ptr);

/** Synchronous copies (pageable or pinned host memory). */
BLC_API int blc_memcpy_h2d(uint64_t device_dst, const void *host_src, int64_t bytes);
BLC_API int blc_memcpy_d2h(void *host_dst, uint64_t device_src, int64_t bytes);

/** Geometry of a type the CUDA kernels support: elements and bytes per block (I2_S: 128, 32). */
BLC_API int blc_type_geometry(int type, int64_t *block_elements, int64_t *block_bytes);

/** Source bytes for n elements (I2_S: n/4 + 4), or a negative status. */
BLC_API int64_t blc_source_bytes(int type, int64_t n);

/**
 * Dequantizes n elements of `type` from device memory `src` into device memory `dst` (f32 or f16 by
 * out_kind), on the default stream, and waits. Returns the status.
 */
BLC_API int blc_dequantize(int type, uint64_t src, uint64_t dst, int64_t n, int out_kind);

/**
 * The same block decoders compiled for the host and run on the CPU: lets machines without a GPU check
 * the kernels' arithmetic bit for bit. canonical_nan != 0 makes every float operation return the GPU's
 * canonical NaN (0x7fffffff) instead of x86's, so the NaN fix-up that the device relies on is exercised
 * too. Not thread-safe in that mode (a process-wide flag).
 */
BLC_API int blc_dequantize_host(int type, const void *src, void *dst, int64_t n, int out_kind, int canonical_nan);

/**
 * Copies `bytes` from host to device memory in `chunk_bytes` pieces with the given BLC_COPY_* mode on
 * `streams` streams (1..8). *seconds receives the wall time measured with CUDA events (whole transfer,
 * pinning and staging copies included; cudaHostRegister time excluded and returned in *setup_seconds).
 */
BLC_API int blc_upload(uint64_t device_dst, const void *host_src, int64_t bytes, int64_t chunk_bytes, int mode,
                       int streams, double *seconds, double *setup_seconds);

/**
 * Uploads a quantized tensor (src_bytes = blc_source_bytes(type, n) of host memory) and dequantizes it
 * into device memory `dst` chunk by chunk: each chunk's copy on one stream overlaps the previous chunk's
 * dequant on another. Chunks are whole blocks. mode is BLC_COPY_STAGED or BLC_COPY_REGISTERED (PAGEABLE
 * is treated as STAGED). *seconds: wall time of the whole operation (CUDA events).
 */
BLC_API int blc_upload_dequantize(int type, const void *host_src, int64_t n, int out_kind, uint64_t dst,
                                  int64_t chunk_bytes, int mode, int streams, double *seconds);

/**
 * Ternary matrix-vector product for BitNet I2_S weights with int8 activations (the BitNet scheme):
 * `w` holds rows x cols I2_S elements (row r is elements [r*cols, (r+1)*cols), cols a multiple of 128)
 * followed by the f32 tensor scale; `x` holds cols int8 activations with x ~= q * x_scale. Then
 *   y[r] = ((float)isum_r * x_scale) * w_scale,   isum_r = sum_k map2bit(code[r][k]) * q[k]
 * The integer sum is exact in any order (|isum| < 2^24 needs cols < 132,104), so the result does not
 * depend on the reduction order; the two products are rounded to nearest (no FMA), x86 NaN rules.
 * Device pointers; waits for completion.
 */
BLC_API int blc_i2s_matvec(uint64_t w, int64_t rows, int64_t cols, uint64_t x, float x_scale, uint64_t y);

/** The same product on the CPU (host pointers), for checking the formula without a GPU. */
BLC_API int blc_i2s_matvec_host(const void *w, int64_t rows, int64_t cols, const int8_t *x, float x_scale,
                                float *y);

/** Device-to-device bandwidth probe: copies `bytes` `iterations` times; *seconds is the total. */
BLC_API int blc_d2d_bandwidth(uint64_t dst, uint64_t src, int64_t bytes, int iterations, double *seconds);

#ifdef __cplusplus
}
#endif

#endif /* BITLOAD_CUDA_H */

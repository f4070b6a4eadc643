/*
 * libbitload_cuda: dequant kernels, device inventory, host<->device copies and a chunked upload that
 * overlaps copies with dequantization. See bitload_cuda.h for the ABI and dequant_blocks.cuh for the
 * arithmetic. Built by scripts/build_cuda.ts (ffi/cuda_build.ts) with static cudart.
 */
#include <cuda_runtime.h>

#include <chrono>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bitload_cuda.h"
#include "dequant_blocks.cuh"

#define BLC_MAX_STREAMS 8

/* ---- status ---- */

extern "C" BLC_API int blc_abi_version(void) { return BLC_ABI_VERSION; }

extern "C" BLC_API const char *blc_error_string(int status) {
  switch (status) {
    case BLC_OK: return "no error";
    case BLC_ERR_UNKNOWN_TYPE: return "type not supported by the CUDA kernels";
    case BLC_ERR_BAD_LENGTH: return "element count negative or not a multiple of the block size";
    case BLC_ERR_NULL: return "a NULL buffer";
    case BLC_ERR_BAD_ARG: return "an argument is out of range";
    case BLC_ERR_SHORT_BUFFER: return "a buffer is too small";
    default: break;
  }
  if (status > 0) return cudaGetErrorString((cudaError_t)status);
  return "unknown bitload CUDA status";
}

extern "C" BLC_API int blc_device_count(int *count) {
  if (count == NULL) return BLC_ERR_NULL;
  int c = 0;
  const cudaError_t e = cudaGetDeviceCount(&c);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    *count = 0;
    return (int)e;
  }
  *count = c;
  return BLC_OK;
}

extern "C" BLC_API int blc_driver_version(void) {
  int v = 0;
  if (cudaDriverGetVersion(&v) != cudaSuccess) return 0;
  return v;
}

extern "C" BLC_API int blc_runtime_version(void) {
  int v = 0;
  if (cudaRuntimeGetVersion(&v) != cudaSuccess) return 0;
  return v;
}

extern "C" BLC_API int blc_device_info(int device, char *name, int name_len, int64_t *total_bytes,
                                       int64_t *free_bytes, int32_t *ints) {
  if (name == NULL || total_bytes == NULL || free_bytes == NULL || ints == NULL) return BLC_ERR_NULL;
  if (name_len < 1) return BLC_ERR_BAD_ARG;
  cudaDeviceProp prop;
  cudaError_t e = cudaGetDeviceProperties(&prop, device);
  if (e != cudaSuccess) return (int)e;
  snprintf(name, (size_t)name_len, "%s", prop.name);
  int previous = 0;
  e = cudaGetDevice(&previous);
  if (e != cudaSuccess) return (int)e;
  e = cudaSetDevice(device);
  if (e != cudaSuccess) return (int)e;
  size_t free_b = 0, total_b = 0;
  e = cudaMemGetInfo(&free_b, &total_b);
  (void)cudaSetDevice(previous);
  if (e != cudaSuccess) return (int)e;
  *total_bytes = (int64_t)total_b;
  *free_bytes = (int64_t)free_b;
  int clock = 0;
  if (cudaDeviceGetAttribute(&clock, cudaDevAttrMemoryClockRate, device) != cudaSuccess) {
    (void)cudaGetLastError();
    clock = 0;
  }
  ints[0] = prop.major;
  ints[1] = prop.minor;
  ints[2] = prop.multiProcessorCount;
  ints[3] = prop.memoryBusWidth;
  ints[4] = clock;
  ints[5] = prop.pciBusID;
  ints[6] = prop.pciDeviceID;
  ints[7] = prop.pciDomainID;
  return BLC_OK;
}

extern "C" BLC_API int blc_set_device(int device) { return (int)cudaSetDevice(device); }

extern "C" BLC_API int blc_synchronize(void) { return (int)cudaDeviceSynchronize(); }

/* ---- memory ---- */

extern "C" BLC_API int blc_malloc(int64_t bytes, uint64_t *device_ptr) {
  if (device_ptr == NULL) return BLC_ERR_NULL;
  if (bytes < 0) return BLC_ERR_BAD_ARG;
  void *p = NULL;
  const cudaError_t e = cudaMalloc(&p, (size_t)(bytes > 0 ? bytes : 1));
  *device_ptr = (uint64_t)(uintptr_t)p;
  return (int)e;
}

extern "C" BLC_API int blc_free(uint64_t device_ptr) { return (int)cudaFree((void *)(uintptr_t)device_ptr); }

extern "C" BLC_API int blc_memset(uint64_t device_ptr, int value, int64_t bytes) {
  if (bytes < 0) return BLC_ERR_BAD_ARG;
  return (int)cudaMemset((void *)(uintptr_t)device_ptr, value, (size_t)bytes);
}

extern "C" BLC_API int blc_host_alloc(int64_t bytes, void **host_ptr) {
  if (host_ptr == NULL) return BLC_ERR_NULL;
  if (bytes < 0) return BLC_ERR_BAD_ARG;
  *host_ptr = NULL;
  return (int)cudaHostAlloc(host_ptr, (size_t)(bytes > 0 ? bytes : 1), cudaHostAllocDefault);
}

extern "C" BLC_API int blc_host_free(void *host_ptr) { return (int)cudaFreeHost(host_ptr); }

/* Registers read-only where the driver allows it (a read-only mmap view), else read-write. */
static cudaError_t register_host(void *p, size_t bytes) {
  cudaError_t e = cudaHostRegister(p, bytes, cudaHostRegisterReadOnly);
  if (e == cudaSuccess) return e;
  (void)cudaGetLastError();
  e = cudaHostRegister(p, bytes, cudaHostRegisterDefault);
  if (e != cudaSuccess) (void)cudaGetLastError();
  return e;
}

extern "C" BLC_API int blc_host_register(void *host_ptr, int64_t bytes) {
  if (host_ptr == NULL) return BLC_ERR_NULL;
  if (bytes <= 0) return BLC_ERR_BAD_ARG;
  return (int)register_host(host_ptr, (size_t)bytes);
}

extern "C" BLC_API int blc_host_unregister(void *host_ptr) {
  if (host_ptr == NULL) return BLC_ERR_NULL;
  return (int)cudaHostUnregister(host_ptr);
}

extern "C" BLC_API int blc_memcpy_h2d(uint64_t device_dst, const void *host_src, int64_t bytes) {
  if (bytes < 0) return BLC_ERR_BAD_ARG;
  if (bytes == 0) return BLC_OK;
  if (host_src == NULL || device_dst == 0) return BLC_ERR_NULL;
  return (int)cudaMemcpy((void *)(uintptr_t)device_dst, host_src, (size_t)bytes, cudaMemcpyHostToDevice);
}

extern "C" BLC_API int blc_memcpy_d2h(void *host_dst, uint64_t device_src, int64_t bytes) {
  if (bytes < 0) return BLC_ERR_BAD_ARG;
  if (bytes == 0) return BLC_OK;
  if (host_dst == NULL || device_src == 0) return BLC_ERR_NULL;
  return (int)cudaMemcpy(host_dst, (const void *)(uintptr_t)device_src, (size_t)bytes, cudaMemcpyDeviceToHost);
}

/* ---- geometry ---- */

extern "C" BLC_API int blc_type_geometry(int type, int64_t *block_elements, int64_t *block_bytes) {
  int e = 0, b = 0;
  if (!blc_geometry(type, &e, &b)) return BLC_ERR_UNKNOWN_TYPE;
  if (block_elements) *block_elements = e;
  if (block_bytes) *block_bytes = b;
  return BLC_OK;
}

extern "C" BLC_API int64_t blc_source_bytes(int type, int64_t n) {
  int e = 0, b = 0;
  if (!blc_geometry(type, &e, &b)) return BLC_ERR_UNKNOWN_TYPE;
  if (n < 0 || n % e != 0) return BLC_ERR_BAD_LENGTH;
  return (n / e) * b + (type == BLC_T_I2_S ? 4 : 0);
}

/* ---- kernels ---- */

/*
 * One thread per output element (grid-stride). Reads of a block's header are repeated by its threads
 * and served by L1; the output writes are coalesced. `scale_at` points at the I2_S scale (device).
 */
template <int T, int OUT>
__global__ void blc_dequant_kernel(const uint8_t *__restrict__ src, void *__restrict__ dst, int64_t n,
                                   const uint8_t *__restrict__ scale_at) {
  int elements = 1, bytes = 1;
  blc_geometry(T, &elements, &bytes);
  const float scale = (T == BLC_T_I2_S) ? blc_float(blc_u32(scale_at)) : 0.0f;
  const int64_t stride = (int64_t)blockDim.x * gridDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t blk = i / elements;
    const int j = (int)(i - blk * elements);
    const uint8_t *b = src + blk * bytes;
    if (OUT == BLC_OUT_F16 && T == BLC_T_F16) {
      ((uint16_t *)dst)[i] = blc_u16(b); /* F16 -> f16 is a copy, NaN payloads untouched */
      continue;
    }
    const float v = blc_decode<T>(b, j, scale);
    if (OUT == BLC_OUT_F32) {
      ((float *)dst)[i] = v;
    } else {
      ((uint16_t *)dst)[i] = blc_f2h(v);
    }
  }
}

template <int T>
static cudaError_t launch_typed(const uint8_t *src, void *dst, int64_t n, int out_kind, const uint8_t *scale_at,
                                cudaStream_t stream) {
  const int threads = 256;
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks > 65536 * 8) blocks = 65536 * 8;
  if (blocks < 1) blocks = 1;
  if (out_kind == BLC_OUT_F32) {
    blc_dequant_kernel<T, BLC_OUT_F32><<<(unsigned)blocks, threads, 0, stream>>>(src, dst, n, scale_at);
  } else {
    blc_dequant_kernel<T, BLC_OUT_F16><<<(unsigned)blocks, threads, 0, stream>>>(src, dst, n, scale_at);
  }
  return cudaGetLastError();
}

/* Launches the dequant of n elements (asynchronously on `stream`); n > 0 and valid. */
static cudaError_t launch_dequant(int type, const uint8_t *src, void *dst, int64_t n, int out_kind,
                                  const uint8_t *scale_at, cudaStream_t stream) {
  switch (type) {
    case BLC_T_F32: return launch_typed<BLC_T_F32>(src, dst, n, out_kind, scale_at, stream);
    case BLC_T_F16: return launch_typed<BLC_T_F16>(src, dst, n, out_kind, scale_at, stream);
    case BLC_T_BF16: return launch_typed<BLC_T_BF16>(src, dst, n, out_kind, scale_at, stream);
    case BLC_T_Q4_0: return launch_typed<BLC_T_Q4_0>(src, dst, n, out_kind, scale_at, stream);
    case BLC_T_Q8_0: return launch_typed<BLC_T_Q8_0>(src, dst, n, out_kind, scale_at, stream);
    case BLC_T_Q4_K: return launch_typed<BLC_T_Q4_K>(src, dst, n, out_kind, scale_at, stream);
    case BLC_T_Q5_K: return launch_typed<BLC_T_Q5_K>(src, dst, n, out_kind, scale_at, stream);
    case BLC_T_Q6_K: return launch_typed<BLC_T_Q6_K>(src, dst, n, out_kind, scale_at, stream);
    case BLC_T_TQ1_0: return launch_typed<BLC_T_TQ1_0>(src, dst, n, out_kind, scale_at, stream);
    case BLC_T_TQ2_0: return launch_typed<BLC_T_TQ2_0>(src, dst, n, out_kind, scale_at, stream);
    case BLC_T_I2_S: return launch_typed<BLC_T_I2_S>(src, dst, n, out_kind, scale_at, stream);
    default: return cudaErrorInvalidValue;
  }
}

static int validate(int type, int64_t n, int out_kind, int *elements, int *bytes) {
  if (!blc_geometry(type, elements, bytes)) return BLC_ERR_UNKNOWN_TYPE;
  if (out_kind != BLC_OUT_F32 && out_kind != BLC_OUT_F16) return BLC_ERR_BAD_ARG;
  if (n < 0 || n % *elements != 0) return BLC_ERR_BAD_LENGTH;
  return BLC_OK;
}

extern "C" BLC_API int blc_dequantize(int type, uint64_t src, uint64_t dst, int64_t n, int out_kind) {
  int elements = 0, bytes = 0;
  const int status = validate(type, n, out_kind, &elements, &bytes);
  if (status != BLC_OK) return status;
  if (n == 0) return BLC_OK;
  if (src == 0 || dst == 0) return BLC_ERR_NULL;
  const uint8_t *s = (const uint8_t *)(uintptr_t)src;
  const uint8_t *scale_at = type == BLC_T_I2_S ? s + n / 4 : s;
  cudaError_t e = launch_dequant(type, s, (void *)(uintptr_t)dst, n, out_kind, scale_at, 0);
  if (e != cudaSuccess) return (int)e;
  e = cudaDeviceSynchronize();
  return (int)e;
}

/* ---- host emulation ---- */

template <int T>
static void host_typed(const uint8_t *src, void *dst, int64_t n, int out_kind, float scale) {
  int elements = 1, bytes = 1;
  blc_geometry(T, &elements, &bytes);
  for (int64_t i = 0; i < n; i++) {
    const int64_t blk = i / elements;
    const int j = (int)(i - blk * elements);
    const uint8_t *b = src + blk * bytes;
    if (out_kind == BLC_OUT_F16 && T == BLC_T_F16) {
      ((uint16_t *)dst)[i] = blc_u16(b);
      continue;
    }
    const float v = blc_decode<T>(b, j, scale);
    if (out_kind == BLC_OUT_F32) {
      ((float *)dst)[i] = v;
    } else {
      ((uint16_t *)dst)[i] = blc_f2h(v);
    }
  }
}

extern "C" BLC_API int blc_dequantize_host(int type, const void *src, void *dst, int64_t n, int out_kind,
                                           int canonical_nan) {
  int elements = 0, bytes = 0;
  const int status = validate(type, n, out_kind, &elements, &bytes);
  if (status != BLC_OK) return status;
  if (n == 0) return BLC_OK;
  if (src == NULL || dst == NULL) return BLC_ERR_NULL;
  const uint8_t *s = (const uint8_t *)src;
  const float scale = type == BLC_T_I2_S ? blc_float(blc_u32(s + n / 4)) : 0.0f;
  blc_host_canonical_nan = canonical_nan != 0;
  switch (type) {
    case BLC_T_F32: host_typed<BLC_T_F32>(s, dst, n, out_kind, scale); break;
    case BLC_T_F16: host_typed<BLC_T_F16>(s, dst, n, out_kind, scale); break;
    case BLC_T_BF16: host_typed<BLC_T_BF16>(s, dst, n, out_kind, scale); break;
    case BLC_T_Q4_0: host_typed<BLC_T_Q4_0>(s, dst, n, out_kind, scale); break;
    case BLC_T_Q8_0: host_typed<BLC_T_Q8_0>(s, dst, n, out_kind, scale); break;
    case BLC_T_Q4_K: host_typed<BLC_T_Q4_K>(s, dst, n, out_kind, scale); break;
    case BLC_T_Q5_K: host_typed<BLC_T_Q5_K>(s, dst, n, out_kind, scale); break;
    case BLC_T_Q6_K: host_typed<BLC_T_Q6_K>(s, dst, n, out_kind, scale); break;
    case BLC_T_TQ1_0: host_typed<BLC_T_TQ1_0>(s, dst, n, out_kind, scale); break;
    case BLC_T_TQ2_0: host_typed<BLC_T_TQ2_0>(s, dst, n, out_kind, scale); break;
    case BLC_T_I2_S: host_typed<BLC_T_I2_S>(s, dst, n, out_kind, scale); break;
    default: break;
  }
  blc_host_canonical_nan = 0;
  return BLC_OK;
}

/* ---- transfers ---- */

static double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/* Streams, pinned host staging and device staging buffers of one pipeline. */
struct Pipeline {
  int count = 0;
  cudaStream_t streams[BLC_MAX_STREAMS] = {};
  void *host_stage[BLC_MAX_STREAMS] = {};
  void *dev_stage[BLC_MAX_STREAMS] = {};

  cudaError_t open(int n, size_t host_bytes, size_t dev_bytes) {
    for (int i = 0; i < n; i++) {
      cudaError_t e = cudaStreamCreateWithFlags(&streams[i], cudaStreamNonBlocking);
      if (e != cudaSuccess) return e;
      count = i + 1;
      if (host_bytes > 0) {
        e = cudaHostAlloc(&host_stage[i], host_bytes, cudaHostAllocDefault);
        if (e != cudaSuccess) return e;
      }
      if (dev_bytes > 0) {
        e = cudaMalloc(&dev_stage[i], dev_bytes);
        if (e != cudaSuccess) return e;
      }
    }
    return cudaSuccess;
  }

  ~Pipeline() {
    for (int i = 0; i < count; i++) {
      if (streams[i]) (void)cudaStreamSynchronize(streams[i]);
      if (host_stage[i]) (void)cudaFreeHost(host_stage[i]);
      if (dev_stage[i]) (void)cudaFree(dev_stage[i]);
      if (streams[i]) (void)cudaStreamDestroy(streams[i]);
    }
  }
};

extern "C" BLC_API int blc_upload(uint64_t device_dst, const void *host_src, int64_t bytes, int64_t chunk_bytes,
                                  int mode, int streams, double *seconds, double *setup_seconds) {
  if (seconds == NULL || setup_seconds == NULL) return BLC_ERR_NULL;
  *seconds = 0;
  *setup_seconds = 0;
  if (bytes < 0 || chunk_bytes <= 0 || streams < 1 || streams > BLC_MAX_STREAMS) return BLC_ERR_BAD_ARG;
  if (mode < BLC_COPY_PAGEABLE || mode > BLC_COPY_REGISTERED) return BLC_ERR_BAD_ARG;
  if (bytes == 0) return BLC_OK;
  if (host_src == NULL || device_dst == 0) return BLC_ERR_NULL;
  uint8_t *dst = (uint8_t *)(uintptr_t)device_dst;
  const uint8_t *src = (const uint8_t *)host_src;
  const size_t chunk = (size_t)(chunk_bytes < bytes ? chunk_bytes : bytes);
  cudaError_t e = cudaSuccess;

  if (mode == BLC_COPY_PAGEABLE) {
    const auto start = std::chrono::steady_clock::now();
    for (int64_t off = 0; off < bytes && e == cudaSuccess; off += (int64_t)chunk) {
      const size_t len = (size_t)((bytes - off) < (int64_t)chunk ? (bytes - off) : (int64_t)chunk);
      e = cudaMemcpy(dst + off, src + off, len, cudaMemcpyHostToDevice);
    }
    *seconds = seconds_since(start);
    return (int)e;
  }

  Pipeline p;
  bool registered = false;
  const auto setup = std::chrono::steady_clock::now();
  e = p.open(streams, mode == BLC_COPY_STAGED ? chunk : 0, 0);
  if (e == cudaSuccess && mode == BLC_COPY_REGISTERED) {
    e = register_host((void *)src, (size_t)bytes);
    registered = e == cudaSuccess;
  }
  *setup_seconds = seconds_since(setup);
  if (e != cudaSuccess) return (int)e;

  const auto start = std::chrono::steady_clock::now();
  int64_t index = 0;
  for (int64_t off = 0; off < bytes && e == cudaSuccess; off += (int64_t)chunk, index++) {
    const size_t len = (size_t)((bytes - off) < (int64_t)chunk ? (bytes - off) : (int64_t)chunk);
    const int s = (int)(index % streams);
    if (mode == BLC_COPY_STAGED) {
      /* The staging buffer of stream s is free once its previous copy finished. */
      e = cudaStreamSynchronize(p.streams[s]);
      if (e != cudaSuccess) break;
      memcpy(p.host_stage[s], src + off, len);
      e = cudaMemcpyAsync(dst + off, p.host_stage[s], len, cudaMemcpyHostToDevice, p.streams[s]);
    } else {
      e = cudaMemcpyAsync(dst + off, src + off, len, cudaMemcpyHostToDevice, p.streams[s]);
    }
  }
  for (int s = 0; s < p.count; s++) {
    const cudaError_t e2 = cudaStreamSynchronize(p.streams[s]);
    if (e == cudaSuccess) e = e2;
  }
  *seconds = seconds_since(start);
  if (registered) {
    const cudaError_t e3 = cudaHostUnregister((void *)src);
    if (e == cudaSuccess) e = e3;
  }
  return (int)e;
}

extern "C" BLC_API int blc_upload_dequantize(int type, const void *host_src, int64_t n, int out_kind, uint64_t dst,
                                             int64_t chunk_bytes, int mode, int streams, double *seconds) {
  if (seconds == NULL) return BLC_ERR_NULL;
  *seconds = 0;
  int elements = 0, bytes = 0;
  const int status = validate(type, n, out_kind, &elements, &bytes);
  if (status != BLC_OK) return status;
  if (chunk_bytes <= 0 || streams < 1 || streams > BLC_MAX_STREAMS) return BLC_ERR_BAD_ARG;
  if (mode < BLC_COPY_PAGEABLE || mode > BLC_COPY_REGISTERED) return BLC_ERR_BAD_ARG;
  if (n == 0) return BLC_OK;
  if (host_src == NULL || dst == 0) return BLC_ERR_NULL;
  const bool registered_mode = mode == BLC_COPY_REGISTERED;
  const uint8_t *src = (const uint8_t *)host_src;
  const int64_t nblocks = n / elements;
  int64_t chunk_blocks = chunk_bytes / bytes;
  if (chunk_blocks < 1) chunk_blocks = 1;
  if (chunk_blocks > nblocks) chunk_blocks = nblocks;
  const size_t stage = (size_t)(chunk_blocks * bytes);
  const size_t out_size = out_kind == BLC_OUT_F32 ? 4 : 2;
  const int64_t code_bytes = nblocks * bytes;

  const auto start = std::chrono::steady_clock::now();
  Pipeline p;
  bool registered = false;
  uint8_t *scale_dev = NULL;
  cudaError_t e = p.open(streams, registered_mode ? 0 : stage, stage);
  if (e == cudaSuccess && registered_mode) {
    e = register_host((void *)src, (size_t)code_bytes);
    registered = e == cudaSuccess;
  }
  if (e == cudaSuccess && type == BLC_T_I2_S) {
    e = cudaMalloc((void **)&scale_dev, 4);
    if (e == cudaSuccess) e = cudaMemcpy(scale_dev, src + code_bytes, 4, cudaMemcpyHostToDevice);
  }
  int64_t index = 0;
  for (int64_t blk = 0; blk < nblocks && e == cudaSuccess; blk += chunk_blocks, index++) {
    const int64_t count = (nblocks - blk) < chunk_blocks ? (nblocks - blk) : chunk_blocks;
    const size_t len = (size_t)(count * bytes);
    const int s = (int)(index % streams);
    /* Stream s's staging buffers are free once its previous copy and dequant finished. */
    e = cudaStreamSynchronize(p.streams[s]);
    if (e != cudaSuccess) break;
    const uint8_t *from = src + blk * bytes;
    if (!registered_mode) {
      memcpy(p.host_stage[s], from, len);
      from = (const uint8_t *)p.host_stage[s];
    }
    e = cudaMemcpyAsync(p.dev_stage[s], from, len, cudaMemcpyHostToDevice, p.streams[s]);
    if (e != cudaSuccess) break;
    uint8_t *out = (uint8_t *)(uintptr_t)dst + (size_t)(blk * elements) * out_size;
    e = launch_dequant(type, (const uint8_t *)p.dev_stage[s], out, count * elements, out_kind,
                       scale_dev != NULL ? scale_dev : (const uint8_t *)p.dev_stage[s], p.streams[s]);
  }
  for (int s = 0; s < p.count; s++) {
    const cudaError_t e2 = cudaStreamSynchronize(p.streams[s]);
    if (e == cudaSuccess) e = e2;
  }
  if (scale_dev != NULL) (void)cudaFree(scale_dev);
  if (registered) {
    const cudaError_t e3 = cudaHostUnregister((void *)src);
    if (e == cudaSuccess) e = e3;
  }
  *seconds = seconds_since(start);
  return (int)e;
}

/* ---- I2_S ternary matvec ---- */

/*
 * One warp per row. Lane l reads byte l of each 32-byte block of the row (coalesced) and the four
 * activations it covers (l, 32+l, 64+l, 96+l of the block, also coalesced); the int32 partial sums are
 * reduced with shuffles, exactly.
 */
__global__ void blc_i2s_matvec_kernel(const uint8_t *__restrict__ w, int64_t rows, int64_t cols,
                                      const int8_t *__restrict__ x, float x_scale, const uint8_t *scale_at,
                                      float *__restrict__ y) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = ((int64_t)blockDim.x * gridDim.x) >> 5;
  const float w_scale = blc_float(blc_u32(scale_at));
  const int64_t blocks_per_row = cols / 128;
  for (int64_t r = (((int64_t)blockIdx.x * blockDim.x) + threadIdx.x) >> 5; r < rows; r += warps) {
    const uint8_t *row = w + r * (cols / 4);
    int sum = 0;
    for (int64_t b = 0; b < blocks_per_row; b++) {
      const int byte = row[b * 32 + lane];
      const int8_t *xb = x + b * 128 + lane;
      sum += blc_i2s_value((byte >> 6) & 3) * xb[0];
      sum += blc_i2s_value((byte >> 4) & 3) * xb[32];
      sum += blc_i2s_value((byte >> 2) & 3) * xb[64];
      sum += blc_i2s_value(byte & 3) * xb[96];
    }
    for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if (lane == 0) y[r] = blc_i2s_scale_sum(sum, x_scale, w_scale);
  }
}

static int validate_matvec(int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0) return BLC_ERR_BAD_LENGTH;
  if (cols % 128 != 0) return BLC_ERR_BAD_LENGTH;
  if (cols > 132096) return BLC_ERR_BAD_ARG; /* keeps |isum| < 2^24, exact as a float */
  return BLC_OK;
}

extern "C" BLC_API int blc_i2s_matvec(uint64_t w, int64_t rows, int64_t cols, uint64_t x, float x_scale,
                                      uint64_t y) {
  const int status = validate_matvec(rows, cols);
  if (status != BLC_OK) return status;
  if (rows == 0) return BLC_OK;
  if (w == 0 || x == 0 || y == 0) return BLC_ERR_NULL;
  const uint8_t *wp = (const uint8_t *)(uintptr_t)w;
  const int threads = 256;
  int64_t blocks = (rows * 32 + threads - 1) / threads;
  if (blocks > 65536 * 8) blocks = 65536 * 8;
  blc_i2s_matvec_kernel<<<(unsigned)blocks, threads>>>(wp, rows, cols, (const int8_t *)(uintptr_t)x, x_scale,
                                                      wp + rows * cols / 4, (float *)(uintptr_t)y);
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  return (int)e;
}

extern "C" BLC_API int blc_i2s_matvec_host(const void *w, int64_t rows, int64_t cols, const int8_t *x,
                                           float x_scale, float *y) {
  const int status = validate_matvec(rows, cols);
  if (status != BLC_OK) return status;
  if (rows == 0) return BLC_OK;
  if (w == NULL || x == NULL || y == NULL) return BLC_ERR_NULL;
  const uint8_t *wp = (const uint8_t *)w;
  const float w_scale = blc_float(blc_u32(wp + rows * cols / 4));
  for (int64_t r = 0; r < rows; r++) {
    int sum = 0;
    for (int64_t k = 0; k < cols; k++) {
      const int64_t e = r * cols + k;
      const uint8_t byte = wp[(e / 128) * 32 + (e % 32)];
      const int g = (int)((e % 128) / 32);
      sum += blc_i2s_value((byte >> (6 - 2 * g)) & 3) * x[k];
    }
    y[r] = blc_i2s_scale_sum(sum, x_scale, w_scale);
  }
  return BLC_OK;
}

extern "C" BLC_API int blc_d2d_bandwidth(uint64_t dst, uint64_t src, int64_t bytes, int iterations,
                                         double *seconds) {
  if (seconds == NULL) return BLC_ERR_NULL;
  *seconds = 0;
  if (bytes <= 0 || iterations < 1) return BLC_ERR_BAD_ARG;
  if (dst == 0 || src == 0) return BLC_ERR_NULL;
  cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess) return (int)e;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations && e == cudaSuccess; i++) {
    e = cudaMemcpyAsync((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, (size_t)bytes,
                        cudaMemcpyDeviceToDevice, 0);
  }
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  *seconds = seconds_since(start);
  return (int)e;
}

/**
 * The FFI symbol table of the optional CUDA library (`kernels/cuda/bitload_cuda.h`), its status codes
 * and the type ids its kernels support. Device pointers cross the ABI as `u64`.
 *
 * @module
 */

/** Must equal `BLC_ABI_VERSION` of the compiled CUDA library. */
export const BITLOAD_CUDA_ABI_VERSION = 1;

/** bitload's own (negative) status codes; positive codes are `cudaError_t` values. */
export const CudaStatus = {
  OK: 0,
  UNKNOWN_TYPE: -1,
  BAD_LENGTH: -2,
  NULL_BUFFER: -3,
  BAD_ARG: -4,
  SHORT_BUFFER: -5,
} as const;

/** `cudaErrorInsufficientDriver`: what static cudart reports where no driver is installed. */
export const CUDA_ERROR_INSUFFICIENT_DRIVER = 35;
/** `cudaErrorNoDevice`. */
export const CUDA_ERROR_NO_DEVICE = 100;

/** Output element kinds (`BLC_OUT_*`). */
export const CUDA_OUT = { f32: 0, f16: 1 } as const;

/** H2D transfer modes (`BLC_COPY_*`). */
export const CUDA_COPY = { pageable: 0, staged: 1, registered: 2 } as const;

/** ggml type ids the CUDA kernels dequantize (36 = BitNet I2_S), with their names. */
export const CUDA_TYPES = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q8_0: 8,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  I2_S: 36,
} as const;

/** The exported functions of libbitload_cuda. */
export const BITLOAD_CUDA_SYMBOLS = {
  blc_abi_version: { parameters: [], result: "i32" },
  blc_device_count: { parameters: ["buffer"], result: "i32" },
  blc_driver_version: { parameters: [], result: "i32" },
  blc_runtime_version: { parameters: [], result: "i32" },
  blc_error_string: { parameters: ["i32"], result: "pointer" },
  blc_device_info: {
    parameters: ["i32", "buffer", "i32", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  blc_set_device: { parameters: ["i32"], result: "i32" },
  blc_synchronize: { parameters: [], result: "i32" },
  blc_malloc: { parameters: ["i64", "buffer"], result: "i32" },
  blc_free: { parameters: ["u64"], result: "i32" },
  blc_memset: { parameters: ["u64", "i32", "i64"], result: "i32" },
  blc_host_alloc: { parameters: ["i64", "buffer"], result: "i32" },
  blc_host_free: { parameters: ["pointer"], result: "i32" },
  blc_host_register: { parameters: ["buffer", "i64"], result: "i32" },
  blc_host_unregister: { parameters: ["buffer"], result: "i32" },
  blc_memcpy_h2d: { parameters: ["u64", "buffer", "i64"], result: "i32" },
  blc_memcpy_d2h: { parameters: ["buffer", "u64", "i64"], result: "i32" },
  blc_type_geometry: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  blc_source_bytes: { parameters: ["i32", "i64"], result: "i64" },
  blc_dequantize: { parameters: ["i32", "u64", "u64", "i64", "i32"], result: "i32" },
  blc_dequantize_host: {
    parameters: ["i32", "buffer", "buffer", "i64", "i32", "i32"],
    result: "i32",
  },
  blc_upload: {
    parameters: ["u64", "buffer", "i64", "i64", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  blc_upload_dequantize: {
    parameters: ["i32", "buffer", "i64", "i32", "u64", "i64", "i32", "i32", "buffer"],
    result: "i32",
  },
  blc_i2s_matvec: { parameters: ["u64", "i64", "i64", "u64", "f32", "u64"], result: "i32" },
  blc_i2s_matvec_host: {
    parameters: ["buffer", "i64", "i64", "buffer", "f32", "buffer"],
    result: "i32",
  },
  blc_d2d_bandwidth: { parameters: ["u64", "u64", "i64", "i32", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The names every build of the library must export (checked by the compile test with `nm -D`). */
export const BITLOAD_CUDA_EXPORTS: readonly string[] = Object.keys(BITLOAD_CUDA_SYMBOLS);

/** The opened CUDA library's symbols. */
export type BitloadCudaSymbols = Deno.DynamicLibrary<typeof BITLOAD_CUDA_SYMBOLS>["symbols"];

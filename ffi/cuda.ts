/**
 * The optional CUDA backend: loader, device inventory, device dequantization and uploads. One
 * module per concern, re-exported here:
 *
 * - `cuda_probe.ts`: the driver probe (`libcuda.so.1`, `cuInit`, `cuDeviceGetCount`);
 * - `cuda_open.ts`: the library (through the generic loader, `ffi/loader.ts`), the runtime and the
 *   device inventory;
 * - `cuda_memory.ts`: device memory, uploads, pinned host memory, bandwidth;
 * - `cuda_kernels.ts`: device dequantization, upload-and-dequantize, the I2_S product.
 *
 * Loading, in this order (each step's failure is the one reason reported, nothing is printed unless
 * asked for):
 * 1. `BITLOAD_CUDA=0` disables CUDA;
 * 2. the driver probe: `Deno.dlopen("libcuda.so.1")` inside try/catch, then `cuInit(0)` (100 means no
 *    device) and `cuDeviceGetCount`. Without a driver the CUDA library is never built or opened;
 * 3. the library: `$BITLOAD_CUDA_LIB`, else the cached nvcc build of `kernels/cuda/` (built on first use
 *    when nvcc is on PATH, see `cuda_build.ts`), else the last cached build;
 * 4. `cudaGetDeviceCount` through the library must be > 0.
 *
 * The library itself opens without a driver (static cudart); {@link openCudaLibrary} gives it to tests
 * and to {@link cudaDequantizeEmulated}, which runs the device decoders on the CPU.
 *
 * @module
 */

export { type CudaDriverProbe, probeCudaDriver } from "./cuda_probe.ts";
export {
  type BitloadCudaLibrary,
  type CudaDevice,
  cudaDevices,
  type CudaRuntime,
  cudaRuntime,
  cudaSetDevice,
  cudaUnavailableReason,
  describeCudaLibrary,
  openCudaLibrary,
  type OpenCudaLibraryResult,
} from "./cuda_open.ts";
export {
  cudaAlloc,
  type CudaBuffer,
  type CudaCopyMode,
  cudaDeviceBandwidth,
  type CudaPinnedHost,
  cudaRegisterHost,
  type CudaTransferOptions,
  type CudaTransferReport,
  cudaUpload,
  cudaUploadBytes,
} from "./cuda_memory.ts";
export {
  cudaDequantize,
  cudaDequantizeEmulated,
  type CudaDequantizeOptions,
  cudaDequantizeThroughput,
  cudaI2sMatvec,
  cudaI2sMatvecEmulated,
  type CudaOutKind,
  cudaSourceBytes,
  cudaSupportsType,
  cudaUploadDequantize,
  type CudaUploadDequantizeResult,
} from "./cuda_kernels.ts";

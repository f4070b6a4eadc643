/**
 * Builds the optional CUDA library (`kernels/cuda/`) with nvcc into bitload's cache, through the
 * same content-addressed cache as the CPU library (`ffi/c_build.ts`: key, lock, pointer file).
 *
 * - Only when `nvcc` (or `$NVCC`) runs; never required, and the CPU library never depends on it.
 * - Static cudart (nvcc's default): the library's only run-time dependency is the driver, which cudart
 *   dlopens lazily, so the library loads (and reports "no driver") on machines without one.
 * - No `-lcuda`: pip-wheel toolkits have no `libcuda.so` stub.
 * - The cache key is the sha256 of the nvcc path, `nvcc --version`, the flags (architectures
 *   included), the target, the CPU and every source; `$BITLOAD_CACHE_DIR`, else
 *   `$XDG_CACHE_HOME/bitload`, else `~/.cache/bitload`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  buildCLibrary,
  type BuildResult,
  cachedLibraryPath,
  type CLibrarySpec,
  type Compiler,
  compilerCommand,
  compilerVersion,
  latestBuild,
  nativeCacheDir,
} from "./c_build.ts";
import { CudaError } from "./errors.ts";

/** The CUDA sources, compiled as one translation unit (`bitload_cuda.cu` includes the headers). */
export const CUDA_SOURCES = ["bitload_cuda.cu"] as const;

/** Headers that take part in the cache key. */
export const CUDA_HEADERS = ["bitload_cuda.h", "dequant_blocks.cuh"] as const;

/**
 * Architectures: SASS for sm_80 (A100) and sm_90 (H100/H200), PTX for compute_90 so that newer GPUs can
 * JIT-compile the kernels.
 */
export const CUDA_GENCODE = [
  "-gencode",
  "arch=compute_80,code=sm_80",
  "-gencode",
  "arch=compute_90,code=[sm_90,compute_90]",
] as const;

/**
 * nvcc flags. `-fmad=false` (plus the `__fmul_rn`/`__fsub_rn` intrinsics in the sources) keeps nvcc
 * from fusing multiply-adds; `-ftz=false` keeps subnormal results; `-ffp-contract=off` does the same for
 * the host emulation path.
 */
export const CUDA_NVCC_FLAGS = [
  "-O3",
  "-shared",
  "-std=c++17",
  "-Xcompiler",
  "-fPIC,-fvisibility=hidden,-ffp-contract=off,-Wall",
  "-fmad=false",
  "-ftz=false",
  "-prec-div=true",
  "-prec-sqrt=true",
  "-cudart",
  "static",
] as const;

/** nvcc: `$NVCC`, else `nvcc`; no libraries (static cudart, no `-lcuda`). */
export const NVCC: Compiler = { env: "NVCC", command: "nvcc", libs: [] };

/** How the CUDA library is built (the cache of `ffi/c_build.ts`). */
export const CUDA_LIBRARY: CLibrarySpec = {
  name: "bitload_cuda",
  what: "the CUDA kernels",
  dir: new URL("../kernels/cuda/", import.meta.url),
  sources: CUDA_SOURCES,
  headers: CUDA_HEADERS,
  cflags: [...CUDA_NVCC_FLAGS, ...CUDA_GENCODE],
  compiler: NVCC,
};

/** Options of {@link buildCudaLibrary}. */
export interface CudaBuildOptions {
  /** Build even when a cached library with the same key exists. */
  force?: boolean;
  /** Output path instead of the cache (the compile test uses a temporary directory). */
  output?: string;
  /** Replaces {@link CUDA_GENCODE} (the compile test builds one architecture to stay fast). */
  gencode?: readonly string[];
}

/** What a build produced: the path, whether nvcc ran, its milliseconds and its command line. */
export type CudaBuildResult = BuildResult;

/**
 * The directory holding the CUDA sources.
 *
 * @example
 * ```ts
 * import { cudaSourceDir } from "./cuda_build.ts";
 * console.log(cudaSourceDir()); // ".../kernels/cuda"
 * ```
 */
export function cudaSourceDir(): string {
  if (CUDA_LIBRARY.dir.protocol !== "file:") {
    throw new CudaError(
      "UNAVAILABLE",
      `CUDA sources are not on the local file system (${CUDA_LIBRARY.dir.href})`,
    );
  }
  return fileURLToPath(CUDA_LIBRARY.dir);
}

/**
 * The nvcc command bitload uses: `$NVCC`, else `nvcc`.
 *
 * @example
 * ```ts
 * import { nvccCommand } from "./cuda_build.ts";
 * console.log(nvccCommand()); // "nvcc"
 * ```
 */
export function nvccCommand(): string {
  return compilerCommand(NVCC);
}

/**
 * `nvcc --version` (its lines joined, e.g. "… | Build cuda_13.0.r13.0/compiler.36424714_0"), or
 * `null` with no nvcc on PATH (or no `--allow-run`).
 *
 * @example
 * ```ts
 * import { nvccVersion } from "./cuda_build.ts";
 * console.log(nvccVersion() ?? "no nvcc");
 * ```
 */
export function nvccVersion(): string | null {
  try {
    return compilerVersion(nvccCommand());
  } catch {
    return null;
  }
}

/**
 * The last cached build of the current sources, or `null`. Used where nvcc cannot run (a machine
 * with a driver but no toolkit, or no `--allow-run`).
 *
 * @example
 * ```ts
 * import { latestCudaBuild } from "./cuda_build.ts";
 * console.log(latestCudaBuild() ?? "not built yet");
 * ```
 */
export function latestCudaBuild(): string | null {
  try {
    const cacheDir = nativeCacheDir();
    return cacheDir === null ? null : latestBuild(CUDA_LIBRARY, cacheDir);
  } catch {
    return null;
  }
}

/**
 * The cache path the current sources build to with this nvcc, or `null` without nvcc or cache dir.
 *
 * @example
 * ```ts
 * import { cudaCachePath } from "./cuda_build.ts";
 * console.log(cudaCachePath());
 * ```
 */
export function cudaCachePath(): string | null {
  const cacheDir = nativeCacheDir();
  const version = nvccVersion();
  if (cacheDir === null || version === null) return null;
  return cachedLibraryPath(CUDA_LIBRARY, cacheDir, nvccCommand(), version);
}

/**
 * Builds the CUDA library with nvcc (into the cache unless `output` is given) and returns where it is.
 * Throws when nvcc is missing or fails (with the first lines of its output).
 *
 * @example
 * ```ts
 * import { buildCudaLibrary, nvccVersion } from "./cuda_build.ts";
 * if (nvccVersion() !== null) console.log(buildCudaLibrary().path);
 * ```
 */
export function buildCudaLibrary(options: CudaBuildOptions = {}): CudaBuildResult {
  if (Deno.build.os !== "linux") {
    throw new CudaError("UNAVAILABLE", "the CUDA library is built on Linux only");
  }
  if (nvccVersion() === null) {
    throw new CudaError(
      "UNAVAILABLE",
      `"${nvccCommand()}" is not available (is the CUDA toolkit on PATH?)`,
    );
  }
  return buildCLibrary(CUDA_LIBRARY, {
    force: options.force,
    output: options.output,
    cflags: options.gencode ? [...CUDA_NVCC_FLAGS, ...options.gencode] : undefined,
  });
}

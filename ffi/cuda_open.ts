/**
 * The CUDA library and runtime: opening `kernels/cuda/`'s library through the generic loader
 * (`ffi/loader.ts`: `BITLOAD_CUDA_LIB`, else the nvcc build in the cache, else the last cached
 * build), the runtime state (driver probe → library → device count), the one CUDA status check,
 * and the device inventory. Part of `ffi/cuda.ts`.
 *
 * @module
 */

import { readEnv } from "./env.ts";
import { CudaError } from "./errors.ts";
import { probeCudaDriver } from "./cuda_probe.ts";
import { CUDA_LIBRARY } from "./cuda_build.ts";
import { abiProbe, type LibraryOrigin, openLibrary } from "./loader.ts";
import {
  BITLOAD_CUDA_ABI_VERSION,
  BITLOAD_CUDA_SYMBOLS,
  type BitloadCudaSymbols,
} from "./cuda_symbols.ts";

/** The opened CUDA library. */
export type BitloadCudaLibrary = Deno.DynamicLibrary<typeof BITLOAD_CUDA_SYMBOLS>;

/** Outcome of {@link openCudaLibrary}. */
export type OpenCudaLibraryResult =
  | { ok: true; library: BitloadCudaLibrary; path: string; origin: LibraryOrigin }
  | { ok: false; reason: string };

/** A CUDA GPU for the placement planner (the planner's `Device` shape plus CUDA details). */
export interface CudaDevice {
  /** Planner name: `cuda0`, `cuda1`, … (the CUDA device ordinal). */
  name: string;
  /** Always `"cuda"`. */
  kind: "cuda";
  /** `cudaMemGetInfo` total bytes. */
  totalBytes: number;
  /** `cudaMemGetInfo` free bytes at the time of the call. */
  freeBytes: number;
  /** Compute capability, e.g. `"9.0"`. */
  computeCapability: string;
  /** The card's name, e.g. `"NVIDIA H100 80GB HBM3"`. */
  model: string;
  /** CUDA device ordinal. */
  index: number;
  /** Streaming multiprocessors. */
  multiprocessors: number;
  /** Peak memory bandwidth in bytes/s from bus width × memory clock × 2, when the driver reports it. */
  peakBandwidthBytesPerSecond?: number;
  /** PCI address `domain:bus:device`, e.g. `"0000:1b:00"`. */
  pciBusId: string;
}

/** The CUDA runtime, available only with a driver and a device. */
export interface CudaRuntime {
  /** The library's symbols. */
  symbols: BitloadCudaSymbols;
  /** Path of the opened library. */
  libraryPath: string;
  /** `cudaDriverGetVersion`, e.g. 13000. */
  driverVersion: number;
  /** `cudaRuntimeGetVersion` of the static cudart inside the library. */
  runtimeVersion: number;
  /** Number of devices. */
  deviceCount: number;
}

let libraryResult: OpenCudaLibraryResult | undefined;

/**
 * Opens bitload's CUDA library, building it first when nvcc is on PATH and no cached build exists.
 * Needs no driver: without one, the library's calls return status codes. Cached for the process; never
 * throws.
 *
 * @example
 * ```ts
 * import { openCudaLibrary } from "./cuda.ts";
 * const result = openCudaLibrary();
 * console.log(result.ok ? result.path : result.reason);
 * ```
 */
export function openCudaLibrary(): OpenCudaLibraryResult {
  if (libraryResult !== undefined) return libraryResult;
  libraryResult = openLibraryUncached();
  return libraryResult;
}

function openLibraryUncached(): OpenCudaLibraryResult {
  if (Deno.build.os !== "linux") {
    return { ok: false, reason: `CUDA support is Linux-only (this is ${Deno.build.os})` };
  }
  const opened = openLibrary({
    what: "the CUDA library",
    symbols: BITLOAD_CUDA_SYMBOLS,
    env: "BITLOAD_CUDA_LIB",
    build: CUDA_LIBRARY,
    probe: abiProbe((library) => library.symbols.blc_abi_version(), BITLOAD_CUDA_ABI_VERSION),
    noCompiler: "the CUDA library is not built and nvcc is not on PATH " +
      "(run `deno task build:cuda` where the CUDA toolkit is installed)",
  });
  if (
    opened.ok || opened.reason.startsWith("BITLOAD_CUDA_LIB=") ||
    opened.reason.startsWith("the CUDA library is not built")
  ) {
    return opened;
  }
  return { ok: false, reason: `cannot open the CUDA library: ${opened.reason}` };
}

interface RuntimeState {
  runtime: CudaRuntime | null;
  reason?: string;
}

let runtimeState: RuntimeState | undefined;
let noticePrinted = false;

function loadRuntime(): RuntimeState {
  if (runtimeState !== undefined) return runtimeState;
  runtimeState = loadRuntimeUncached();
  return runtimeState;
}

function loadRuntimeUncached(): RuntimeState {
  if (readEnv("BITLOAD_CUDA") === "0") {
    return { runtime: null, reason: "disabled by BITLOAD_CUDA=0" };
  }
  const probe = probeCudaDriver();
  if (!probe.ok) return { runtime: null, reason: probe.reason };
  const opened = openCudaLibrary();
  if (!opened.ok) return { runtime: null, reason: opened.reason };
  const symbols = opened.library.symbols;
  const count = new Int32Array(1);
  const status = symbols.blc_device_count(count);
  if (status !== 0) {
    return {
      runtime: null,
      reason: `cudaGetDeviceCount failed: ${errorString(symbols, status)} (${status})`,
    };
  }
  if (count[0] <= 0) return { runtime: null, reason: "no CUDA device (cudaGetDeviceCount = 0)" };
  return {
    runtime: {
      symbols,
      libraryPath: opened.path,
      driverVersion: symbols.blc_driver_version(),
      runtimeVersion: symbols.blc_runtime_version(),
      deviceCount: count[0],
    },
  };
}

function errorString(symbols: BitloadCudaSymbols, status: number): string {
  const pointer = symbols.blc_error_string(status);
  if (pointer === null) return `status ${status}`;
  return Deno.UnsafePointerView.getCString(pointer);
}

/**
 * The CUDA runtime, or `null` when there is no driver, no device, no library or `BITLOAD_CUDA=0`
 * ({@link cudaUnavailableReason} says which). `notice: true` prints that reason to stderr once per
 * process (for callers that were asked to use a GPU).
 *
 * @example
 * ```ts
 * import { cudaRuntime } from "./cuda.ts";
 * const cuda = cudaRuntime();
 * console.log(cuda ? `${cuda.deviceCount} GPU(s)` : "CPU only");
 * ```
 */
export function cudaRuntime(options: { notice?: boolean } = {}): CudaRuntime | null {
  const state = loadRuntime();
  if (state.runtime === null && options.notice && !noticePrinted) {
    noticePrinted = true;
    console.error(`bitload: CUDA unavailable (${state.reason}); using the CPU`);
  }
  return state.runtime;
}

/**
 * Why the CUDA runtime is unavailable, or `null` when it is available.
 *
 * @example
 * ```ts
 * import { cudaUnavailableReason } from "./cuda.ts";
 * console.log(cudaUnavailableReason() ?? "CUDA ready");
 * ```
 */
export function cudaUnavailableReason(): string | null {
  const state = loadRuntime();
  return state.runtime === null ? state.reason ?? "unknown" : null;
}

/** The CUDA runtime, or a {@link CudaError} `UNAVAILABLE` saying why there is none (for the memory and kernel calls). */
export function requireRuntime(): CudaRuntime {
  const state = loadRuntime();
  if (state.runtime === null) {
    throw new CudaError("UNAVAILABLE", `CUDA is unavailable: ${state.reason}`);
  }
  return state.runtime;
}

/**
 * Turns a CUDA status into an exception (a {@link CudaError}: `KERNEL_REFUSED` for bitload's
 * argument checks, negative; `CUDA_STATUS` with `cudaGetErrorString` for CUDA's own, positive): the CUDA calls' one check.
 */
export function check(symbols: BitloadCudaSymbols, status: number, context: string): void {
  if (status === 0) return;
  const message = `${context}: ${errorString(symbols, status)} (status ${status})`;
  throw new CudaError(status < 0 ? "KERNEL_REFUSED" : "CUDA_STATUS", message, { status });
}

/**
 * The CUDA devices for the placement planner; an empty list without a driver or device.
 *
 * @example
 * ```ts
 * import { cudaDevices } from "./cuda.ts";
 * for (const d of cudaDevices()) console.log(d.name, d.model, d.freeBytes, d.computeCapability);
 * ```
 */
export function cudaDevices(): CudaDevice[] {
  const runtime = cudaRuntime();
  if (runtime === null) return [];
  const { symbols } = runtime;
  const devices: CudaDevice[] = [];
  for (let index = 0; index < runtime.deviceCount; index++) {
    const name = new Uint8Array(256);
    const total = new BigInt64Array(1);
    const free = new BigInt64Array(1);
    const ints = new Int32Array(8);
    check(
      symbols,
      symbols.blc_device_info(index, name, name.length, total, free, ints),
      `Cannot query CUDA device ${index}`,
    );
    const end = name.indexOf(0);
    const busWidthBits = ints[3];
    const memoryClockKHz = ints[4];
    const hex = (value: number, width: number) => value.toString(16).padStart(width, "0");
    devices.push({
      name: `cuda${index}`,
      kind: "cuda",
      totalBytes: Number(total[0]),
      freeBytes: Math.min(Number(free[0]), Number(total[0])),
      computeCapability: `${ints[0]}.${ints[1]}`,
      model: new TextDecoder().decode(name.subarray(0, end < 0 ? name.length : end)),
      index,
      multiprocessors: ints[2],
      peakBandwidthBytesPerSecond: busWidthBits > 0 && memoryClockKHz > 0
        ? (busWidthBits / 8) * memoryClockKHz * 1000 * 2
        : undefined,
      pciBusId: `${hex(ints[7], 4)}:${hex(ints[5], 2)}:${hex(ints[6], 2)}`,
    });
  }
  return devices;
}

/**
 * Selects the current CUDA device of the calling thread (`cudaSetDevice`); later allocations, copies
 * and kernels use it.
 *
 * @example
 * ```ts
 * import { cudaRuntime, cudaSetDevice } from "./cuda.ts";
 * if (cudaRuntime()) cudaSetDevice(0);
 * ```
 */
export function cudaSetDevice(index: number): void {
  const runtime = requireRuntime();
  if (!Number.isInteger(index) || index < 0 || index >= runtime.deviceCount) {
    throw new CudaError(
      "BAD_ARGUMENT",
      `No CUDA device ${index}: this machine has ${runtime.deviceCount}`,
    );
  }
  check(
    runtime.symbols,
    runtime.symbols.blc_set_device(index),
    `Cannot select CUDA device ${index}`,
  );
}

/**
 * The ABI version and static cudart version of the CUDA library at `path` (opened, asked,
 * closed): what `deno task build:cuda` prints. Needs no driver.
 *
 * @example
 * ```ts ignore
 * import { describeCudaLibrary } from "./cuda_open.ts";
 * console.log(describeCudaLibrary("/path/to/libbitload_cuda.so")); // { abi: 3, runtime: 13000 }
 * ```
 */
export function describeCudaLibrary(path: string): { abi: number; runtime: number } {
  const library = Deno.dlopen(path, BITLOAD_CUDA_SYMBOLS);
  try {
    return {
      abi: library.symbols.blc_abi_version(),
      runtime: library.symbols.blc_runtime_version(),
    };
  } finally {
    library.close();
  }
}

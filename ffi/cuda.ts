/**
 * The optional CUDA backend: loader, device inventory, device dequantization and uploads.
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

import { readEnv } from "./env.ts";
import { fileExists } from "./c_build.ts";
import { buildCudaLibrary, cudaCachePath, latestCudaBuild, nvccVersion } from "./cuda_build.ts";
import {
  BITLOAD_CUDA_ABI_VERSION,
  BITLOAD_CUDA_SYMBOLS,
  type BitloadCudaSymbols,
  CUDA_COPY,
  CUDA_OUT,
  CUDA_TYPES,
} from "./cuda_symbols.ts";

/** The opened CUDA library. */
export type BitloadCudaLibrary = Deno.DynamicLibrary<typeof BITLOAD_CUDA_SYMBOLS>;

/** Outcome of {@link openCudaLibrary}. */
export type OpenCudaLibraryResult =
  | { ok: true; library: BitloadCudaLibrary; path: string; origin: "env" | "cache" | "built" }
  | { ok: false; reason: string };

/** Outcome of {@link probeCudaDriver}. */
export interface CudaDriverProbe {
  /** Whether `libcuda.so.1` opened, `cuInit` succeeded and at least one device is present. */
  ok: boolean;
  /** Why not, when not. */
  reason?: string;
  /** `cuDriverGetVersion` (e.g. 13000), when the driver opened. */
  driverVersion?: number;
  /** `cuDeviceGetCount`, when `cuInit` succeeded. */
  deviceCount?: number;
}

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

/** Output element kind of the device dequantizers. */
export type CudaOutKind = "f32" | "f16";

/** Options of {@link cudaDequantize} and {@link cudaDequantizeEmulated}. */
export interface CudaDequantizeOptions {
  /** `"f32"` (default) or `"f16"` (round-to-nearest-even binary16 of the f32 value). */
  out?: CudaOutKind;
}

/** H2D transfer mode: `cudaMemcpy` from pageable memory, pinned staging buffers, or registered memory. */
export type CudaCopyMode = keyof typeof CUDA_COPY;

/** Options of {@link cudaUpload} and {@link cudaUploadDequantize}. */
export interface CudaTransferOptions {
  /** Transfer mode (default `"staged"`). */
  mode?: CudaCopyMode;
  /** Chunk size in bytes (default 64 MiB). */
  chunkBytes?: number;
  /** Streams, 1..8 (default 2: one chunk copies while the previous one is dequantized). */
  streams?: number;
}

/** A transfer measurement. */
export interface CudaTransferReport {
  /** Bytes moved host → device. */
  bytes: number;
  /** Seconds of the transfer (CUDA work waited for). */
  seconds: number;
  /** bytes / seconds / 1e9. */
  gbPerSecond: number;
  /** Seconds spent pinning (cudaHostRegister) or allocating staging buffers, not in `seconds`. */
  setupSeconds: number;
}

/** Device memory owned by the caller; free it with `free()` or `using`. */
export interface CudaBuffer extends Disposable {
  /** Device address. */
  readonly pointer: bigint;
  /** Size in bytes. */
  readonly bytes: number;
  /** Copies the buffer (or its first `bytes`) back to host memory. */
  read(bytes?: number): Uint8Array<ArrayBuffer>;
  /** Frees the device memory (idempotent). */
  free(): void;
}

/** Source bytes of `n` elements of a CUDA-supported type (I2_S: n/4 + 4). */
const GEOMETRY: Record<number, { elements: number; bytes: number }> = {
  [CUDA_TYPES.F32]: { elements: 1, bytes: 4 },
  [CUDA_TYPES.F16]: { elements: 1, bytes: 2 },
  [CUDA_TYPES.BF16]: { elements: 1, bytes: 2 },
  [CUDA_TYPES.Q4_0]: { elements: 32, bytes: 18 },
  [CUDA_TYPES.Q8_0]: { elements: 32, bytes: 34 },
  [CUDA_TYPES.Q4_K]: { elements: 256, bytes: 144 },
  [CUDA_TYPES.Q5_K]: { elements: 256, bytes: 176 },
  [CUDA_TYPES.Q6_K]: { elements: 256, bytes: 210 },
  [CUDA_TYPES.TQ1_0]: { elements: 256, bytes: 54 },
  [CUDA_TYPES.TQ2_0]: { elements: 256, bytes: 66 },
  [CUDA_TYPES.I2_S]: { elements: 128, bytes: 32 },
};

function describeError(error: unknown): string {
  if (error instanceof Error) return error.message.split("\n")[0];
  return String(error);
}

/**
 * Source bytes the CUDA kernels read for `n` elements of `typeId`; throws for unsupported types and
 * lengths that are not whole blocks.
 *
 * @example
 * ```ts
 * import { cudaSourceBytes } from "./cuda.ts";
 * cudaSourceBytes(8, 64); // 68: two Q8_0 blocks
 * ```
 */
export function cudaSourceBytes(typeId: number, n: number): number {
  const g = GEOMETRY[typeId];
  if (g === undefined) throw new RangeError(`Type ${typeId} is not supported by the CUDA kernels`);
  if (!Number.isSafeInteger(n) || n < 0 || n % g.elements !== 0) {
    throw new RangeError(
      `Cannot dequantize type ${typeId}: ${n} elements is not a multiple of the block size ${g.elements}`,
    );
  }
  return (n / g.elements) * g.bytes + (typeId === CUDA_TYPES.I2_S ? 4 : 0);
}

/**
 * Whether the CUDA kernels dequantize this ggml type id.
 *
 * @example
 * ```ts
 * import { cudaSupportsType } from "./cuda.ts";
 * cudaSupportsType(36); // true (I2_S)
 * cudaSupportsType(10); // false (Q2_K runs on the CPU)
 * ```
 */
export function cudaSupportsType(typeId: number): boolean {
  return GEOMETRY[typeId] !== undefined;
}

let driverProbe: CudaDriverProbe | undefined;

/**
 * Probes the CUDA driver without touching bitload's library: dlopen `libcuda.so.1` (try/catch), then
 * `cuInit(0)` and `cuDeviceGetCount`. Cached for the process.
 *
 * @example
 * ```ts
 * import { probeCudaDriver } from "./cuda.ts";
 * const probe = probeCudaDriver();
 * console.log(probe.ok ? `${probe.deviceCount} device(s)` : probe.reason);
 * ```
 */
export function probeCudaDriver(): CudaDriverProbe {
  if (driverProbe !== undefined) return driverProbe;
  driverProbe = probeDriverUncached();
  return driverProbe;
}

function probeDriverUncached(): CudaDriverProbe {
  if (Deno.build.os !== "linux") {
    return { ok: false, reason: `CUDA support is Linux-only (this is ${Deno.build.os})` };
  }
  let driver: Deno.DynamicLibrary<{
    cuInit: { parameters: ["u32"]; result: "i32" };
    cuDeviceGetCount: { parameters: ["buffer"]; result: "i32" };
    cuDriverGetVersion: { parameters: ["buffer"]; result: "i32" };
  }>;
  try {
    driver = Deno.dlopen("libcuda.so.1", {
      cuInit: { parameters: ["u32"], result: "i32" },
      cuDeviceGetCount: { parameters: ["buffer"], result: "i32" },
      cuDriverGetVersion: { parameters: ["buffer"], result: "i32" },
    });
  } catch (error) {
    const message = describeError(error);
    if (/cannot open shared object|not found|No such file/i.test(message)) {
      return { ok: false, reason: "no CUDA driver (libcuda.so.1 cannot be opened)" };
    }
    return { ok: false, reason: `no CUDA driver (libcuda.so.1: ${message})` };
  }
  try {
    const version = new Int32Array(1);
    driver.symbols.cuDriverGetVersion(version);
    const init = driver.symbols.cuInit(0);
    if (init === 100) {
      return {
        ok: false,
        reason: "no CUDA device (cuInit: CUDA_ERROR_NO_DEVICE)",
        driverVersion: version[0],
      };
    }
    if (init !== 0) {
      return { ok: false, reason: `CUDA driver failed to initialise (cuInit returned ${init})` };
    }
    const count = new Int32Array(1);
    const status = driver.symbols.cuDeviceGetCount(count);
    if (status !== 0) {
      return {
        ok: false,
        reason: `cuDeviceGetCount returned ${status}`,
        driverVersion: version[0],
      };
    }
    if (count[0] <= 0) {
      return {
        ok: false,
        reason: "no CUDA device (cuDeviceGetCount = 0)",
        driverVersion: version[0],
      };
    }
    return { ok: true, driverVersion: version[0], deviceCount: count[0] };
  } finally {
    driver.close();
  }
}

let libraryResult: OpenCudaLibraryResult | undefined;

function openAndCheck(path: string): BitloadCudaLibrary {
  const library = Deno.dlopen(path, BITLOAD_CUDA_SYMBOLS);
  const version = library.symbols.blc_abi_version();
  if (version !== BITLOAD_CUDA_ABI_VERSION) {
    library.close();
    throw new Error(
      `ABI version mismatch in "${path}": the library has ${version}, bitload expects ${BITLOAD_CUDA_ABI_VERSION}`,
    );
  }
  return library;
}

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
  const fromEnv = readEnv("BITLOAD_CUDA_LIB");
  if (fromEnv) {
    try {
      return { ok: true, library: openAndCheck(fromEnv), path: fromEnv, origin: "env" };
    } catch (error) {
      return { ok: false, reason: `BITLOAD_CUDA_LIB="${fromEnv}": ${describeError(error)}` };
    }
  }
  let path: string | null = null;
  let origin: "cache" | "built" = "cache";
  try {
    if (nvccVersion() !== null) {
      const cached = cudaCachePath();
      if (cached !== null && !fileExists(cached)) origin = "built";
      path = buildCudaLibrary().path;
    } else {
      path = latestCudaBuild();
      if (path === null) {
        return {
          ok: false,
          reason: "the CUDA library is not built and nvcc is not on PATH " +
            "(run `deno task build:cuda` where the CUDA toolkit is installed)",
        };
      }
    }
    return { ok: true, library: openAndCheck(path), path, origin };
  } catch (error) {
    return { ok: false, reason: `cannot open the CUDA library: ${describeError(error)}` };
  }
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

function requireRuntime(): CudaRuntime {
  const state = loadRuntime();
  if (state.runtime === null) throw new Error(`CUDA is unavailable: ${state.reason}`);
  return state.runtime;
}

function check(symbols: BitloadCudaSymbols, status: number, context: string): void {
  if (status === 0) return;
  const message = `${context}: ${errorString(symbols, status)} (status ${status})`;
  if (status < 0) throw new RangeError(message);
  throw new Error(message);
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
    throw new RangeError(`No CUDA device ${index}: this machine has ${runtime.deviceCount}`);
  }
  check(
    runtime.symbols,
    runtime.symbols.blc_set_device(index),
    `Cannot select CUDA device ${index}`,
  );
}

/**
 * Allocates `bytes` of device memory on the current device.
 *
 * @example
 * ```ts
 * import { cudaAlloc, cudaRuntime } from "./cuda.ts";
 * if (cudaRuntime()) {
 *   using buffer = cudaAlloc(1 << 20);
 *   console.log(buffer.pointer);
 * }
 * ```
 */
export function cudaAlloc(bytes: number): CudaBuffer {
  const { symbols } = requireRuntime();
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new RangeError(`Byte count must be a non-negative integer: got ${bytes}`);
  }
  const out = new BigUint64Array(1);
  check(
    symbols,
    symbols.blc_malloc(BigInt(bytes), out),
    `Cannot allocate ${bytes} bytes on the GPU`,
  );
  let pointer: bigint | null = out[0];
  const buffer: CudaBuffer = {
    get pointer() {
      if (pointer === null) throw new Error("CUDA buffer already freed");
      return pointer;
    },
    bytes,
    read(count = bytes) {
      if (pointer === null) throw new Error("CUDA buffer already freed");
      if (!Number.isSafeInteger(count) || count < 0 || count > bytes) {
        throw new RangeError(`Cannot read ${count} bytes of a ${bytes}-byte CUDA buffer`);
      }
      const host = new Uint8Array(count);
      check(
        symbols,
        symbols.blc_memcpy_d2h(host, pointer, BigInt(count)),
        "Cannot copy from the GPU",
      );
      return host;
    },
    free() {
      if (pointer === null) return;
      const p = pointer;
      pointer = null;
      check(symbols, symbols.blc_free(p), "Cannot free GPU memory");
    },
    [Symbol.dispose]() {
      buffer.free();
    },
  };
  return buffer;
}

/**
 * Copies host bytes into a new device buffer (`cudaMemcpy`).
 *
 * @example
 * ```ts
 * import { cudaRuntime, cudaUploadBytes } from "./cuda.ts";
 * if (cudaRuntime()) {
 *   using buffer = cudaUploadBytes(new Uint8Array([1, 2, 3]));
 *   console.log(buffer.read()); // Uint8Array [1, 2, 3]
 * }
 * ```
 */
export function cudaUploadBytes(bytes: Uint8Array): CudaBuffer {
  const { symbols } = requireRuntime();
  const buffer = cudaAlloc(bytes.byteLength);
  try {
    check(
      symbols,
      symbols.blc_memcpy_h2d(buffer.pointer, bytes, BigInt(bytes.byteLength)),
      "Cannot copy to the GPU",
    );
  } catch (error) {
    buffer.free();
    throw error;
  }
  return buffer;
}

function checkSource(typeId: number, src: Uint8Array, n: number): number {
  if (!(src instanceof Uint8Array)) throw new TypeError("Source must be a Uint8Array");
  const needed = cudaSourceBytes(typeId, n);
  if (src.byteLength < needed) {
    throw new RangeError(
      `Cannot dequantize type ${typeId}: ${n} elements need ${needed} source bytes but got ${src.byteLength}`,
    );
  }
  return needed;
}

/**
 * Dequantizes `n` elements of `typeId` on the GPU: uploads `src`, runs the kernel into a device buffer
 * and copies the result back (`Float32Array`, or `Uint16Array` of binary16 bits for `out: "f16"`).
 * Throws when CUDA is unavailable.
 *
 * @example
 * ```ts
 * import { cudaDequantize, cudaRuntime } from "./cuda.ts";
 * if (cudaRuntime()) {
 *   const q8 = new Uint8Array(34); // one Q8_0 block
 *   const f32 = cudaDequantize(8, q8, 32);
 *   const f16 = cudaDequantize(8, q8, 32, { out: "f16" });
 *   console.log(f32.length, f16.length);
 * }
 * ```
 */
export function cudaDequantize(
  typeId: number,
  src: Uint8Array,
  n: number,
  options?: { out?: "f32" },
): Float32Array<ArrayBuffer>;
/**
 * {@link cudaDequantize} with `out: "f16"`: binary16 bits.
 *
 * @example
 * ```ts
 * import { cudaDequantize, cudaRuntime } from "./cuda.ts";
 * if (cudaRuntime()) console.log(cudaDequantize(8, new Uint8Array(34), 32, { out: "f16" })[0]); // 0
 * ```
 */
export function cudaDequantize(
  typeId: number,
  src: Uint8Array,
  n: number,
  options: { out: "f16" },
): Uint16Array<ArrayBuffer>;
/**
 * {@link cudaDequantize} with the output kind known only at run time.
 *
 * @example
 * ```ts
 * import { cudaDequantize, type CudaOutKind, cudaRuntime } from "./cuda.ts";
 * const out: CudaOutKind = "f32";
 * if (cudaRuntime()) console.log(cudaDequantize(8, new Uint8Array(34), 32, { out }).length); // 32
 * ```
 */
export function cudaDequantize(
  typeId: number,
  src: Uint8Array,
  n: number,
  options?: CudaDequantizeOptions,
): Float32Array<ArrayBuffer> | Uint16Array<ArrayBuffer>;
export function cudaDequantize(
  typeId: number,
  src: Uint8Array,
  n: number,
  options: CudaDequantizeOptions = {},
): Float32Array<ArrayBuffer> | Uint16Array<ArrayBuffer> {
  const { symbols } = requireRuntime();
  const out = options.out ?? "f32";
  const needed = checkSource(typeId, src, n);
  const width = out === "f32" ? 4 : 2;
  if (n === 0) return out === "f32" ? new Float32Array(0) : new Uint16Array(0);
  using input = cudaUploadBytes(src.subarray(0, needed));
  using output = cudaAlloc(n * width);
  check(
    symbols,
    symbols.blc_dequantize(typeId, input.pointer, output.pointer, BigInt(n), CUDA_OUT[out]),
    `Cannot dequantize type ${typeId} on the GPU`,
  );
  const bytes = output.read();
  return out === "f32" ? new Float32Array(bytes.buffer) : new Uint16Array(bytes.buffer);
}

/**
 * Runs the CUDA kernels' own decoders on the CPU (compiled for the host into the same library): checks
 * their arithmetic bit for bit on machines without a GPU. Needs the library, not a driver.
 * `canonicalNan: true` makes every float operation return the GPU's canonical NaN first, so the x86 NaN
 * fix-up the device depends on is exercised too.
 *
 * @example
 * ```ts
 * import { cudaDequantizeEmulated, openCudaLibrary } from "./cuda.ts";
 * if (openCudaLibrary().ok) {
 *   const out = cudaDequantizeEmulated(8, new Uint8Array(34), 32);
 *   console.log(out[0]); // 0
 * }
 * ```
 */
export function cudaDequantizeEmulated(
  typeId: number,
  src: Uint8Array,
  n: number,
  options: CudaDequantizeOptions & { canonicalNan?: boolean } = {},
): Float32Array<ArrayBuffer> | Uint16Array<ArrayBuffer> {
  const opened = openCudaLibrary();
  if (!opened.ok) throw new Error(`CUDA library unavailable: ${opened.reason}`);
  const { symbols } = opened.library;
  const out = options.out ?? "f32";
  checkSource(typeId, src, n);
  const result = out === "f32" ? new Float32Array(n) : new Uint16Array(n);
  check(
    symbols,
    symbols.blc_dequantize_host(
      typeId,
      src,
      result,
      BigInt(n),
      CUDA_OUT[out],
      options.canonicalNan ? 1 : 0,
    ),
    `Cannot dequantize type ${typeId} (host emulation)`,
  );
  return result;
}

function transferArgs(
  options: CudaTransferOptions,
): { mode: number; chunk: number; streams: number } {
  const mode = CUDA_COPY[options.mode ?? "staged"];
  if (mode === undefined) throw new RangeError(`Unknown copy mode "${options.mode}"`);
  const chunk = options.chunkBytes ?? 64 << 20;
  const streams = options.streams ?? 2;
  if (!Number.isSafeInteger(chunk) || chunk <= 0) {
    throw new RangeError(`Chunk size must be a positive integer: got ${chunk}`);
  }
  if (!Number.isInteger(streams) || streams < 1 || streams > 8) {
    throw new RangeError(`Stream count must be 1..8: got ${streams}`);
  }
  return { mode, chunk, streams };
}

/**
 * Copies host bytes into an existing device buffer with the given mode and reports GB/s.
 *
 * @example
 * ```ts
 * import { cudaAlloc, cudaRuntime, cudaUpload } from "./cuda.ts";
 * if (cudaRuntime()) {
 *   const host = new Uint8Array(256 << 20);
 *   using device = cudaAlloc(host.byteLength);
 *   console.log(cudaUpload(device, host, { mode: "registered" }).gbPerSecond);
 * }
 * ```
 */
export function cudaUpload(
  target: CudaBuffer,
  host: Uint8Array,
  options: CudaTransferOptions = {},
): CudaTransferReport {
  const { symbols } = requireRuntime();
  const { mode, chunk, streams } = transferArgs(options);
  if (host.byteLength > target.bytes) {
    throw new RangeError(`Cannot copy ${host.byteLength} bytes into a ${target.bytes}-byte buffer`);
  }
  const seconds = new Float64Array(1);
  const setup = new Float64Array(1);
  check(
    symbols,
    symbols.blc_upload(
      target.pointer,
      host,
      BigInt(host.byteLength),
      BigInt(chunk),
      mode,
      streams,
      seconds,
      setup,
    ),
    "Cannot upload to the GPU",
  );
  return report(host.byteLength, seconds[0], setup[0]);
}

function report(bytes: number, seconds: number, setupSeconds: number): CudaTransferReport {
  return { bytes, seconds, setupSeconds, gbPerSecond: seconds > 0 ? bytes / seconds / 1e9 : 0 };
}

/** Result of {@link cudaUploadDequantize}. */
export interface CudaUploadDequantizeResult extends CudaTransferReport {
  /** The dequantized tensor on the device (f32 or f16 elements); the caller frees it. */
  buffer: CudaBuffer;
  /** Output element kind. */
  out: CudaOutKind;
}

/**
 * Uploads a quantized tensor chunk by chunk and dequantizes it on the device, overlapping each chunk's
 * copy with the previous chunk's dequant (modes `"staged"` — pinned staging buffers — or `"registered"`
 * — `cudaHostRegister` on `src`, e.g. an mmap view). `bytes`/`gbPerSecond` count the quantized bytes
 * read from the host; `seconds` includes setup.
 *
 * @example
 * ```ts
 * import { cudaRuntime, cudaUploadDequantize } from "./cuda.ts";
 * if (cudaRuntime()) {
 *   const q8 = new Uint8Array(34 * 1024);
 *   const result = cudaUploadDequantize(8, q8, 32 * 1024, { out: "f16" });
 *   console.log(result.gbPerSecond);
 *   result.buffer.free();
 * }
 * ```
 */
export function cudaUploadDequantize(
  typeId: number,
  src: Uint8Array,
  n: number,
  options: CudaTransferOptions & CudaDequantizeOptions = {},
): CudaUploadDequantizeResult {
  const { symbols } = requireRuntime();
  const out = options.out ?? "f32";
  const needed = checkSource(typeId, src, n);
  const { mode, chunk, streams } = transferArgs(options);
  const buffer = cudaAlloc(n * (out === "f32" ? 4 : 2));
  const seconds = new Float64Array(1);
  try {
    check(
      symbols,
      symbols.blc_upload_dequantize(
        typeId,
        src,
        BigInt(n),
        CUDA_OUT[out],
        buffer.pointer,
        BigInt(chunk),
        mode,
        streams,
        seconds,
      ),
      `Cannot upload and dequantize type ${typeId}`,
    );
  } catch (error) {
    buffer.free();
    throw error;
  }
  return { ...report(needed, seconds[0], 0), buffer, out };
}

/**
 * Measures device-to-device copy bandwidth (read + write bytes per second / 1e9), the reference the
 * dequant GB/s figures are compared with.
 *
 * @example
 * ```ts
 * import { cudaDeviceBandwidth, cudaRuntime } from "./cuda.ts";
 * if (cudaRuntime()) console.log(cudaDeviceBandwidth(256 << 20).gbPerSecond);
 * ```
 */
export function cudaDeviceBandwidth(bytes: number, iterations = 10): CudaTransferReport {
  const { symbols } = requireRuntime();
  using a = cudaAlloc(bytes);
  using b = cudaAlloc(bytes);
  const seconds = new Float64Array(1);
  check(
    symbols,
    symbols.blc_d2d_bandwidth(b.pointer, a.pointer, BigInt(bytes), iterations, seconds),
    "Cannot measure device bandwidth",
  );
  return report(2 * bytes * iterations, seconds[0], 0);
}

/** Host memory pinned with `cudaHostRegister`; unpin with `unregister()` or `using`. */
export interface CudaPinnedHost extends Disposable {
  /** The pinned bytes. */
  readonly bytes: Uint8Array;
  /** Seconds `cudaHostRegister` took. */
  readonly seconds: number;
  /** `cudaHostUnregister` (idempotent). */
  unregister(): void;
}

/**
 * Pins existing host memory (e.g. an mmap view of a model file) with `cudaHostRegister` (read-only where
 * the driver allows it), so that later copies from it (`cudaUpload` with mode `"pageable"`, which then
 * runs at pinned speed) need no staging. Keep `bytes` alive and unmoved until unregistered.
 *
 * @example
 * ```ts
 * import { cudaAlloc, cudaRegisterHost, cudaRuntime, cudaUpload } from "./cuda.ts";
 * if (cudaRuntime()) {
 *   const host = new Uint8Array(64 << 20);
 *   using pinned = cudaRegisterHost(host);
 *   using device = cudaAlloc(host.byteLength);
 *   console.log(cudaUpload(device, pinned.bytes, { mode: "pageable" }).gbPerSecond);
 * }
 * ```
 */
export function cudaRegisterHost(bytes: Uint8Array): CudaPinnedHost {
  const { symbols } = requireRuntime();
  if (bytes.byteLength === 0) throw new RangeError("Cannot pin an empty buffer");
  const started = performance.now();
  check(
    symbols,
    symbols.blc_host_register(bytes, BigInt(bytes.byteLength)),
    "Cannot pin host memory",
  );
  const seconds = (performance.now() - started) / 1000;
  let registered = true;
  const pinned: CudaPinnedHost = {
    bytes,
    seconds,
    unregister() {
      if (!registered) return;
      registered = false;
      check(symbols, symbols.blc_host_unregister(bytes), "Cannot unpin host memory");
    },
    [Symbol.dispose]() {
      pinned.unregister();
    },
  };
  return pinned;
}

/**
 * Times the device dequantizer alone on data already on the GPU (wall time of one synchronous call,
 * after one warm-up call); returns GB/s of quantized bytes read plus output bytes written.
 *
 * @example
 * ```ts
 * import { cudaDequantizeThroughput, cudaRuntime } from "./cuda.ts";
 * if (cudaRuntime()) console.log(cudaDequantizeThroughput(12, 64 << 20, "f16").gbPerSecond);
 * ```
 */
export function cudaDequantizeThroughput(
  typeId: number,
  n: number,
  out: CudaOutKind = "f32",
  iterations = 5,
): CudaTransferReport {
  const { symbols } = requireRuntime();
  const srcBytes = cudaSourceBytes(typeId, n);
  using src = cudaAlloc(srcBytes);
  using dst = cudaAlloc(n * (out === "f32" ? 4 : 2));
  check(symbols, symbols.blc_memset(src.pointer, 0x55, BigInt(srcBytes)), "Cannot fill GPU memory");
  const run = () =>
    check(
      symbols,
      symbols.blc_dequantize(typeId, src.pointer, dst.pointer, BigInt(n), CUDA_OUT[out]),
      `Cannot dequantize type ${typeId} on the GPU`,
    );
  run();
  const started = performance.now();
  for (let i = 0; i < iterations; i++) run();
  const seconds = (performance.now() - started) / 1000 / iterations;
  return report(srcBytes + dst.bytes, seconds, 0);
}

function checkMatvec(rows: number, cols: number, wBytes: number, xLength: number): void {
  if (!Number.isSafeInteger(rows) || rows < 0 || !Number.isSafeInteger(cols) || cols < 0) {
    throw new RangeError(`Matrix shape must be non-negative integers: got ${rows} x ${cols}`);
  }
  if (cols % 128 !== 0) {
    throw new RangeError(`I2_S rows must hold whole blocks: ${cols} % 128 != 0`);
  }
  if (cols > 132096) {
    throw new RangeError(`At most 132096 columns (exact integer sums): got ${cols}`);
  }
  const needed = (rows * cols) / 4 + 4;
  if (wBytes < needed) {
    throw new RangeError(`${rows} x ${cols} I2_S weights need ${needed} bytes but got ${wBytes}`);
  }
  if (xLength < cols) throw new RangeError(`Need ${cols} activations but got ${xLength}`);
}

/**
 * BitNet I2_S × int8 matrix-vector product on the GPU: `y[r] = ((float)Σ_k w[r][k]·q[k] · xScale) ·
 * wScale` with `w` an I2_S tensor of `rows × cols` elements (then its f32 scale) and `q` the int8
 * activations. Uploads, runs and downloads; the integer sums are exact, so the result is bit-identical
 * to {@link cudaI2sMatvecEmulated} and to `i2sMatvecReference` (tests/reference/i2s_matvec.ts) for finite scales.
 *
 * @example
 * ```ts
 * import { cudaI2sMatvec, cudaRuntime } from "./cuda.ts";
 * if (cudaRuntime()) {
 *   const w = new Uint8Array(2 * 128 / 4 + 4); // 2 rows of 128, all code 0 (-1), scale bytes 0
 *   const y = cudaI2sMatvec(w, 2, 128, new Int8Array(128).fill(1), 1);
 *   console.log(y); // Float32Array [-0, -0] (scale 0)
 * }
 * ```
 */
export function cudaI2sMatvec(
  w: Uint8Array,
  rows: number,
  cols: number,
  x: Int8Array,
  xScale: number,
): Float32Array<ArrayBuffer> {
  const { symbols } = requireRuntime();
  checkMatvec(rows, cols, w.byteLength, x.length);
  if (rows === 0) return new Float32Array(0);
  using wd = cudaUploadBytes(w.subarray(0, (rows * cols) / 4 + 4));
  using xd = cudaUploadBytes(new Uint8Array(x.buffer, x.byteOffset, cols));
  using yd = cudaAlloc(rows * 4);
  check(
    symbols,
    symbols.blc_i2s_matvec(wd.pointer, BigInt(rows), BigInt(cols), xd.pointer, xScale, yd.pointer),
    "Cannot run the I2_S matvec on the GPU",
  );
  return new Float32Array(yd.read().buffer);
}

/**
 * {@link cudaI2sMatvec} computed by the library on the CPU (no GPU or driver needed).
 *
 * @example
 * ```ts
 * import { cudaI2sMatvecEmulated, openCudaLibrary } from "./cuda.ts";
 * if (openCudaLibrary().ok) {
 *   const w = new Uint8Array(128 / 4 + 4).fill(0x80); // codes 2,0,0,0 → +1,-1,-1,-1 per byte
 *   new DataView(w.buffer).setFloat32(32, 0.5, true);
 *   console.log(cudaI2sMatvecEmulated(w, 1, 128, new Int8Array(128).fill(2), 1)); // [-64]
 * }
 * ```
 */
export function cudaI2sMatvecEmulated(
  w: Uint8Array,
  rows: number,
  cols: number,
  x: Int8Array,
  xScale: number,
): Float32Array<ArrayBuffer> {
  const opened = openCudaLibrary();
  if (!opened.ok) throw new Error(`CUDA library unavailable: ${opened.reason}`);
  checkMatvec(rows, cols, w.byteLength, x.length);
  const y = new Float32Array(rows);
  const { symbols } = opened.library;
  check(
    symbols,
    symbols.blc_i2s_matvec_host(w, BigInt(rows), BigInt(cols), x, xScale, y),
    "Cannot run the I2_S matvec (host emulation)",
  );
  return y;
}

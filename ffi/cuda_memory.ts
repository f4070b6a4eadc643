/**
 * CUDA device memory and host-to-device transfers: allocation, uploads (pageable, staged or
 * registered), pinned host memory and the device-to-device bandwidth probe. Part of `ffi/cuda.ts`.
 *
 * @module
 */

import { check, requireRuntime } from "./cuda_open.ts";
import { CudaError } from "./errors.ts";
import { CUDA_COPY } from "./cuda_symbols.ts";

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
    throw new CudaError("BAD_ARGUMENT", `Byte count must be a non-negative integer: got ${bytes}`);
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
      if (pointer === null) throw new CudaError("FREED", "CUDA buffer already freed");
      return pointer;
    },
    bytes,
    read(count = bytes) {
      if (pointer === null) throw new CudaError("FREED", "CUDA buffer already freed");
      if (!Number.isSafeInteger(count) || count < 0 || count > bytes) {
        throw new CudaError(
          "BAD_ARGUMENT",
          `Cannot read ${count} bytes of a ${bytes}-byte CUDA buffer`,
        );
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

/** The native arguments of a transfer (mode, chunk size, streams), checked. */
export function transferArgs(
  options: CudaTransferOptions,
): { mode: number; chunk: number; streams: number } {
  const mode = CUDA_COPY[options.mode ?? "staged"];
  if (mode === undefined) {
    throw new CudaError("BAD_ARGUMENT", `Unknown copy mode "${options.mode}"`);
  }
  const chunk = options.chunkBytes ?? 64 << 20;
  const streams = options.streams ?? 2;
  if (!Number.isSafeInteger(chunk) || chunk <= 0) {
    throw new CudaError("BAD_ARGUMENT", `Chunk size must be a positive integer: got ${chunk}`);
  }
  if (!Number.isInteger(streams) || streams < 1 || streams > 8) {
    throw new CudaError("BAD_ARGUMENT", `Stream count must be 1..8: got ${streams}`);
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
    throw new CudaError(
      "BAD_ARGUMENT",
      `Cannot copy ${host.byteLength} bytes into a ${target.bytes}-byte buffer`,
    );
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

/** A transfer report from bytes and seconds. */
export function report(bytes: number, seconds: number, setupSeconds: number): CudaTransferReport {
  return { bytes, seconds, setupSeconds, gbPerSecond: seconds > 0 ? bytes / seconds / 1e9 : 0 };
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
  if (bytes.byteLength === 0) throw new CudaError("BAD_ARGUMENT", "Cannot pin an empty buffer");
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

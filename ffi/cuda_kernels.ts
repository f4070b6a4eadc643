/**
 * The CUDA kernels: device dequantization (and its host emulation), upload-and-dequantize, the
 * dequant throughput probe and the I2_S matrix-vector product. Part of `ffi/cuda.ts`.
 *
 * @module
 */

import { check, openCudaLibrary, requireRuntime } from "./cuda_open.ts";
import { CudaError } from "./errors.ts";
import {
  cudaAlloc,
  type CudaBuffer,
  type CudaTransferOptions,
  type CudaTransferReport,
  cudaUploadBytes,
  report,
  transferArgs,
} from "./cuda_memory.ts";
import { CUDA_OUT, CUDA_TYPES } from "./cuda_symbols.ts";

/** Output element kind of the device dequantizers. */
export type CudaOutKind = "f32" | "f16";

/** Options of {@link cudaDequantize} and {@link cudaDequantizeEmulated}. */
export interface CudaDequantizeOptions {
  /** `"f32"` (default) or `"f16"` (round-to-nearest-even binary16 of the f32 value). */
  out?: CudaOutKind;
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
  if (g === undefined) {
    throw new CudaError("UNSUPPORTED_TYPE", `Type ${typeId} is not supported by the CUDA kernels`);
  }
  if (!Number.isSafeInteger(n) || n < 0 || n % g.elements !== 0) {
    throw new CudaError(
      "BAD_ARGUMENT",
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

function checkSource(typeId: number, src: Uint8Array, n: number): number {
  if (!(src instanceof Uint8Array)) {
    throw new CudaError("BAD_ARGUMENT", "Source must be a Uint8Array");
  }
  const needed = cudaSourceBytes(typeId, n);
  if (src.byteLength < needed) {
    throw new CudaError(
      "BAD_ARGUMENT",
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
  if (!opened.ok) throw new CudaError("UNAVAILABLE", `CUDA library unavailable: ${opened.reason}`);
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
    throw new CudaError(
      "BAD_ARGUMENT",
      `Matrix shape must be non-negative integers: got ${rows} x ${cols}`,
    );
  }
  if (cols % 128 !== 0) {
    throw new CudaError("BAD_ARGUMENT", `I2_S rows must hold whole blocks: ${cols} % 128 != 0`);
  }
  if (cols > 132096) {
    throw new CudaError("BAD_ARGUMENT", `At most 132096 columns (exact integer sums): got ${cols}`);
  }
  const needed = (rows * cols) / 4 + 4;
  if (wBytes < needed) {
    throw new CudaError(
      "BAD_ARGUMENT",
      `${rows} x ${cols} I2_S weights need ${needed} bytes but got ${wBytes}`,
    );
  }
  if (xLength < cols) {
    throw new CudaError("BAD_ARGUMENT", `Need ${cols} activations but got ${xLength}`);
  }
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
  if (!opened.ok) throw new CudaError("UNAVAILABLE", `CUDA library unavailable: ${opened.reason}`);
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

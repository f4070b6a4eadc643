/**
 * Uploads the tensors a placement plan puts on a CUDA device: quantized as stored, or dequantized on the
 * device to f16/f32 (types without a CUDA kernel are dequantized by the CPU kernels and uploaded), with
 * the bytes, time and GB/s of the whole upload.
 *
 * @module
 */

import { GpuError } from "./errors.ts";
import {
  cudaAlloc,
  type CudaBuffer,
  type CudaCopyMode,
  type CudaOutKind,
  cudaSetDevice,
  cudaSupportsType,
  cudaUpload,
  cudaUploadBytes,
  cudaUploadDequantize,
} from "../../ffi/cuda.ts";
import { CUDA_TYPES } from "../../ffi/cuda_symbols.ts";
import { dequantizeToNew } from "../quant/dequantize.ts";
import { quantizeF16 } from "../quant/quantize.ts";

/** The part of a tensor's description the upload needs (a subset of `GgufTensorInfo`). */
export interface PlacedTensorInfo {
  /** Tensor name. */
  readonly name: string;
  /** Element count. */
  readonly elementCount: number;
  /** Bytes of tensor data. */
  readonly byteSize: number;
  /** The tensor type: its id in the file and its name (`I2_S`, `Q4_K`, …). */
  readonly type: { readonly id: number; readonly name: string };
}

/** What {@link uploadTensorsToCuda} reads: tensor infos and their bytes (an opened model fits). */
export interface TensorSource {
  /** All tensors of the model. */
  readonly tensors: readonly PlacedTensorInfo[];
  /** The bytes of a tensor as stored (e.g. a zero-copy mmap view). */
  tensorData(name: string): Uint8Array;
}

/** Options of {@link uploadTensorsToCuda}. */
export interface CudaPlacementOptions {
  /** CUDA device ordinal (default 0, i.e. `cuda0`). */
  device?: number;
  /** Keep the stored bytes (`"quantized"`, default) or dequantize to `"f16"` / `"f32"` on upload. */
  as?: "quantized" | CudaOutKind;
  /** H2D mode (default `"staged"`). */
  mode?: CudaCopyMode;
  /** Chunk size in bytes (default 64 MiB). */
  chunkBytes?: number;
  /** Streams (default 2). */
  streams?: number;
}

/** One uploaded tensor. */
export interface CudaTensor {
  /** Tensor name. */
  name: string;
  /** The device buffer (the caller frees it, or disposes the whole result). */
  buffer: CudaBuffer;
  /** What the buffer holds: the stored type's name, or `"F16"`/`"F32"` after dequantization. */
  layout: string;
  /** Whether the CUDA kernels dequantized it (false: stored bytes, or CPU-dequantized). */
  deviceDequantized: boolean;
}

/** Result of {@link uploadTensorsToCuda}; disposing it frees every buffer. */
export interface CudaPlacement extends Disposable {
  /** The uploaded tensors, by name. */
  tensors: Map<string, CudaTensor>;
  /** Host bytes read (stored tensor sizes). */
  bytes: number;
  /** Seconds for the whole upload. */
  seconds: number;
  /** bytes / seconds / 1e9. */
  gbPerSecond: number;
  /** Frees every buffer. */
  free(): void;
}

/** The CUDA kernels' type id for a tensor type (I2_S is 36 whatever the file's id), or `null`. */
function cudaTypeId(type: { id: number; name: string }): number | null {
  const byName = (CUDA_TYPES as Record<string, number>)[type.name];
  if (byName !== undefined) return byName;
  return null;
}

/**
 * Uploads the named tensors to a CUDA device. Throws when CUDA is unavailable or a name is unknown;
 * buffers already uploaded are freed when a later tensor fails.
 *
 * @example
 * ```ts
 * import { cudaRuntime } from "../../ffi/cuda.ts";
 * import { uploadTensorsToCuda } from "./place.ts";
 * const model = {
 *   tensors: [{ name: "w", elementCount: 32, byteSize: 34, type: { id: 8, name: "Q8_0" } }],
 *   tensorData: () => new Uint8Array(34),
 * };
 * if (cudaRuntime()) {
 *   using placed = uploadTensorsToCuda(model, ["w"], { as: "f16" });
 *   console.log(placed.gbPerSecond, placed.tensors.get("w")?.layout); // … "F16"
 * }
 * ```
 */
export function uploadTensorsToCuda(
  model: TensorSource,
  names: readonly string[],
  options: CudaPlacementOptions = {},
): CudaPlacement {
  const as = options.as ?? "quantized";
  const transfer = {
    mode: options.mode ?? "staged",
    chunkBytes: options.chunkBytes,
    streams: options.streams,
  };
  const infos = new Map(model.tensors.map((t) => [t.name, t]));
  cudaSetDevice(options.device ?? 0);
  const tensors = new Map<string, CudaTensor>();
  const free = () => {
    for (const t of tensors.values()) t.buffer.free();
  };
  let bytes = 0;
  const started = performance.now();
  try {
    for (const name of names) {
      const info = infos.get(name);
      if (info === undefined) throw new GpuError("NO_TENSOR", `No tensor "${name}" in the model`);
      const data = model.tensorData(name);
      bytes += info.byteSize;
      if (as === "quantized") {
        const buffer = cudaAlloc(data.byteLength);
        tensors.set(name, { name, buffer, layout: info.type.name, deviceDequantized: false });
        cudaUpload(buffer, data, transfer);
        continue;
      }
      const id = cudaTypeId(info.type);
      const layout = as === "f16" ? "F16" : "F32";
      if (id !== null && cudaSupportsType(id)) {
        const result = cudaUploadDequantize(id, data, info.elementCount, { ...transfer, out: as });
        tensors.set(name, { name, buffer: result.buffer, layout, deviceDequantized: true });
      } else {
        const values = dequantizeToNew(info.type.name, data, info.elementCount);
        const host = as === "f32"
          ? new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
          : quantizeF16(values);
        tensors.set(name, {
          name,
          buffer: cudaUploadBytes(host),
          layout,
          deviceDequantized: false,
        });
      }
    }
  } catch (error) {
    free();
    throw error;
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    tensors,
    bytes,
    seconds,
    gbPerSecond: seconds > 0 ? bytes / seconds / 1e9 : 0,
    free,
    [Symbol.dispose]: free,
  };
}

/**
 * Synthetic model-shaped uploads for the GPU transfer measurements of issue 11: the tensor list of a
 * LLaMA-7B-shaped Q4_K model and of a BitNet-b1.58-2B-shaped I2_S model, uploaded tensor by tensor from
 * one pinned (or staged) host buffer, with the total time and GB/s.
 *
 * @module
 */

import {
  cudaAlloc,
  type CudaBuffer,
  type CudaCopyMode,
  cudaRegisterHost,
  cudaSourceBytes,
  cudaUpload,
} from "../../ffi/cuda.ts";
import { fillRandom } from "./gpu_fixtures.ts";

/** One tensor of a synthetic model. */
export interface SyntheticTensor {
  /** GGUF-style name. */
  name: string;
  /** ggml type id. */
  typeId: number;
  /** Element count. */
  elements: number;
  /** Bytes in the file. */
  bytes: number;
}

/** The shapes of issue 11's targets. */
export type SyntheticModelShape = "llama-7b-q4_k" | "bitnet-2b-i2_s";

function tensor(name: string, typeId: number, elements: number): SyntheticTensor {
  return { name, typeId, elements, bytes: cudaSourceBytes(typeId, elements) };
}

/**
 * The tensors of a model shape: LLaMA-7B (vocab 32000, dim 4096, ffn 11008, 32 layers; Q4_K weights,
 * Q6_K output, F32 norms) or BitNet b1.58 2B (vocab 128256, dim 2560, ffn 6912, 30 layers, 5 KV heads of
 * 128; I2_S weights, F16 embeddings, F32 norms).
 *
 * @example
 * ```ts
 * import { syntheticModelTensors } from "./gpu_upload.ts";
 * const tensors = syntheticModelTensors("llama-7b-q4_k");
 * console.log(tensors.reduce((sum, t) => sum + t.bytes, 0) / 2 ** 30); // ≈ 3.6 GiB
 * ```
 */
export function syntheticModelTensors(shape: SyntheticModelShape): SyntheticTensor[] {
  const out: SyntheticTensor[] = [];
  if (shape === "llama-7b-q4_k") {
    const [vocab, dim, ffn, layers] = [32000, 4096, 11008, 32];
    out.push(tensor("token_embd.weight", 12, vocab * dim));
    for (let l = 0; l < layers; l++) {
      for (const w of ["attn_q", "attn_k", "attn_v", "attn_output"]) {
        out.push(tensor(`blk.${l}.${w}.weight`, 12, dim * dim));
      }
      out.push(tensor(`blk.${l}.ffn_gate.weight`, 12, ffn * dim));
      out.push(tensor(`blk.${l}.ffn_up.weight`, 12, ffn * dim));
      out.push(tensor(`blk.${l}.ffn_down.weight`, 12, dim * ffn));
      out.push(tensor(`blk.${l}.attn_norm.weight`, 0, dim));
      out.push(tensor(`blk.${l}.ffn_norm.weight`, 0, dim));
    }
    out.push(tensor("output_norm.weight", 0, dim));
    out.push(tensor("output.weight", 14, vocab * dim));
  } else {
    const [vocab, dim, ffn, layers, kv] = [128256, 2560, 6912, 30, 5 * 128];
    out.push(tensor("token_embd.weight", 1, vocab * dim));
    for (let l = 0; l < layers; l++) {
      out.push(tensor(`blk.${l}.attn_q.weight`, 36, dim * dim));
      out.push(tensor(`blk.${l}.attn_k.weight`, 36, kv * dim));
      out.push(tensor(`blk.${l}.attn_v.weight`, 36, kv * dim));
      out.push(tensor(`blk.${l}.attn_output.weight`, 36, dim * dim));
      out.push(tensor(`blk.${l}.ffn_gate.weight`, 36, ffn * dim));
      out.push(tensor(`blk.${l}.ffn_up.weight`, 36, ffn * dim));
      out.push(tensor(`blk.${l}.ffn_down.weight`, 36, dim * ffn));
      for (const norm of ["attn_norm", "ffn_norm", "attn_sub_norm"]) {
        out.push(tensor(`blk.${l}.${norm}.weight`, 0, dim));
      }
      out.push(tensor(`blk.${l}.ffn_sub_norm.weight`, 0, ffn));
    }
    out.push(tensor("output_norm.weight", 0, dim));
  }
  return out;
}

/** Result of {@link uploadSyntheticModel}. */
export interface SyntheticUploadReport {
  /** Model shape. */
  shape: SyntheticModelShape;
  /** Tensors uploaded. */
  tensors: number;
  /** Bytes uploaded. */
  bytes: number;
  /** Seconds from the first allocation to the last copy's completion (pinning excluded). */
  seconds: number;
  /** Seconds spent pinning the host buffer (mode `"registered"`), once. */
  pinSeconds: number;
  /** bytes / seconds / 1e9. */
  gbPerSecond: number;
}

/**
 * Uploads every tensor of a synthetic model to the current GPU and frees them again. The host side is
 * one random buffer as large as the largest tensor, pinned once (`"registered"`, as an mmap'ed file
 * would be) or copied through pinned staging buffers (`"staged"`), or plain `cudaMemcpy` (`"pageable"`).
 * Needs a GPU.
 *
 * @example
 * ```ts
 * import { cudaRuntime } from "../../ffi/cuda.ts";
 * import { uploadSyntheticModel } from "./gpu_upload.ts";
 * if (cudaRuntime()) {
 *   const r = uploadSyntheticModel("llama-7b-q4_k", "registered");
 *   console.log(`${r.bytes / 1e9} GB in ${r.seconds} s`);
 * }
 * ```
 */
export function uploadSyntheticModel(
  shape: SyntheticModelShape,
  mode: CudaCopyMode = "registered",
): SyntheticUploadReport {
  const tensors = syntheticModelTensors(shape);
  const largest = Math.max(...tensors.map((t) => t.bytes));
  const host = new Uint8Array(largest);
  for (let offset = 0; offset < host.byteLength; offset += 64 << 20) {
    fillRandom(host.subarray(offset, offset + (64 << 20)), offset + 1);
  }
  const pinned = mode === "registered" ? cudaRegisterHost(host) : null;
  const buffers: CudaBuffer[] = [];
  let bytes = 0;
  try {
    const started = performance.now();
    for (const t of tensors) {
      const buffer = cudaAlloc(t.bytes);
      buffers.push(buffer);
      // Registered memory is already pinned: a plain cudaMemcpy from it runs at pinned speed.
      cudaUpload(buffer, host.subarray(0, t.bytes), {
        mode: mode === "registered" ? "pageable" : mode,
        chunkBytes: mode === "registered" ? t.bytes : 64 << 20,
      });
      bytes += t.bytes;
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      shape,
      tensors: tensors.length,
      bytes,
      seconds,
      pinSeconds: pinned?.seconds ?? 0,
      gbPerSecond: bytes / seconds / 1e9,
    };
  } finally {
    for (const buffer of buffers) buffer.free();
    pinned?.unregister();
  }
}

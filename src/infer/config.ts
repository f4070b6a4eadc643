/**
 * Hyperparameters of the architectures bitload runs, read from GGUF metadata.
 *
 * Facts checked against the public sources (llama.cpp v0.5.0 `src/models/bitnet.cpp`,
 * `src/llama-model.cpp`; microsoft/BitNet's llama.cpp fork `build_bitnet_158`):
 * - `bitnet` (upstream) and `bitnet-b1.58` (microsoft/BitNet 2B-4T) both use NEOX RoPE
 *   (`llama_model_rope_type` lists `LLM_ARCH_BITNET` and `LLM_ARCH_BITNET_B158` in the NEOX group):
 *   dimension i is rotated with i + n_rot/2.
 * - Both apply RMSNorm `attn_sub_norm` to the attention output before `attn_output`, and
 *   `ffn_sub_norm` to the gated FFN product before `ffn_down`.
 * - FFN activation: upstream `bitnet` builds `LLM_FFN_SILU, LLM_FFN_PAR` (silu(gate) * up);
 *   the fork's `build_bitnet_158` builds `LLM_FFN_RELU_SQR, LLM_FFN_PAR` (relu(gate)^2 * up).
 * - The LM head is `token_embd` (upstream: "do not use model.tok_embd directly"; the 2B-4T file
 *   has no `output.weight`).
 * - Upstream `bitnet` may carry per-tensor `.scale` tensors (`{1}`, optional) multiplying each
 *   projection's output (`build_lora_mm(w, cur, w_s)` = `ggml_mul(ggml_mul_mat(w, cur), w_s)`).
 * - `llama` uses NORM RoPE (adjacent pairs), SiLU, no sub-norms, `output.weight` when present.
 *
 * @module
 */

import type { GgufMetadata } from "../gguf/metadata.ts";
import { metadataNumber, metadataString } from "../gguf/metadata.ts";
import { ModelConfigError } from "./errors.ts";

/** Architectures the forward pass implements. */
export const SUPPORTED_ARCHITECTURES = ["bitnet-b1.58", "bitnet-25", "bitnet", "llama"] as const;

/** One of {@link SUPPORTED_ARCHITECTURES}. */
export type InferArchitecture = typeof SUPPORTED_ARCHITECTURES[number];

/** Hyperparameters of a model. */
export interface ModelConfig {
  /** `general.architecture`. */
  arch: InferArchitecture;
  /** Transformer blocks. */
  nLayer: number;
  /** Embedding width. */
  nEmbd: number;
  /** Feed-forward width. */
  nFf: number;
  /** Query heads. */
  nHead: number;
  /** Key/value heads (GQA). */
  nHeadKv: number;
  /** Width of one head. */
  headDim: number;
  /** Rotated dimensions per head. */
  nRot: number;
  /** RMSNorm epsilon. */
  eps: number;
  /** RoPE base frequency θ. */
  ropeBase: number;
  /** `"neox"` pairs i with i + n_rot/2; `"norm"` pairs 2i with 2i+1. */
  ropeType: "neox" | "norm";
  /** FFN activation applied to the gate: relu² (`bitnet-b1.58`) or SiLU. */
  activation: "relu2" | "silu";
  /** Whether blocks carry `attn_sub_norm` / `ffn_sub_norm`. */
  subNorms: boolean;
  /** Vocabulary size. */
  nVocab: number;
  /** Training context length. */
  nCtxTrain: number;
  /** Beginning-of-sequence token id. */
  bosId: number | undefined;
  /** End-of-sequence token id. */
  eosId: number | undefined;
}

/**
 * Reads the hyperparameters of a model from its metadata. `vocabFallback` is used when
 * `<arch>.vocab_size` is absent (the row count of `token_embd`).
 *
 * @throws {ModelConfigError} For an unsupported architecture or missing keys.
 *
 * @example
 * ```ts ignore
 * import { openModelFile } from "../load/open.ts";
 * import { readModelConfig } from "./config.ts";
 * const model = await openModelFile("model.gguf");
 * const config = readModelConfig(model.metadata, 1024);
 * console.log(config.arch, config.nLayer);
 * ```
 */
export function readModelConfig(metadata: GgufMetadata, vocabFallback?: number): ModelConfig {
  const arch = metadataString(metadata, "general.architecture") ?? "";
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(arch)) {
    throw new ModelConfigError(
      "UNSUPPORTED_ARCHITECTURE",
      `Cannot run architecture "${arch}": bitload runs ${SUPPORTED_ARCHITECTURES.join(", ")}`,
    );
  }
  const a = arch as InferArchitecture;
  const need = (key: string): number => {
    const v = metadataNumber(metadata, `${arch}.${key}`);
    if (v === undefined) {
      throw new ModelConfigError("MISSING_KEY", `Missing metadata key ${arch}.${key}`);
    }
    return v;
  };
  const opt = (key: string): number | undefined => metadataNumber(metadata, `${arch}.${key}`);
  const nEmbd = need("embedding_length");
  const nHead = need("attention.head_count");
  const headDim = opt("attention.key_length") ?? nEmbd / nHead;
  const nVocab = opt("vocab_size") ?? vocabFallback;
  if (nVocab === undefined) {
    throw new ModelConfigError("MISSING_KEY", `Missing metadata key ${arch}.vocab_size`);
  }
  const bitnet = a !== "llama";
  return {
    arch: a,
    nLayer: need("block_count"),
    nEmbd,
    nFf: need("feed_forward_length"),
    nHead,
    nHeadKv: opt("attention.head_count_kv") ?? nHead,
    headDim,
    nRot: opt("rope.dimension_count") ?? headDim,
    eps: opt("attention.layer_norm_rms_epsilon") ?? 1e-5,
    ropeBase: opt("rope.freq_base") ?? 10000,
    ropeType: bitnet ? "neox" : "norm",
    activation: a === "bitnet-b1.58" || a === "bitnet-25" ? "relu2" : "silu",
    subNorms: bitnet,
    nVocab,
    nCtxTrain: opt("context_length") ?? 4096,
    bosId: metadataNumber(metadata, "tokenizer.ggml.bos_token_id"),
    eosId: metadataNumber(metadata, "tokenizer.ggml.eos_token_id"),
  };
}

/**
 * Memory accounting from a model's header alone: exact weight bytes per tensor and per layer
 * (the reader's `byteSize`, i.e. ggml's `ggml_nbytes`, never a bits-per-weight guess), the KV
 * cache for a context length and KV type, a documented compute/scratch estimate, and the
 * margins. Formulas follow llama.cpp v0.5.0 and cite the source they mirror.
 *
 * @module
 */

import { PlanError } from "./errors.ts";
import type { GgufModel, GgufTensorInfo } from "../gguf/model.ts";
import { metadataNumber, metadataString } from "../gguf/metadata.ts";

/** KV cache element types (`-ctk` / `-ctv` in llama.cpp). */
export type KvType = "f32" | "f16" | "q8_0" | "q4_0";

/**
 * Block size and bytes per block of each KV type (ggml `type_traits`: F32 4 B, F16 2 B, Q8_0
 * 34 B per 32 elements, Q4_0 18 B per 32 elements).
 */
export const KV_TYPES: Readonly<Record<KvType, { blockSize: number; typeSize: number }>> = {
  f32: { blockSize: 1, typeSize: 4 },
  f16: { blockSize: 1, typeSize: 2 },
  q8_0: { blockSize: 32, typeSize: 34 },
  q4_0: { blockSize: 32, typeSize: 18 },
};

/**
 * Whether `s` is a {@link KvType}.
 *
 * @example
 * ```ts
 * import { isKvType } from "./accounting.ts";
 * isKvType("q8_0"); // true
 * isKvType("q5_1"); // false
 * ```
 */
export function isKvType(s: string): s is KvType {
  return Object.hasOwn(KV_TYPES, s);
}

/** What a tensor is for, in placement terms. */
export type TensorRole = "input" | "layer" | "output" | "other";

/** The hyperparameters the planner needs, read from `{arch}.*` metadata. */
export interface ModelShape {
  /** `general.architecture`. */
  architecture: string;
  /** `{arch}.block_count` (or the highest `blk.N.` index + 1 when the key is missing). */
  layers: number;
  /** `{arch}.embedding_length`. */
  embd: number;
  /** `{arch}.attention.head_count` (0 when the model has no attention). */
  heads: number;
  /** `{arch}.attention.head_count_kv` per layer (defaults to `heads`; arrays per layer kept). */
  headsKv: number[];
  /** `{arch}.attention.key_length`, default `embd / heads`. */
  headDimK: number;
  /** `{arch}.attention.value_length`, default `embd / heads`. */
  headDimV: number;
  /** `{arch}.feed_forward_length` (0 when missing). */
  ffn: number;
  /** Vocabulary size: `{arch}.vocab_size`, the token list length, or `token_embd`'s ne1. */
  vocab: number;
  /** `{arch}.context_length` (training context), 0 when missing. */
  contextLength: number;
  /** Problems found reading the shape (missing keys, defaults used). */
  warnings: string[];
}

function numberList(model: GgufModel, key: string): number[] | undefined {
  const v = model.metadata.get(key)?.value;
  if (typeof v === "number") return [v];
  if (typeof v === "bigint") return [Number(v)];
  if (v && typeof v === "object" && ArrayBuffer.isView(v)) {
    return Array.from(v as ArrayLike<number | bigint>, Number);
  }
  return undefined;
}

/**
 * Reads the {@link ModelShape} of a model from its metadata (llama.cpp `llama_model::load_hparams`:
 * `n_embd_head_k = n_embd / n_head` unless `attention.key_length` is set; `head_count_kv`
 * defaults to `head_count` and may be an array per layer). Never throws: missing keys become
 * zeros and warnings.
 *
 * @example
 * ```ts ignore
 * import { modelShape } from "./accounting.ts";
 * const shape = modelShape(model);
 * shape.layers; // 30 for BitNet 2B-4T
 * ```
 */
export function modelShape(model: GgufModel): ModelShape {
  const m = model.metadata;
  const warnings: string[] = [];
  const arch = metadataString(m, "general.architecture") ?? "";
  if (arch === "") warnings.push("general.architecture is missing: KV cache counted as 0");
  const key = (k: string) => `${arch}.${k}`;
  let maxBlock = -1;
  for (const t of model.tensors) {
    const b = layerIndex(t.name);
    if (b !== null && b > maxBlock) maxBlock = b;
  }
  let layers = metadataNumber(m, key("block_count"));
  if (layers === undefined) {
    layers = maxBlock + 1;
    if (arch !== "") warnings.push(`${key("block_count")} is missing: using ${layers} from names`);
  }
  const embd = metadataNumber(m, key("embedding_length")) ?? 0;
  const heads = numberList(model, key("attention.head_count"))?.[0] ?? 0;
  const kvList = numberList(model, key("attention.head_count_kv"));
  const headsKv = Array.from(
    { length: layers },
    (_, i) => kvList ? (kvList.length === 1 ? kvList[0] : kvList[i] ?? 0) : heads,
  );
  const defaultHead = heads > 0 ? Math.floor(embd / heads) : 0;
  const headDimK = metadataNumber(m, key("attention.key_length")) ?? defaultHead;
  const headDimV = metadataNumber(m, key("attention.value_length")) ?? defaultHead;
  if (arch !== "" && heads === 0) {
    warnings.push(`${key("attention.head_count")} is missing: KV cache counted as 0`);
  }
  const embdTensor = model.tensors.find((t) => t.name === "token_embd.weight");
  const tokens = m.get("tokenizer.ggml.tokens")?.value;
  const vocab = metadataNumber(m, key("vocab_size")) ??
    (tokens && typeof tokens === "object" && "length" in tokens ? tokens.length : undefined) ??
    embdTensor?.dims[1] ?? 0;
  return {
    architecture: arch,
    layers,
    embd,
    heads,
    headsKv,
    headDimK,
    headDimV,
    ffn: numberList(model, key("feed_forward_length"))?.[0] ?? 0,
    vocab,
    contextLength: metadataNumber(m, key("context_length")) ?? 0,
    warnings,
  };
}

/**
 * The layer index of a tensor named `blk.N.…`, or `null`.
 *
 * @example
 * ```ts
 * import { layerIndex } from "./accounting.ts";
 * layerIndex("blk.12.attn_q.weight"); // 12
 * layerIndex("token_embd.weight"); // null
 * ```
 */
export function layerIndex(name: string): number | null {
  const m = /^blk\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * Placement role of a tensor, as llama.cpp assigns them (`llama_model::load_tensors`): the
 * token embedding (and other `token_*` / position embeddings) is the *input* layer, always on
 * the CPU; `output.weight`, `output_norm.*` and `output.bias` are the *output* layer, placed
 * like layer `n_layer`; `blk.N.*` are repeating layers; anything else is *other* (CPU).
 *
 * @example
 * ```ts
 * import { tensorRole } from "./accounting.ts";
 * tensorRole("token_embd.weight"); // "input"
 * tensorRole("output_norm.weight"); // "output"
 * tensorRole("blk.0.ffn_up.weight"); // "layer"
 * ```
 */
export function tensorRole(name: string): TensorRole {
  if (layerIndex(name) !== null) return "layer";
  if (/^(token_embd|token_types|position_embd|tok_embd)[._]/.test(name)) return "input";
  if (/^(output|output_norm|cls|cls\.output)(\.|$)/.test(name)) return "output";
  return "other";
}

/** Weight bytes of a model, exact, grouped the way placement needs them. */
export interface WeightAccounting {
  /** Sum of every tensor's `byteSize`. */
  totalBytes: number;
  /** Bytes per repeating layer, index = N of `blk.N.`. */
  layerBytes: number[];
  /** Bytes of the input layer (token embeddings). */
  inputBytes: number;
  /** Bytes of the output layer (head and final norm). */
  outputBytes: number;
  /** Bytes of tensors that belong to no layer and are not input/output. */
  otherBytes: number;
  /** Number of tensors. */
  tensorCount: number;
}

/**
 * Groups exact tensor bytes by layer. `totalBytes` equals the sum of every `byteSize` exactly,
 * and `sum(layerBytes) + inputBytes + outputBytes + otherBytes === totalBytes`.
 *
 * @example
 * ```ts ignore
 * import { accountWeights } from "./accounting.ts";
 * const w = accountWeights(model.tensors, 30);
 * w.layerBytes.length; // 30
 * ```
 */
export function accountWeights(
  tensors: readonly GgufTensorInfo[],
  layers = 0,
): WeightAccounting {
  const layerBytes: number[] = new Array(layers).fill(0);
  let inputBytes = 0, outputBytes = 0, otherBytes = 0, totalBytes = 0;
  for (const t of tensors) {
    totalBytes += t.byteSize;
    const b = layerIndex(t.name);
    if (b !== null) {
      while (layerBytes.length <= b) layerBytes.push(0);
      layerBytes[b] += t.byteSize;
      continue;
    }
    const role = tensorRole(t.name);
    if (role === "input") inputBytes += t.byteSize;
    else if (role === "output") outputBytes += t.byteSize;
    else otherBytes += t.byteSize;
  }
  return {
    totalBytes,
    layerBytes,
    inputBytes,
    outputBytes,
    otherBytes,
    tensorCount: tensors.length,
  };
}

/** Options of {@link kvCacheBytes}. */
export interface KvCacheOptions {
  /** Context length in tokens (all sequences together, unified KV). */
  ctx: number;
  /** KV element type for both K and V. Default `f16`. */
  kvType?: KvType;
  /** Pad the context to a multiple of 256 as llama.cpp does (`llama_context`). Default true. */
  pad?: boolean;
}

/** KV cache sizes, bytes. */
export interface KvCacheBytes {
  /** The context the cache holds (after padding). */
  ctx: number;
  /** KV type. */
  kvType: KvType;
  /** K + V bytes per layer. */
  perLayer: number[];
  /** All K bytes. */
  kBytes: number;
  /** All V bytes. */
  vBytes: number;
  /** K + V. */
  totalBytes: number;
}

/** `ggml_row_size(type, ne)`: bytes of `ne` elements of a KV type; throws when not whole blocks. */
function rowSize(kvType: KvType, ne: number): number {
  const { blockSize, typeSize } = KV_TYPES[kvType];
  if (ne % blockSize !== 0) {
    throw new PlanError(
      "BAD_OPTION",
      `KV type ${kvType} needs a row width that is a multiple of ${blockSize}, got ${ne}`,
    );
  }
  return (ne / blockSize) * typeSize;
}

/**
 * KV cache bytes as llama.cpp allocates them (`src/llama-kv-cache.cpp`: per layer one K tensor
 * `[n_embd_k_gqa, kv_size]` and one V tensor `[n_embd_v_gqa, kv_size]`, summed by
 * `size_k_bytes()` / `size_v_bytes()` with `ggml_nbytes`; `n_embd_k_gqa = n_embd_head_k ×
 * n_head_kv(il)` from `src/llama-hparams.cpp`; `n_ctx` padded to 256 in
 * `src/llama-context.cpp`). GQA aware: fewer KV heads, smaller cache. Quantized types need
 * `n_embd_k_gqa` to be a multiple of 32 (a `PlanError` `BAD_OPTION` otherwise).
 *
 * @example
 * ```ts
 * import { kvCacheBytes } from "./accounting.ts";
 * // BitNet b1.58 2B-4T: 30 layers, 2560 dims, 20 heads, 5 KV heads, 4096 tokens, f16.
 * const shape = { layers: 30, headsKv: new Array(30).fill(5), headDimK: 128, headDimV: 128 };
 * kvCacheBytes(shape, { ctx: 4096 }).totalBytes; // 314572800
 * ```
 */
export function kvCacheBytes(
  shape: Pick<ModelShape, "layers" | "headsKv" | "headDimK" | "headDimV">,
  options: KvCacheOptions,
): KvCacheBytes {
  const kvType = options.kvType ?? "f16";
  if (!Number.isInteger(options.ctx) || options.ctx <= 0) {
    throw new PlanError(
      "BAD_OPTION",
      `The context length must be a positive integer, got ${options.ctx}`,
    );
  }
  const ctx = options.pad === false ? options.ctx : Math.ceil(options.ctx / 256) * 256;
  const perLayer: number[] = [];
  let kBytes = 0, vBytes = 0;
  for (let il = 0; il < shape.layers; il++) {
    const nKv = shape.headsKv[il] ?? 0;
    const kWidth = shape.headDimK * nKv;
    const vWidth = shape.headDimV * nKv;
    // ggml_nbytes of [width, ctx] = ctx rows of ggml_row_size(type, width).
    const k = rowSize(kvType, kWidth) * ctx;
    const v = rowSize(kvType, vWidth) * ctx;
    kBytes += k;
    vBytes += v;
    perLayer.push(k + v);
  }
  return { ctx, kvType, perLayer, kBytes, vBytes, totalBytes: kBytes + vBytes };
}

/** Options of {@link scratchBytes}. */
export interface ScratchOptions {
  /** Context length (padded). */
  ctx: number;
  /** Micro-batch: tokens processed per graph evaluation (llama.cpp `n_ubatch`). Default 512. */
  batch?: number;
  /** Whether the device evaluates repeating layers (attention and FFN buffers). Default true. */
  layers?: boolean;
  /** Whether the device computes the output head (adds the logits). */
  output?: boolean;
  /** Flash attention: the KQ score matrix is never materialised. Default false. */
  flashAttention?: boolean;
}

/**
 * Compute/scratch buffer estimate for one device that evaluates layers, in bytes. It is an
 * *estimate* (ggml's graph allocator reuses memory, so the true peak depends on the graph) made
 * of the largest f32 activations alive at once for a micro-batch of `batch` tokens:
 *
 * - attention scores `KQ`: `n_head × ctx × batch × 4` (skipped with flash attention),
 * - feed-forward intermediates (gate and up): `2 × n_ff × batch × 4`,
 * - residual stream, normed input, Q/K/V and attention output: `4 × n_embd × batch × 4`,
 * - on the device holding the output head, the logits: `n_vocab × batch × 4`.
 *
 * A device that evaluates no layer (the CPU when everything is offloaded) keeps only the
 * residual stream (the embedding lookup) and, if it holds the head, the logits.
 *
 * Checked later against measured allocations (see docs/planner.md); the safety margin covers
 * the difference.
 *
 * @example
 * ```ts
 * import { scratchBytes } from "./accounting.ts";
 * const shape = { heads: 20, embd: 2560, ffn: 6912, vocab: 128256 };
 * scratchBytes(shape, { ctx: 4096, batch: 512 }); // 217055232
 * ```
 */
export function scratchBytes(
  shape: Pick<ModelShape, "heads" | "embd" | "ffn" | "vocab">,
  options: ScratchOptions,
): number {
  const batch = options.batch ?? 512;
  const f32 = 4;
  const layers = options.layers ?? true;
  const kq = !layers || options.flashAttention ? 0 : shape.heads * options.ctx * batch * f32;
  const ffn = layers ? 2 * shape.ffn * batch * f32 : 0;
  const stream = 4 * shape.embd * batch * f32;
  const logits = options.output ? shape.vocab * batch * f32 : 0;
  return kq + ffn + stream + logits;
}

/** Margins applied on top of the computed bytes. */
export interface Margins {
  /**
   * Parsing/loading overhead as a fraction of each device's weight bytes (staging buffers,
   * header, allocator rounding). Default 0.10.
   */
  overhead?: number;
  /** Safety margin as a fraction of everything needed on the device. Default 0.15. */
  safety?: number;
}

/** The default margins: 10 % overhead on weights, 15 % safety. */
export const DEFAULT_MARGINS: Readonly<Required<Margins>> = { overhead: 0.10, safety: 0.15 };

/** What one device must hold. */
export interface DeviceLoad {
  /** Weight bytes. */
  weights: number;
  /** KV cache bytes. */
  kv: number;
  /** Compute/scratch estimate. */
  scratch: number;
}

/** Needed and reserved bytes for one device. */
export interface DeviceNeed extends DeviceLoad {
  /** `overhead × weights`. */
  overhead: number;
  /** `weights + kv + scratch + overhead`. */
  needed: number;
  /** `safety × needed`. */
  margin: number;
}

/**
 * Applies the margins to one device's load (rounded up to whole bytes).
 *
 * @example
 * ```ts
 * import { applyMargins } from "./accounting.ts";
 * applyMargins({ weights: 1000, kv: 100, scratch: 0 }).needed; // 1200
 * applyMargins({ weights: 1000, kv: 100, scratch: 0 }).margin; // 180
 * ```
 */
export function applyMargins(load: DeviceLoad, margins: Margins = {}): DeviceNeed {
  const m = { ...DEFAULT_MARGINS, ...margins };
  const overhead = Math.ceil(load.weights * m.overhead);
  const needed = load.weights + load.kv + load.scratch + overhead;
  return { ...load, overhead, needed, margin: Math.ceil(needed * m.safety) };
}

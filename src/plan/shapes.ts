/**
 * Header-only models for planning: a `GgufModel`-shaped object built from metadata entries and
 * tensor shapes without any tensor data, so the planner can be exercised on the shapes of
 * models far too large to write (a 70B header, the official BitNet 2B-4T shape). Tensor sizes
 * come from the same type registry the reader uses (`tensorByteSize`).
 *
 * @module
 */

import { PlanError } from "./errors.ts";
import type { GgufMetadataEntry, GgufModel, GgufTensorInfo } from "../gguf/model.ts";
import {
  dialectForArchitecture,
  elementCount,
  ggmlTypeByName,
  tensorByteSize,
} from "../gguf/types.ts";
import type { GgufMetadataInput } from "../gguf/writer.ts";

/** A tensor shape for {@link headerOnlyModel}. */
export interface TensorShape {
  /** Tensor name. */
  name: string;
  /** Type name (`F16`, `Q4_K`, `I2_S`). */
  type: string;
  /** Dimensions in ggml order. */
  dims: readonly number[];
}

/**
 * Builds a data-less model from metadata and tensor shapes, with offsets laid out as a writer
 * would (32-byte alignment). Throws `PlanError` `BAD_SHAPE` for unknown types or shapes that are not whole
 * blocks.
 *
 * @example
 * ```ts
 * import { kv } from "../gguf/writer.ts";
 * import { headerOnlyModel } from "./shapes.ts";
 * const m = headerOnlyModel([kv.string("general.architecture", "llama")], [
 *   { name: "token_embd.weight", type: "F16", dims: [64, 100] },
 * ]);
 * m.tensors[0].byteSize; // 12800
 * ```
 */
export function headerOnlyModel(
  metadata: readonly GgufMetadataInput[],
  tensors: readonly TensorShape[],
): GgufModel {
  const map = new Map<string, GgufMetadataEntry>();
  for (const e of metadata) {
    map.set(e.key, { ...e, value: e.value as GgufMetadataEntry["value"], offset: 0 });
  }
  const arch = map.get("general.architecture")?.value;
  const dialect = dialectForArchitecture(typeof arch === "string" ? arch : undefined);
  let offset = 0;
  const infos: GgufTensorInfo[] = tensors.map((t) => {
    const type = ggmlTypeByName(t.type);
    if (!type) throw new PlanError("BAD_SHAPE", `Unknown tensor type "${t.type}" for "${t.name}"`);
    const byteSize = tensorByteSize(type, t.dims);
    if (byteSize === null) {
      throw new PlanError(
        "BAD_SHAPE",
        `Tensor "${t.name}" [${t.dims}] is not whole ${type.name} blocks`,
      );
    }
    const info: GgufTensorInfo = {
      name: t.name,
      dims: t.dims,
      type,
      offset,
      fileOffset: offset,
      byteSize,
      elementCount: elementCount(t.dims),
      part: 0,
    };
    offset += Math.ceil(byteSize / 32) * 32;
    return info;
  });
  const file = {
    source: "header-only",
    version: 3 as const,
    littleEndian: true,
    alignment: 32,
    dataOffset: 0,
    fileSize: undefined,
    metadata: map,
    tensors: infos,
    dialect,
    warnings: [],
  };
  return { parts: [file], metadata: map, tensors: infos, dialect, warnings: [] };
}

/** Shape of a Llama-style transformer for {@link transformerShapes}. */
export interface TransformerShapeOptions {
  /** `general.architecture`. Default `llama`. */
  architecture?: string;
  /** Blocks. */
  layers: number;
  /** Embedding width. */
  embd: number;
  /** Attention heads. */
  heads: number;
  /** KV heads. */
  headsKv: number;
  /** Feed-forward width. */
  ffn: number;
  /** Vocabulary. */
  vocab: number;
  /** Training context. Default 4096. */
  context?: number;
  /** Type of the projection matrices. Default `Q4_K`. */
  weightType?: string;
  /** Type of `token_embd` (and `output` when untied). Default `Q6_K`. */
  embdType?: string;
  /** No `output.weight` (head tied to the embeddings). Default false. */
  tied?: boolean;
}

/**
 * Metadata and tensor shapes of a Llama-style model (9 tensors per block: two norms, Q/K/V/O,
 * gate/up/down), e.g. the 80-layer 70B shape for benchmarks.
 *
 * @example
 * ```ts
 * import { headerOnlyModel, transformerShapes } from "./shapes.ts";
 * const { metadata, tensors } = transformerShapes({
 *   layers: 2, embd: 256, heads: 4, headsKv: 2, ffn: 512, vocab: 1000,
 * });
 * headerOnlyModel(metadata, tensors).tensors.length; // 21
 * ```
 */
export function transformerShapes(o: TransformerShapeOptions): {
  metadata: GgufMetadataInput[];
  tensors: TensorShape[];
} {
  const arch = o.architecture ?? "llama";
  const w = o.weightType ?? "Q4_K";
  const e = o.embdType ?? "Q6_K";
  const kvDim = (o.embd / o.heads) * o.headsKv;
  const metadata: GgufMetadataInput[] = [
    { key: "general.architecture", type: 8, value: arch },
    { key: `${arch}.block_count`, type: 4, value: o.layers },
    { key: `${arch}.embedding_length`, type: 4, value: o.embd },
    { key: `${arch}.feed_forward_length`, type: 4, value: o.ffn },
    { key: `${arch}.attention.head_count`, type: 4, value: o.heads },
    { key: `${arch}.attention.head_count_kv`, type: 4, value: o.headsKv },
    { key: `${arch}.context_length`, type: 4, value: o.context ?? 4096 },
    { key: `${arch}.vocab_size`, type: 4, value: o.vocab },
  ];
  const tensors: TensorShape[] = [{ name: "token_embd.weight", type: e, dims: [o.embd, o.vocab] }];
  for (let b = 0; b < o.layers; b++) {
    const p = `blk.${b}.`;
    tensors.push(
      { name: `${p}attn_norm.weight`, type: "F32", dims: [o.embd] },
      { name: `${p}attn_q.weight`, type: w, dims: [o.embd, o.embd] },
      { name: `${p}attn_k.weight`, type: w, dims: [o.embd, kvDim] },
      { name: `${p}attn_v.weight`, type: w, dims: [o.embd, kvDim] },
      { name: `${p}attn_output.weight`, type: w, dims: [o.embd, o.embd] },
      { name: `${p}ffn_norm.weight`, type: "F32", dims: [o.embd] },
      { name: `${p}ffn_gate.weight`, type: w, dims: [o.embd, o.ffn] },
      { name: `${p}ffn_up.weight`, type: w, dims: [o.embd, o.ffn] },
      { name: `${p}ffn_down.weight`, type: w, dims: [o.ffn, o.embd] },
    );
  }
  tensors.push({ name: "output_norm.weight", type: "F32", dims: [o.embd] });
  if (!o.tied) tensors.push({ name: "output.weight", type: e, dims: [o.embd, o.vocab] });
  return { metadata, tensors };
}

/**
 * Metadata and tensor shapes of a BitNet b1.58 model with the tensor set of
 * `bitnetModelParts` (11 tensors per block, I2_S projections, tied F16 embeddings), at any size
 * — by default the official 2B-4T shape (30 layers, 2560 dims, 6912 FFN, 20/5 heads, 128256
 * tokens).
 *
 * @example
 * ```ts
 * import { bitnetShapes, headerOnlyModel } from "./shapes.ts";
 * const { metadata, tensors } = bitnetShapes();
 * headerOnlyModel(metadata, tensors).tensors.length; // 332
 * ```
 */
export function bitnetShapes(o: Partial<TransformerShapeOptions> = {}): {
  metadata: GgufMetadataInput[];
  tensors: TensorShape[];
} {
  const layers = o.layers ?? 30, embd = o.embd ?? 2560, ffn = o.ffn ?? 6912;
  const heads = o.heads ?? 20, headsKv = o.headsKv ?? 5, vocab = o.vocab ?? 128256;
  const arch = "bitnet-b1.58";
  const kvDim = (embd / heads) * headsKv;
  const metadata: GgufMetadataInput[] = [
    { key: "general.architecture", type: 8, value: arch },
    { key: `${arch}.block_count`, type: 4, value: layers },
    { key: `${arch}.embedding_length`, type: 4, value: embd },
    { key: `${arch}.feed_forward_length`, type: 4, value: ffn },
    { key: `${arch}.attention.head_count`, type: 4, value: heads },
    { key: `${arch}.attention.head_count_kv`, type: 4, value: headsKv },
    { key: `${arch}.context_length`, type: 4, value: o.context ?? 4096 },
    { key: `${arch}.vocab_size`, type: 4, value: vocab },
  ];
  const tensors: TensorShape[] = [{ name: "token_embd.weight", type: "F16", dims: [embd, vocab] }];
  for (let b = 0; b < layers; b++) {
    const p = `blk.${b}.`;
    tensors.push(
      { name: `${p}attn_norm.weight`, type: "F32", dims: [embd] },
      { name: `${p}attn_q.weight`, type: "I2_S", dims: [embd, embd] },
      { name: `${p}attn_k.weight`, type: "I2_S", dims: [embd, kvDim] },
      { name: `${p}attn_v.weight`, type: "I2_S", dims: [embd, kvDim] },
      { name: `${p}attn_output.weight`, type: "I2_S", dims: [embd, embd] },
      { name: `${p}attn_sub_norm.weight`, type: "F32", dims: [embd] },
      { name: `${p}ffn_norm.weight`, type: "F32", dims: [embd] },
      { name: `${p}ffn_gate.weight`, type: "I2_S", dims: [embd, ffn] },
      { name: `${p}ffn_up.weight`, type: "I2_S", dims: [embd, ffn] },
      { name: `${p}ffn_down.weight`, type: "I2_S", dims: [ffn, embd] },
      { name: `${p}ffn_sub_norm.weight`, type: "F32", dims: [ffn] },
    );
  }
  tensors.push({ name: "output_norm.weight", type: "F32", dims: [embd] });
  return { metadata, tensors };
}

/**
 * A 70B-shaped Llama header (80 layers, 8192 dims, 64/8 heads, 28,672 FFN, 128,256 tokens, with
 * Q/K/V/O biases: 1,043 tensors) for planning benchmarks and tests.
 *
 * @example
 * ```ts
 * import { headerOnlyModel, llama70bShapes } from "./shapes.ts";
 * const { metadata, tensors } = llama70bShapes();
 * headerOnlyModel(metadata, tensors).tensors.length; // 1043
 * ```
 */
export function llama70bShapes(): { metadata: GgufMetadataInput[]; tensors: TensorShape[] } {
  const s = transformerShapes({
    layers: 80,
    embd: 8192,
    heads: 64,
    headsKv: 8,
    ffn: 28672,
    vocab: 128256,
    context: 8192,
  });
  for (let b = 0; b < 80; b++) {
    for (const [name, width] of [["q", 8192], ["k", 1024], ["v", 1024], ["o", 8192]] as const) {
      s.tensors.push({ name: `blk.${b}.attn_${name}.bias`, type: "F32", dims: [width] });
    }
  }
  return s;
}

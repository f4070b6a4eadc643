/**
 * What one generated token costs the memory system and the cores: the bytes a decode step reads
 * (every projection and the LM head as bound — stored bytes, or the int8 / f32 copy a product reads
 * instead — every norm, one row of the token embedding, and the K and V rows of the cache over the
 * current context) and the multiply-adds it does (int8 products of the integer kernels, f32 FMAs of
 * the dense ones and of attention). Activations are not counted: they are a few KiB that stay in
 * L1/L2. `decode_roofline.ts` sets these against the machine's measured bandwidth and throughput.
 *
 * @module
 */

import type { GgufTensorInfo } from "../gguf/model.ts";
import type { ModelConfig } from "./config.ts";
import type { Linear } from "./linear.ts";

/** One product's weights as a decode step reads them. */
export interface ProductReads {
  /** Tensor name. */
  name: string;
  /** Native kernel (`"i2s"`, `"f16"`, `"i8"`…, see `Linear.kernel`; `"ref"` for the reference). */
  kernel: string;
  /** Output rows. */
  rows: number;
  /** Input columns. */
  cols: number;
  /** Bytes its product reads per token (stored, or the int8 / f32 copy it reads instead). */
  bytes: number;
  /** Whether its multiply-adds are f32 FMAs (dense kernels) rather than int8 products. */
  float: boolean;
}

/** The model parts a decode step reads (see `InferenceModel.decodeReads`). */
export interface DecodeReads {
  /** Every projection of every block. */
  projections: readonly ProductReads[];
  /** The LM head (tied to the token embedding or `output.weight`). */
  head: ProductReads;
  /** Every norm weight (f32), the output norm included. */
  norms: readonly Float32Array[];
  /** The token embedding tensor (one row is read per token). */
  embedding: GgufTensorInfo;
}

/** Bytes read by one decode step, by part. */
export interface DecodeBytes {
  /** Projections of every block. */
  projections: number;
  /** The LM head in the type its product reads (f16 as stored, int8 with `--lm-head q8`). */
  head: number;
  /** Norm weights. */
  norms: number;
  /** One row of the token embedding. */
  embeddingRow: number;
  /** K and V rows of every layer over the context attended to. */
  kvCache: number;
  /** Sum of the parts. */
  total: number;
}

/** Multiply-adds of one decode step. */
export interface DecodeOps {
  /** int8 × int8 (or code × int8) products of the integer kernels (ternary, int8, Q-blocks). */
  int8Macs: number;
  /** f32 fused multiply-adds: dense (F16/F32/dequantized) products and attention (QKᵀ and PV). */
  f32Fmas: number;
}

/** Kernels whose products are f32 FMAs (the others multiply int8 activations). */
const FLOAT_KERNELS: ReadonlySet<Linear["kernel"]> = new Set(["f16", "f32", "rows"]);

/**
 * What a product reads per token: the int8 copy (codes, row scales, row sums), the f32 copy, or
 * the stored bytes.
 *
 * @example
 * ```ts
 * import { productReads } from "./decode_bytes.ts";
 * import { makeLinear } from "./linear.ts";
 * import { ggmlTypeByName } from "../gguf/types.ts";
 * const lin = makeLinear("w", ggmlTypeByName("F16")!, 2, 4, new Uint8Array(16), 1, "native");
 * productReads(lin).bytes; // 16
 * ```
 */
export function productReads(lin: Linear): ProductReads {
  const bytes = lin.i8
    ? lin.i8.w.byteLength + lin.i8.scale.byteLength + lin.i8.sum.byteLength
    : lin.f32
    ? lin.f32.byteLength
    : lin.data.byteLength;
  const float = lin.f32 !== undefined || FLOAT_KERNELS.has(lin.kernel);
  return { name: lin.name, kernel: lin.kernel, rows: lin.rows, cols: lin.cols, bytes, float };
}

/** Bytes of one row of `width` values of the embedding tensor's type. */
function embeddingRowBytes(info: GgufTensorInfo, width: number): number {
  return width / info.type.blockSize * info.type.typeSize;
}

/** Bytes of one KV element. */
function kvElementBytes(kvType: "f32" | "f16"): number {
  return kvType === "f16" ? 2 : 4;
}

/**
 * Bytes one decode step reads when it attends over `contextTokens` positions (the new token
 * included): the weights as bound plus 2 × layers × contextTokens × kvDim KV elements.
 *
 * @example
 * ```ts ignore
 * import { decodeBytesPerToken } from "./decode_bytes.ts";
 * const bytes = decodeBytesPerToken(model.decodeReads(), model.config, model.kvType, 40);
 * bytes.total; // ≈ 692 MB for the 2B-4T shape (f16 head, f32 KV)
 * ```
 */
export function decodeBytesPerToken(
  reads: DecodeReads,
  config: ModelConfig,
  kvType: "f32" | "f16",
  contextTokens: number,
): DecodeBytes {
  const projections = reads.projections.reduce((n, p) => n + p.bytes, 0);
  const head = reads.head.bytes;
  const norms = reads.norms.reduce((n, w) => n + w.byteLength, 0);
  const embeddingRow = embeddingRowBytes(reads.embedding, config.nEmbd);
  const kvDim = config.nHeadKv * config.headDim;
  const kvCache = 2 * config.nLayer * Math.max(0, contextTokens) * kvDim * kvElementBytes(kvType);
  return {
    projections,
    head,
    norms,
    embeddingRow,
    kvCache,
    total: projections + head + norms + embeddingRow + kvCache,
  };
}

/**
 * Multiply-adds of one decode step over `contextTokens` positions: rows × cols per projection
 * (integer or f32 by its kernel) and 2 × heads × headDim × contextTokens for attention.
 *
 * @example
 * ```ts ignore
 * import { decodeOpsPerToken } from "./decode_bytes.ts";
 * const ops = decodeOpsPerToken(model.decodeReads(), model.config, 40);
 * ops.int8Macs; // 521 M for the 2B-4T shape
 * ```
 */
export function decodeOpsPerToken(
  reads: DecodeReads,
  config: ModelConfig,
  contextTokens: number,
): DecodeOps {
  let int8Macs = 0;
  let f32Fmas = 2 * config.nHead * config.headDim * Math.max(0, contextTokens);
  for (const lin of [...reads.projections, reads.head]) {
    const macs = lin.rows * lin.cols;
    if (lin.float) f32Fmas += macs;
    else int8Macs += macs;
  }
  return { int8Macs, f32Fmas };
}

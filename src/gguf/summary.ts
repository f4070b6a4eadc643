/**
 * What a model file holds, at a glance: architecture, size in parameters, quantization mix,
 * hyperparameters and tokenizer; and the machine-readable `inspect --json` document.
 *
 * @module
 */

import {
  type GgufMetadata,
  type JsonValue,
  metadataArrayLength,
  metadataNumber,
  metadataString,
  valueToJson,
} from "./metadata.ts";
import type { GgufModel } from "./model.ts";
import { fileTypeName, type TypeDialect } from "./types.ts";

/** Bytes and elements of one tensor type in a model. */
export interface QuantMixRow {
  /** Tensor type name (`Q4_K`, `I2_S`). */
  type: string;
  /** Number of tensors of this type. */
  tensors: number;
  /** Number of elements. */
  elements: number;
  /** Bytes of tensor data of this type. */
  bytes: number;
  /** Bits per weight of the stored data (bytes × 8 / elements). */
  bitsPerWeight: number;
}

/** One file of a (possibly split) model. */
export interface PartSummary {
  /** Path of the file. */
  path: string;
  /** Number of tensors in this part. */
  tensors: number;
  /** Size of the part in bytes, when known. */
  bytes: number | undefined;
}

/** The summary `bitload inspect` prints. */
export interface ModelSummary {
  /** `general.architecture`. */
  architecture: string | undefined;
  /** `general.name`. */
  name: string | undefined;
  /** GGUF version (2 or 3). */
  version: number;
  /** How type ids 36–39 were read. */
  dialect: TypeDialect;
  /** Total number of weights (elements of all tensors). */
  parameters: number;
  /** `general.file_type` (llama_ftype). */
  fileType: number | undefined;
  /** Name of the file type in the file's dialect. */
  fileTypeName: string | undefined;
  /** Bytes of tensor data in all parts. */
  tensorBytes: number;
  /** Bytes and elements per tensor type, largest first. */
  quantMix: QuantMixRow[];
  /** `{arch}.context_length`. */
  contextLength: number | undefined;
  /** `{arch}.embedding_length`. */
  embeddingLength: number | undefined;
  /** `{arch}.block_count` (layers). */
  blockCount: number | undefined;
  /** `{arch}.feed_forward_length`. */
  feedForwardLength: number | undefined;
  /** `{arch}.attention.head_count`. */
  headCount: number | undefined;
  /** `{arch}.attention.head_count_kv`. */
  headCountKv: number | undefined;
  /** `tokenizer.ggml.model`. */
  tokenizerModel: string | undefined;
  /** Vocabulary size (`{arch}.vocab_size` or the token count). */
  vocabSize: number | undefined;
  /** The files of the model. */
  parts: PartSummary[];
  /** Problems that did not stop the parse. */
  warnings: string[];
}

function archNumber(metadata: GgufMetadata, arch: string | undefined, key: string) {
  return arch === undefined ? undefined : metadataNumber(metadata, `${arch}.${key}`);
}

/**
 * Summarises a model.
 *
 * @example
 * ```ts ignore
 * import { openGguf } from "../../mod.ts";
 * import { summarizeModel } from "./summary.ts";
 * const s = summarizeModel(await openGguf("model.gguf"));
 * console.log(s.architecture, s.parameters, s.quantMix);
 * ```
 */
export function summarizeModel(model: GgufModel): ModelSummary {
  const m = model.metadata;
  const arch = metadataString(m, "general.architecture");
  const mix = new Map<string, QuantMixRow>();
  let parameters = 0;
  let tensorBytes = 0;
  for (const t of model.tensors) {
    parameters += t.elementCount;
    tensorBytes += t.byteSize;
    const row = mix.get(t.type.name) ??
      { type: t.type.name, tensors: 0, elements: 0, bytes: 0, bitsPerWeight: 0 };
    row.tensors++;
    row.elements += t.elementCount;
    row.bytes += t.byteSize;
    mix.set(t.type.name, row);
  }
  for (const row of mix.values()) {
    row.bitsPerWeight = row.elements > 0 ? (row.bytes * 8) / row.elements : 0;
  }
  const fileType = metadataNumber(m, "general.file_type");
  return {
    architecture: arch,
    name: metadataString(m, "general.name"),
    version: model.parts[0].version,
    dialect: model.dialect,
    parameters,
    fileType,
    fileTypeName: fileType === undefined ? undefined : fileTypeName(fileType, model.dialect),
    tensorBytes,
    quantMix: [...mix.values()].sort((a, b) => b.bytes - a.bytes),
    contextLength: archNumber(m, arch, "context_length"),
    embeddingLength: archNumber(m, arch, "embedding_length"),
    blockCount: archNumber(m, arch, "block_count"),
    feedForwardLength: archNumber(m, arch, "feed_forward_length"),
    headCount: archNumber(m, arch, "attention.head_count"),
    headCountKv: archNumber(m, arch, "attention.head_count_kv"),
    tokenizerModel: metadataString(m, "tokenizer.ggml.model"),
    vocabSize: archNumber(m, arch, "vocab_size") ?? metadataArrayLength(m, "tokenizer.ggml.tokens"),
    parts: model.parts.map((p) => ({
      path: p.source,
      tensors: p.tensors.length,
      bytes: p.fileSize,
    })),
    warnings: [...model.warnings],
  };
}

/** One tensor in the `inspect --json` document. */
export interface InspectJsonTensor {
  /** Tensor name. */
  name: string;
  /** Upper-case ggml type name (`F32`, `Q4_K`, `I2_S`). */
  type: string;
  /** Dimensions in ggml order (ne0 first). */
  shape: number[];
  /** Offset relative to the data section. */
  offset: number;
  /** Bytes of tensor data. */
  bytes: number;
}

/** The `inspect --json` document. */
export interface InspectJson {
  /** GGUF version (2 or 3). */
  version: number;
  /** Alignment of the data section and of every tensor (`general.alignment`, default 32). */
  alignment: number;
  /** Absolute offset of the data section (of the first part). */
  dataOffset: number;
  /** Metadata key/value pairs. */
  metadata: Record<string, JsonValue>;
  /** Every tensor, in part order then directory order. */
  tensors: InspectJsonTensor[];
}

/**
 * The `bitload inspect --json` document: `{version, alignment, dataOffset, metadata, tensors}`,
 * type names upper case, offsets relative to the data section (of each tensor's own part), u64
 * values beyond 2^53 as exact decimal strings.
 *
 * @example
 * ```ts ignore
 * import { openGguf } from "../../mod.ts";
 * import { inspectJson } from "./summary.ts";
 * console.log(JSON.stringify(inspectJson(await openGguf("model.gguf"))));
 * ```
 */
export function inspectJson(model: GgufModel): InspectJson {
  const first = model.parts[0];
  const metadata: Record<string, JsonValue> = {};
  for (const [key, entry] of model.metadata) metadata[key] = valueToJson(entry.value);
  return {
    version: first.version,
    alignment: first.alignment,
    dataOffset: first.dataOffset,
    metadata,
    tensors: model.tensors.map((t) => ({
      name: t.name,
      type: t.type.name,
      shape: [...t.dims],
      offset: t.offset,
      bytes: t.byteSize,
    })),
  };
}

/**
 * `@bitload/bitload/gguf`: the GGUF layer on its own — read a model's header (a path, bytes, a
 * stream or an HTTP URL with range requests; every part of a split model), the ggml type registry,
 * typed metadata access, summaries, and the GGUF v3 writer. No tensor data is mapped here; the root
 * module's `openGguf` does that.
 *
 * @example
 * ```ts ignore
 * import { readGguf, summarizeModel } from "@bitload/bitload/gguf";
 * const file = await readGguf("model.gguf");
 * console.log(summarizeModel(file).architecture, file.tensors.length);
 * ```
 *
 * @module
 */

export { GgufError, type GgufErrorCode } from "./errors.ts";
export * from "./limits.ts";
export type {
  GgufArrayItem,
  GgufArrayValues,
  GgufFile,
  GgufMetadataEntry,
  GgufModel,
  GgufNestedArray,
  GgufTensorInfo,
  GgufTypedArray,
  GgufValue,
} from "./model.ts";
export { HttpError, type HttpErrorCode, type HttpRequestOptions } from "../common/http.ts";
export { NotRegularFileError } from "../common/file_kind.ts";
export {
  type GgufSource,
  type HttpRangeOptions,
  httpRangeReader,
  type RangeReader,
  readGguf,
  readGgufFileSync,
  type ReadGgufOptions,
} from "./reader.ts";
export {
  openGgufModel,
  type OpenGgufModelOptions,
  parseSplitName,
  splitPartPath,
} from "./split.ts";
export { GgufStringArray } from "./string_array.ts";
export type { StringScan } from "./parse.ts";
export {
  allGgmlTypes,
  BITNET_ARCHITECTURES,
  bitsPerWeight,
  dialectForArchitecture,
  elementCount,
  fileTypeName,
  GGML_TYPE_COUNT,
  ggmlType,
  ggmlTypeByName,
  type GgmlTypeInfo,
  QK_K,
  tensorByteSize,
  type TypeDialect,
} from "./types.ts";
export { GgufValueType, isGgufValueType, valueTypeName } from "./value_types.ts";
export {
  formatValue,
  type GgufMetadata,
  type JsonValue,
  metadataArrayLength,
  metadataBoolean,
  metadataNumber,
  metadataString,
  valueToJson,
} from "./metadata.ts";
export {
  type InspectJson,
  inspectJson,
  type InspectJsonTensor,
  type ModelSummary,
  type PartSummary,
  type QuantMixRow,
  summarizeModel,
} from "./summary.ts";
export {
  type GgufMetadataInput,
  type GgufTensorInput,
  kv,
  rewriteGgufMetadata,
  serializeGguf,
  writeGguf,
  type WriteGgufOptions,
} from "./writer.ts";

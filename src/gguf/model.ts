/**
 * The data a GGUF reader produces: metadata entries, tensor infos and the file summary. Plain
 * data, no I/O: what the planner, loader and CLI consume.
 *
 * @module
 */

import type { GgufStringArray } from "./string_array.ts";
import type { GgmlTypeInfo, TypeDialect } from "./types.ts";
import type { GgufValueType } from "./value_types.ts";

/** Numeric array element storage, one typed array per GGUF element type. */
export type GgufTypedArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array;

/** An array whose elements are arrays (allowed by the spec, rejected by gguf.cpp). */
export interface GgufNestedArray {
  /** Marks an array of arrays. */
  readonly nested: true;
  /** The inner arrays. */
  readonly items: readonly GgufArrayItem[];
}

/** One inner array of a {@link GgufNestedArray}, with its own element type. */
export interface GgufArrayItem {
  /** Element type of this inner array. */
  readonly elementType: GgufValueType;
  /** The inner array's values. */
  readonly values: GgufArrayValues;
}

/**
 * The values of a GGUF array: a typed array for numbers (UINT64/INT64 as BigUint64Array /
 * BigInt64Array, always exact), `boolean[]` for BOOL, a lazily decoded {@link GgufStringArray}
 * for STRING, and {@link GgufNestedArray} for arrays of arrays.
 */
export type GgufArrayValues = GgufTypedArray | boolean[] | GgufStringArray | GgufNestedArray;

/**
 * A metadata value. Integers are numbers, except UINT64/INT64 values beyond ±2^53, which are
 * bigints so they stay exact.
 */
export type GgufValue = number | bigint | boolean | string | GgufArrayValues;

/** One key/value pair as stored in the file. */
export interface GgufMetadataEntry {
  /** The metadata key, e.g. `general.architecture`. */
  readonly key: string;
  /** The value type id. */
  readonly type: GgufValueType;
  /** Element type, for arrays. */
  readonly arrayType?: GgufValueType;
  /** The value. */
  readonly value: GgufValue;
  /** Byte offset of the entry's key in the file. */
  readonly offset: number;
}

/** A tensor's directory entry, with sizes derived from the type table. */
export interface GgufTensorInfo {
  /** Tensor name, unique in the model. */
  readonly name: string;
  /** Dimensions in ggml order: `dims[0]` (ne0) is contiguous. */
  readonly dims: readonly number[];
  /** The tensor type, resolved in the file's dialect. */
  readonly type: GgmlTypeInfo;
  /** Offset of the data relative to the data section of its part. */
  readonly offset: number;
  /** Absolute offset of the data in its part's file. */
  readonly fileOffset: number;
  /** Bytes of tensor data (`ggml_nbytes`, BitNet special cases included). */
  readonly byteSize: number;
  /** Number of elements (product of the dims). */
  readonly elementCount: number;
  /** Index of the split part the tensor lives in (0 for single-file models). */
  readonly part: number;
}

/** One parsed GGUF file (one part of a split model, or a whole single-file model). */
export interface GgufFile {
  /** Where it came from: a path, a URL, or a description of the stream. */
  readonly source: string;
  /** GGUF version (2 or 3). */
  readonly version: 2 | 3;
  /** Whether the file is little-endian. */
  readonly littleEndian: boolean;
  /** Alignment of the data section and of every tensor (`general.alignment`, default 32). */
  readonly alignment: number;
  /** Absolute offset of the data section. */
  readonly dataOffset: number;
  /** File size in bytes, when known (streams may not say). */
  readonly fileSize: number | undefined;
  /** Metadata key/value pairs. */
  readonly metadata: ReadonlyMap<string, GgufMetadataEntry>;
  /** All tensors of all parts, in part order then directory order. */
  readonly tensors: readonly GgufTensorInfo[];
  /** How ids 36–39 were read. */
  readonly dialect: TypeDialect;
  /** Things a careful user should know that did not stop the parse. */
  readonly warnings: readonly string[];
}

/** A model: one file, or every part of a split model presented as one tensor list. */
export interface GgufModel {
  /** The parts in order (one for an unsplit model). */
  readonly parts: readonly GgufFile[];
  /** Metadata of the first part (the others carry only the split keys). */
  readonly metadata: ReadonlyMap<string, GgufMetadataEntry>;
  /** All tensors of all parts, in part order then directory order. */
  readonly tensors: readonly GgufTensorInfo[];
  /** How type ids 36–39 were read. */
  readonly dialect: TypeDialect;
  /** Problems that did not stop the parse. */
  readonly warnings: readonly string[];
}

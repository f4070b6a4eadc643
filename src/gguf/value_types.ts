/**
 * GGUF metadata value types (`enum gguf_type` in ggml-org/llama.cpp `ggml/include/gguf.h`).
 *
 * @module
 */

/**
 * The type id stored before each metadata value.
 *
 * @example
 * ```ts
 * import { GgufValueType } from "./value_types.ts";
 * GgufValueType.UINT32; // 4
 * ```
 */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

/** One of the {@link GgufValueType} ids. */
export type GgufValueType = typeof GgufValueType[keyof typeof GgufValueType];

const NAMES = [
  "UINT8",
  "INT8",
  "UINT16",
  "INT16",
  "UINT32",
  "INT32",
  "FLOAT32",
  "BOOL",
  "STRING",
  "ARRAY",
  "UINT64",
  "INT64",
  "FLOAT64",
] as const;

/** Encoded size in bytes of a fixed-size value type; 0 for STRING and ARRAY. */
export const VALUE_TYPE_SIZE: readonly number[] = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];

/**
 * Smallest number of bytes one value of this type can take in a file (a string needs its 8-byte
 * length, an array its 4-byte type and 8-byte count).
 */
export const VALUE_TYPE_MIN_SIZE: readonly number[] = [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8];

/**
 * Whether a number is a valid value type id.
 *
 * @example
 * ```ts
 * import { isGgufValueType } from "./value_types.ts";
 * isGgufValueType(12); // true
 * isGgufValueType(13); // false
 * ```
 */
export function isGgufValueType(id: number): id is GgufValueType {
  return Number.isInteger(id) && id >= 0 && id <= 12;
}

/**
 * The upper-case name of a value type, e.g. `"UINT32"`.
 *
 * @example
 * ```ts
 * import { valueTypeName } from "./value_types.ts";
 * valueTypeName(8); // "STRING"
 * ```
 */
export function valueTypeName(type: number): string {
  return NAMES[type] ?? `TYPE_${type}`;
}

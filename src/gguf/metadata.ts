/**
 * Typed access to metadata values, and their conversion to plain JSON (u64 beyond 2^53 as exact
 * decimal strings, non-finite floats as the strings "NaN", "Infinity", "-Infinity").
 *
 * @module
 */

import type { GgufMetadataEntry, GgufValue } from "./model.ts";
import { GgufStringArray } from "./string_array.ts";

/** Metadata as the reader returns it. */
export type GgufMetadata = ReadonlyMap<string, GgufMetadataEntry>;

/**
 * A string value, or `undefined` when the key is absent or not a string.
 *
 * @example
 * ```ts
 * import { metadataString } from "./metadata.ts";
 * const m = new Map([["general.architecture", { key: "general.architecture", type: 8 as const, value: "llama", offset: 24 }]]);
 * metadataString(m, "general.architecture"); // "llama"
 * ```
 */
export function metadataString(metadata: GgufMetadata, key: string): string | undefined {
  const v = metadata.get(key)?.value;
  return typeof v === "string" ? v : undefined;
}

/**
 * A numeric value (any integer or float type; u64 beyond 2^53 is converted with rounding), or
 * `undefined` when absent or not a number.
 *
 * @example
 * ```ts
 * import { metadataNumber } from "./metadata.ts";
 * const m = new Map([["llama.block_count", { key: "llama.block_count", type: 4 as const, value: 32, offset: 0 }]]);
 * metadataNumber(m, "llama.block_count"); // 32
 * ```
 */
export function metadataNumber(metadata: GgufMetadata, key: string): number | undefined {
  const v = metadata.get(key)?.value;
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}

/**
 * A boolean value, or `undefined`.
 *
 * @example
 * ```ts
 * import { metadataBoolean } from "./metadata.ts";
 * metadataBoolean(new Map(), "tokenizer.ggml.add_bos_token"); // undefined
 * ```
 */
export function metadataBoolean(metadata: GgufMetadata, key: string): boolean | undefined {
  const v = metadata.get(key)?.value;
  return typeof v === "boolean" ? v : undefined;
}

/**
 * Number of elements of an array value, or `undefined` when the key is absent or not an array.
 *
 * @example
 * ```ts
 * import { metadataArrayLength } from "./metadata.ts";
 * metadataArrayLength(new Map(), "tokenizer.ggml.tokens"); // undefined
 * ```
 */
export function metadataArrayLength(metadata: GgufMetadata, key: string): number | undefined {
  const v = metadata.get(key)?.value;
  if (v === undefined || typeof v !== "object") return undefined;
  if ("nested" in v) return v.items.length;
  return v.length;
}

/** A JSON-compatible value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

function jsonNumber(x: number): number | string {
  return Number.isFinite(x) ? x : String(x);
}

function jsonBigint(x: bigint): number | string {
  return x >= -(2n ** 53n) && x <= 2n ** 53n ? Number(x) : x.toString();
}

/**
 * Converts a metadata value to JSON: numbers stay numbers, bigints beyond 2^53 become exact
 * decimal strings, string arrays become arrays of strings, nested arrays arrays of arrays.
 *
 * @example
 * ```ts
 * import { valueToJson } from "./metadata.ts";
 * valueToJson(2n ** 60n); // "1152921504606846976"
 * valueToJson(new BigUint64Array([1n])); // [1]
 * ```
 */
export function valueToJson(value: GgufValue): JsonValue {
  if (typeof value === "number") return jsonNumber(value);
  if (typeof value === "bigint") return jsonBigint(value);
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (value instanceof GgufStringArray) return value.toArray();
  if (Array.isArray(value)) return value;
  if ("nested" in value) return value.items.map((item) => valueToJson(item.values));
  if (value instanceof BigUint64Array || value instanceof BigInt64Array) {
    return Array.from(value, jsonBigint);
  }
  return Array.from(value as ArrayLike<number>, jsonNumber);
}

/**
 * A short human rendering of a value: long arrays are abbreviated to their first items and length.
 *
 * @example
 * ```ts
 * import { formatValue } from "./metadata.ts";
 * formatValue(new Int32Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), 4); // "[1, 2, 3, 4, … 9 items]"
 * ```
 */
export function formatValue(value: GgufValue, maxItems = 8): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value !== "object") return String(value);
  const items = value instanceof GgufStringArray
    ? { length: value.length, at: (i: number) => JSON.stringify(value.get(i)) }
    : "nested" in value
    ? { length: value.items.length, at: (i: number) => formatValue(value.items[i].values, 3) }
    : { length: value.length, at: (i: number) => String((value as ArrayLike<unknown>)[i]) };
  const shown: string[] = [];
  for (let i = 0; i < Math.min(items.length, maxItems); i++) shown.push(items.at(i));
  const more = items.length > maxItems ? `, … ${items.length} items` : "";
  return `[${shown.join(", ")}${more}]`;
}

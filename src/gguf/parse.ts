/**
 * The synchronous GGUF parser: header, metadata and tensor directory, over a {@link ByteCursor}.
 * Layout from ggml-org/llama.cpp `ggml/include/gguf.h` and `ggml/src/gguf.cpp`
 * (`gguf_init_from_reader`); GGUF v2 and v3 share one byte layout, v3 adds big-endian files.
 *
 * @module
 */

import type { ByteCursor } from "./cursor.ts";
import { GgufError } from "./errors.ts";
import {
  DEFAULT_ALIGNMENT,
  MAX_ALIGNMENT,
  MAX_ARRAY_LENGTH,
  MAX_DIMS,
  MAX_HEADER_OBJECT_BYTES,
  MAX_KEY_LENGTH,
  MAX_KV_COUNT,
  MAX_NESTING_DEPTH,
  MAX_STRING_LENGTH,
  MAX_TENSOR_COUNT,
  MAX_TENSOR_NAME_LENGTH,
  OBJECT_COST,
} from "./limits.ts";
import type {
  GgufArrayItem,
  GgufArrayValues,
  GgufMetadataEntry,
  GgufNestedArray,
  GgufValue,
} from "./model.ts";
import { GgufStringArray } from "./string_array.ts";
import { isWellFormedUtf8 } from "./utf8.ts";
import {
  GgufValueType,
  isGgufValueType,
  VALUE_TYPE_MIN_SIZE,
  VALUE_TYPE_SIZE,
  valueTypeName,
} from "./value_types.ts";

/** A tensor directory entry before its type and placement are checked. */
export interface RawTensorInfo {
  name: string;
  dims: number[];
  typeId: number;
  offset: number;
  /** File offset of the entry (its name's length field). */
  entryOffset: number;
}

/** Everything in a GGUF file before the data section. */
export interface ParsedHeader {
  version: 2 | 3;
  littleEndian: boolean;
  metadata: Map<string, GgufMetadataEntry>;
  tensors: RawTensorInfo[];
  alignment: number;
  dataOffset: number;
}

/**
 * A faster scan of the buffered part of a string array (the native library's, which `load`
 * passes): it records where strings `first..n-1` at `pos` start in `bounds`, and stops before the
 * first one it cannot accept (bytes not all in `bytes[0, length)`, longer than `maxLength`, not
 * well-formed UTF-8); the TypeScript loop takes that string on. Returns the index it stopped at
 * and the position after the last string scanned.
 */
export type StringScan = (
  bytes: Uint8Array,
  length: number,
  pos: number,
  first: number,
  n: number,
  bigEndian: boolean,
  maxLength: number,
  bounds: Uint32Array | Float64Array,
) => { next: number; pos: number };

/** Options of {@link parseGgufHeader}. */
export interface ParseOptions {
  /**
   * Gives a {@link StringScan}, or `null` when there is none; asked for only once a string array
   * has taken {@link FAST_SCAN_AFTER_BYTES}.
   */
  stringScan?: () => StringScan | null;
}

/**
 * Bytes of one string array scanned by the TypeScript loop before {@link ParseOptions.stringScan}
 * is asked for: a small vocabulary never asks (a fraction of a millisecond of scanning).
 */
export const FAST_SCAN_AFTER_BYTES = 64 * 1024;

/** Smallest encoded tensor info: name length 8 + 1 byte name + n_dims 4 + type 4 + offset 8. */
const MIN_TENSOR_INFO_SIZE = 25;
/** Smallest encoded key/value: key length 8 + 1 byte key + type 4 + 1 byte value. */
const MIN_KV_SIZE = 14;

// ignoreBOM: a leading U+FEFF is part of the string, not a byte-order mark to strip.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Parses a GGUF file's header, metadata and tensor directory from `cur` (positioned at 0).
 * Tensor data is never touched.
 */
export function parseGgufHeader(cur: ByteCursor, options: ParseOptions = {}): ParsedHeader {
  cur.need(8);
  const b = cur.bytes;
  if (b[0] !== 0x47 || b[1] !== 0x47 || b[2] !== 0x55 || b[3] !== 0x46) {
    const shown = [...b.subarray(0, 4)].map((x) =>
      x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : `\\x${x.toString(16).padStart(2, "0")}`
    ).join("");
    throw new GgufError("BAD_MAGIC", 0, `Not a GGUF file: expected "GGUF" but found "${shown}"`);
  }
  cur.pos = 4;
  let version = cur.view.getUint32(4, true);
  // A big-endian file's version reads as 0x03000000 on a little-endian host: detect by the low
  // half being zero (gguf.cpp, gguf-py and huggingface.js all do this; llama.cpp#3957).
  if ((version & 0xffff) === 0) {
    cur.le = false;
    version = cur.view.getUint32(4, false);
  }
  cur.pos = 8;
  if (version === 1) {
    throw new GgufError(
      "UNSUPPORTED_VERSION",
      4,
      "GGUF v1 files are not supported (llama.cpp dropped them in 2023); convert the model again with a current llama.cpp",
    );
  }
  if (version !== 2 && version !== 3) {
    throw new GgufError(
      "UNSUPPORTED_VERSION",
      4,
      `Unsupported GGUF version ${version}: bitload reads versions 2 and 3`,
    );
  }
  const nTensors = cur.count("Tensor count", MAX_TENSOR_COUNT);
  const nKv = cur.count("Metadata key/value count", MAX_KV_COUNT);
  needFor(cur, nKv, MIN_KV_SIZE, "metadata entries");
  const budget = new ObjectBudget();
  budget.charge(cur.pos, nKv, OBJECT_COST.key, "metadata entries");

  const metadata = new Map<string, GgufMetadataEntry>();
  for (let i = 0; i < nKv; i++) {
    const offset = cur.pos;
    const key = readString(cur, MAX_KEY_LENGTH, "Key length");
    if (key.length === 0) throw new GgufError("BAD_KEY", offset, `Metadata key ${i} is empty`);
    if (metadata.has(key)) {
      throw new GgufError("DUPLICATE_KEY", offset, `Metadata key "${key}" appears twice`);
    }
    const typeAt = cur.pos;
    const type = cur.u32();
    if (!isGgufValueType(type)) {
      throw new GgufError(
        "BAD_VALUE_TYPE",
        typeAt,
        `Metadata key "${key}" has value type ${type}, which is not a GGUF type (0–12)`,
      );
    }
    if (type === GgufValueType.ARRAY) {
      const item = readArray(cur, 1, key, budget, options);
      metadata.set(key, {
        key,
        type,
        arrayType: item.elementType,
        value: item.values,
        offset,
      });
    } else {
      metadata.set(key, { key, type, value: readScalar(cur, type, key), offset });
    }
  }

  needFor(cur, nTensors, MIN_TENSOR_INFO_SIZE, "tensor infos");
  budget.charge(cur.pos, nTensors, OBJECT_COST.tensor, "tensor infos");
  const tensors: RawTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const entryOffset = cur.pos;
    const nameLength = peekLength(cur);
    if (nameLength === 0 || nameLength > MAX_TENSOR_NAME_LENGTH) {
      throw new GgufError(
        "BAD_TENSOR_NAME",
        entryOffset,
        `Tensor ${i} has a name of ${nameLength} bytes; names must be 1–${MAX_TENSOR_NAME_LENGTH} bytes`,
      );
    }
    const name = readString(cur, MAX_TENSOR_NAME_LENGTH, "Tensor name length");
    if (names.has(name)) {
      throw new GgufError("DUPLICATE_TENSOR", entryOffset, `Tensor "${name}" appears twice`);
    }
    names.add(name);
    const dimsAt = cur.pos;
    const nDims = cur.u32();
    if (nDims > MAX_DIMS) {
      throw new GgufError(
        "BAD_DIMS",
        dimsAt,
        `Tensor "${name}" has ${nDims} dimensions; ggml allows at most ${MAX_DIMS}`,
      );
    }
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const at = cur.pos;
      const ne = cur.u64();
      if (typeof ne === "bigint") {
        throw new GgufError(
          "BAD_DIMS",
          at,
          `Tensor "${name}" dimension ${d} is ${ne}, beyond what any file can hold`,
        );
      }
      dims.push(ne);
    }
    const typeId = cur.u32();
    const offsetAt = cur.pos;
    const offset = cur.u64();
    if (typeof offset === "bigint") {
      throw new GgufError(
        "TENSOR_OUT_OF_BOUNDS",
        offsetAt,
        `Tensor "${name}" has data offset ${offset}, beyond any file`,
      );
    }
    tensors.push({ name, dims, typeId, offset, entryOffset });
  }

  const alignment = readAlignment(metadata);
  // gguf.cpp seeks to the aligned data start only when there are tensors.
  const dataOffset = nTensors > 0 ? alignUp(cur.pos, alignment) : cur.pos;
  return {
    version: version as 2 | 3,
    littleEndian: cur.le,
    metadata,
    tensors,
    alignment,
    dataOffset,
  };
}

/** Rounds `x` up to a multiple of `alignment` (`GGML_PAD`). */
export function alignUp(x: number, alignment: number): number {
  return Math.ceil(x / alignment) * alignment;
}

function readAlignment(metadata: Map<string, GgufMetadataEntry>): number {
  const entry = metadata.get("general.alignment");
  if (!entry) return DEFAULT_ALIGNMENT;
  const v = entry.value;
  if (entry.type !== GgufValueType.UINT32) {
    throw new GgufError(
      "BAD_ALIGNMENT",
      entry.offset,
      `general.alignment must be a UINT32 but is a ${valueTypeName(entry.type)}`,
    );
  }
  if (typeof v !== "number" || v === 0 || (v & (v - 1)) !== 0 || v > MAX_ALIGNMENT) {
    throw new GgufError(
      "BAD_ALIGNMENT",
      entry.offset,
      `general.alignment is ${v}; it must be a power of two from 1 to ${MAX_ALIGNMENT}`,
    );
  }
  return v;
}

/** Checks that `count` items of at least `minSize` bytes each can fit in the file. */
function needFor(cur: ByteCursor, count: number, minSize: number, what: string): void {
  const bytes = count * minSize;
  if (cur.fileSize !== undefined && cur.pos + bytes > cur.fileSize) {
    throw new GgufError(
      "TRUNCATED",
      cur.pos,
      `${count} ${what} need at least ${bytes} bytes but only ${cur.fileSize - cur.pos} remain`,
    );
  }
  cur.need(bytes);
}

function peekLength(cur: ByteCursor): number | bigint {
  const at = cur.pos;
  const n = cur.u64();
  cur.pos = at;
  return n;
}

function readString(cur: ByteCursor, max: number, what: string): string {
  const n = cur.count(what, max);
  cur.need(n);
  const start = cur.pos;
  if (!isWellFormedUtf8(cur.bytes, start, start + n)) {
    throw new GgufError("BAD_UTF8", start, `String at byte ${start} is not valid UTF-8`);
  }
  cur.pos += n;
  return utf8.decode(cur.bytes.subarray(start, start + n));
}

function readScalar(cur: ByteCursor, type: GgufValueType, key: string): GgufValue {
  switch (type) {
    case GgufValueType.UINT8:
      return cur.u8();
    case GgufValueType.INT8:
      return cur.i8();
    case GgufValueType.UINT16:
      return cur.u16();
    case GgufValueType.INT16:
      return cur.i16();
    case GgufValueType.UINT32:
      return cur.u32();
    case GgufValueType.INT32:
      return cur.i32();
    case GgufValueType.FLOAT32:
      return cur.f32();
    case GgufValueType.BOOL:
      return cur.u8() !== 0;
    case GgufValueType.STRING:
      return readString(cur, MAX_STRING_LENGTH, `String length of "${key}"`);
    case GgufValueType.UINT64:
      return cur.u64();
    case GgufValueType.INT64:
      return cur.i64();
    case GgufValueType.FLOAT64:
      return cur.f64();
  }
  throw new GgufError("BAD_VALUE_TYPE", cur.pos, `Unexpected value type ${type}`);
}

/**
 * The running charge against {@link MAX_HEADER_OBJECT_BYTES}: items that each become a
 * JavaScript object (or a `boolean[]` slot) are charged before they are read.
 */
class ObjectBudget {
  used = 0;

  charge(at: number, count: number, cost: number, what: string): void {
    this.used += count * cost;
    if (this.used > MAX_HEADER_OBJECT_BYTES) {
      throw new GgufError(
        "LIMIT_EXCEEDED",
        at,
        `${count} ${what} would take about ${
          Math.ceil(this.used / 1048576)
        } MiB as objects, above the limit of ${MAX_HEADER_OBJECT_BYTES / 1048576} MiB`,
      );
    }
  }
}

function readArray(
  cur: ByteCursor,
  depth: number,
  key: string,
  budget: ObjectBudget,
  options: ParseOptions,
): GgufArrayItem {
  const typeAt = cur.pos;
  const elementType = cur.u32();
  if (!isGgufValueType(elementType)) {
    throw new GgufError(
      "BAD_VALUE_TYPE",
      typeAt,
      `Array "${key}" has element type ${elementType}, which is not a GGUF type (0–12)`,
    );
  }
  const n = cur.count(`Array length of "${key}"`, MAX_ARRAY_LENGTH);
  needFor(cur, n, VALUE_TYPE_MIN_SIZE[elementType], `elements of "${key}"`);
  switch (elementType) {
    case GgufValueType.STRING:
      return {
        elementType,
        values: readStringArray(cur, n, key, options.stringScan),
      };
    case GgufValueType.BOOL: {
      budget.charge(typeAt, n, OBJECT_COST.boolean, `booleans in "${key}"`);
      const out = new Array<boolean>(n);
      const b = cur.bytes;
      for (let i = 0; i < n; i++) out[i] = b[cur.pos + i] !== 0;
      cur.pos += n;
      return { elementType, values: out };
    }
    case GgufValueType.ARRAY: {
      if (depth >= MAX_NESTING_DEPTH) {
        throw new GgufError(
          "LIMIT_EXCEEDED",
          typeAt,
          `Array "${key}" nests deeper than ${MAX_NESTING_DEPTH} levels`,
        );
      }
      budget.charge(typeAt, n, OBJECT_COST.nestedArray, `nested arrays in "${key}"`);
      const items: GgufArrayItem[] = [];
      for (let i = 0; i < n; i++) items.push(readArray(cur, depth + 1, key, budget, options));
      const nested: GgufNestedArray = { nested: true, items };
      return { elementType, values: nested };
    }
    default:
      return { elementType, values: readNumericArray(cur, elementType, n) };
  }
}

function readNumericArray(cur: ByteCursor, type: GgufValueType, n: number): GgufArrayValues {
  const size = VALUE_TYPE_SIZE[type];
  const bytes = n * size;
  const copy = cur.bytes.slice(cur.pos, cur.pos + bytes);
  cur.pos += bytes;
  if (!cur.le && size > 1) {
    for (let i = 0; i < bytes; i += size) copy.subarray(i, i + size).reverse();
  }
  const buf = copy.buffer;
  switch (type) {
    case GgufValueType.UINT8:
      return new Uint8Array(buf);
    case GgufValueType.INT8:
      return new Int8Array(buf);
    case GgufValueType.UINT16:
      return new Uint16Array(buf);
    case GgufValueType.INT16:
      return new Int16Array(buf);
    case GgufValueType.UINT32:
      return new Uint32Array(buf);
    case GgufValueType.INT32:
      return new Int32Array(buf);
    case GgufValueType.FLOAT32:
      return new Float32Array(buf);
    case GgufValueType.UINT64:
      return new BigUint64Array(buf);
    case GgufValueType.INT64:
      return new BigInt64Array(buf);
    case GgufValueType.FLOAT64:
      return new Float64Array(buf);
  }
  throw new GgufError("BAD_VALUE_TYPE", cur.pos, `Unexpected array element type ${type}`);
}

/**
 * Scans a string array without decoding it: records each string's start and checks its UTF-8.
 * This loop is the hot path for 128k-token vocabularies (408k strings for Llama 3's tokens and
 * merges): `scan` (native) takes what is buffered; this loop reads lengths byte by byte from the
 * buffer (no DataView call), walks ASCII and the two-byte sequences of byte-level BPE (`Ġ` = C4
 * A0) inline, leaves three- and four-byte sequences to {@link isWellFormedUtf8}, reads more when
 * the buffer runs out and raises the typed errors.
 */
function readStringArray(
  cur: ByteCursor,
  n: number,
  key: string,
  fastScan: (() => StringScan | null) | undefined,
): GgufStringArray {
  const wide = cur.fileSize === undefined || cur.fileSize >= 0xffffffff;
  const bounds = wide ? new Float64Array(n + 1) : new Uint32Array(n + 1);
  // Offsets of the length's low and high words: 0 and 4 little-endian, 4 and 0 big-endian.
  const loAt = cur.le ? 0 : 4;
  const hiAt = 4 - loAt;
  let bytes = cur.bytes;
  let length = cur.length;
  let pos = cur.pos;
  // Where the fast scan is asked for (null once it was, or when there is none).
  let askAt: number | null = fastScan ? pos + FAST_SCAN_AFTER_BYTES : null;
  let scan: StringScan | null = null;
  for (let i = 0; i < n; i++) {
    if (askAt !== null && pos >= askAt) {
      askAt = null;
      scan = fastScan!();
    }
    if (scan !== null) {
      const done = scan(bytes, length, pos, i, n, !cur.le, MAX_STRING_LENGTH, bounds);
      i = done.next;
      pos = done.pos;
      if (i >= n) break;
    }
    if (pos + 8 > length) {
      cur.pos = pos;
      cur.need(8);
      bytes = cur.bytes;
      length = cur.length;
    }
    const lo = readU32(bytes, pos + loAt, cur.le);
    const hi = readU32(bytes, pos + hiAt, cur.le);
    if (hi !== 0 || lo > MAX_STRING_LENGTH) {
      throw new GgufError(
        "LIMIT_EXCEEDED",
        pos,
        `String ${i} of "${key}" is ${
          hi * 2 ** 32 + lo
        } bytes, above the limit of ${MAX_STRING_LENGTH}`,
      );
    }
    pos += 8;
    const end = pos + lo;
    if (end > length) {
      cur.pos = pos;
      cur.need(lo);
      bytes = cur.bytes;
      length = cur.length;
    }
    let j = pos;
    while (j < end) {
      const c = bytes[j];
      if (c < 0x80) {
        j++;
      } else if (c >= 0xc2 && c < 0xe0 && j + 1 < end && (bytes[j + 1] & 0xc0) === 0x80) {
        j += 2;
      } else {
        if (!isWellFormedUtf8(bytes, j, end)) {
          throw new GgufError("BAD_UTF8", pos, `String ${i} of "${key}" is not valid UTF-8`);
        }
        break;
      }
    }
    bounds[i] = pos;
    pos = end;
  }
  bounds[n] = pos + 8;
  cur.pos = pos;
  // Strings recorded while an older, smaller buffer was current stay valid: buffers are only
  // ever copied forward, never overwritten.
  return new GgufStringArray(cur.bytes, bounds);
}

/** The u32 at `at`, from single bytes (faster than a DataView call in this loop). */
function readU32(b: Uint8Array, at: number, le: boolean): number {
  return le
    ? (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0
    : ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

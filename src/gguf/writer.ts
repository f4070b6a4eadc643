/**
 * Writing GGUF v3 files (little- or big-endian): metadata of every value type, tensors with
 * alignment padding (offsets packed in directory order, as gguf.cpp requires), BitNet I2_S
 * tensors. Files are written to a temporary name beside the target and renamed into place.
 *
 * @module
 */

import { writeAtomically } from "../common/atomic_write.ts";
import { GgufError } from "./errors.ts";
import { DEFAULT_ALIGNMENT, MAX_ALIGNMENT, MAX_TENSOR_NAME_LENGTH } from "./limits.ts";
import type { GgufArrayValues, GgufFile, GgufValue } from "./model.ts";
import { alignUp } from "./parse.ts";
import { GgufStringArray } from "./string_array.ts";
import { ggmlTypeByName, type GgmlTypeInfo, tensorByteSize } from "./types.ts";
import { GgufValueType, valueTypeName } from "./value_types.ts";

/** A metadata entry to write. Entries read from a file (with their `offset`) are accepted too. */
export interface GgufMetadataInput {
  /** The metadata key, e.g. `general.architecture`. */
  key: string;
  /** The value type id. */
  type: GgufValueType;
  /** Element type, required when `type` is ARRAY. */
  arrayType?: GgufValueType;
  /**
   * The value. Arrays may be typed arrays, plain arrays of numbers/bigints/booleans/strings,
   * a {@link GgufStringArray}, or a nested array `{nested: true, items}`.
   */
  value: GgufValue | readonly (number | bigint | boolean | string)[];
}

/** A tensor to write: its data must be exactly the type's byte size for `dims`. */
export interface GgufTensorInput {
  /** The tensor name. */
  name: string;
  /** A type from the registry, or its name (`"Q4_K"`, `"I2_S"`). */
  type: GgmlTypeInfo | string;
  /** Dimensions in ggml order (`dims[0]` contiguous). */
  dims: readonly number[];
  /** The bytes as they go in the file, or a function producing them when written. */
  data: Uint8Array | (() => Uint8Array);
}

/** Options for {@link serializeGguf} and {@link writeGguf}. */
export interface WriteGgufOptions {
  /** Byte order of the whole file (tensor data is written as given). Default true. */
  littleEndian?: boolean;
  /** Data alignment; written as `general.alignment` when not 32. Default 32. */
  alignment?: number;
  /** Called after each tensor is written with bytes done and bytes in all (writeGguf only). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Builders for metadata entries.
 *
 * @example
 * ```ts
 * import { kv } from "./writer.ts";
 * const entries = [kv.string("general.architecture", "llama"), kv.u32("llama.block_count", 2)];
 * entries[1].type; // 4 (UINT32)
 * ```
 */
export const kv = {
  u8: (key: string, value: number): GgufMetadataInput => ({ key, type: 0, value }),
  i8: (key: string, value: number): GgufMetadataInput => ({ key, type: 1, value }),
  u16: (key: string, value: number): GgufMetadataInput => ({ key, type: 2, value }),
  i16: (key: string, value: number): GgufMetadataInput => ({ key, type: 3, value }),
  u32: (key: string, value: number): GgufMetadataInput => ({ key, type: 4, value }),
  i32: (key: string, value: number): GgufMetadataInput => ({ key, type: 5, value }),
  f32: (key: string, value: number): GgufMetadataInput => ({ key, type: 6, value }),
  bool: (key: string, value: boolean): GgufMetadataInput => ({ key, type: 7, value }),
  string: (key: string, value: string): GgufMetadataInput => ({ key, type: 8, value }),
  u64: (key: string, value: number | bigint): GgufMetadataInput => ({ key, type: 10, value }),
  i64: (key: string, value: number | bigint): GgufMetadataInput => ({ key, type: 11, value }),
  f64: (key: string, value: number): GgufMetadataInput => ({ key, type: 12, value }),
  array: (
    key: string,
    arrayType: GgufValueType,
    value: GgufArrayValues | readonly (number | bigint | boolean | string)[],
  ): GgufMetadataInput => ({ key, type: 9, arrayType, value }),
};

/** A growable little/big-endian byte buffer. */
class ByteWriter {
  bytes = new Uint8Array(1024);
  view = new DataView(this.bytes.buffer);
  length = 0;
  constructor(readonly le: boolean) {}

  reserve(n: number): number {
    const at = this.length;
    if (at + n > this.bytes.length) {
      const grown = new Uint8Array(Math.max(at + n, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, at));
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
    }
    this.length = at + n;
    return at;
  }
  u8(v: number) {
    const at = this.reserve(1);
    this.bytes[at] = v;
  }
  u32(v: number) {
    {
      const at = this.reserve(4);
      this.view.setUint32(at, v, this.le);
    }
  }
  u64(v: number | bigint) {
    {
      const at = this.reserve(8);
      this.view.setBigUint64(at, BigInt(v), this.le);
    }
  }
  raw(b: Uint8Array) {
    const at = this.reserve(b.length);
    this.bytes.set(b, at);
  }
  string(s: string) {
    if (!s.isWellFormed()) {
      throw bad(`String ${JSON.stringify(s)} has a lone surrogate; it cannot be UTF-8`);
    }
    const b = encoder.encode(s);
    this.u64(b.length);
    this.raw(b);
  }
}

const encoder = new TextEncoder();

function bad(reason: string): GgufError {
  return new GgufError("BAD_ARGUMENT", 0, reason);
}

const INT_RANGES: Record<number, [number, number]> = {
  0: [0, 0xff],
  1: [-0x80, 0x7f],
  2: [0, 0xffff],
  3: [-0x8000, 0x7fff],
  4: [0, 0xffffffff],
  5: [-0x80000000, 0x7fffffff],
};

function writeScalar(w: ByteWriter, type: number, value: unknown, key: string): void {
  const at = () => `"${key}" (${valueTypeName(type)})`;
  if (type in INT_RANGES) {
    const [lo, hi] = INT_RANGES[type];
    if (typeof value !== "number" || !Number.isInteger(value) || value < lo || value > hi) {
      throw bad(`Value ${String(value)} does not fit ${at()}`);
    }
  }
  switch (type) {
    case GgufValueType.UINT8:
    case GgufValueType.INT8:
      {
        const at = w.reserve(1);
        w.view.setInt8(at, value as number);
      }
      return;
    case GgufValueType.UINT16:
      {
        const at = w.reserve(2);
        w.view.setUint16(at, value as number, w.le);
      }
      return;
    case GgufValueType.INT16:
      {
        const at = w.reserve(2);
        w.view.setInt16(at, value as number, w.le);
      }
      return;
    case GgufValueType.UINT32:
      {
        const at = w.reserve(4);
        w.view.setUint32(at, value as number, w.le);
      }
      return;
    case GgufValueType.INT32:
      {
        const at = w.reserve(4);
        w.view.setInt32(at, value as number, w.le);
      }
      return;
    case GgufValueType.FLOAT32:
    case GgufValueType.FLOAT64:
      if (typeof value !== "number") {
        throw bad(`Value ${String(value)} is not a number for ${at()}`);
      }
      if (type === GgufValueType.FLOAT32) {
        const at = w.reserve(4);
        w.view.setFloat32(at, value, w.le);
      } else {
        const at = w.reserve(8);
        w.view.setFloat64(at, value, w.le);
      }
      return;
    case GgufValueType.BOOL:
      if (typeof value !== "boolean") {
        throw bad(`Value ${String(value)} is not a boolean for ${at()}`);
      }
      w.u8(value ? 1 : 0);
      return;
    case GgufValueType.STRING:
      if (typeof value !== "string") {
        throw bad(`Value ${String(value)} is not a string for ${at()}`);
      }
      w.string(value);
      return;
    case GgufValueType.UINT64:
    case GgufValueType.INT64: {
      if (typeof value !== "bigint" && !(typeof value === "number" && Number.isInteger(value))) {
        throw bad(`Value ${String(value)} is not an integer for ${at()}`);
      }
      const big = BigInt(value);
      const ok = type === GgufValueType.UINT64
        ? big >= 0n && big < 2n ** 64n
        : big >= -(2n ** 63n) && big < 2n ** 63n;
      if (!ok) throw bad(`Value ${big} does not fit ${at()}`);
      if (type === GgufValueType.UINT64) {
        const at = w.reserve(8);
        w.view.setBigUint64(at, big, w.le);
      } else {
        const at = w.reserve(8);
        w.view.setBigInt64(at, big, w.le);
      }
      return;
    }
  }
  throw bad(`Unknown value type ${type} for "${key}"`);
}

function writeArray(w: ByteWriter, elementType: number, values: unknown, key: string): void {
  if (!(elementType >= 0 && elementType <= 12)) {
    throw bad(`Array "${key}" has an unknown element type ${elementType}`);
  }
  w.u32(elementType);
  if (elementType === GgufValueType.ARRAY) {
    const nested = values as {
      nested?: boolean;
      items?: { elementType: number; values: unknown }[];
    };
    if (!nested?.nested || !Array.isArray(nested.items)) {
      throw bad(`Array "${key}" of arrays needs {nested: true, items: [...]}`);
    }
    w.u64(nested.items.length);
    for (const item of nested.items) writeArray(w, item.elementType, item.values, key);
    return;
  }
  if (values instanceof GgufStringArray) {
    if (elementType !== GgufValueType.STRING) throw bad(`Array "${key}" holds strings`);
    w.u64(values.length);
    for (let i = 0; i < values.length; i++) {
      const b = values.bytesAt(i);
      w.u64(b.length);
      w.raw(b);
    }
    return;
  }
  const list = values as ArrayLike<unknown>;
  if (list === null || typeof list !== "object" || typeof list.length !== "number") {
    throw bad(`Value of array "${key}" is not an array`);
  }
  w.u64(list.length);
  for (let i = 0; i < list.length; i++) writeScalar(w, elementType, list[i], key);
}

function resolveTensorType(t: GgufTensorInput): GgmlTypeInfo {
  const type = typeof t.type === "string" ? ggmlTypeByName(t.type) : t.type;
  if (!type) throw bad(`Tensor "${t.name}" has an unknown type "${String(t.type)}"`);
  if (type.blockSize === 0) throw bad(`Tensor "${t.name}" has removed type ${type.name}`);
  return type;
}

/** The encoded header plus where each tensor goes. */
interface EncodedHeader {
  header: Uint8Array;
  offsets: number[];
  sizes: number[];
  alignment: number;
}

function encodeHeader(
  metadata: readonly GgufMetadataInput[],
  tensors: readonly GgufTensorInput[],
  options: WriteGgufOptions,
): EncodedHeader {
  const le = options.littleEndian ?? true;
  const entries = [...metadata];
  const alignEntry = entries.find((e) => e.key === "general.alignment");
  if (alignEntry && alignEntry.type !== GgufValueType.UINT32) {
    throw bad(`general.alignment must be a UINT32, not a ${valueTypeName(alignEntry.type)}`);
  }
  let alignment = options.alignment ?? (alignEntry ? Number(alignEntry.value) : DEFAULT_ALIGNMENT);
  if (
    !Number.isInteger(alignment) || alignment <= 0 || alignment > MAX_ALIGNMENT ||
    (alignment & (alignment - 1)) !== 0
  ) {
    throw bad(`Alignment ${alignment} is not a power of two from 1 to ${MAX_ALIGNMENT}`);
  }
  if (alignEntry && Number(alignEntry.value) !== alignment) {
    throw bad(`general.alignment is ${alignEntry.value} but the alignment option is ${alignment}`);
  }
  if (!alignEntry && alignment !== DEFAULT_ALIGNMENT) {
    entries.push({ key: "general.alignment", type: GgufValueType.UINT32, value: alignment });
  }
  alignment = Math.max(alignment, 1);

  const w = new ByteWriter(le);
  w.raw(encoder.encode("GGUF"));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(entries.length);
  const keys = new Set<string>();
  for (const e of entries) {
    if (!e.key) throw bad("A metadata key is empty");
    if (keys.has(e.key)) throw bad(`Metadata key "${e.key}" is given twice`);
    keys.add(e.key);
    w.string(e.key);
    w.u32(e.type);
    if (e.type === GgufValueType.ARRAY) {
      if (e.arrayType === undefined) throw bad(`Array "${e.key}" needs an arrayType`);
      writeArray(w, e.arrayType, e.value, e.key);
    } else {
      writeScalar(w, e.type, e.value, e.key);
    }
  }
  const names = new Set<string>();
  const offsets: number[] = [];
  const sizes: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    const type = resolveTensorType(t);
    const nameBytes = encoder.encode(t.name).length;
    if (nameBytes === 0 || nameBytes > MAX_TENSOR_NAME_LENGTH) {
      throw bad(`Tensor name "${t.name}" must be 1–${MAX_TENSOR_NAME_LENGTH} bytes`);
    }
    if (names.has(t.name)) throw bad(`Tensor "${t.name}" is given twice`);
    names.add(t.name);
    if (t.dims.length > 4) throw bad(`Tensor "${t.name}" has more than 4 dimensions`);
    if (!t.dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`Tensor "${t.name}" has dims [${t.dims}]; each must be a non-negative integer`);
    }
    let size: number | null;
    try {
      size = tensorByteSize(type, t.dims);
    } catch {
      throw bad(`Tensor "${t.name}" [${t.dims}] is too large to address`);
    }
    if (size === null) {
      throw bad(`Tensor "${t.name}": ne[0] = ${t.dims[0]} is not a multiple of ${type.blockSize}`);
    }
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(type.id);
    w.u64(offset);
    offsets.push(offset);
    sizes.push(size);
    offset = alignUp(offset + size, alignment);
  }
  const headerEnd = tensors.length > 0 ? alignUp(w.length, alignment) : w.length;
  w.reserve(headerEnd - w.length);
  return { header: w.bytes.slice(0, headerEnd), offsets, sizes, alignment };
}

function tensorData(t: GgufTensorInput, expected: number): Uint8Array {
  const data = typeof t.data === "function" ? t.data() : t.data;
  if (data.byteLength !== expected) {
    throw bad(
      `Tensor "${t.name}" needs ${expected} bytes of data but was given ${data.byteLength}`,
    );
  }
  return data;
}

/**
 * Encodes a whole GGUF v3 file in memory.
 *
 * @example
 * ```ts
 * import { kv, serializeGguf } from "./writer.ts";
 * const bytes = serializeGguf(
 *   [kv.string("general.architecture", "llama")],
 *   [{ name: "w", type: "F32", dims: [4], data: new Uint8Array(16) }],
 * );
 * bytes.length; // 128: header padded to 96, then 16 bytes of data padded to 32
 * ```
 */
export function serializeGguf(
  metadata: readonly GgufMetadataInput[],
  tensors: readonly GgufTensorInput[],
  options: WriteGgufOptions = {},
): Uint8Array<ArrayBuffer> {
  const enc = encodeHeader(metadata, tensors, options);
  const last = tensors.length - 1;
  const total = enc.header.length +
    (last >= 0 ? alignUp(enc.offsets[last] + enc.sizes[last], enc.alignment) : 0);
  const out = new Uint8Array(total);
  out.set(enc.header);
  tensors.forEach((t, i) =>
    out.set(tensorData(t, enc.sizes[i]), enc.header.length + enc.offsets[i])
  );
  return out;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await file.write(bytes.subarray(done));
}

/**
 * Writes a GGUF v3 file atomically (temporary file + rename). Tensor data is written one tensor
 * at a time, so `data` functions let large models be written without holding them in memory.
 *
 * @example
 * ```ts ignore
 * import { kv, writeGguf } from "./writer.ts";
 * await writeGguf("tiny.gguf", [kv.string("general.architecture", "llama")], []);
 * ```
 */
export async function writeGguf(
  path: string,
  metadata: readonly GgufMetadataInput[],
  tensors: readonly GgufTensorInput[],
  options: WriteGgufOptions = {},
): Promise<void> {
  const enc = encodeHeader(metadata, tensors, options);
  const last = tensors.length - 1;
  const total = enc.header.length +
    (last >= 0 ? alignUp(enc.offsets[last] + enc.sizes[last], enc.alignment) : 0);
  await writeAtomically(path, async (file) => {
    await writeAll(file, enc.header);
    let done = enc.header.length;
    for (let i = 0; i < tensors.length; i++) {
      const data = tensorData(tensors[i], enc.sizes[i]);
      const padded = alignUp(enc.sizes[i], enc.alignment);
      await writeAll(file, data);
      if (padded > data.length) await writeAll(file, new Uint8Array(padded - data.length));
      done += padded;
      options.onProgress?.(done, total);
    }
  });
}

/**
 * Rewrites a file's metadata without touching its tensor data: the new header is written, then
 * the data section is copied byte for byte (to a temporary file renamed over `outPath`, which may
 * be `file.source` itself). The alignment cannot change, since tensor offsets stay the same.
 *
 * @example
 * ```ts ignore
 * import { readGguf } from "./reader.ts";
 * import { kv, rewriteGgufMetadata } from "./writer.ts";
 * const file = await readGguf("m.gguf");
 * await rewriteGgufMetadata(file, "m.gguf", (entries) => [
 *   ...entries.filter((e) => e.key !== "general.name"),
 *   kv.string("general.name", "renamed"),
 * ]);
 * ```
 */
export async function rewriteGgufMetadata(
  file: GgufFile,
  outPath: string,
  edit: (entries: GgufMetadataInput[]) => GgufMetadataInput[],
): Promise<void> {
  const entries = edit([...file.metadata.values()]);
  const newAlign = entries.find((e) => e.key === "general.alignment");
  if ((newAlign ? Number(newAlign.value) : DEFAULT_ALIGNMENT) !== file.alignment) {
    throw bad("A metadata rewrite cannot change general.alignment (tensor offsets would move)");
  }
  // Re-encode the directory with the original offsets (they are already aligned).
  const w = new ByteWriter(file.littleEndian);
  const enc = encodeHeader(entries, [], { littleEndian: file.littleEndian });
  w.raw(enc.header);
  w.view.setBigUint64(8, BigInt(file.tensors.length), file.littleEndian);
  for (const t of file.tensors) {
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type.id);
    w.u64(t.offset);
  }
  const headerEnd = file.tensors.length > 0 ? alignUp(w.length, file.alignment) : w.length;
  w.reserve(headerEnd - w.length);
  const source = await Deno.open(file.source, { read: true });
  try {
    await writeAtomically(outPath, async (out) => {
      await writeAll(out, w.bytes.subarray(0, headerEnd));
      await source.seek(file.dataOffset, Deno.SeekMode.Start);
      const chunk = new Uint8Array(4 * 1024 * 1024);
      for (;;) {
        const n = await source.read(chunk);
        if (n === null) break;
        await writeAll(out, chunk.subarray(0, n));
      }
    });
  } finally {
    source.close();
  }
}

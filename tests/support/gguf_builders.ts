/**
 * Hermetic builders for the GGUF property, fuzz and cross-check tests: a seeded random source, a
 * generator of random *valid* models (every metadata value type, every writable tensor type,
 * both byte orders, several alignments), an independent structure walker that finds every
 * count/length/type/dim field of a serialized file (it does not use bitload's parser, so it can
 * aim mutations at fields the parser then has to survive), and byte-level mutation helpers.
 *
 * @module
 */

import type { GgmlTypeInfo } from "../../mod.ts";
import {
  allGgmlTypes,
  type GgufMetadataInput,
  type GgufTensorInput,
  GgufValueType,
  tensorByteSize,
  type WriteGgufOptions,
} from "../../src/gguf/mod.ts";
import { Rng } from "./random.ts";

export { Rng };

// ---------------------------------------------------------------------------------------------
// Random valid models.

/** Code points used in random strings: ASCII, 2-, 3- and 4-byte UTF-8 (no lone surrogates). */
const CHAR_POOL = [
  "a",
  "b",
  "z",
  "0",
  " ",
  ".",
  "_",
  "\n",
  "\t",
  "\u0000",
  "é",
  "ß",
  "Ġ",
  "Ω",
  "ж",
  "€",
  "中",
  "文",
  "\uFFFD",
  // U+FEFF (BOM) is left out: bitload's decoders strip a leading BOM (reported to the lead;
  // see the ignored "KNOWN BUG" test in gguf_property_test.ts). It is used after the first
  // character only, where it survives.
  "😀",
  "𝄞",
  "\u{10FFFF}",
];

/** A random UTF-8 string of 0..maxChars characters (may be empty). */
export function randomString(rng: Rng, maxChars: number): string {
  const n = rng.int(maxChars + 1);
  let s = "";
  for (let i = 0; i < n; i++) s += rng.pick(CHAR_POOL);
  if (s.length > 0 && rng.chance(0.05)) s += "\uFEFF";
  return s;
}

/** Integer ranges of the small integer value types. */
const INT_RANGE: Record<number, [number, number]> = {
  [GgufValueType.UINT8]: [0, 0xff],
  [GgufValueType.INT8]: [-0x80, 0x7f],
  [GgufValueType.UINT16]: [0, 0xffff],
  [GgufValueType.INT16]: [-0x8000, 0x7fff],
  [GgufValueType.UINT32]: [0, 0xffffffff],
  [GgufValueType.INT32]: [-0x80000000, 0x7fffffff],
};

const SPECIAL_FLOATS = [NaN, Infinity, -Infinity, -0, 0, 1, -1, 1e-45, 3.4028234663852886e38];

function randomFloat(rng: Rng, f32: boolean): number {
  const v = rng.chance(0.3)
    ? rng.pick(SPECIAL_FLOATS)
    : (rng.float() - 0.5) * 10 ** rng.range(-40, 40);
  return f32 ? Math.fround(v) : v;
}

const U64_EDGES = [
  0n,
  1n,
  2n ** 32n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 53n + 1n,
  2n ** 63n,
  2n ** 64n - 1n,
];
const I64_EDGES = [
  0n,
  -1n,
  -(2n ** 53n),
  -(2n ** 53n) - 1n,
  2n ** 53n,
  2n ** 53n + 1n,
  -(2n ** 63n),
  2n ** 63n - 1n,
];

function randomU64(rng: Rng): bigint {
  return rng.chance(0.5) ? rng.pick(U64_EDGES) : rng.u64() >> BigInt(rng.int(64));
}

function randomI64(rng: Rng): bigint {
  return rng.chance(0.5)
    ? rng.pick(I64_EDGES)
    : BigInt.asIntN(64, rng.u64() >> BigInt(rng.int(64)));
}

/** A random scalar of a non-array value type, in the form the writer accepts. */
export function randomScalar(rng: Rng, type: number): number | bigint | boolean | string {
  if (type in INT_RANGE) {
    const [lo, hi] = INT_RANGE[type];
    return rng.chance(0.3) ? rng.pick([lo, hi, 0]) : lo + Math.floor(rng.float() * (hi - lo + 1));
  }
  switch (type) {
    case GgufValueType.FLOAT32:
      return randomFloat(rng, true);
    case GgufValueType.FLOAT64:
      return randomFloat(rng, false);
    case GgufValueType.BOOL:
      return rng.chance(0.5);
    case GgufValueType.STRING:
      return randomString(rng, 12);
    case GgufValueType.UINT64: {
      // Numbers for small values, bigints beyond 2^53 (the writer takes both).
      const v = randomU64(rng);
      return v < 2n ** 53n && rng.chance(0.5) ? Number(v) : v;
    }
    case GgufValueType.INT64: {
      const v = randomI64(rng);
      return v >= -(2n ** 53n) && v <= 2n ** 53n && rng.chance(0.5) ? Number(v) : v;
    }
  }
  throw new Error(`not a scalar type ${type}`);
}

const SCALAR_TYPES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12];

/** A random array value of element type `elementType` (typed array or plain array). */
function randomArrayValues(
  rng: Rng,
  elementType: number,
  maxLen: number,
  depth: number,
): unknown {
  const n = rng.chance(0.15) ? 0 : rng.int(maxLen + 1);
  if (elementType === GgufValueType.ARRAY) {
    const items = [];
    for (let i = 0; i < n; i++) {
      const inner = depth < 2 && rng.chance(0.3) ? GgufValueType.ARRAY : rng.pick(SCALAR_TYPES);
      items.push({ elementType: inner, values: randomArrayValues(rng, inner, 4, depth + 1) });
    }
    return { nested: true, items };
  }
  const plain = [];
  for (let i = 0; i < n; i++) plain.push(randomScalar(rng, elementType));
  if (elementType === GgufValueType.BOOL || elementType === GgufValueType.STRING) return plain;
  // Numeric arrays: alternate between typed arrays and plain arrays of numbers/bigints.
  const asTyped = rng.chance(0.5);
  switch (elementType) {
    case GgufValueType.UINT8:
      return asTyped ? Uint8Array.from(plain as number[]) : plain;
    case GgufValueType.INT8:
      return asTyped ? Int8Array.from(plain as number[]) : plain;
    case GgufValueType.UINT16:
      return asTyped ? Uint16Array.from(plain as number[]) : plain;
    case GgufValueType.INT16:
      return asTyped ? Int16Array.from(plain as number[]) : plain;
    case GgufValueType.UINT32:
      return asTyped ? Uint32Array.from(plain as number[]) : plain;
    case GgufValueType.INT32:
      return asTyped ? Int32Array.from(plain as number[]) : plain;
    case GgufValueType.FLOAT32:
      return asTyped ? Float32Array.from(plain as number[]) : plain;
    case GgufValueType.FLOAT64:
      return asTyped ? Float64Array.from(plain as number[]) : plain;
    case GgufValueType.UINT64:
      return asTyped ? BigUint64Array.from(plain.map((v) => BigInt(v as number))) : plain;
    case GgufValueType.INT64:
      return asTyped ? BigInt64Array.from(plain.map((v) => BigInt(v as number))) : plain;
  }
  throw new Error(`bad element type ${elementType}`);
}

/** Options of {@link randomModel}. */
export interface RandomModelOptions {
  /** Allow arrays of arrays (gguf.cpp refuses them). Default true. */
  nested?: boolean;
  /** Most metadata entries. Default 24. */
  maxKeys?: number;
  /** Most tensors. Default 6. */
  maxTensors?: number;
  /** Force the BitNet architecture (and I2_S tensors). Default: random. */
  bitnet?: boolean;
  /** Allow types ggml itself cannot read (bitnet ids 36–39). Default true. */
  bitnetTypes?: boolean;
  /** Force the byte order. Default: random. */
  littleEndian?: boolean;
}

/** A random valid model, ready for the writer. */
export interface RandomModel {
  metadata: GgufMetadataInput[];
  tensors: (GgufTensorInput & { type: GgmlTypeInfo; data: Uint8Array })[];
  options: WriteGgufOptions & { alignment: number; littleEndian: boolean };
  bitnet: boolean;
  /** Keys in file order, including a `general.alignment` the writer appends. */
  keys: string[];
}

const ALIGNMENTS = [1, 8, 32, 64, 4096];

/** Types the writer can write: everything with a block size (tombstones excluded). */
export function writableTypes(): GgmlTypeInfo[] {
  return allGgmlTypes().filter((t) => t.blockSize > 0);
}

/**
 * A random valid model: random metadata of every value type, random tensors of random writable
 * types (the BitNet dialect's in `bitnet-b1.58` models, upstream ggml's elsewhere), 1–4 dims with
 * ne0 a multiple of the block size, random alignment and byte order.
 */
export function randomModel(rng: Rng, o: RandomModelOptions = {}): RandomModel {
  const nested = o.nested ?? true;
  const bitnet = o.bitnet ?? rng.chance(0.3);
  const alignment = rng.pick(ALIGNMENTS);
  const littleEndian = o.littleEndian ?? rng.chance(0.7);
  const metadata: GgufMetadataInput[] = [];
  const used = new Set<string>();
  const nKeys = rng.int((o.maxKeys ?? 24) + 1);
  for (let i = 0; i < nKeys; i++) {
    let key = `${rng.pick(["k", "general.x", "tokenizer.t", "llama.l", "ключ", "键"])}.${i}`;
    if (rng.chance(0.2)) key += randomString(rng, 4).split("\u0000").join("");
    if (used.has(key)) continue;
    used.add(key);
    const type = rng.pick([...SCALAR_TYPES, GgufValueType.ARRAY, GgufValueType.ARRAY]);
    if (type === GgufValueType.ARRAY) {
      const elementType = nested && rng.chance(0.12) ? GgufValueType.ARRAY : rng.pick(SCALAR_TYPES);
      metadata.push({
        key,
        type: GgufValueType.ARRAY,
        arrayType: elementType as GgufValueType,
        value: randomArrayValues(rng, elementType, 12, 0) as GgufMetadataInput["value"],
      });
    } else {
      metadata.push({ key, type: type as GgufValueType, value: randomScalar(rng, type) });
    }
  }
  if (bitnet || rng.chance(0.5)) {
    const arch = {
      key: "general.architecture",
      type: GgufValueType.STRING,
      value: bitnet ? "bitnet-b1.58" : "llama",
    };
    metadata.splice(rng.int(metadata.length + 1), 0, arch);
  }
  // Sometimes the alignment key is given explicitly (at a random position), else the writer
  // appends it when the alignment is not the default.
  const explicitAlign = rng.chance(0.3);
  if (explicitAlign) {
    metadata.splice(rng.int(metadata.length + 1), 0, {
      key: "general.alignment",
      type: GgufValueType.UINT32,
      value: alignment,
    });
  }

  const types = writableTypes().filter((t) =>
    bitnet
      ? t.dialect !== "ggml" && (o.bitnetTypes ?? true ? true : t.dialect !== "bitnet")
      : t.dialect !== "bitnet"
  );
  const tensors: RandomModel["tensors"] = [];
  const nTensors = rng.int((o.maxTensors ?? 6) + 1);
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const type = bitnet && (o.bitnetTypes ?? true) && rng.chance(0.4)
      ? types.find((t) => t.name === "I2_S")!
      : rng.pick(types);
    const nDims = rng.range(1, 4);
    const unit = type.name === "I2_S" || type.name === "TL1" || type.name === "TL2"
      ? 256
      : type.blockSize;
    const dims = [unit * rng.range(1, type.blockSize >= 32 ? 2 : 8)];
    for (let d = 1; d < nDims; d++) dims.push(rng.range(1, 3));
    // No NUL in names: ggml hands names out as C strings (the cross-check compares them).
    let name = `${rng.pick(["blk", "w", "тензор", "t"])}.${i}.${
      randomString(rng, 3).split("\u0000").join("")
    }`;
    while (new TextEncoder().encode(name).length > 63) name = name.slice(0, -1);
    if (names.has(name)) continue;
    names.add(name);
    const size = tensorByteSize(type, dims)!;
    tensors.push({ name, type, dims, data: rng.bytes(size) });
  }
  const keys = metadata.map((e) => e.key);
  if (!explicitAlign && alignment !== 32) keys.push("general.alignment");
  return { metadata, tensors, options: { alignment, littleEndian }, bitnet, keys };
}

// ---------------------------------------------------------------------------------------------
// An independent walker over a serialized GGUF file.

/** What a located field holds. */
export type FieldKind =
  | "version"
  | "tensorCount"
  | "kvCount"
  | "keyLength"
  | "valueType"
  | "arrayType"
  | "arrayLength"
  | "stringLength"
  | "alignmentValue"
  | "nameLength"
  | "nDims"
  | "dim"
  | "tensorType"
  | "tensorOffset";

/** One field of the file: where it is and how wide (4 or 8 bytes). */
export interface Field {
  kind: FieldKind;
  offset: number;
  size: 4 | 8;
}

/** The walked structure of a valid file. */
export interface WalkedFile {
  littleEndian: boolean;
  fields: Field[];
  /** Offset just past the tensor directory. */
  directoryEnd: number;
  /** Offset of the first key/value entry's key length. */
  kvStart: number;
  /** Offset of the first tensor info. */
  tensorsStart: number;
}

/** Walks a *valid* GGUF file (v2/v3, either byte order) and lists its fields. */
export function walkGguf(bytes: Uint8Array): WalkedFile {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = (view.getUint32(4, true) & 0xffff) !== 0;
  const fields: Field[] = [];
  let pos = 4;
  const u32 = (kind?: FieldKind) => {
    if (kind) fields.push({ kind, offset: pos, size: 4 });
    const v = view.getUint32(pos, le);
    pos += 4;
    return v;
  };
  const u64 = (kind?: FieldKind) => {
    if (kind) fields.push({ kind, offset: pos, size: 8 });
    const v = Number(view.getBigUint64(pos, le));
    pos += 8;
    return v;
  };
  const sizes = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];
  const value = (type: number): void => {
    if (type === GgufValueType.STRING) {
      const n = u64("stringLength");
      pos += n;
    } else if (type === GgufValueType.ARRAY) {
      const et = u32("arrayType");
      const n = u64("arrayLength");
      for (let i = 0; i < n; i++) {
        if (et === GgufValueType.STRING || et === GgufValueType.ARRAY) value(et);
        else pos += sizes[et];
      }
    } else pos += sizes[type];
  };
  u32("version");
  const nTensors = u64("tensorCount");
  const nKv = u64("kvCount");
  const kvStart = pos;
  for (let i = 0; i < nKv; i++) {
    const klen = u64("keyLength");
    const key = new TextDecoder().decode(bytes.subarray(pos, pos + klen));
    pos += klen;
    const type = u32("valueType");
    if (key === "general.alignment" && type === GgufValueType.UINT32) {
      fields.push({ kind: "alignmentValue", offset: pos, size: 4 });
    }
    value(type);
  }
  const tensorsStart = pos;
  for (let i = 0; i < nTensors; i++) {
    const nameLength = u64("nameLength");
    pos += nameLength;
    const nd = u32("nDims");
    for (let d = 0; d < nd; d++) u64("dim");
    u32("tensorType");
    u64("tensorOffset");
  }
  return { littleEndian: le, fields, directoryEnd: pos, kvStart, tensorsStart };
}

// ---------------------------------------------------------------------------------------------
// Byte-level mutation helpers (all return a fresh copy).

/** Writes a u32 at `offset` in the file's byte order. */
export function withU32(bytes: Uint8Array, offset: number, v: number, le: boolean): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(offset, v >>> 0, le);
  return out;
}

/** Writes a u64 at `offset` in the file's byte order. */
export function withU64(bytes: Uint8Array, offset: number, v: bigint, le: boolean): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setBigUint64(offset, BigInt.asUintN(64, v), le);
  return out;
}

/** Overwrites a field with `v` (truncated to the field's width). */
export function withField(bytes: Uint8Array, f: Field, v: bigint, le: boolean): Uint8Array {
  return f.size === 8
    ? withU64(bytes, f.offset, v, le)
    : withU32(bytes, f.offset, Number(BigInt.asUintN(32, v)), le);
}

/** Flips (XORs with a random non-zero byte) `count` random bytes, positions from `where`. */
export function withFlips(
  rng: Rng,
  bytes: Uint8Array,
  count: number,
  where: () => number,
): { bytes: Uint8Array; positions: number[] } {
  const out = bytes.slice();
  const positions: number[] = [];
  for (let i = 0; i < count; i++) {
    const p = where();
    positions.push(p);
    out[p] ^= 1 + rng.int(255);
  }
  return { bytes: out, positions };
}

// ---------------------------------------------------------------------------------------------
// A raw builder for hand-made (possibly malformed) files.

/** Appends raw GGUF fields in one byte order; nothing is checked. */
export class RawGguf {
  #parts: number[] = [];
  constructor(readonly le = true) {}
  /** Raw bytes. */
  raw(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.#parts.push(b[i] & 0xff);
    return this;
  }
  /** A u32 in the builder's byte order. */
  u32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, this.le);
    return this.raw(b);
  }
  /** A u64 in the builder's byte order. */
  u64(v: number | bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(v)), this.le);
    return this.raw(b);
  }
  /** A GGUF string (u64 length + UTF-8 bytes). */
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u64(b.length).raw(b);
  }
  /** Magic, version, tensor count and kv count. */
  header(version: number, nTensors: number | bigint, nKv: number | bigint): this {
    return this.raw([0x47, 0x47, 0x55, 0x46]).u32(version).u64(nTensors).u64(nKv);
  }
  /** Zero bytes up to a multiple of `alignment`. */
  pad(alignment: number): this {
    while (this.#parts.length % alignment !== 0) this.#parts.push(0);
    return this;
  }
  /** Current length. */
  get length(): number {
    return this.#parts.length;
  }
  /** The bytes. */
  bytes(): Uint8Array<ArrayBuffer> {
    return Uint8Array.from(this.#parts);
  }
}

// ---------------------------------------------------------------------------------------------
// Value comparison.

/** Bit pattern of a float, so NaN and -0 compare exactly. */
export function floatBits(v: number, f32: boolean): string {
  if (f32) return new Uint32Array(new Float32Array([v]).buffer)[0].toString(16);
  const u = new Uint32Array(new Float64Array([v]).buffer);
  return u[1].toString(16) + ":" + u[0].toString(16);
}

// ---------------------------------------------------------------------------------------------
// Deterministic mutants of valid seeds (shared by the fuzz and cross-check tests).

/** A valid file to mutate. */
export interface Seed {
  name: string;
  bytes: Uint8Array;
  le: boolean;
  fields: Field[];
  /** End of the header region (tensor directory end, padded to the data section). */
  headerEnd: number;
  alignment: number;
}

/** One mutated file and how it was made. */
export interface Mutant {
  seed: string;
  mutation: string;
  bytes: Uint8Array;
}

/** Walks a valid file into a {@link Seed}. */
export function makeSeed(name: string, bytes: Uint8Array, alignment: number): Seed {
  const walked = walkGguf(bytes);
  const nTensors = walked.fields.filter((f) => f.kind === "tensorOffset").length;
  const headerEnd = nTensors > 0
    ? Math.ceil(walked.directoryEnd / alignment) * alignment
    : walked.directoryEnd;
  return { name, bytes, le: walked.littleEndian, fields: walked.fields, headerEnd, alignment };
}

/** Huge values for count/length fields. */
export const HUGE = [2n ** 32n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];
const COUNT_KINDS: FieldKind[] = [
  "tensorCount",
  "kvCount",
  "keyLength",
  "arrayLength",
  "stringLength",
  "nameLength",
];
const BAD_TENSOR_TYPES = [
  4,
  5,
  ...Array.from({ length: 13 }, (_, i) => 31 + i),
  99,
  2 ** 31,
  2 ** 32 - 1,
];

/** Generates every mutant of every seed, deterministically. */
export function* mutants(seeds: Seed[], seed: number): Generator<Mutant> {
  const rng = new Rng(seed);
  for (const s of seeds) {
    const { bytes, le, fields } = s;
    const len = bytes.length;
    const m = (mutation: string, b: Uint8Array): Mutant => ({ seed: s.name, mutation, bytes: b });
    const sample = (list: Field[], n: number) =>
      list.length <= n ? list : Array.from({ length: n }, () => rng.pick(list));

    // 1. Every truncation over the header region, and sampled ones beyond.
    for (let n = 0; n <= Math.min(s.headerEnd, len); n++) {
      yield m(`truncate to ${n}`, bytes.slice(0, n));
    }
    for (let i = 0; i < 40; i++) {
      const n = s.headerEnd + 1 + rng.int(Math.max(1, len - s.headerEnd - 1));
      if (n < len) yield m(`truncate to ${n}`, bytes.slice(0, n));
    }

    // 2. 1–8 random byte flips, 85% inside the header region.
    const flips = s.name === "synthetic-bitnet" ? 1500 : 600;
    for (let i = 0; i < flips; i++) {
      const k = rng.range(1, 8);
      const where = () => rng.chance(0.85) ? rng.int(Math.min(s.headerEnd, len)) : rng.int(len);
      const r = withFlips(rng, bytes, k, where);
      yield m(`flip bytes at ${r.positions.join(",")}`, r.bytes);
    }

    // 3. Huge counts and lengths in every count/length field (sampled for long string arrays).
    const counts = fields.filter((f) => COUNT_KINDS.includes(f.kind));
    for (const f of sample(counts, 80)) {
      for (const v of [...HUGE, 2n ** 32n - 1n, 2n ** 31n, BigInt(len), BigInt(len) / 2n]) {
        yield m(`${f.kind}@${f.offset} = ${v}`, withField(bytes, f, v, le));
      }
    }

    // 4. Bad value-type ids (13..255 and beyond) in value and array element type fields.
    for (const f of fields.filter((f) => f.kind === "valueType" || f.kind === "arrayType")) {
      const bad = [13, 14, 15, 16, 31, 32, 64, 127, 128, 255, rng.range(13, 255), 2 ** 31];
      for (const v of bad) {
        yield m(`${f.kind}@${f.offset} = ${v}`, withField(bytes, f, BigInt(v), le));
      }
      // A valid but wrong type: the value is then misparsed.
      const other = rng.int(13);
      yield m(`${f.kind}@${f.offset} = ${other}`, withField(bytes, f, BigInt(other), le));
    }

    // Every id 13..255 in the first value type field and the first array element type field.
    for (const kind of ["valueType", "arrayType"] as const) {
      const f = fields.find((f) => f.kind === kind);
      if (!f) continue;
      for (let v = 13; v <= 255; v++) {
        yield m(`${kind}@${f.offset} = ${v}`, withField(bytes, f, BigInt(v), le));
      }
    }

    // 5. Bad tensor type ids.
    for (const f of fields.filter((f) => f.kind === "tensorType")) {
      for (const v of BAD_TENSOR_TYPES) {
        yield m(`tensorType@${f.offset} = ${v}`, withField(bytes, f, BigInt(v), le));
      }
    }

    // 6. Huge, zero and non-multiple dims; bad dimension counts.
    for (const f of fields.filter((f) => f.kind === "dim")) {
      for (const v of [0n, 1n, 3n, 2n ** 31n, 2n ** 32n, 2n ** 53n - 1n, ...HUGE]) {
        yield m(`dim@${f.offset} = ${v}`, withField(bytes, f, v, le));
      }
    }
    for (const f of fields.filter((f) => f.kind === "nDims")) {
      for (const v of [0n, 1n, 5n, 2n ** 31n, 2n ** 32n - 1n]) {
        yield m(`nDims@${f.offset} = ${v}`, withField(bytes, f, v, le));
      }
    }

    // 7. The alignment key: bad values, and a wrong value type.
    for (const f of fields.filter((f) => f.kind === "alignmentValue")) {
      for (const v of [0, 1, 2, 3, 16, 31, 4096, 2 ** 30, 2 ** 31, 2 ** 32 - 1]) {
        yield m(`general.alignment = ${v}`, withU32(bytes, f.offset, v, le));
      }
      for (const t of [0, 2, 5, 6, 7, 8, 10, 12]) {
        yield m(`general.alignment type = ${t}`, withU32(bytes, f.offset - 4, t, le));
      }
    }

    // 8. Tensor offsets moved: misaligned, overlapping, past the end, huge.
    for (const f of fields.filter((f) => f.kind === "tensorOffset")) {
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      const cur = view.getBigUint64(f.offset, le);
      const vals = [cur + 1n, cur + BigInt(s.alignment), 0n, BigInt(len), 2n ** 53n - 1n, ...HUGE];
      for (const v of vals) yield m(`tensorOffset@${f.offset} = ${v}`, withField(bytes, f, v, le));
    }

    // 9. Duplicates: a key or tensor name overwritten with an earlier one of the same length.
    for (const kind of ["keyLength", "nameLength"] as const) {
      const byLength = new Map<number, Field>();
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      for (const f of fields.filter((f) => f.kind === kind)) {
        const n = Number(view.getBigUint64(f.offset, le));
        const first = byLength.get(n);
        if (!first) {
          byLength.set(n, f);
          continue;
        }
        const b = bytes.slice();
        b.copyWithin(f.offset + 8, first.offset + 8, first.offset + 8 + n);
        yield m(`${kind}@${f.offset}: copy of the name @${first.offset}`, b);
      }
    }

    // 10. Two or three field mutations at once (e.g. an ambiguous type id with a zero dim).
    const pool = fields.filter((f) => f.kind !== "version");
    const values = [0n, 1n, 3n, 36n, 37n, 38n, 39n, 2n ** 31n, ...HUGE];
    for (let i = 0; i < 300; i++) {
      let b: Uint8Array = bytes;
      const parts: string[] = [];
      for (let k = rng.range(2, 3); k > 0; k--) {
        const f = rng.pick(pool);
        const v = rng.pick(values);
        b = withField(b, f, v, le);
        parts.push(`${f.kind}@${f.offset} = ${v}`);
      }
      yield m(parts.join("; "), b);
    }
    const typeFields = fields.filter((f) => f.kind === "tensorType");
    const dimFields = fields.filter((f) => f.kind === "dim");
    const nDimsFields = fields.filter((f) => f.kind === "nDims");
    for (const tf of typeFields) {
      // ne[0] of this tensor info: the first dim field after its n_dims field.
      const nd = nDimsFields.filter((f) => f.offset < tf.offset).pop();
      const d0 = dimFields.find((d) => nd !== undefined && d.offset > nd.offset);
      if (!d0 || d0.offset > tf.offset) continue;
      for (const id of [36, 37, 38, 39]) {
        for (const ne0 of [0n, 1n, 255n, 256n]) {
          const b = withField(withField(bytes, tf, BigInt(id), le), d0, ne0, le);
          yield m(`tensorType@${tf.offset} = ${id}; dim@${d0.offset} = ${ne0}`, b);
        }
      }
    }

    // 11. Version and magic.
    const version = fields.find((f) => f.kind === "version")!;
    for (const v of [0, 1, 2, 4, 0x00030000, 0x03000000, 0xffffffff]) {
      yield m(`version = ${v}`, withU32(bytes, version.offset, v, le));
    }
    for (let i = 0; i < 4; i++) {
      const b = bytes.slice();
      b[i] ^= 0x20;
      yield m(`magic byte ${i} flipped`, b);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Random files built field by field.

/**
 * A random file built field by field from "interesting" values (not a mutation of a valid one):
 * counts that may not match what follows, any value type id, tensor infos with ids 0–45 and
 * beyond, zero/odd/huge dims, offsets that may overlap, collide or fall outside, and alignments
 * that may be bad. Most are refused; whatever is accepted must satisfy the placement rules.
 */
export function grammarFile(rng: Rng, littleEndianOnly = false): Uint8Array {
  const r = new RawGguf(littleEndianOnly || rng.chance(0.8));
  const pick = <T>(xs: T[]) => rng.pick(xs);
  const nTensors = rng.chance(0.9) ? rng.int(5) : pick([2 ** 20, 2 ** 32, 2n ** 63n]);
  const kvs: ((r: RawGguf) => void)[] = [];
  const alignment = pick([1, 2, 8, 32, 32, 64, 4096, 0, 3, 2 ** 30, 2 ** 31]);
  if (rng.chance(0.5)) {
    kvs.push((r) => r.str("general.alignment").u32(pick([4, 4, 4, 5, 10])).u32(alignment));
  }
  if (rng.chance(0.5)) {
    kvs.push((r) => r.str("general.architecture").u32(8).str(pick(["bitnet-b1.58", "llama"])));
  }
  for (let i = rng.int(3); i > 0; i--) {
    const type = rng.chance(0.9) ? rng.int(13) : pick([13, 255, 2 ** 31]);
    kvs.push((r) => {
      r.str(`k${rng.int(4)}`).u32(type);
      if (type === 9) {
        const et = rng.int(14);
        const n = rng.chance(0.9) ? rng.int(4) : pick([2 ** 30, 2 ** 30 + 1]);
        r.u32(et).u64(n);
        for (let j = 0; j < Math.min(Number(n), 4); j++) {
          if (et === 8) r.str("s");
          else if (et === 9) r.u32(0).u64(1).raw([1]);
          else r.raw(rng.bytes([1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8][et] ?? 4));
        }
      } else if (type === 8) {
        r.str(rng.chance(0.9) ? "v" : "\ud800");
      } else {
        // The right size for the type most of the time, a wrong one sometimes.
        const size = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8][type] ?? 4;
        r.raw(rng.bytes(rng.chance(0.95) ? size : rng.range(0, 8)));
      }
    });
  }
  const nKv = rng.chance(0.95) ? kvs.length : rng.int(kvs.length + 2);
  r.header(rng.chance(0.95) ? 3 : pick([2, 1, 4]), nTensors, nKv);
  for (const k of kvs) k(r);
  const unit = Math.max(1, alignment === 0 || alignment > 4096 ? 32 : alignment);
  for (let i = 0; i < Math.min(Number(nTensors), 4); i++) {
    const nd = rng.chance(0.95) ? rng.range(0, 4) : 5;
    r.str(rng.chance(0.9) ? `t${i}` : pick(["", `t${i - 1}`, "x".repeat(64)])).u32(nd);
    for (let d = 0; d < nd; d++) {
      r.u64(
        rng.chance(0.85)
          ? pick([1, 2, 32, 256, 512])
          : pick([0, 3, 64, 128, 255, 2 ** 31, 2 ** 53 - 1, 2n ** 63n]),
      );
    }
    r.u32(rng.chance(0.5) ? pick([0, 1, 8, 12, 36, 39]) : rng.chance(0.9) ? rng.int(46) : 99);
    r.u64(rng.chance(0.9) ? unit * rng.int(8) : pick([1, 2 ** 53 - 1, 2n ** 64n - 1n]));
  }
  r.pad(rng.chance(0.8) ? unit : 1);
  r.raw(new Uint8Array(rng.int(12) * 256 + rng.int(unit)));
  return r.bytes();
}

/**
 * A tensor with I2_S weights turned into F16 zeros of the same shape (other types unchanged):
 * a BitNet-shaped model whose layers a GPU backend can run, for placement tests.
 */
export function asF16(t: GgufTensorInput): GgufTensorInput {
  const name = typeof t.type === "string" ? t.type : t.type.name;
  if (name !== "I2_S") return t;
  const n = t.dims.reduce((a, b) => a * b, 1);
  return { ...t, type: "F16", data: () => new Uint8Array(n * 2) };
}

/**
 * A GGUF string array that stays in the file's bytes until a string is asked for. A Llama-3
 * vocabulary holds 128,256 tokens and 280,147 merges; decoding all 408k strings eagerly costs
 * most of the parse time, so the reader only records where each string starts (after checking
 * that it is well-formed UTF-8) and decodes on demand.
 *
 * @module
 */

// ignoreBOM: a leading U+FEFF is part of the token, not a byte-order mark to strip.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * An immutable, lazily decoded array of strings.
 *
 * @example
 * ```ts
 * import { GgufStringArray } from "./string_array.ts";
 * const a = GgufStringArray.from(["<s>", "Ġthe"]);
 * a.length; // 2
 * a.get(1); // "Ġthe"
 * [...a]; // ["<s>", "Ġthe"]
 * ```
 */
export class GgufStringArray implements Iterable<string> {
  readonly #bytes: Uint8Array;
  /** `bounds[i]` is where string i starts; string i ends 8 bytes before `bounds[i + 1]`. */
  readonly #bounds: Uint32Array | Float64Array;
  #decoded: string[] | undefined;

  /**
   * Wraps already-validated bytes. `bounds` has `length + 1` entries: `bounds[i]` is the start of
   * string i, and string i ends at `bounds[i + 1] - gap`, where gap is the 8-byte length prefix
   * of the next string (GGUF layout). Use {@link GgufStringArray.from} to build one from strings.
   */
  constructor(bytes: Uint8Array, bounds: Uint32Array | Float64Array) {
    this.#bytes = bytes;
    this.#bounds = bounds;
  }

  /**
   * Builds an array from JS strings, encoded in the same layout as a GGUF file.
   *
   * @example
   * ```ts
   * import { GgufStringArray } from "./string_array.ts";
   * GgufStringArray.from(["a", "b"]).toArray(); // ["a", "b"]
   * ```
   */
  static from(strings: Iterable<string>): GgufStringArray {
    const encoder = new TextEncoder();
    return GgufStringArray.fromBytes([...strings].map((s) => encoder.encode(s)));
  }

  /**
   * Builds an array from raw byte strings, in the same layout as a GGUF file. The bytes are not
   * checked: reading one that is not well-formed UTF-8 throws the fatal decoder's `TypeError`.
   *
   * @example
   * ```ts
   * import { GgufStringArray } from "./string_array.ts";
   * GgufStringArray.fromBytes([Uint8Array.of(0x68, 0x69)]).get(0); // "hi"
   * ```
   */
  static fromBytes(parts: readonly Uint8Array[]): GgufStringArray {
    let size = 0;
    for (const p of parts) size += 8 + p.length;
    const bytes = new Uint8Array(size);
    const bounds = new Float64Array(parts.length + 1);
    let pos = 0;
    for (let i = 0; i < parts.length; i++) {
      pos += 8;
      bounds[i] = pos;
      bytes.set(parts[i], pos);
      pos += parts[i].length;
    }
    bounds[parts.length] = pos + 8;
    return new GgufStringArray(bytes, bounds);
  }

  /** Number of strings. */
  get length(): number {
    return this.#bounds.length - 1;
  }

  /** Encoded size in bytes of string `i` (without its length prefix). */
  byteLength(i: number): number {
    this.#check(i);
    return this.#bounds[i + 1] - 8 - this.#bounds[i];
  }

  /**
   * The buffer every string's bytes live in (shared with the parsed header: read it, never write
   * it). With {@link GgufStringArray.startOf} and {@link GgufStringArray.endOf} a caller walks
   * all strings without creating a view or a string per string (a 128k vocabulary's tokenizer
   * build does).
   *
   * @example
   * ```ts
   * import { GgufStringArray } from "./string_array.ts";
   * const a = GgufStringArray.from(["ab", "c"]);
   * a.bytes[a.startOf(1)]; // 0x63 ("c")
   * a.endOf(0) - a.startOf(0); // 2
   * ```
   */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /** Where string `i`'s bytes start in {@link GgufStringArray.bytes}. */
  startOf(i: number): number {
    this.#check(i);
    return this.#bounds[i];
  }

  /** Where string `i`'s bytes end (exclusive) in {@link GgufStringArray.bytes}. */
  endOf(i: number): number {
    this.#check(i);
    return this.#bounds[i + 1] - 8;
  }

  /** The raw UTF-8 bytes of string `i`, without copying. */
  bytesAt(i: number): Uint8Array {
    this.#check(i);
    return this.#bytes.subarray(this.#bounds[i], this.#bounds[i + 1] - 8);
  }

  /** String `i`; throws a RangeError outside `[0, length)`. */
  get(i: number): string {
    if (this.#decoded) {
      this.#check(i);
      return this.#decoded[i];
    }
    this.#check(i);
    return decodeShort(this.#bytes, this.#bounds[i], this.#bounds[i + 1] - 8);
  }

  /** String `i`, or `undefined` outside the array; negative indices count from the end. */
  at(i: number): string | undefined {
    const k = i < 0 ? this.length + i : i;
    return k >= 0 && k < this.length ? this.get(k) : undefined;
  }

  /** All strings as a plain array (decoded once, then cached). */
  toArray(): string[] {
    if (!this.#decoded) {
      const out = new Array<string>(this.length);
      const bytes = this.#bytes, bounds = this.#bounds;
      for (let i = 0; i < out.length; i++) {
        out[i] = decodeShort(bytes, bounds[i], bounds[i + 1] - 8);
      }
      this.#decoded = out;
    }
    return this.#decoded.slice();
  }

  /** Iterates over the strings in order. */
  *[Symbol.iterator](): Iterator<string> {
    for (let i = 0; i < this.length; i++) yield this.get(i);
  }

  /** Serialises as a plain JSON array of strings. */
  toJSON(): string[] {
    return this.toArray();
  }

  #check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new RangeError(`String index ${i} is outside [0, ${this.length})`);
    }
  }
}

/**
 * Decodes `b[start, end)`. Short strings of ASCII and two-byte sequences (byte-level BPE tokens:
 * `Ġthe`) are built here without a view or a decoder call (128k of those calls were most of a
 * Llama 3 vocabulary's decode time); anything else, or any byte this path does not accept as
 * well-formed, goes to the fatal decoder, which gives the same string or the same error.
 */
function decodeShort(b: Uint8Array, start: number, end: number): string {
  if (end - start <= SHORT) {
    let out = "";
    for (let i = start; i < end;) {
      const c = b[i];
      if (c < 0x80) {
        out += String.fromCharCode(c);
        i++;
        continue;
      }
      if (c >= 0xc2 && c <= 0xdf && i + 1 < end) {
        const d = b[i + 1];
        if ((d & 0xc0) === 0x80) {
          out += String.fromCharCode(((c & 0x1f) << 6) | (d & 0x3f));
          i += 2;
          continue;
        }
      }
      return decoder.decode(b.subarray(start, end));
    }
    return out;
  }
  return decoder.decode(b.subarray(start, end));
}

/**
 * Longest string (bytes) {@link decodeShort} builds by itself: at most 12 UTF-16 units, so every
 * `+=` makes a flat string (V8 makes a rope node from 13 units on, which would stay in memory).
 */
const SHORT = 12;

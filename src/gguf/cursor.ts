/**
 * A forward-only cursor over the leading bytes of a GGUF file, with checked reads. The bytes live
 * in one growing buffer; when a read needs bytes that are not there yet, the cursor asks its
 * `fill` callback, which either reads more synchronously (local files) or throws
 * {@link NeedMoreBytes} so that an asynchronous driver can fetch them and parse again.
 *
 * @module
 */

import { GgufError } from "./errors.ts";

/** Thrown by a `fill` callback that cannot provide bytes synchronously. */
export class NeedMoreBytes {
  /** Creates the signal; `end` is the absolute offset the parser needs to reach. */
  constructor(readonly end: number) {}
}

/**
 * Supplies bytes up to at least `end` by calling `cursor.append`, or throws
 * {@link NeedMoreBytes}, or a TRUNCATED {@link GgufError} when the file ends before `end`.
 */
export type FillFunction = (cursor: ByteCursor, end: number) => void;

const TWO_32 = 2 ** 32;

/** The reading state of the parser: bytes `[0, length)` of the file, and a position. */
export class ByteCursor {
  bytes: Uint8Array<ArrayBuffer>;
  view: DataView;
  /** How many bytes from the start of the file are in `bytes`. */
  length: number;
  /** Absolute position of the next read. */
  pos = 0;
  /** Whether multi-byte values are little-endian. */
  le = true;
  /** Total file size, when known. */
  readonly fileSize: number | undefined;
  readonly #fill: FillFunction;

  /** Starts a cursor over `initial` (the first bytes of the file). */
  constructor(initial: Uint8Array, fileSize: number | undefined, fill: FillFunction) {
    this.bytes = new Uint8Array(Math.max(initial.length, 64));
    this.bytes.set(initial);
    this.view = new DataView(this.bytes.buffer);
    this.length = initial.length;
    this.fileSize = fileSize;
    this.#fill = fill;
  }

  /** Bytes known to remain after `pos`: to the end of the file if known, else what is buffered. */
  get remaining(): number {
    return (this.fileSize ?? this.length) - this.pos;
  }

  /** Makes sure `n` bytes from `pos` are buffered. */
  need(n: number): void {
    const end = this.pos + n;
    if (end <= this.length) return;
    if (this.fileSize !== undefined && end > this.fileSize) {
      throw new GgufError(
        "TRUNCATED",
        this.pos,
        `File ends at byte ${this.fileSize} but ${n} more bytes are needed at byte ${this.pos}`,
      );
    }
    this.#fill(this, end);
    if (end > this.length) {
      throw new GgufError("TRUNCATED", this.pos, `File ends before byte ${end}`);
    }
  }

  /** Appends bytes that follow the buffered ones (called by fill functions). */
  append(chunk: Uint8Array): void {
    const newLength = this.length + chunk.length;
    if (newLength > this.bytes.length) {
      const grown = new Uint8Array(Math.max(newLength, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
    }
    this.bytes.set(chunk, this.length);
    this.length = newLength;
  }

  /**
   * Free space at the end of the buffer, grown to at least `n` bytes (for in-place reads). The
   * buffer grows fourfold: a 12 MB header is copied forward about 4 MB in all, and the pages of
   * the room not yet read into are never touched.
   */
  spare(n: number): Uint8Array {
    if (this.length + n > this.bytes.length) {
      const grown = new Uint8Array(Math.max(this.length + n, this.bytes.length * 4));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
    }
    return this.bytes.subarray(this.length, this.length + n);
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.pos++];
  }

  i8(): number {
    this.need(1);
    return this.view.getInt8(this.pos++);
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, this.le);
    this.pos += 2;
    return v;
  }

  i16(): number {
    this.need(2);
    const v = this.view.getInt16(this.pos, this.le);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, this.le);
    this.pos += 4;
    return v;
  }

  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, this.le);
    this.pos += 4;
    return v;
  }

  f32(): number {
    this.need(4);
    const v = this.view.getFloat32(this.pos, this.le);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, this.le);
    this.pos += 8;
    return v;
  }

  /** A u64 as a number when it is at most 2^53, else as a bigint (exact either way). */
  u64(): number | bigint {
    this.need(8);
    const lo = this.view.getUint32(this.pos + (this.le ? 0 : 4), this.le);
    const hi = this.view.getUint32(this.pos + (this.le ? 4 : 0), this.le);
    this.pos += 8;
    if (hi < 0x200000) return hi * TWO_32 + lo;
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** An i64 as a number when |v| ≤ 2^53, else as a bigint. */
  i64(): number | bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.pos, this.le);
    this.pos += 8;
    return v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v;
  }

  /**
   * A u64 used as a count or a length: returned as a number, or a LIMIT_EXCEEDED error naming
   * `what` when it is above `max`.
   */
  count(what: string, max: number): number {
    const at = this.pos;
    const v = this.u64();
    if (typeof v === "bigint" || v > max) {
      throw new GgufError(
        "LIMIT_EXCEEDED",
        at,
        `${what} is ${v}, above the limit of ${max}`,
      );
    }
    return v;
  }
}

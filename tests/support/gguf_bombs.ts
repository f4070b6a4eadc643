/**
 * Header bombs: small GGUF headers that ask a parser for many small objects (nested arrays, keys,
 * tensor infos, booleans, empty strings). Written straight as bytes, so generating millions of
 * items takes a fraction of a second. For the header-amplification memory test.
 */

/** One bomb: a name and its file bytes. */
export interface Bomb {
  name: string;
  bytes: Uint8Array;
}

class Bytes {
  buf = new Uint8Array(1 << 20);
  view = new DataView(this.buf.buffer);
  length = 0;
  reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number) {
    this.reserve(1);
    this.buf[this.length++] = v;
  }
  u32(v: number) {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number) {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  /** An ASCII string (all these bombs use), written without an encoder call per string. */
  str(s: string) {
    this.u64(s.length);
    this.reserve(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.length++] = s.charCodeAt(i);
  }
  header(tensors: number, kvs: number) {
    this.buf.set([0x47, 0x47, 0x55, 0x46]);
    this.length = 4;
    this.u32(3);
    this.u64(tensors);
    this.u64(kvs);
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const ARRAY = 9, UINT8 = 0, BOOL = 7, STRING = 8;

/** `n` empty arrays nested in one array (12 bytes each). */
export function nestedArraysBomb(n: number): Bomb {
  const w = new Bytes();
  w.header(0, 1);
  w.str("bomb.nested");
  w.u32(ARRAY);
  w.u32(ARRAY);
  w.u64(n);
  for (let i = 0; i < n; i++) {
    w.u32(UINT8);
    w.u64(0);
  }
  return { name: `${n} empty nested arrays`, bytes: w.done() };
}

/** `n` keys with a UINT8 value each (about 21 bytes each). */
export function keysBomb(n: number): Bomb {
  const w = new Bytes();
  w.header(0, n);
  for (let i = 0; i < n; i++) {
    w.str(`k${i.toString(36)}`);
    w.u32(UINT8);
    w.u8(0);
  }
  return { name: `${n} keys`, bytes: w.done() };
}

/** `n` tensor infos of zero elements (about 30 bytes each). */
export function tensorsBomb(n: number): Bomb {
  const w = new Bytes();
  w.header(n, 0);
  for (let i = 0; i < n; i++) {
    w.str(`t${i.toString(36)}`);
    w.u32(1);
    w.u64(0);
    w.u32(0); // F32
    w.u64(0);
  }
  w.reserve(64); // room for the aligned data start, so the (empty) tensors are in bounds
  w.length += 64;
  return { name: `${n} tensor infos`, bytes: w.done() };
}

/** One BOOL array of `n` elements (1 byte each). */
export function boolsBomb(n: number): Bomb {
  const w = new Bytes();
  w.header(0, 1);
  w.str("bomb.bools");
  w.u32(ARRAY);
  w.u32(BOOL);
  w.u64(n);
  w.reserve(n);
  w.length += n;
  return { name: `${n} booleans`, bytes: w.done() };
}

/** One STRING array of `n` empty strings (8 bytes each). */
export function emptyStringsBomb(n: number): Bomb {
  const w = new Bytes();
  w.header(0, 1);
  w.str("bomb.strings");
  w.u32(ARRAY);
  w.u32(STRING);
  w.u64(n);
  w.reserve(8 * n);
  w.length += 8 * n;
  return { name: `${n} empty strings`, bytes: w.done() };
}

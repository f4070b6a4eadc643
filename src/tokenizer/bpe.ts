/**
 * Byte-level BPE as llama.cpp's `llm_tokenizer_bpe_session` (`src/llama-vocab.cpp` l. 577–774):
 * each pre-tokenized word is mapped byte by byte through the GPT-2 byte→unicode table (or kept as
 * raw UTF-8 characters for gemma4-style vocabularies), then the adjacent pair with the lowest
 * merge rank (`tokenizer.ggml.merges` index, first occurrence wins) is merged, ties to the left,
 * until no pair has a rank. With `ignore_merges` a word that is itself a token is emitted whole.
 *
 * Symbols are kept as ids: vocabulary ids, plus "synthetic" ids for merge strings that are not
 * tokens (malformed vocabularies; llama.cpp then falls back to single-byte tokens), so a pair is
 * looked up in an open-addressing table of `(left id, right id) → (rank, merged id)` instead of
 * by string. Merges never cross words, so results are cached per word.
 *
 * @module
 */

import { GgufStringArray } from "../gguf/string_array.ts";
import { PairHeap } from "./heap.ts";
import { byteToUnicode } from "./unicode.ts";

const EMPTY = new Int32Array(0);

/**
 * Open-addressing hash table of merge pairs. One slot is four consecutive ints
 * `(left, right, rank, merged)`, so a probe touches one cache line instead of four arrays (the
 * 280k-merge Llama 3 table is 8 MiB: every build insert and encode lookup is a cache miss).
 */
class PairTable {
  readonly #mask: number;
  /** Slot `i` at `4 * i`: left id (-1 = empty), right id, rank, merged id. */
  readonly #slots: Int32Array;
  /** Result of the last successful {@link PairTable.get}. */
  merged = 0;

  constructor(capacity: number) {
    let size = 16;
    while (size * 0.7 < capacity) size *= 2; // load factor ≤ 0.7 with linear probing
    this.#mask = size - 1;
    this.#slots = new Int32Array(size * 4).fill(-1);
  }

  #slot(a: number, b: number): number {
    return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x632be5ab, 0x85ebca77)) >>> 0;
  }

  /** Inserts unless present (llama.cpp's `bpe_ranks.emplace` keeps the first rank). */
  add(a: number, b: number, rank: number, merged: number): void {
    const S = this.#slots;
    const mask = this.#mask;
    let i = this.#slot(a, b) & mask;
    for (;;) {
      const k = i << 2;
      const ka = S[k];
      if (ka === -1) {
        S[k] = a;
        S[k + 1] = b;
        S[k + 2] = rank;
        S[k + 3] = merged;
        return;
      }
      if (ka === a && S[k + 1] === b) return;
      i = (i + 1) & mask;
    }
  }

  /** The rank of `(a, b)` (and sets {@link PairTable.merged}), or -1. */
  get(a: number, b: number): number {
    const S = this.#slots;
    const mask = this.#mask;
    let i = this.#slot(a, b) & mask;
    for (;;) {
      const k = i << 2;
      const ka = S[k];
      if (ka === -1) return -1;
      if (ka === a && S[k + 1] === b) {
        this.merged = S[k + 3];
        return S[k + 2];
      }
      i = (i + 1) & mask;
    }
  }
}

/** Token texts as bytes, and an open-addressing id table over them (see `#addMergesFromBytes`). */
interface TokenTable {
  /** All token texts back to back. */
  buf: Uint8Array;
  /** Token `id`'s bytes are `buf[off[id], off[id + 1])`. */
  off: Int32Array;
  /** Slot `i` at `2i`: id + 1 (0 = empty), the text's FNV-1a hash. */
  slots: Int32Array;
  mask: number;
}

const FNV0 = 0x811c9dc5 | 0;

/** FNV-1a over `src[a, a + len)`, continuing from `h`. */
function fnv(h: number, src: Uint8Array, a: number, len: number): number {
  for (let k = 0; k < len; k++) h = Math.imul(h ^ src[a + k], 0x01000193);
  return h;
}

/** Whether token `id`'s text is `src[a, a + la)` followed by `src[b, b + lb)`. */
function tokenEquals(
  buf: Uint8Array,
  off: Int32Array,
  id: number,
  src: Uint8Array,
  a: number,
  la: number,
  b: number,
  lb: number,
): boolean {
  const o = off[id];
  if (off[id + 1] - o !== la + lb) return false;
  for (let k = 0; k < la; k++) if (buf[o + k] !== src[a + k]) return false;
  for (let k = 0; k < lb; k++) if (buf[o + la + k] !== src[b + k]) return false;
  return true;
}

/** The id of the token whose text is `src[a, a + la) + src[b, b + lb)` (hash `h`), or -1. */
function findToken(
  t: TokenTable,
  h: number,
  src: Uint8Array,
  a: number,
  la: number,
  b: number,
  lb: number,
): number {
  const slots = t.slots, mask = t.mask;
  let i = (h >>> 0) & mask;
  for (;;) {
    const v = slots[2 * i];
    if (v === 0) return -1;
    if (slots[2 * i + 1] === h && tokenEquals(t.buf, t.off, v - 1, src, a, la, b, lb)) {
      return v - 1;
    }
    i = (i + 1) & mask;
  }
}

/**
 * Adds merges `from, from + 1, …` read in place in the file's bytes (no view or string per
 * merge) while each one's left, right and left+right are tokens; returns the first rank it could
 * not take (or the count). A plain function with locals, not a closure over the build's state:
 * that is what lets the JIT keep the 280k-merge loop in registers.
 */
function addByteMerges(
  pairs: PairTable,
  t: TokenTable,
  merges: GgufStringArray,
  from: number,
): number {
  const m = merges.bytes;
  const count = merges.length;
  for (let r = from; r < count; r++) {
    const start = merges.startOf(r);
    const end = merges.endOf(r);
    let pos = -1;
    for (let k = start + 1; k < end; k++) {
      if (m[k] === 0x20) {
        pos = k;
        break;
      }
    }
    if (pos < 0) return r;
    const ll = pos - start;
    const lr = end - pos - 1;
    const hl = fnv(FNV0, m, start, ll);
    const left = findToken(t, hl, m, start, ll, 0, 0);
    if (left < 0) return r;
    const right = findToken(t, fnv(FNV0, m, pos + 1, lr), m, pos + 1, lr, 0, 0);
    if (right < 0) return r;
    const merged = findToken(t, fnv(hl, m, pos + 1, lr), m, start, ll, pos + 1, lr);
    if (merged < 0) return r;
    pairs.add(left, right, r, merged);
  }
  return count;
}

/** Options of {@link BpeModel}. */
export interface BpeOptions {
  /** Map bytes through the GPT-2 table (false: raw UTF-8 characters, `<0xXX>` fallback). */
  byteEncode: boolean;
  /** Emit a word that is a token as is (`ignore_merges`). */
  ignoreMerges: boolean;
  /** gemma4: a word of only `\n` that is a token is emitted as is. */
  newlineWordsWhole: boolean;
}

/** The merge machinery of one BPE vocabulary. */
export class BpeModel {
  readonly #tokenToId: Map<string, number>;
  readonly #nVocab: number;
  /** Texts of synthetic ids (`nVocab + k`). */
  readonly #synthetic: string[] = [];
  readonly #syntheticIds = new Map<string, number>();
  #pairs = new PairTable(0);
  /** The pair table's build, until the first word is encoded (then undefined). */
  #pending: (() => void) | undefined;
  readonly #opts: BpeOptions;
  /** Byte → initial symbol id (byte-encoded vocabularies). */
  readonly #byteSym = new Int32Array(256);
  /** Byte → its GPT-2 code point. */
  readonly #byteChar: Uint16Array;
  /** `<0xXX>` token id per byte, or -1 (raw UTF-8 vocabularies). */
  readonly #hexByte = new Int32Array(256);
  #cache = new Map<string, Int32Array>();
  /** Cache entries kept before the cache is cleared (bounds memory on huge inputs). */
  cacheLimit = 200_000;
  readonly #heap = new PairHeap();

  /** Number of merges in the file. */
  readonly mergeCount: number;

  /**
   * Keeps the merges list; the pair table is built when the first word is encoded (a Llama 3
   * vocabulary's 280k merges take about 0.2 s, which `run --tokens`, `detokenize` and a server's
   * start-up do not need).
   *
   * @example
   * ```ts
   * import { BpeModel } from "./bpe.ts";
   * const tokens = new Map([["a", 0], ["b", 1], ["ab", 2]]);
   * const m = new BpeModel(tokens, ["a", "b", "ab"], ["a b"], { byteEncode: true, ignoreMerges: false, newlineWordsWhole: false });
   * m.encodeWord("ab"); // Int32Array [2]
   * ```
   */
  constructor(
    tokenToId: Map<string, number>,
    tokens: string[],
    merges: string[] | GgufStringArray,
    opts: BpeOptions,
    tokenBytes?: GgufStringArray,
  ) {
    this.#tokenToId = tokenToId;
    this.#nVocab = tokens.length;
    this.#opts = opts;
    this.mergeCount = merges.length;
    this.#byteChar = byteToUnicode();
    for (let b = 0; b < 256; b++) {
      const hex = "<0x" + b.toString(16).toUpperCase().padStart(2, "0") + ">";
      this.#hexByte[b] = tokenToId.get(hex) ?? -1;
    }
    this.#pending = () => this.#build(tokens, merges, tokenBytes);
  }

  /** Builds the pair table (merges in rank order), then the byte → symbol table. */
  #build(tokens: string[], merges: string[] | GgufStringArray, tokenBytes?: GgufStringArray) {
    this.#pairs = new PairTable(merges.length + 16);
    if (merges instanceof GgufStringArray) {
      this.#addMergesFromBytes(tokens, merges, tokenBytes);
      merges = [];
    }
    for (let i = 0; i < merges.length; i++) {
      const m = merges[i];
      // split at the first space at index >= 1 (llama.cpp: word.find(' ', 1))
      const pos = m.indexOf(" ", 1);
      let first = "", second = "";
      if (pos >= 0) {
        first = m.slice(0, pos);
        second = m.slice(pos + 1);
      }
      this.#pairs.add(this.#intern(first), this.#intern(second), i, this.#intern(first + second));
    }
    // after the merges: synthetic ids are numbered in the order they are first seen
    for (let b = 0; b < 256; b++) {
      this.#byteSym[b] = this.#intern(String.fromCharCode(this.#byteChar[b]));
    }
  }

  /**
   * The merges straight from the file's bytes: token texts are hashed as bytes (FNV-1a) into an
   * id table, and each merge's left, right and left+right are looked up without creating a
   * string (3 × 280k string lookups were most of the Llama 3 load time). Anything not a token
   * takes the string path.
   */
  #addMergesFromBytes(tokens: string[], merges: GgufStringArray, tokenBytes?: GgufStringArray) {
    const n = tokens.length;
    // All token bytes in one buffer, copied byte by byte from the file's (no view or array per
    // token: for 128k tokens those were most of the build's garbage, and of its resident peak).
    const fromFile = (i: number) =>
      tokenBytes !== undefined && i < tokenBytes.length && tokenBytes.byteLength(i) > 0 &&
      tokens[i] !== "";
    let total = 0;
    for (let i = 0; i < n; i++) {
      total += fromFile(i) ? tokenBytes!.byteLength(i) : utf8Bytes(tokens[i]).length;
    }
    const buf = new Uint8Array(total);
    const off = new Int32Array(n + 1);
    const src = tokenBytes?.bytes;
    for (let i = 0, o = 0; i < n; i++) {
      off[i] = o;
      if (fromFile(i)) {
        for (let k = tokenBytes!.startOf(i), end = tokenBytes!.endOf(i); k < end; k++) {
          buf[o++] = src![k];
        }
      } else {
        const b = utf8Bytes(tokens[i]);
        buf.set(b, o);
        o += b.length;
      }
      off[i + 1] = o;
    }
    let size = 16;
    while (size < n * 2) size *= 2;
    const mask = size - 1;
    // slot i at 2i: id + 1 (0 = empty) and the text's full 32-bit hash, compared before the bytes
    const slots = new Int32Array(size * 2);
    for (let id = 0; id < n; id++) {
      const h = fnv(FNV0, buf, off[id], off[id + 1] - off[id]);
      let i = (h >>> 0) & mask;
      for (;;) {
        const v = slots[2 * i];
        if (v === 0) {
          slots[2 * i] = id + 1;
          slots[2 * i + 1] = h;
          break;
        }
        if (
          slots[2 * i + 1] === h &&
          tokenEquals(buf, off, v - 1, buf, off[id], off[id + 1] - off[id], 0, 0)
        ) {
          slots[2 * i] = id + 1; // a later duplicate wins, like llama.cpp's token_to_id
          break;
        }
        i = (i + 1) & mask;
      }
    }
    const table: TokenTable = { buf, off, slots, mask };
    const dec = new TextDecoder("utf-8", { ignoreBOM: true });
    // merges in rank order; the byte path stops at each merge it cannot take, which then takes
    // the string path (non-token parts, or no space), so `add` still sees ranks in order
    for (let r = 0; r < merges.length; r++) {
      r = addByteMerges(this.#pairs, table, merges, r);
      if (r >= merges.length) break;
      const str = dec.decode(merges.bytesAt(r));
      const p = str.indexOf(" ", 1);
      const first = p >= 0 ? str.slice(0, p) : "";
      const second = p >= 0 ? str.slice(p + 1) : "";
      this.#pairs.add(this.#intern(first), this.#intern(second), r, this.#intern(first + second));
    }
  }

  #intern(s: string): number {
    const id = this.#tokenToId.get(s);
    if (id !== undefined && id < this.#nVocab) return id;
    let sid = this.#syntheticIds.get(s);
    if (sid === undefined) {
      sid = this.#nVocab + this.#synthetic.length;
      this.#synthetic.push(s);
      this.#syntheticIds.set(s, sid);
    }
    return sid;
  }

  #text(id: number): string {
    return this.#synthetic[id - this.#nVocab];
  }

  /**
   * Forgets cached words.
   *
   * @example
   * ```ts ignore
   * model.clearCache();
   * ```
   */
  clearCache(): void {
    this.#cache = new Map();
  }

  /**
   * Token ids of one pre-tokenized word (before byte mapping), cached.
   *
   * @example
   * ```ts ignore
   * bpe.encodeWord(" world"); // Int32Array [1917] with Llama 3
   * ```
   */
  encodeWord(word: string): Int32Array {
    let ids = this.#cache.get(word);
    if (ids !== undefined) return ids;
    ids = this.#encodeUncached(word);
    if (this.#cache.size >= this.cacheLimit) this.#cache = new Map();
    this.#cache.set(word, ids);
    return ids;
  }

  #encodeUncached(word: string): Int32Array {
    if (word.length === 0) return EMPTY;
    if (this.#pending !== undefined) {
      const build = this.#pending;
      this.#pending = undefined;
      build();
    }
    const opts = this.#opts;
    let syms: number[];
    if (opts.byteEncode) {
      const bytes = utf8Bytes(word);
      if (opts.ignoreMerges) {
        let mapped = "";
        for (let i = 0; i < bytes.length; i++) {
          mapped += String.fromCharCode(this.#byteChar[bytes[i]]);
        }
        const id = this.#tokenToId.get(mapped);
        if (id !== undefined) return Int32Array.of(id);
      }
      syms = new Array(bytes.length);
      for (let i = 0; i < bytes.length; i++) syms[i] = this.#byteSym[bytes[i]];
    } else {
      if (opts.ignoreMerges || (opts.newlineWordsWhole && /^\n+$/.test(word))) {
        const id = this.#tokenToId.get(word);
        if (id !== undefined) return Int32Array.of(id);
      }
      syms = [];
      for (const ch of word) syms.push(this.#intern(ch));
    }
    const merged = syms.length < 2 ? syms : this.#merge(syms);
    // emit; a symbol that is not a token falls back to single-byte tokens (l. 700–725)
    let simple = true;
    for (const s of merged) if (s >= this.#nVocab) simple = false;
    if (simple) return Int32Array.from(merged);
    const out: number[] = [];
    for (const s of merged) {
      if (s < this.#nVocab) {
        out.push(s);
        continue;
      }
      const bytes = utf8Bytes(this.#text(s));
      for (const b of bytes) {
        let id: number | undefined;
        if (opts.byteEncode) {
          id = b < 0x80 ? this.#tokenToId.get(String.fromCharCode(b)) : undefined;
        } else id = this.#hexByte[b] >= 0 ? this.#hexByte[b] : undefined;
        if (id !== undefined) out.push(id);
      }
    }
    return Int32Array.from(out);
  }

  /** Lowest-rank-first merging; small words by rescanning, long ones with a heap. */
  #merge(syms: number[]): number[] {
    const pairs = this.#pairs;
    const n = syms.length;
    if (n <= 48) {
      // ranks[i] = rank of (syms[i], syms[i+1]); merged ids alongside
      const ranks: number[] = new Array(n - 1);
      const mids: number[] = new Array(n - 1);
      for (let i = 0; i + 1 < n; i++) {
        ranks[i] = pairs.get(syms[i], syms[i + 1]);
        mids[i] = pairs.merged;
      }
      let m = n;
      for (;;) {
        let best = -1, bi = -1;
        for (let i = 0; i + 1 < m; i++) {
          const r = ranks[i];
          if (r >= 0 && (best < 0 || r < best)) {
            best = r;
            bi = i;
          }
        }
        if (bi < 0) break;
        syms[bi] = mids[bi];
        syms.splice(bi + 1, 1);
        ranks.splice(bi, 1);
        mids.splice(bi, 1);
        m--;
        if (bi > 0) {
          ranks[bi - 1] = pairs.get(syms[bi - 1], syms[bi]);
          mids[bi - 1] = pairs.merged;
        }
        if (bi + 1 < m) {
          ranks[bi] = pairs.get(syms[bi], syms[bi + 1]);
          mids[bi] = pairs.merged;
        }
      }
      syms.length = m;
      return syms;
    }
    // heap + doubly linked list (llama.cpp's algorithm)
    const ids = Int32Array.from(syms);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const heap = this.#heap;
    heap.clear();
    const tryAdd = (l: number, r: number) => {
      if (l < 0 || r < 0) return;
      const rank = pairs.get(ids[l], ids[r]);
      if (rank < 0) return;
      // payload: the right index and its id at push time. While `r` stays next to a live `l`,
      // `l` cannot change (it only grows by absorbing `r`), so the entry is stale exactly when a
      // side died, they are no longer adjacent, or `r` grew: llama.cpp's text comparison.
      heap.push(rank, l, r, ids[r]);
    };
    for (let i = 0; i + 1 < n; i++) tryAdd(i, i + 1);
    while (heap.pop()) {
      const l = heap.topLeft, r = heap.topA;
      if (ids[l] < 0 || ids[r] < 0 || next[l] !== r) continue;
      if (ids[r] !== heap.topB) continue;
      pairs.get(ids[l], ids[r]);
      ids[l] = pairs.merged;
      ids[r] = -1;
      next[l] = next[r];
      if (next[r] >= 0) prev[next[r]] = l;
      tryAdd(prev[l], l);
      tryAdd(l, next[l]);
    }
    const out: number[] = [];
    for (let i = 0; i !== -1; i = next[i]) out.push(ids[i]);
    return out;
  }
}

/**
 * UTF-8 bytes of a string (lone surrogates → EF BF BD, like TextEncoder).
 *
 * @example
 * ```ts
 * import { utf8Bytes } from "./bpe.ts";
 * utf8Bytes("é"); // Uint8Array [0xc3, 0xa9]
 * ```
 */
export function utf8Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 3);
  return out.subarray(0, utf8Into(s, out, 0, false));
}

/**
 * Writes the UTF-8 bytes of `s` into `out` from `at` (room for `3 * s.length` bytes needed) and
 * returns where they end; with `lowLineAsSpace`, U+2581 is written as a space (SPM pieces). Lone
 * surrogates → EF BF BD, like {@link utf8Bytes}.
 *
 * @example
 * ```ts
 * import { utf8Into } from "./bpe.ts";
 * const out = new Uint8Array(8);
 * utf8Into("\u2581é", out, 0, true); // 3: [0x20, 0xc3, 0xa9]
 * ```
 */
export function utf8Into(s: string, out: Uint8Array, at: number, lowLineAsSpace: boolean): number {
  let n = at;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
      continue;
    }
    if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 63);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        out[n++] = 0xf0 | (c >> 18);
        out[n++] = 0x80 | ((c >> 12) & 63);
        out[n++] = 0x80 | ((c >> 6) & 63);
        out[n++] = 0x80 | (c & 63);
        continue;
      }
      c = 0xfffd;
    }
    if (c === 0x2581 && lowLineAsSpace) {
      out[n++] = 0x20;
      continue;
    }
    out[n++] = 0xe0 | (c >> 12);
    out[n++] = 0x80 | ((c >> 6) & 63);
    out[n++] = 0x80 | (c & 63);
  }
  return n;
}

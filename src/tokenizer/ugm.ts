/**
 * Unigram (T5-style, `tokenizer.ggml.model = t5`) tokenization as llama.cpp's
 * `llm_tokenizer_ugm` / `llm_tokenizer_ugm_session` (`src/llama-vocab.cpp` l. 903–1251): the text
 * is normalized with the SentencePiece `precompiled_charsmap` (an XOR-compressed compact double
 * array of byte prefixes → replacement strings), user-defined tokens passing through untouched
 * and spaces escaped as `▁` (optionally merged and prefixed); then a Viterbi pass over the bytes
 * picks the tokenization with the highest summed score (user-defined tokens score 0, a code point
 * no token covers costs `min normal score − 10` as UNK), and runs of UNK collapse into one.
 *
 * Everything runs on UTF-8 bytes, like llama.cpp, including its quirks: the user-defined matcher
 * returns the longest *path* in its trie, not the longest token.
 *
 * @module
 */

import { TokenizerError } from "./errors.ts";
import { utf8Bytes } from "./bpe.ts";
import { ATTR } from "./vocab.ts";

/** A byte trie with nodes in typed arrays and children in an open-addressing table. */
class ByteTrie {
  #keys: Int32Array;
  #child: Int32Array;
  #mask: number;
  #used = 0;
  #values: Int32Array = new Int32Array(1024).fill(-1);
  #nodes = 1;

  constructor(capacity: number) {
    let size = 1024;
    while (size < capacity * 2) size *= 2;
    this.#keys = new Int32Array(size).fill(-1);
    this.#child = new Int32Array(size);
    this.#mask = size - 1;
  }

  #slot(key: number): number {
    return (Math.imul(key, 0x9e3779b1) >>> 0) & this.#mask;
  }

  /** Children of the root, by byte (-1 = none); filled by {@link ByteTrie.freeze}. */
  root: Int32Array = new Int32Array(256).fill(-1);

  /** Caches the root's children (call after the last insert). */
  freeze(): void {
    for (let b = 0; b < 256; b++) this.root[b] = this.child(0, b);
  }

  /** The child of `node` for `byte`, or -1. */
  child(node: number, byte: number): number {
    const key = node * 256 + byte;
    let i = this.#slot(key);
    const K = this.#keys;
    for (;;) {
      const k = K[i];
      if (k === key) return this.#child[i];
      if (k === -1) return -1;
      i = (i + 1) & this.#mask;
    }
  }

  /** The value stored at `node`, or -1. */
  value(node: number): number {
    return this.#values[node];
  }

  #rehash(): void {
    const oldK = this.#keys, oldC = this.#child;
    const size = oldK.length * 2;
    this.#keys = new Int32Array(size).fill(-1);
    this.#child = new Int32Array(size);
    this.#mask = size - 1;
    for (let j = 0; j < oldK.length; j++) {
      if (oldK[j] === -1) continue;
      let i = this.#slot(oldK[j]);
      while (this.#keys[i] !== -1) i = (i + 1) & this.#mask;
      this.#keys[i] = oldK[j];
      this.#child[i] = oldC[j];
    }
  }

  /** Inserts a key (a later insert of the same key overwrites, like llama.cpp's naive_trie). */
  insert(bytes: Uint8Array, value: number): void {
    let node = 0;
    for (const b of bytes) {
      let next = this.child(node, b);
      if (next === -1) {
        if ((this.#used + 1) * 2 > this.#keys.length) this.#rehash();
        next = this.#nodes++;
        if (next >= this.#values.length) {
          const v = new Int32Array(this.#values.length * 2).fill(-1);
          v.set(this.#values);
          this.#values = v;
        }
        const key = node * 256 + b;
        let i = this.#slot(key);
        while (this.#keys[i] !== -1) i = (i + 1) & this.#mask;
        this.#keys[i] = key;
        this.#child[i] = next;
        this.#used++;
      }
      node = next;
    }
    this.#values[node] = value;
  }

  /** llama.cpp `naive_trie::get_longest_prefix`: how many bytes the trie path follows. */
  longestPath(input: Uint8Array, offset: number): number {
    let node = 0, n = 0;
    for (let i = offset; i < input.length; i++) {
      node = this.child(node, input[i]);
      if (node === -1) break;
      n++;
    }
    return n;
  }
}

/** Lead-byte length, llama.cpp `unicode_len_utf8`. */
function utf8Len(b: number): number {
  return b < 0xc0 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
}

/** Length of the code point at `i` as `unicode_cpt_from_utf8` accepts it, or -1 (invalid). */
function cptLength(s: Uint8Array, i: number): number {
  const b = s[i];
  if (!(b & 0x80)) return 1;
  if (!(b & 0x40)) return -1;
  const cont = (k: number) => i + k < s.length && (s[i + k] & 0xc0) === 0x80;
  if (!(b & 0x20)) return cont(1) ? 2 : -1;
  if (!(b & 0x10)) return cont(1) && cont(2) ? 3 : -1;
  if (!(b & 0x08)) return cont(1) && cont(2) && cont(3) ? 4 : -1;
  return -1;
}

const FFFD = Uint8Array.of(0xef, 0xbf, 0xbd);
const ESCAPED_SPACE = Uint8Array.of(0xe2, 0x96, 0x81);

/** Options of {@link UgmModel}. */
export interface UgmOptions {
  addSpacePrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
  treatWhitespaceAsSuffix: boolean;
}

/** The unigram machinery of one vocabulary. */
export class UgmModel {
  readonly #tokens = new ByteTrie(1 << 16);
  readonly #userDefined = new ByteTrie(64);
  readonly #attrs: Int32Array;
  readonly #scores: Float32Array;
  readonly #unk: number;
  readonly #unkScore: number;
  readonly #xcda: Uint32Array | null = null;
  readonly #replacements: Uint8Array = new Uint8Array(0);
  readonly #opts: UgmOptions;
  #hasUserDefined = false;

  /**
   * Builds the token tries and reads the precompiled charsmap.
   *
   * @example
   * ```ts
   * import { UgmModel } from "./ugm.ts";
   * import { ATTR } from "./vocab.ts";
   * const tokens = ["<unk>", "▁a", "▁", "a"];
   * const m = new UgmModel(tokens, Int32Array.from([ATTR.UNKNOWN, ATTR.NORMAL, ATTR.NORMAL, ATTR.NORMAL]),
   *   new Float32Array([0, -1, -2, -3]), 0, undefined,
   *   { addSpacePrefix: true, removeExtraWhitespaces: false, escapeWhitespaces: true, treatWhitespaceAsSuffix: false });
   * m.encode("a", []); // [1]
   * ```
   */
  constructor(
    tokens: string[],
    attrs: Int32Array,
    scores: Float32Array,
    unk: number,
    charsmap: Uint8Array | undefined,
    opts: UgmOptions,
  ) {
    this.#attrs = attrs;
    this.#scores = scores;
    this.#unk = unk;
    this.#opts = opts;
    if (charsmap && charsmap.length > 0) {
      if (charsmap.length < 4) {
        throw new TokenizerError(
          "BAD_CHARSMAP",
          "precompiled_charsmap too small for xcda_blob_size header",
        );
      }
      const dv = new DataView(charsmap.buffer, charsmap.byteOffset, charsmap.byteLength);
      const blob = dv.getUint32(0, true);
      if (blob + 4 >= charsmap.length) {
        throw new TokenizerError(
          "BAD_CHARSMAP",
          "Index out of array bounds in precompiled charsmap",
        );
      }
      const xcda = new Uint32Array(blob >>> 2);
      for (let i = 0; i < xcda.length; i++) xcda[i] = dv.getUint32(4 + i * 4, true);
      this.#xcda = xcda;
      this.#replacements = charsmap.subarray(4 + blob);
    }
    let min = Infinity;
    for (let id = 0; id < tokens.length; id++) {
      const a = attrs[id];
      if (a & ATTR.NORMAL) min = Math.min(min, scores[id]);
      if (a & (ATTR.NORMAL | ATTR.USER_DEFINED | ATTR.UNUSED)) {
        this.#tokens.insert(utf8Bytes(tokens[id]), id);
      }
      if (a & ATTR.USER_DEFINED) {
        this.#userDefined.insert(utf8Bytes(tokens[id]), 0);
        this.#hasUserDefined = true;
      }
    }
    this.#tokens.freeze();
    if (min === Infinity) min = 3.4028234663852886e38; // FLT_MAX
    this.#unkScore = Math.fround(min - 10);
  }

  // normalize_prefix (l. 1159–1247): sets #pSrc/#pStart/#pLen (the replacement) and returns
  // the number of input bytes consumed.
  #pSrc: Uint8Array = FFFD;
  #pStart = 0;
  #pLen = 0;

  #normalizePrefix(input: Uint8Array, offset: number): number {
    const ud = this.#hasUserDefined ? this.#userDefined.longestPath(input, offset) : 0;
    if (ud > 0) {
      this.#pSrc = input;
      this.#pStart = offset;
      this.#pLen = ud;
      return ud;
    }
    let longestLen = 0, longestOff = 0;
    const x = this.#xcda;
    if (x !== null) {
      const xl = x.length;
      const p0 = x[0];
      let idx = ((p0 >>> 10) << ((p0 & (1 << 9)) >>> 6)) >>> 0;
      for (let p = offset; p < input.length; p++) {
        const c = input[p];
        if (c === 0) break;
        idx = (idx ^ c) >>> 0;
        if (idx >= xl) {
          throw new TokenizerError("BAD_CHARSMAP", "Index out of array bounds in XCDA array");
        }
        const node = x[idx];
        if (((node & 0x800000ff) >>> 0) !== c) break;
        const leaf = ((node >>> 8) & 1) === 1;
        idx = (idx ^ (((node >>> 10) << ((node & (1 << 9)) >>> 6)) >>> 0)) >>> 0;
        if (leaf) {
          if (idx >= xl) {
            throw new TokenizerError("BAD_CHARSMAP", "Index out of array bounds in XCDA array");
          }
          longestLen = p - offset + 1;
          longestOff = x[idx] & 0x7fffffff;
        }
      }
    }
    if (longestLen > 0) {
      const r = this.#replacements;
      if (longestOff >= r.length) {
        throw new TokenizerError(
          "BAD_CHARSMAP",
          "Index out of array bounds in precompiled charsmap",
        );
      }
      let n = 0;
      while (longestOff + n < r.length && r[longestOff + n] !== 0) n++;
      if (longestOff + n === r.length) {
        throw new TokenizerError("BAD_CHARSMAP", "Unterminated string in precompiled charsmap");
      }
      this.#pSrc = r;
      this.#pStart = longestOff;
      this.#pLen = n;
      return longestLen;
    }
    const n = cptLength(input, offset);
    if (n < 0) {
      this.#pSrc = FFFD;
      this.#pStart = 0;
      this.#pLen = 3;
      return 1;
    }
    this.#pSrc = input;
    this.#pStart = offset;
    this.#pLen = n;
    return n;
  }

  // normalize (l. 1081–1131)
  #normalize(input: Uint8Array): Uint8Array {
    const o = this.#opts;
    const space = o.escapeWhitespaces ? ESCAPED_SPACE : Uint8Array.of(0x20);
    const prepend = !o.treatWhitespaceAsSuffix && o.addSpacePrefix;
    const append = o.treatWhitespaceAsSuffix && o.addSpacePrefix;
    const merge = o.removeExtraWhitespaces;
    let out = new Uint8Array(input.length * 3 + 16);
    let n = 0;
    const ensure = (k: number) => {
      if (n + k > out.length) {
        const grown = new Uint8Array((n + k) * 2);
        grown.set(out.subarray(0, n));
        out = grown;
      }
    };
    const pushSpace = () => {
      ensure(space.length);
      for (let i = 0; i < space.length; i++) out[n++] = space[i];
    };
    let prepended = false, nonWs = false;
    for (let off = 0; off < input.length;) {
      const consumed = this.#normalizePrefix(input, off);
      const src = this.#pSrc, start = this.#pStart, len = this.#pLen;
      for (let i = 0; i < len; i++) {
        const c = src[start + i];
        if (c !== 0x20) {
          if (!nonWs) {
            nonWs = true;
            if ((prepend && !prepended) || merge) {
              pushSpace();
              prepended = true;
            }
          }
          ensure(1);
          out[n++] = c;
        } else {
          nonWs = false;
          if (!merge) pushSpace();
        }
      }
      off += consumed;
    }
    if (append) pushSpace();
    return out.subarray(0, n);
  }

  /**
   * Appends the ids of one text fragment to `out` (Viterbi over the normalized bytes).
   *
   * @example
   * ```ts ignore
   * ugm.encode("Hello world", out);
   * ```
   */
  encode(text: string, out: number[]): number[] {
    const norm = this.#normalize(utf8Bytes(text));
    const len = norm.length;
    if (len === 0) return out;
    const unk = this.#unk;
    const tok = new Int32Array(len + 1).fill(unk);
    const from = new Int32Array(len + 1);
    const score = new Float64Array(len + 1).fill(-Number.MAX_VALUE);
    score[0] = 0;
    const trie = this.#tokens;
    for (let off = 0; off < len;) {
      const units = Math.min(utf8Len(norm[off]), len - off);
      let single = false;
      const best = score[off];
      let p = off;
      let node = trie.root[norm[p++]];
      while (p <= len && node !== -1) {
        const id = trie.value(node);
        if (id !== -1) {
          if (p - off === units) single = true;
          const s = best + ((this.#attrs[id] & ATTR.USER_DEFINED) ? 0 : this.#scores[id]);
          if (s > score[p]) {
            score[p] = s;
            tok[p] = id;
            from[p] = off;
          }
        }
        node = p < len ? trie.child(node, norm[p]) : -1;
        p++;
      }
      if (!single) {
        const s = best + this.#unkScore;
        const q = off + units;
        if (s > score[q]) {
          score[q] = s;
          tok[q] = unk;
          from[q] = off;
        }
      }
      off += units;
    }
    const start = out.length;
    let prevUnk = false;
    for (let i = len;;) {
      const isUnk = tok[i] === unk;
      if (!(prevUnk && isUnk)) out.push(tok[i]);
      if (from[i] === 0) break;
      prevUnk = isUnk;
      i = from[i];
    }
    // reverse what was appended
    for (let a = start, b = out.length - 1; a < b; a++, b--) {
      const t = out[a];
      out[a] = out[b];
      out[b] = t;
    }
    return out;
  }
}

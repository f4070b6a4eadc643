/**
 * SentencePiece-style merging as llama.cpp's `llm_tokenizer_spm_session` (`src/llama-vocab.cpp`
 * l. 115–259): the escaped text (`" "` → `"▁"`) is split into UTF-8 characters; the adjacent pair
 * whose concatenation is a vocabulary token (any type) with the highest score is merged, ties to
 * the left, until none is left; symbols that are not tokens are emitted as `<0xXX>` byte tokens
 * (or the one-byte token), and a missing byte token is an error, as llama.cpp's `.at()` throws.
 *
 * Speed-up that stays exact: when no token contains a `▁` right after a non-`▁` character
 * (checked at load; true for llama-spm, phi-3, baichuan), no merge can cross the position before
 * such a `▁`, so the text is cut there into words that are merged independently and cached.
 *
 * @module
 */

import { TokenizerError } from "./errors.ts";
import { utf8Bytes } from "./bpe.ts";
import { PairHeap } from "./heap.ts";

const SPACE = "\u2581";

function pairHash(a: number, b: number): number {
  return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca77)) >>> 16;
}

const UNIT_BYTES = [new Uint8Array(1), new Uint8Array(2), new Uint8Array(3)];

/** UTF-8 of one UTF-16 unit that is not a surrogate (a shared buffer, valid until the next call). */
function utf8Unit(c: number): Uint8Array {
  if (c < 0x80) {
    UNIT_BYTES[0][0] = c;
    return UNIT_BYTES[0];
  }
  if (c < 0x800) {
    UNIT_BYTES[1][0] = 0xc0 | (c >> 6);
    UNIT_BYTES[1][1] = 0x80 | (c & 63);
    return UNIT_BYTES[1];
  }
  const b = UNIT_BYTES[2];
  b[0] = 0xe0 | (c >> 12);
  b[1] = 0x80 | ((c >> 6) & 63);
  b[2] = 0x80 | (c & 63);
  return b;
}

/** The SPM merge machinery of one vocabulary. */
export class SpmModel {
  readonly #tokenToId: Map<string, number>;
  readonly #scores: Float32Array;
  readonly #nVocab: number;
  readonly #byteTok = new Int32Array(256);
  #cache = new Map<string, Int32Array>();
  readonly #heap = new PairHeap();
  /** Bit per hash of a token's first two UTF-16 units. */
  readonly #pairs = new Uint8Array(1 << 16);
  /** Whether words can be merged independently (see the module doc). */
  readonly splitWords: boolean;
  /** Cache entries kept before the cache is cleared. */
  cacheLimit = 200_000;

  /**
   * Prepares the lookup tables.
   *
   * @example
   * ```ts
   * import { SpmModel } from "./spm.ts";
   * const tokens = ["<unk>", "▁a", "▁", "a"];
   * const m = new SpmModel(new Map(tokens.map((t, i) => [t, i])), tokens, new Float32Array([0, -1, -2, -3]));
   * m.encode("▁a"); // [1]
   * ```
   */
  constructor(tokenToId: Map<string, number>, tokens: string[], scores: Float32Array) {
    this.#tokenToId = tokenToId;
    this.#scores = scores;
    this.#nVocab = tokens.length;
    for (let b = 0; b < 256; b++) {
      const hex = "<0x" + b.toString(16).toUpperCase().padStart(2, "0") + ">";
      this.#byteTok[b] = tokenToId.get(hex) ??
        (b < 0x80 ? tokenToId.get(String.fromCharCode(b)) ?? -1 : -1);
    }
    for (const t of tokens) {
      if (t.length >= 2) this.#pairs[pairHash(t.charCodeAt(0), t.charCodeAt(1))] = 1;
    }
    let ok = true;
    for (const t of tokens) {
      for (let i = t.indexOf(SPACE, 1); i > 0; i = t.indexOf(SPACE, i + 1)) {
        if (t[i - 1] !== SPACE) {
          ok = false;
          break;
        }
      }
      if (!ok) break;
    }
    this.splitWords = ok;
  }

  /**
   * Appends the ids of one escaped text fragment to `out`.
   *
   * @example
   * ```ts ignore
   * spm.encode("▁Hello▁world", out);
   * ```
   */
  encode(text: string, out: number[] = []): number[] {
    if (!this.splitWords) {
      this.#encodeWord(text, out);
      return out;
    }
    let start = 0;
    for (let i = 1; i < text.length; i++) {
      if (text.charCodeAt(i) === 0x2581 && text.charCodeAt(i - 1) !== 0x2581) {
        this.#cached(text.slice(start, i), out);
        start = i;
      }
    }
    if (start < text.length) this.#cached(start === 0 ? text : text.slice(start), out);
    return out;
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

  #cached(word: string, out: number[]): void {
    let ids = this.#cache.get(word);
    if (ids === undefined) {
      const tmp: number[] = [];
      this.#encodeWord(word, tmp);
      ids = Int32Array.from(tmp);
      if (this.#cache.size >= this.cacheLimit) this.#cache = new Map();
      this.#cache.set(word, ids);
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]);
  }

  #encodeWord(word: string, out: number[]): void {
    // symbols: [start, end) UTF-16 ranges of code points (a lone surrogate was already replaced
    // by U+FFFD in Tokenizer.encode)
    const n0 = word.length;
    if (n0 === 0) return;
    if (this.#st.length < n0 + 1) this.#grow(n0 + 1);
    const st = this.#st, en = this.#en;
    let n = 0;
    for (let i = 0; i < n0; i++) {
      st[n++] = i;
      const c = word.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n0) {
        const d = word.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) i++;
      }
    }
    for (let i = 0; i < n; i++) en[i] = i + 1 < n ? st[i + 1] : n0;
    if (n === 1) {
      this.#emit(word, 0, n0, out);
      return;
    }
    if (n <= 32) this.#mergeScan(word, n, out);
    else this.#mergeHeap(word, n, out);
  }

  #st = new Int32Array(64);
  #en = new Int32Array(64);
  #prev = new Int32Array(64);
  #next = new Int32Array(64);
  #sc = new Float64Array(64);

  #grow(n: number): void {
    let size = this.#st.length;
    while (size < n) size *= 2;
    this.#st = new Int32Array(size);
    this.#en = new Int32Array(size);
    this.#prev = new Int32Array(size);
    this.#next = new Int32Array(size);
    this.#sc = new Float64Array(size);
  }

  /** Score of the token `word[a, b)`, or -Infinity when it is not a token. */
  #score(word: string, a: number, b: number): number {
    // cheap pre-filter on the first two UTF-16 units (most pairs of rare characters are no token)
    if (b - a >= 2 && !this.#pairs[pairHash(word.charCodeAt(a), word.charCodeAt(a + 1))]) {
      return -Infinity;
    }
    const id = this.#tokenToId.get(word.slice(a, b));
    return id === undefined || id >= this.#nVocab ? -Infinity : this.#scores[id];
  }

  // Small words: rescan for the best pair (highest score, leftmost); the same result as the heap.
  #mergeScan(word: string, n: number, out: number[]): void {
    const st = this.#st, en = this.#en, sc = this.#sc;
    for (let i = 0; i + 1 < n; i++) sc[i] = this.#score(word, st[i], en[i + 1]);
    let m = n;
    for (;;) {
      let best = -Infinity, bi = -1;
      for (let i = 0; i + 1 < m; i++) {
        if (sc[i] > best) {
          best = sc[i];
          bi = i;
        }
      }
      if (bi < 0) break;
      en[bi] = en[bi + 1];
      for (let i = bi + 1; i + 1 < m; i++) {
        st[i] = st[i + 1];
        en[i] = en[i + 1];
        sc[i] = sc[i + 1];
      }
      m--;
      if (bi > 0) sc[bi - 1] = this.#score(word, st[bi - 1], en[bi]);
      if (bi + 1 < m) sc[bi] = this.#score(word, st[bi], en[bi + 1]);
    }
    for (let i = 0; i < m; i++) this.#emit(word, st[i], en[i], out);
  }

  // Long words: llama.cpp's heap + linked list, O(n log n).
  #mergeHeap(word: string, n: number, out: number[]): void {
    const st = this.#st, en = this.#en, prev = this.#prev, next = this.#next;
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const heap = this.#heap;
    heap.clear();
    const tryAdd = (l: number, r: number) => {
      if (l < 0 || r < 0) return;
      const score = this.#score(word, st[l], en[r]);
      // priority: higher score first → negate; payload: right index and the merged length
      if (score !== -Infinity) heap.push(-score, l, r, en[r] - st[l]);
    };
    for (let i = 0; i + 1 < n; i++) tryAdd(i, i + 1);
    while (heap.pop()) {
      const l = heap.topLeft, r = heap.topA;
      // stale: a side was merged away, or the lengths changed (llama.cpp compares sizes)
      if (en[l] === st[l] || en[r] === st[r]) continue;
      if ((en[l] - st[l]) + (en[r] - st[r]) !== heap.topB) continue;
      en[l] = en[r];
      en[r] = st[r];
      next[l] = next[r];
      if (next[r] >= 0) prev[next[r]] = l;
      tryAdd(prev[l], l);
      tryAdd(l, next[l]);
    }
    for (let i = 0; i !== -1; i = next[i]) this.#emit(word, st[i], en[i], out);
  }

  /** A final symbol: its token, else its bytes as byte tokens (llama.cpp `resegment`). */
  #emit(word: string, a: number, b: number, out: number[]): void {
    const text = word.slice(a, b);
    const id = this.#tokenToId.get(text);
    if (id !== undefined) {
      out.push(id);
      return;
    }
    for (const byte of b - a === 1 ? utf8Unit(text.charCodeAt(0)) : utf8Bytes(text)) {
      const t = this.#byteTok[byte];
      if (t < 0) {
        throw new TokenizerError(
          "BAD_TOKEN",
          `Cannot encode byte 0x${
            byte.toString(16).padStart(2, "0")
          }: the vocabulary has no byte token for it`,
        );
      }
      out.push(t);
    }
  }
}

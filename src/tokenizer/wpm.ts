/**
 * WordPiece as llama.cpp's `llm_tokenizer_wpm_session` (`src/llama-vocab.cpp` l. 776–895): the
 * text is split on whitespace (llama.cpp's table), control characters, U+0000 and U+FFFD are
 * dropped, accents stripped by taking the NFD base and dropping marks (when the vocabulary asks),
 * lower-cased with llama.cpp's map, and punctuation, ASCII symbols and CJK ideographs become
 * one-character words; each word, prefixed with `▁`, is matched greedily longest-first, and a
 * word with an unmatched position becomes `[UNK]` as a whole.
 *
 * @module
 */

import { codepointFlags, FLAG, nfdBase, toLower } from "./unicode.ts";

function isChineseChar(c: number): boolean {
  return (c >= 0x04e00 && c <= 0x09fff) || (c >= 0x03400 && c <= 0x04dbf) ||
    (c >= 0x20000 && c <= 0x2a6df) || (c >= 0x2a700 && c <= 0x2b73f) ||
    (c >= 0x2b740 && c <= 0x2b81f) || (c >= 0x2b920 && c <= 0x2ceaf) ||
    (c >= 0x0f900 && c <= 0x0faff) || (c >= 0x2f800 && c <= 0x2fa1f);
}

/** The WordPiece machinery of one vocabulary. */
export class WpmModel {
  /**
   * Token prefixes. Walking them from a position finds the same longest match as llama.cpp's
   * longest-first loop over all lengths, with one lookup per matched character.
   */
  readonly #prefixes = new Map<string, number>();
  readonly #unk: number;
  readonly #lowercase: boolean;
  readonly #stripAccents: boolean;

  /**
   * Prepares the greedy matcher.
   *
   * @example
   * ```ts
   * import { WpmModel } from "./wpm.ts";
   * const tokens = ["[UNK]", "▁hello", "▁world"];
   * const m = new WpmModel(new Map(tokens.map((t, i) => [t, i])), tokens, 0, { lowercase: true, stripAccents: true });
   * m.encode("Hello world", []); // [1, 2]
   * ```
   */
  constructor(
    tokenToId: Map<string, number>,
    tokens: string[],
    unk: number,
    normalizer: { lowercase: boolean; stripAccents: boolean },
  ) {
    // every prefix of every token → the token id when the prefix is itself a token, else -1
    for (const t of tokens) {
      for (let k = 1; k < t.length; k++) {
        const p = t.slice(0, k);
        if (!this.#prefixes.has(p)) this.#prefixes.set(p, -1);
      }
      this.#prefixes.set(t, tokenToId.get(t)!);
    }
    this.#unk = unk;
    this.#lowercase = normalizer.lowercase;
    this.#stripAccents = normalizer.stripAccents;
  }

  /**
   * Splits a fragment into normalized words (llama.cpp's `preprocess`).
   *
   * @example
   * ```ts
   * import { WpmModel } from "./wpm.ts";
   * new WpmModel(new Map(), [], 0, { lowercase: true, stripAccents: true }).words("Héllo, World");
   * // ["hello", ",", "world"]
   * ```
   */
  words(text: string): string[] {
    const F = codepointFlags();
    const words: string[] = [];
    const cur: number[] = [];
    const flush = () => {
      if (cur.length) {
        words.push(String.fromCodePoint(...cur));
        cur.length = 0;
      }
    };
    const lower = this.#lowercase, strip = this.#stripAccents;
    for (let i = 0; i < text.length; i++) {
      let cpt = text.charCodeAt(i);
      if (cpt >= 0xd800 && cpt <= 0xdfff) {
        const d = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
        if (cpt <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          cpt = 0x10000 + ((cpt - 0xd800) << 10) + (d - 0xdc00);
          i++;
        } else cpt = 0xfffd;
      }
      if (strip && cpt >= 0xc0) cpt = nfdBase(cpt);
      const flags = F[cpt];
      if (flags & FLAG.WHITESPACE) {
        flush();
        continue;
      }
      if (cpt === 0 || cpt === 0xfffd || (flags & FLAG.CONTROL)) continue;
      if (strip && (flags & FLAG.ACCENT_MARK)) continue;
      const c = lower ? toLower(cpt) : cpt;
      if (
        (flags & FLAG.PUNCTUATION) || (cpt < 0x7f && (flags & FLAG.SYMBOL)) || isChineseChar(cpt)
      ) {
        flush();
        words.push(String.fromCodePoint(c));
      } else {
        cur.push(c);
      }
    }
    flush();
    return words;
  }

  /**
   * Appends the ids of one text fragment to `out`.
   *
   * @example
   * ```ts ignore
   * wpm.encode("Hello", out);
   * ```
   */
  encode(text: string, out: number[]): number[] {
    for (const word of this.words(text)) {
      if (word.length === 0) continue;
      let ids = this.#cache.get(word);
      if (ids === undefined) {
        ids = this.#encodeWord(word);
        if (this.#cache.size >= 200_000) this.#cache = new Map();
        this.#cache.set(word, ids);
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]);
    }
    return out;
  }

  #cache = new Map<string, Int32Array>();

  /**
   * Forgets cached words.
   *
   * @example
   * ```ts ignore
   * wpm.clearCache();
   * ```
   */
  clearCache(): void {
    this.#cache = new Map();
  }

  // greedy longest match of "▁" + word; any unmatched position makes the whole word [UNK]
  #encodeWord(word: string): Int32Array {
    const w = "\u2581" + word;
    const n = w.length;
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      let best = -1, bestEnd = i;
      for (let j = i + 1; j <= n; j++) {
        const v = this.#prefixes.get(w.slice(i, j));
        if (v === undefined) break;
        if (v >= 0) {
          best = v;
          bestEnd = j;
        }
      }
      if (best >= 0) {
        out.push(best);
        i = bestEnd - 1;
      } else {
        out.length = 0;
        break;
      }
    }
    if (out.length === 0) out.push(this.#unk);
    return Int32Array.from(out);
  }
}

/**
 * Cutting special tokens out of the text before tokenization, with the result of llama.cpp's
 * `tokenizer_st_partition` (`src/llama-vocab.cpp` l. 3250–3366): special tokens (CONTROL,
 * USER_DEFINED, UNKNOWN) are taken longest first (UTF-8 byte length; llama.cpp's `std::sort`
 * leaves ties unspecified, bitload breaks them by id), and each is cut at its first occurrence in
 * every remaining text fragment, repeatedly. CONTROL/UNKNOWN tokens only count with
 * `parseSpecial`; USER_DEFINED always do. LSTRIP/RSTRIP trim ASCII whitespace (C `isspace`) on the
 * side they name.
 *
 * Instead of one substring search per special token over the whole text (256 passes over a 1 MB
 * text for Llama 3), all occurrences of all special tokens are found in one scan, and the
 * partition is replayed on those positions: fragments are always substrings of the original
 * text, so a token occurs in a fragment exactly where it occurs in the text inside the fragment.
 *
 * @module
 */

import { ATTR } from "./vocab.ts";

/** A text fragment `[start, end)` of the input, or a token id. */
export type Fragment = { start: number; end: number; id: -1 } | {
  start: 0;
  end: 0;
  id: number;
};

const utf8 = new TextEncoder();

function isCSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** Special tokens prepared for fast partitioning. */
export class SpecialTokens {
  /** Ids in llama.cpp's `cache_special_tokens` order (longest first). */
  readonly order: Int32Array;
  readonly #rank: Map<number, number> = new Map();
  readonly #byText = new Map<string, number>();
  /** First UTF-16 unit → sorted distinct lengths of special tokens starting with it. */
  readonly #lengthsByFirst = new Map<number, number[]>();
  readonly #texts: string[];
  readonly #attrs: Int32Array;

  /**
   * Collects the special tokens of a vocabulary.
   *
   * @example
   * ```ts
   * import { SpecialTokens } from "./special.ts";
   * import { ATTR } from "./vocab.ts";
   * const s = new SpecialTokens(["a", "<s>"], Int32Array.from([ATTR.NORMAL, ATTR.CONTROL]));
   * s.partition("x<s>y", true).length; // 3
   * ```
   */
  constructor(texts: string[], attrs: Int32Array) {
    this.#texts = texts;
    this.#attrs = attrs;
    const ids: number[] = [];
    const byteLen: number[] = [];
    for (let i = 0; i < attrs.length; i++) {
      if (attrs[i] & (ATTR.CONTROL | ATTR.USER_DEFINED | ATTR.UNKNOWN)) {
        ids.push(i);
        byteLen[i] = utf8.encode(texts[i]).length;
      }
    }
    ids.sort((a, b) => byteLen[b] - byteLen[a] || a - b);
    this.order = Int32Array.from(ids);
    ids.forEach((id, r) => this.#rank.set(id, r));
    for (const id of ids) {
      const t = texts[id];
      if (t.length === 0 || this.#byText.has(t)) continue;
      this.#byText.set(t, id);
      const first = t.charCodeAt(0);
      let lens = this.#lengthsByFirst.get(first);
      if (!lens) this.#lengthsByFirst.set(first, lens = []);
      if (!lens.includes(t.length)) lens.push(t.length);
    }
    for (const lens of this.#lengthsByFirst.values()) lens.sort((a, b) => b - a);
  }

  /**
   * Splits `text` into raw-text fragments and special-token ids.
   *
   * @example
   * ```ts
   * import { SpecialTokens } from "./special.ts";
   * import { ATTR } from "./vocab.ts";
   * const s = new SpecialTokens(["<s>"], Int32Array.from([ATTR.CONTROL]));
   * s.partition("a<s>b", false); // [{ start: 0, end: 5, id: -1 }]
   * ```
   */
  partition(text: string, parseSpecial: boolean): Fragment[] {
    if (text.length === 0) return [];
    const whole: Fragment[] = [{ start: 0, end: text.length, id: -1 }];
    if (this.#byText.size === 0) return whole;
    // 1. every occurrence of every eligible special token, grouped by token
    const occ = new Map<number, number[]>();
    const lensByFirst = this.#lengthsByFirst;
    const attrs = this.#attrs;
    for (let i = 0; i < text.length; i++) {
      const lens = lensByFirst.get(text.charCodeAt(i));
      if (lens === undefined) continue;
      for (const len of lens) {
        if (i + len > text.length) continue;
        const id = this.#byText.get(text.substr(i, len));
        if (id === undefined) continue;
        if (!parseSpecial && (attrs[id] & (ATTR.CONTROL | ATTR.UNKNOWN))) continue;
        let list = occ.get(id);
        if (!list) occ.set(id, list = []);
        list.push(i);
      }
    }
    if (occ.size === 0) return whole;
    // 2. replay llama.cpp's loop over tokens in cache order, using the occurrence lists
    const present = [...occ.keys()].sort((a, b) => this.#rank.get(a)! - this.#rank.get(b)!);
    let frags = whole;
    for (const id of present) {
      const positions = occ.get(id)!;
      const len = this.#texts[id].length;
      const attr = attrs[id];
      const next: Fragment[] = [];
      let k = 0; // positions are ascending and fragments too, so one pointer suffices
      for (const f of frags) {
        if (f.id !== -1) {
          next.push(f);
          continue;
        }
        let base = f.start;
        const end = f.end;
        for (;;) {
          while (k < positions.length && positions[k] < base) k++;
          if (k >= positions.length || positions[k] + len > end) break;
          const match = positions[k];
          if (match > base) {
            let leftEnd = match;
            if (attr & ATTR.LSTRIP) {
              while (leftEnd > base && isCSpace(text.charCodeAt(leftEnd - 1))) leftEnd--;
            }
            if (leftEnd > base) next.push({ start: base, end: leftEnd, id: -1 });
          }
          next.push({ start: 0, end: 0, id });
          let rightStart = match + len;
          if (rightStart < end) {
            if (attr & ATTR.RSTRIP) {
              while (rightStart < end && isCSpace(text.charCodeAt(rightStart))) rightStart++;
            }
          }
          base = rightStart;
          if (base >= end) break;
        }
        if (base < end) next.push({ start: base, end, id: -1 });
      }
      frags = next;
    }
    return frags;
  }
}

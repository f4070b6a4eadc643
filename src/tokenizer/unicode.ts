/**
 * Code point classification exactly as llama.cpp does it (`src/unicode.cpp`
 * `unicode_cpt_flags_array`, `unicode_tolower`, `unicode_cpts_normalize_nfd`), built once from the
 * generated {@link ./unicode_tables.ts} tables, plus the GPT-2 byte↔unicode map
 * (`unicode_byte_to_utf8_map`).
 *
 * @module
 */

import {
  MAP_LOWERCASE,
  MAP_UPPERCASE,
  RANGES_FLAGS,
  RANGES_NFD,
  WHITESPACE,
} from "./unicode_tables.ts";

/** Category and helper bits of `unicode_cpt_flags` (llama.cpp `src/unicode.h`). */
export const FLAG = {
  UNDEFINED: 0x0001,
  NUMBER: 0x0002,
  LETTER: 0x0004,
  SEPARATOR: 0x0008,
  ACCENT_MARK: 0x0010,
  PUNCTUATION: 0x0020,
  SYMBOL: 0x0040,
  CONTROL: 0x0080,
  MASK_CATEGORIES: 0x00ff,
  WHITESPACE: 0x0100,
  LOWERCASE: 0x0200,
  UPPERCASE: 0x0400,
  NFD: 0x0800,
} as const;

/** Number of code points (U+0000…U+10FFFF). */
export const MAX_CODEPOINTS = 0x110000;

let flagsTable: Uint16Array | undefined;

/**
 * The flags of every code point, indexed by code point (2.2 MB, built on first use in a few ms).
 *
 * @example
 * ```ts
 * import { codepointFlags, FLAG } from "./unicode.ts";
 * (codepointFlags()[0x41] & FLAG.LETTER) !== 0; // true
 * ```
 */
export function codepointFlags(): Uint16Array {
  if (flagsTable) return flagsTable;
  const t = new Uint16Array(MAX_CODEPOINTS).fill(FLAG.UNDEFINED);
  for (let i = 2; i < RANGES_FLAGS.length; i += 2) {
    t.fill(RANGES_FLAGS[i - 1], RANGES_FLAGS[i - 2], RANGES_FLAGS[i]);
  }
  for (const cp of WHITESPACE) t[cp] |= FLAG.WHITESPACE;
  for (let i = 0; i < MAP_LOWERCASE.length; i += 2) t[MAP_LOWERCASE[i + 1]] |= FLAG.LOWERCASE;
  for (let i = 0; i < MAP_UPPERCASE.length; i += 2) t[MAP_UPPERCASE[i + 1]] |= FLAG.UPPERCASE;
  for (let i = 0; i < RANGES_NFD.length; i += 3) t[RANGES_NFD[i + 2]] |= FLAG.NFD;
  flagsTable = t;
  return t;
}

let lowerMap: Map<number, number> | undefined;

/**
 * llama.cpp's `unicode_tolower`: the simple lowercase mapping of its table, else the code point.
 *
 * @example
 * ```ts
 * import { toLower } from "./unicode.ts";
 * toLower(0x53); // 0x73 ("S" → "s")
 * ```
 */
export function toLower(cp: number): number {
  if (cp < 0x80) return cp >= 0x41 && cp <= 0x5a ? cp + 32 : cp;
  if (!lowerMap) {
    lowerMap = new Map();
    for (let i = 0; i < MAP_LOWERCASE.length; i += 2) {
      lowerMap.set(MAP_LOWERCASE[i], MAP_LOWERCASE[i + 1]);
    }
  }
  return lowerMap.get(cp) ?? cp;
}

/**
 * llama.cpp's `unicode_cpts_normalize_nfd` for one code point: its first decomposed code point
 * when it lies in an NFD range, else itself (llama.cpp keeps only the base character).
 *
 * @example
 * ```ts
 * import { nfdBase } from "./unicode.ts";
 * nfdBase(0xc4); // 0x41 ("Ä" → "A")
 * ```
 */
export function nfdBase(cp: number): number {
  // upper_bound on `first`, minus one (RANGES_NFD is sorted and starts at 0)
  let lo = 0;
  let hi = RANGES_NFD.length / 3;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cp < RANGES_NFD[mid * 3]) hi = mid;
    else lo = mid + 1;
  }
  const i = (lo - 1) * 3;
  return RANGES_NFD[i] <= cp && cp <= RANGES_NFD[i + 1] ? RANGES_NFD[i + 2] : cp;
}

/**
 * The GPT-2 byte→code point map (`unicode_byte_to_utf8_map`): printable Latin-1 bytes map to
 * themselves, the other 68 bytes in increasing order to U+0100, U+0101, …
 *
 * @example
 * ```ts
 * import { byteToUnicode } from "./unicode.ts";
 * byteToUnicode()[0x20]; // 0x120 ("Ġ")
 * ```
 */
export function byteToUnicode(): Uint16Array {
  const map = new Uint16Array(256);
  const direct = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) map[b] = direct(b) ? b : 256 + n++;
  return map;
}

/**
 * Decodes a JS string into code points the way llama.cpp sees its UTF-8 encoding: a lone
 * surrogate becomes U+FFFD (TextEncoder writes EF BF BD for it). Also returns, for each code
 * point, its UTF-16 offset (`offsets[n]` = string length).
 *
 * @example
 * ```ts
 * import { decodeCodepoints } from "./unicode.ts";
 * decodeCodepoints("a😀").cps; // Int32Array [0x61, 0x1f600]
 * ```
 */
export function decodeCodepoints(
  text: string,
): { cps: Int32Array; offsets: Int32Array; n: number } {
  const len = text.length;
  const cps = new Int32Array(len);
  const offsets = new Int32Array(len + 1);
  let n = 0;
  for (let i = 0; i < len; i++) {
    let c = text.charCodeAt(i);
    offsets[n] = i;
    if (c >= 0xd800 && c <= 0xdfff) {
      if (c <= 0xdbff && i + 1 < len) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        } else c = 0xfffd;
      } else c = 0xfffd;
    }
    cps[n++] = c;
  }
  offsets[n] = len;
  return { cps, offsets, n };
}

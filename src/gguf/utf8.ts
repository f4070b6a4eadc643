/**
 * A fast UTF-8 validity check for the many short strings of a vocabulary, so that string arrays
 * can be validated while they are scanned and decoded later, on demand.
 *
 * Rules are those of the Unicode Standard, Table 3-7 (well-formed byte sequences): no overlong
 * forms, no surrogates (U+D800–U+DFFF), nothing above U+10FFFF. `TextDecoder("utf-8", {fatal:
 * true})` accepts exactly the same set; the tests compare the two.
 *
 * @module
 */

/**
 * Whether `bytes[start, end)` is well-formed UTF-8.
 *
 * @example
 * ```ts
 * import { isWellFormedUtf8 } from "./utf8.ts";
 * const b = new TextEncoder().encode("Ġhello");
 * isWellFormedUtf8(b, 0, b.length); // true
 * isWellFormedUtf8(new Uint8Array([0xc0, 0x80]), 0, 2); // false (overlong NUL)
 * ```
 */
export function isWellFormedUtf8(bytes: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const b0 = bytes[i];
    if (b0 < 0x80) {
      i++;
      continue;
    }
    if (b0 < 0xc2) return false; // continuation byte or overlong 2-byte lead
    if (b0 < 0xe0) {
      if (i + 1 >= end || (bytes[i + 1] & 0xc0) !== 0x80) return false;
      i += 2;
      continue;
    }
    if (b0 < 0xf0) {
      if (i + 2 >= end) return false;
      const b1 = bytes[i + 1];
      if ((b1 & 0xc0) !== 0x80 || (bytes[i + 2] & 0xc0) !== 0x80) return false;
      if (b0 === 0xe0 && b1 < 0xa0) return false; // overlong
      if (b0 === 0xed && b1 >= 0xa0) return false; // surrogate
      i += 3;
      continue;
    }
    if (b0 < 0xf5) {
      if (i + 3 >= end) return false;
      const b1 = bytes[i + 1];
      if (
        (b1 & 0xc0) !== 0x80 || (bytes[i + 2] & 0xc0) !== 0x80 || (bytes[i + 3] & 0xc0) !== 0x80
      ) return false;
      if (b0 === 0xf0 && b1 < 0x90) return false; // overlong
      if (b0 === 0xf4 && b1 >= 0x90) return false; // above U+10FFFF
      i += 4;
      continue;
    }
    return false;
  }
  return true;
}

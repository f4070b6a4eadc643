/**
 * The one grammar for memory sizes, shared by `--budget`, `--devices`/device specs and every
 * other size a user types:
 *
 * ```
 * SIZE   = NUMBER [SPACES] [UNIT]          (case-insensitive; surrounding spaces ignored)
 * NUMBER = DIGITS ["." DIGITS] ["e" DIGITS]       e.g. 24, 1.5, 1e9 (no sign, no hex)
 * UNIT   = B                                       bytes (also no unit)
 *        | K | KiB | M | MiB | G | GiB | T | TiB  binary: 1024, 1024², 1024³, 1024⁴
 *        | KB | MB | GB | TB                       decimal: 1e3, 1e6, 1e9, 1e12
 * ```
 *
 * Fractions of a byte are dropped (`1.5K` is 1536, `0.3KB` is 300). The result is a safe integer
 * (at most 2^53 − 1 bytes); anything else is a {@link SizeError}.
 *
 * @module
 */

import { BitloadError } from "./errors.ts";

/** Why a size was refused. */
export type SizeErrorCode =
  | "BAD_SIZE" // not a number with one of the units above
  | "SIZE_TOO_LARGE"; // more than 2^53 − 1 bytes

/**
 * A size did not follow the grammar, or is too large.
 *
 * @example
 * ```ts
 * import { parseSize, SizeError } from "./size.ts";
 * try {
 *   parseSize("12 parsecs");
 * } catch (e) {
 *   if (e instanceof SizeError) console.log(e.code); // BAD_SIZE
 * }
 * ```
 */
export class SizeError extends BitloadError<SizeErrorCode> {}

const UNITS: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
};

/**
 * Parses a memory size (see the grammar above) into bytes.
 *
 * @throws {SizeError} `BAD_SIZE` for text outside the grammar, `SIZE_TOO_LARGE` above 2^53 − 1.
 *
 * @example
 * ```ts
 * import { parseSize } from "./size.ts";
 * parseSize("24GiB"); // 25769803776
 * parseSize("1.5G"); // 1610612736
 * parseSize("8GB"); // 8000000000
 * parseSize("1e9"); // 1000000000
 * ```
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new SizeError(
      "BAD_SIZE",
      `Invalid size "${text}": expected a number and a unit such as 24GiB, 512MiB, 8GB or 1e9`,
    );
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes)) {
    throw new SizeError(
      "SIZE_TOO_LARGE",
      `"${text}" is too large a byte size (at most 2^53 - 1 bytes)`,
    );
  }
  return bytes;
}

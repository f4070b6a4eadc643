/**
 * The one place that turns numbers into text for people: bytes in binary units, counts with an SI
 * suffix, and simple aligned tables. The CLI, the planner's explanations, the loader's messages and
 * the validation report all use these, so a size reads the same everywhere.
 *
 * @module
 */

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/**
 * Bytes in binary units with three significant figures (`1.50 KiB`, `7.21 GiB`, `1000 MiB`);
 * negative sizes keep their sign, plain bytes are printed whole, and a non-finite size is spelled
 * `unlimited` (a budget with no bound).
 *
 * @example
 * ```ts
 * import { formatBytes } from "./format.ts";
 * formatBytes(1536); // "1.50 KiB"
 * formatBytes(-3 * 1024 ** 3); // "-3.00 GiB"
 * formatBytes(Infinity); // "unlimited"
 * ```
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? "NaN B" : "unlimited";
  if (n < 0) return `-${formatBytes(-n)}`;
  let v = n;
  let u = 0;
  while (v >= 1024 && u < BYTE_UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v >= 1000 ? v.toFixed(0) : v.toPrecision(3)} ${BYTE_UNITS[u]}`;
}

/**
 * A count with an SI suffix: 2.41 B, 12.6 M, 950 K.
 *
 * @example
 * ```ts
 * import { formatCount } from "./format.ts";
 * formatCount(2_412_000_000); // "2.41 B"
 * ```
 */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toPrecision(3)} B`;
  if (n >= 1e6) return `${(n / 1e6).toPrecision(3)} M`;
  if (n >= 1e3) return `${(n / 1e3).toPrecision(3)} K`;
  return String(n);
}

/**
 * Renders rows as columns separated by two spaces; numeric-looking cells are right-aligned.
 *
 * @example
 * ```ts
 * import { table } from "./format.ts";
 * table([["type", "bytes"], ["F32", "12"]]); // "type  bytes\nF32      12"
 * ```
 */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  const numeric = /^[-+]?[\d.,]+( [KMGTPB]i?B?| [KMB])?%?$/;
  return rows.map((r, rowIndex) =>
    r.map((c, i) => {
      const last = i === r.length - 1;
      if (rowIndex > 0 && numeric.test(c)) return c.padStart(widths[i]);
      return last ? c : c.padEnd(widths[i]);
    }).join("  ").trimEnd()
  ).join("\n");
}

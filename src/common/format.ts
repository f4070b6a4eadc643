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

/** The terminal width tables fit by default (columns). */
export const TABLE_WIDTH = 100;

/** Options of {@link table}. */
export interface TableOptions {
  /** Columns the table may use (default {@link TABLE_WIDTH}); wider text cells are cut with `…`. */
  width?: number;
  /** Never cut a cell (`--full`). */
  full?: boolean;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** Visible length of `s` (ANSI colour codes do not count). */
function visible(s: string): number {
  return s.replace(ANSI, "").length;
}

/** `s` cut to `width` visible characters, the last one `…` (colour codes dropped when cut). */
function cut(s: string, width: number): string {
  if (visible(s) <= width) return s;
  return s.replace(ANSI, "").slice(0, Math.max(0, width - 1)) + "…";
}

/** Text columns are never cut below this width. */
const MIN_COLUMN = 8;

/**
 * Renders rows as columns separated by two spaces; columns of numbers are right-aligned. When
 * the table is wider than `width` (100 columns), the widest text columns are narrowed and their
 * long cells end in `…`, unless `full` is set.
 *
 * @example
 * ```ts
 * import { table } from "./format.ts";
 * table([["type", "bytes"], ["F32", "12"]]); // "type  bytes\nF32      12"
 * table([["key", "value"], ["k", "x".repeat(200)]], { width: 20 }); // "key  value\nk    xxxxxxxxxxxxxx…"
 * ```
 */
export function table(rows: readonly (readonly string[])[], options: TableOptions = {}): string {
  const numeric = /^[-+]?[\d.,]+( [KMGTPB]i?B?| [KMB])?%?$/;
  const widths: number[] = [];
  const isNumeric: boolean[] = [];
  rows.forEach((r, rowIndex) =>
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visible(c));
      if (rowIndex > 0 && c !== "" && c !== "-" && !numeric.test(c)) isNumeric[i] = false;
      else isNumeric[i] ??= true;
    })
  );
  const limit = options.width ?? TABLE_WIDTH;
  const total = () => widths.reduce((a, w) => a + w, 0) + 2 * (widths.length - 1);
  if (!options.full) {
    while (total() > limit) {
      let widest = -1;
      widths.forEach((w, i) => {
        if (!isNumeric[i] && w > MIN_COLUMN && (widest < 0 || w > widths[widest])) widest = i;
      });
      if (widest < 0) break;
      widths[widest] = Math.max(MIN_COLUMN, widths[widest] - (total() - limit));
    }
  }
  return rows.map((r, rowIndex) =>
    r.map((c0, i) => {
      const c = options.full ? c0 : cut(c0, widths[i]);
      const last = i === r.length - 1;
      const pad = widths[i] - visible(c);
      if (rowIndex > 0 && isNumeric[i]) return " ".repeat(Math.max(0, pad)) + c;
      return last ? c : c + " ".repeat(Math.max(0, pad));
    }).join("  ").trimEnd()
  ).join("\n");
}

/**
 * Terminal output for the CLI: colour only on a TTY and never under `NO_COLOR`, byte and count
 * formatting, simple aligned tables, and the one-line error format `bitload: FILE: reason (CODE)`.
 *
 * @module
 */

import { GgufError } from "../gguf/errors.ts";
import { readEnv } from "../../ffi/env.ts";

/** An environment variable, or `undefined` when unset or not permitted (see `ffi/env.ts`). */
export const envVar: (name: string) => string | undefined = readEnv;

/** Exit code for bad input files and failed operations. */
export const EXIT_FAILURE = 1;
/** Exit code for bad command-line usage. */
export const EXIT_USAGE = 2;

/** Exit code after Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_CANCELLED = 130;

/** The user cancelled (Ctrl-C): printed as one line, exit code 130. */
export class CancelledError extends Error {
  /** Always "CancelledError". */
  override name = "CancelledError";
}

/** A command-line mistake: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Parses an integer option: `undefined` when it was not given, else a safe integer ≥ `min`; any
 * other text is a {@link UsageError} naming the flag and what was given.
 *
 * @example
 * ```ts
 * import { integerOption } from "./output.ts";
 * integerOption("threads", "4", 1); // 4
 * integerOption("threads", undefined, 1); // undefined
 * ```
 */
export function integerOption(
  name: string,
  text: string | undefined,
  min: 0 | 1,
): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(v) || v < min) {
    const kind = min === 1 ? "a positive integer" : "a non-negative integer";
    throw new UsageError(`--${name} must be ${kind}, got "${text}"`);
  }
  return v;
}

let colorEnabled: boolean | undefined;

/** Whether stdout gets ANSI colours: a TTY, and `NO_COLOR` unset (https://no-color.org). */
export function useColor(): boolean {
  if (colorEnabled === undefined) {
    const noColor = (envVar("NO_COLOR") ?? "") !== "";
    colorEnabled = !noColor && !Deno.noColor && Deno.stdout.isTerminal();
  }
  return colorEnabled;
}

/** Forces colour on or off (the `--no-color` flag). */
export function setColor(enabled: boolean): void {
  colorEnabled = enabled;
}

function paint(code: string): (s: string) => string {
  return (s) => (useColor() ? `\x1b[${code}m${s}\x1b[0m` : s);
}

/** Bold text. */
export const bold: (s: string) => string = paint("1");
/** Dimmed text. */
export const dim: (s: string) => string = paint("2");
/** Yellow text (warnings). */
export const yellow: (s: string) => string = paint("33");
/** Cyan text (headings). */
export const cyan: (s: string) => string = paint("36");

/**
 * Bytes in binary units with three significant figures.
 *
 * @example
 * ```ts
 * import { formatBytes } from "./output.ts";
 * formatBytes(1536); // "1.50 KiB"
 * ```
 */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v >= 1000 ? v.toFixed(0) : v.toPrecision(3)} ${units[u]}`;
}

/**
 * A count with an SI suffix: 2.41 B, 12.6 M, 950 K.
 *
 * @example
 * ```ts
 * import { formatCount } from "./output.ts";
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
 * import { table } from "./output.ts";
 * table([["type", "bytes"], ["F32", "12"]]); // "type  bytes\nF32      12"
 * ```
 */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  const numeric = /^[-+]?[\d.,]+( [KMGTB]i?B?| [KMB])?%?$/;
  return rows.map((r, rowIndex) =>
    r.map((c, i) => {
      const last = i === r.length - 1;
      if (rowIndex > 0 && numeric.test(c)) return c.padStart(widths[i]);
      return last ? c : c.padEnd(widths[i]);
    }).join("  ").trimEnd()
  ).join("\n");
}

/**
 * The one-line message for an error: `bitload: FILE: reason (CODE)` for GGUF errors,
 * `bitload: message` otherwise.
 *
 * @example
 * ```ts
 * import { GgufError } from "../gguf/errors.ts";
 * import { errorLine } from "./output.ts";
 * errorLine(new GgufError("BAD_MAGIC", 0, "Not a GGUF file", { path: "x.bin" }));
 * // 'bitload: x.bin: Not a GGUF file (BAD_MAGIC)'
 * ```
 */
export function errorLine(error: unknown): string {
  if (error instanceof GgufError) {
    const where = error.path ? `${error.path}: ` : "";
    return `bitload: ${where}${error.reason} (${error.code})`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `bitload: ${message.split("\n")[0]}`;
}

/**
 * Terminal output for the CLI: colour only on a TTY and never under `NO_COLOR`, byte and count
 * formatting, simple aligned tables, and the one-line error format `bitload: FILE: reason (CODE)`.
 *
 * @module
 */

import { GgufError } from "../gguf/errors.ts";
import { BitloadError } from "../common/errors.ts";
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

/**
 * A command-line mistake: printed as one line, exit code 2. With `command`, the line names it
 * (`bitload run: unknown option '-x' (see bitload run --help)`).
 */
export class UsageError extends Error {
  override name = "UsageError";
  /** The command the mistake was made in, when known. */
  readonly command?: string;
  /** A usage error with `message`, optionally naming the `command`. */
  constructor(message: string, options: { command?: string } = {}) {
    super(message);
    this.command = options.command;
  }
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

/** Byte, count and table formatting live in `src/common/format.ts` (shared below the CLI). */
export { formatBytes, formatCount, table } from "../common/format.ts";

/**
 * Wraps `text` at word boundaries into lines of at most `width` columns (a longer word stays
 * whole), the first prefixed by `first`, the others by `rest`.
 *
 * @example
 * ```ts
 * import { wrap } from "./output.ts";
 * wrap("one two three", 9, "- ", "  "); // "- one two\n  three"
 * ```
 */
export function wrap(text: string, width: number, first = "", rest = first): string {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest + word;
    } else line += (empty ? "" : " ") + word;
    empty = false;
  }
  lines.push(line);
  return lines.join("\n");
}

/**
 * The one-line message for an error: `bitload: FILE: reason (CODE)` for GGUF errors,
 * `bitload: message` otherwise.
 *
 * @example
 * ```ts
 * import { GgufError } from "../gguf/errors.ts";
import { BitloadError } from "../common/errors.ts";
 * import { errorLine } from "./output.ts";
 * errorLine(new GgufError("BAD_MAGIC", 0, "Not a GGUF file", { path: "x.bin" }));
 * // 'bitload: x.bin: Not a GGUF file (BAD_MAGIC)'
 * ```
 */
export function errorLine(error: unknown): string {
  if (error instanceof GgufError || error instanceof BitloadError) {
    const where = error.path ? `${error.path}: ` : "";
    return `bitload: ${where}${error.reason} (${error.code})`;
  }
  const message = error instanceof Error ? error.message : String(error);
  const who = error instanceof UsageError && error.command ? `bitload ${error.command}` : "bitload";
  return `${who}: ${message.split("\n")[0]}`;
}

/**
 * What kind of file a path is, and the one typed error for "this path is not a regular file".
 * Readers check it with `stat` before `open` (opening a FIFO without a writer blocks forever, a
 * device never ends), and the atomic writer checks it before a rename would replace a device
 * node, FIFO or socket with a regular file.
 *
 * A leaf module (it imports only the shared `BitloadError`), so any layer (the GGUF reader and
 * writer included) may use it.
 *
 * @module
 */

import { BitloadError } from "./errors.ts";

/** The code of {@link NotRegularFileError}. */
export const NOT_REGULAR_FILE = "NOT_REGULAR_FILE" as const;

/**
 * A path is a directory, FIFO, socket or device where a regular file (or nothing) was expected.
 * `code` is always `NOT_REGULAR_FILE`, `path` the path; the CLI prints
 * `bitload: PATH: REASON (NOT_REGULAR_FILE)`.
 *
 * @example
 * ```ts
 * import { NotRegularFileError } from "./file_kind.ts";
 * const e = new NotRegularFileError("/dev/null", "is a character device, not a regular file");
 * e.code; // "NOT_REGULAR_FILE"
 * ```
 */
export class NotRegularFileError extends BitloadError<"NOT_REGULAR_FILE"> {
  /** Creates the error for `path` with a one-line `reason`. */
  constructor(path: string, reason: string) {
    super(NOT_REGULAR_FILE, reason, { path });
  }
}

/**
 * What a `stat`/`lstat` result is, in words ("a FIFO", "a character device", …), or `null` for a
 * regular file (and a symlink, which `lstat` reports as such and a rename replaces harmlessly).
 *
 * @example
 * ```ts
 * import { specialFileKind } from "./file_kind.ts";
 * specialFileKind(Deno.statSync("."));            // "a directory"
 * ```
 */
export function specialFileKind(info: Deno.FileInfo): string | null {
  if (info.isFile || info.isSymlink) return null;
  if (info.isDirectory) return "a directory";
  if (info.isFifo) return "a FIFO (named pipe)";
  if (info.isSocket) return "a socket";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  return "not a regular file";
}

/**
 * Throws {@link NotRegularFileError} unless `path` is a regular file (symlinks are followed).
 * Errors of `stat` itself (missing file, permission) propagate unchanged. Call it before
 * `open`: opening a FIFO that has no writer never returns.
 *
 * @example
 * ```ts ignore
 * import { requireRegularFile } from "./file_kind.ts";
 * requireRegularFile("model.gguf");
 * ```
 */
export function requireRegularFile(path: string): Deno.FileInfo {
  const info = Deno.statSync(path);
  const kind = specialFileKind(info);
  if (kind !== null) {
    throw new NotRegularFileError(path, `is ${kind}, not a regular file`);
  }
  return info;
}

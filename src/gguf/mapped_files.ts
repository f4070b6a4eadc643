/**
 * Files in use whose change would corrupt a result: every live memory mapping registers here, and
 * each load, dequantize and generate step calls {@link checkMappedFiles}, which throws a
 * `GgufError` with code `FILE_CHANGED` (`bitload: FILE: file changed while mapped (FILE_CHANGED)`)
 * when one of them shrank (`fstat` size) or lost a page under its mapping (a SIGBUS caught by the
 * native fault guard, which mapped a zero page there so that the process lives on).
 *
 * @module
 */

import { GgufError } from "./errors.ts";

/** A mapping under watch. */
export interface WatchedFile {
  /** The file. */
  readonly path: string;
  /** Whether it changed since it was mapped (shrank, or a page of it faulted). */
  changed(): boolean;
}

const watched = new Set<WatchedFile>();

/**
 * Watches `file` until the returned function is called (when the mapping is closed).
 *
 * @example
 * ```ts ignore
 * import { watchMappedFile } from "./mapped_files.ts";
 * const unwatch = watchMappedFile({ path: "m.gguf", changed: () => false });
 * unwatch();
 * ```
 */
export function watchMappedFile(file: WatchedFile): () => void {
  watched.add(file);
  return () => watched.delete(file);
}

/**
 * The error for a file that changed while mapped (or, for the read path, `while_` it was read):
 * `bitload: FILE: file changed while mapped (FILE_CHANGED)`.
 *
 * @example
 * ```ts
 * import { fileChangedError } from "./mapped_files.ts";
 * fileChangedError("m.gguf").code; // "FILE_CHANGED"
 * ```
 */
export function fileChangedError(path: string, while_ = "mapped"): GgufError {
  return new GgufError("FILE_CHANGED", 0, `file changed while ${while_}`, { path });
}

/**
 * Throws `FILE_CHANGED` for the first watched file that changed. Costs one `lseek` and one FFI
 * call per live mapping; call it before and after each batch of work on mapped bytes.
 *
 * @example
 * ```ts ignore
 * import { checkMappedFiles } from "./mapped_files.ts";
 * checkMappedFiles(); // throws GgufError FILE_CHANGED when a mapped model shrank
 * ```
 */
export function checkMappedFiles(): void {
  for (const file of watched) {
    if (file.changed()) throw fileChangedError(file.path);
  }
}

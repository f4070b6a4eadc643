/**
 * Synchronous write-then-rename for the small cache files (build pointers, kernel choices), so a
 * reader never sees half a file and two writers never interleave.
 *
 * @module
 */

/**
 * Writes `text` to `${path}.<pid>.tmp` and renames it over `path`; the temporary file is removed
 * when the write or the rename fails, and the error is rethrown.
 *
 * @example
 * ```ts ignore
 * import { writeTextFileAtomicSync } from "./atomic_file.ts";
 * writeTextFileAtomicSync("/tmp/bitload-latest.txt", "/home/me/.cache/bitload/libbitload-….so");
 * ```
 */
export function writeTextFileAtomicSync(path: string, text: string): void {
  const temp = `${path}.${Deno.pid}.tmp`;
  try {
    Deno.writeTextFileSync(temp, text);
    Deno.renameSync(temp, path);
  } catch (error) {
    try {
      Deno.removeSync(temp);
    } catch { /* never written */ }
    throw error;
  }
}

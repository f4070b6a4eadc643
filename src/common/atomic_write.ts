/**
 * The one atomic writer: every file bitload writes (models, manifests, reports, cache indexes,
 * build pointers) goes to a temporary file `.NAME.PID.RAND.tmp` beside the target and is renamed
 * over it, so a reader never sees half a file and two writers never interleave.
 *
 * Guarantees:
 * - only a regular file, a symlink (the link itself is replaced, its target is untouched) or
 *   nothing is ever replaced: a directory, FIFO, socket or device node at the target is refused
 *   with {@link NotRegularFileError} and left untouched (as root, `--out /dev/null` would
 *   otherwise turn `/dev/null` into a regular file);
 * - the temporary file is removed when anything throws, and on SIGINT/SIGTERM during an
 *   asynchronous write (listeners are installed around the write; the process then exits with
 *   128 + the signal number, as it would have without them);
 * - temporary files left beside the target by processes that died (a `kill -9`, a power cut)
 *   are removed at the next write to the same target, once they are older than
 *   {@link STALE_TEMP_AGE_MS} and their PID no longer runs.
 *
 * A leaf module (it imports only {@link NotRegularFileError}), so any layer may use it.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { NotRegularFileError, specialFileKind } from "./file_kind.ts";

/**
 * A temporary file of a dead PID is removed only once it is this old (10 minutes): in a shared
 * directory, a process in another PID namespace may be writing it, and an active writer keeps
 * its temporary file's mtime fresh.
 */
export const STALE_TEMP_AGE_MS = 10 * 60 * 1000;

/**
 * A unique temporary path next to `path` (`.NAME.PID.RAND.tmp`), so the final rename stays on
 * one file system.
 *
 * @example
 * ```ts
 * import { temporaryPathFor } from "./atomic_write.ts";
 * temporaryPathFor("/tmp/out.gguf"); // e.g. "/tmp/.out.gguf.4242.k3j9a.tmp"
 * ```
 */
export function temporaryPathFor(path: string): string {
  const rand = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
  return join(dirname(path), `.${basename(path)}.${Deno.pid}.${rand}.tmp`);
}

/**
 * Throws {@link NotRegularFileError} when `path` exists and is not a regular file or a symlink,
 * i.e. when a rename over it would destroy a directory, FIFO, socket or device node.
 *
 * @example
 * ```ts ignore
 * import { checkReplaceable } from "./atomic_write.ts";
 * checkReplaceable("/dev/null"); // throws: is a character device
 * ```
 */
export function checkReplaceable(path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  const kind = specialFileKind(info);
  if (kind !== null) {
    throw new NotRegularFileError(
      path,
      `is ${kind}; refusing to replace it with a regular file (write to a file path instead)`,
    );
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function pidRunning(pid: number): boolean | undefined {
  if (pid === Deno.pid) return true;
  if (Deno.build.os !== "linux") return undefined;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (e) {
    return e instanceof Deno.errors.NotFound ? false : undefined;
  }
}

/**
 * Removes `.NAME.PID.RAND.tmp` files beside `path` whose PID no longer runs and that are older
 * than {@link STALE_TEMP_AGE_MS}; returns the paths removed. Errors are ignored (cleanup is best
 * effort, and never a reason to fail a write).
 *
 * @example
 * ```ts ignore
 * import { removeStaleTemporaries } from "./atomic_write.ts";
 * removeStaleTemporaries("/models/out.gguf"); // e.g. ["/models/.out.gguf.999.x1.tmp"]
 * ```
 */
export function removeStaleTemporaries(path: string, now = Date.now()): string[] {
  const dir = dirname(path);
  const pattern = new RegExp(`^\\.${escapeRegExp(basename(path))}\\.(\\d+)\\.[0-9a-z]+\\.tmp$`);
  const removed: string[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      const m = entry.isFile ? pattern.exec(entry.name) : null;
      if (!m || pidRunning(Number(m[1])) !== false) continue;
      const stale = join(dir, entry.name);
      try {
        const mtime = Deno.lstatSync(stale).mtime?.getTime() ?? now;
        if (now - mtime < STALE_TEMP_AGE_MS) continue;
        Deno.removeSync(stale);
        removed.push(stale);
      } catch { /* gone already, or not ours to remove */ }
    }
  } catch { /* the directory cannot be listed: nothing to clean */ }
  return removed;
}

/** Temporary files of writes in progress, removed by the signal listeners. */
const inProgress = new Set<string>();
const SIGNALS = [["SIGINT", 130], ["SIGTERM", 143]] as const;
const listeners = new Map<Deno.Signal, () => void>();

function track(temp: string): void {
  inProgress.add(temp);
  if (listeners.size > 0) return;
  for (const [signal, code] of SIGNALS) {
    const onSignal = () => {
      for (const t of inProgress) {
        try {
          Deno.removeSync(t);
        } catch { /* never created or already gone */ }
      }
      Deno.exit(code);
    };
    try {
      Deno.addSignalListener(signal, onSignal);
      listeners.set(signal, onSignal);
    } catch { /* a platform without this signal */ }
  }
}

function untrack(temp: string): void {
  inProgress.delete(temp);
  if (inProgress.size > 0) return;
  for (const [signal, onSignal] of listeners) Deno.removeSignalListener(signal, onSignal);
  listeners.clear();
}

/**
 * Writes what `produce` writes into `file` to a temporary file beside `path`, then renames it over
 * `path`. Refuses a target that is not a regular file (see {@link checkReplaceable}); removes the
 * temporary file if anything throws or SIGINT/SIGTERM arrives.
 *
 * @example
 * ```ts ignore
 * import { writeAtomically } from "./atomic_write.ts";
 * await writeAtomically("out.bin", async (file) => {
 *   await file.write(new Uint8Array([1, 2, 3]));
 * });
 * ```
 */
export async function writeAtomically(
  path: string,
  produce: (file: Deno.FsFile) => Promise<void>,
): Promise<void> {
  checkReplaceable(path);
  removeStaleTemporaries(path);
  const tmp = temporaryPathFor(path);
  track(tmp);
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    try {
      await produce(file);
    } finally {
      try {
        file.close();
      } catch { /* already closed */ }
    }
    // The target may have been replaced while we wrote: check again right before the rename.
    checkReplaceable(path);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  } finally {
    untrack(tmp);
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await file.write(bytes.subarray(done));
}

/**
 * Writes `data` (bytes or text) to `path` through a temporary file and a rename.
 *
 * @example
 * ```ts ignore
 * import { writeBytesAtomically } from "./atomic_write.ts";
 * await writeBytesAtomically("report.json", JSON.stringify({ ok: true }));
 * ```
 */
export async function writeBytesAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  await writeAtomically(path, (file) => writeAll(file, bytes));
}

/**
 * The synchronous twin for small files (build pointers, kernel choices): same checks, same
 * temporary name, removed when the write or the rename fails (a synchronous write cannot be
 * interrupted by a JavaScript signal listener, so none is installed).
 *
 * @example
 * ```ts ignore
 * import { writeTextFileAtomicSync } from "./atomic_write.ts";
 * writeTextFileAtomicSync("/tmp/bitload-latest.txt", "/home/me/.cache/bitload/libbitload-….so");
 * ```
 */
export function writeTextFileAtomicSync(path: string, text: string): void {
  checkReplaceable(path);
  removeStaleTemporaries(path);
  const temp = temporaryPathFor(path);
  try {
    Deno.writeTextFileSync(temp, text, { createNew: true, mode: 0o644 });
    checkReplaceable(path);
    Deno.renameSync(temp, path);
  } catch (error) {
    try {
      Deno.removeSync(temp);
    } catch { /* never written */ }
    throw error;
  }
}

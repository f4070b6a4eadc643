/**
 * One open model file: opened once, its header read through the descriptor, its data mapped from
 * the same descriptor later. Nothing re-opens the path, so the bytes parsed and the bytes mapped
 * are the same inode even when the path is replaced in between, and a model is opened exactly
 * once per part (checked with `strace` in `tests/pipeline_test.ts`).
 *
 * With libc (Linux, `--allow-ffi`): `open(O_RDONLY|O_CLOEXEC)`, `pread`, `mmap` of the fd.
 * Without: a `Deno.FsFile` read with seek + read, and no mapping (the copy path is used).
 *
 * @module
 */

import { cString, lastErrno, type Libc, LINUX, openLibc } from "../../ffi/libc.ts";
import { requireRegularFile } from "../common/file_kind.ts";
import { fileChangedError } from "../gguf/mapped_files.ts";
import { GgufError } from "../gguf/errors.ts";
import { ioError, type SyncRangeReader } from "../gguf/reader.ts";
import { type FileMapping, mapDescriptor, type MapOptions } from "./mapping.ts";

/** An open file: random reads, and a mapping of the same descriptor when libc is here. */
export interface FileHandle extends SyncRangeReader, Disposable {
  /** The path it was opened from (for messages). */
  readonly path: string;
  /** Size in bytes when opened. */
  readonly size: number;
  /** Whether {@link FileHandle.close} was called. */
  readonly closed: boolean;
  /** Fills `dest` with the bytes at file offset `offset`; a short read is a `GgufError` `IO`. */
  readInto(dest: Uint8Array, offset: number): void;
  /** Maps the whole file from this descriptor, or `null` when mapping is unavailable here. */
  map(options?: MapOptions): FileMapping | null;
  /** Closes the descriptor (a mapping made from it stays valid until it is closed itself). */
  close(): void;
}

/** Bytes per `pread`/`read` call (bounded so a huge tensor read yields progress and stays in i32). */
const READ_CHUNK = 16 * 1024 * 1024;

/** A read that ends before the size measured at open: the file shrank since (FILE_CHANGED). */
function shortRead(path: string, at: number): GgufError {
  return fileChangedError(path, `read (it now ends at byte ${at})`);
}

class LibcHandle implements FileHandle {
  readonly path: string;
  readonly size: number;
  #libc: Libc;
  #fd: number;

  constructor(libc: Libc, path: string, fd: number, size: number) {
    this.#libc = libc;
    this.path = path;
    this.#fd = fd;
    this.size = size;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  readInto(dest: Uint8Array, offset: number): void {
    if (this.#fd < 0) throw new GgufError("IO", offset, `"${this.path}" was closed`);
    let done = 0;
    while (done < dest.length) {
      const want = Math.min(READ_CHUNK, dest.length - done);
      const n = Number(
        this.#libc.pread(
          this.#fd,
          dest.subarray(done, done + want),
          BigInt(want),
          BigInt(offset + done),
        ),
      );
      if (n <= 0) {
        if (n < 0) {
          throw new GgufError(
            "IO",
            offset + done,
            `pread failed (errno ${lastErrno(this.#libc)})`,
            {
              path: this.path,
            },
          );
        }
        throw shortRead(this.path, offset + done);
      }
      done += n;
    }
  }

  map(options: MapOptions = {}): FileMapping {
    if (this.#fd < 0) throw new GgufError("IO", 0, `"${this.path}" was closed`);
    return mapDescriptor(this.#libc, this.#fd, this.path, this.size, options);
  }

  close(): void {
    if (this.#fd < 0) return;
    this.#libc.close(this.#fd);
    this.#fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

class DenoHandle implements FileHandle {
  readonly path: string;
  readonly size: number;
  #file: Deno.FsFile | null;

  constructor(path: string, file: Deno.FsFile, size: number) {
    this.path = path;
    this.#file = file;
    this.size = size;
  }

  get closed(): boolean {
    return this.#file === null;
  }

  readInto(dest: Uint8Array, offset: number): void {
    const file = this.#file;
    if (file === null) throw new GgufError("IO", offset, `"${this.path}" was closed`);
    file.seekSync(offset, Deno.SeekMode.Start);
    let done = 0;
    while (done < dest.length) {
      const n = file.readSync(dest.subarray(done, Math.min(dest.length, done + READ_CHUNK)));
      if (n === null || n === 0) throw shortRead(this.path, offset + done);
      done += n;
    }
  }

  map(): null {
    return null;
  }

  close(): void {
    this.#file?.close();
    this.#file = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Opens `path` once for reading. Refuses what is not a regular file (a directory, a FIFO, a
 * device) with a `NotRegularFileError`, and a missing or unreadable file with a `GgufError`
 * `IO`, as the reader does.
 *
 * @example
 * ```ts ignore
 * import { openFileHandle } from "./file_handle.ts";
 * using h = openFileHandle("model.gguf");
 * const magic = new Uint8Array(4);
 * h.readInto(magic, 0); // "GGUF"
 * ```
 */
export function openFileHandle(path: string): FileHandle {
  try {
    // stat before open: a FIFO without a writer would block, a device never ends; this also
    // checks Deno's read permission before libc bypasses it
    requireRegularFile(path);
  } catch (e) {
    throw ioError(path, e);
  }
  const libc = openLibc();
  if (libc) {
    const fd = libc.open(cString(path), LINUX.O_RDONLY | LINUX.O_CLOEXEC);
    if (fd < 0) {
      const errno = lastErrno(libc);
      const reason = errno === 2
        ? "No such file"
        : errno === 13
        ? "Permission denied"
        : `Cannot open (errno ${errno})`;
      throw new GgufError("IO", 0, reason, { path });
    }
    // the size of what was opened, not of what the path names now
    const size = Number(libc.lseek(fd, 0n, LINUX.SEEK_END));
    if (!Number.isSafeInteger(size) || size < 0) {
      libc.close(fd);
      throw new GgufError("IO", 0, "Not a regular file (no size)", { path });
    }
    return new LibcHandle(libc, path, fd, size);
  }
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    throw ioError(path, e);
  }
  try {
    return new DenoHandle(path, file, file.statSync().size);
  } catch (e) {
    file.close();
    throw ioError(path, e);
  }
}

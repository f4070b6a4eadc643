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
  /**
   * When the file is not in the page cache, reads it in on a worker thread (see
   * {@link BackgroundReadAhead}); `null` when it is (sampled: {@link COLD_PROBES} windows), when
   * it is larger than `maxBytes()` (asked only for a cold file: a cold read of a file that
   * would crowd memory is left to the loader's batches, which stop prefetching under pressure),
   * or when that cannot be done here.
   */
  readAheadIfCold(maxBytes: () => number): Promise<BackgroundReadAhead> | null;
  /** Closes the descriptor (a mapping made from it stays valid until it is closed itself). */
  close(): void;
}

/**
 * A read of a cold file into the page cache on a worker thread (`MADV_POPULATE_READ` of a
 * private read-only mapping of its own, unmapped when done), started before the header parse so
 * the disk works while JavaScript parses. It goes through the fault path, so the kernel's
 * readahead fills the page cache in large folios where the file system allows (as a cold `cat`
 * does; the later warm populate of the model's mapping then sets one entry per 2 MiB).
 */
export interface BackgroundReadAhead {
  /** Whether the whole file was read. */
  ok: boolean;
  /** Bytes of the file. */
  bytes: number;
  /** `performance.now()` when it started. */
  startMs: number;
  /** `performance.now()` when JavaScript saw it end. */
  endMs: number;
}

/** 64 KiB windows of the file sampled with `mincore` to tell a cold file from a warm one. */
export const COLD_PROBES = 8;

/**
 * The share of {@link COLD_PROBES} evenly spaced 64 KiB windows of a mapping of `size` bytes
 * that are in the page cache (`mincore`, 16 pages each: microseconds whatever the size), or
 * `null` when the call fails.
 */
function sampledResidentShare(libc: Libc, ptr: Deno.PointerObject, size: number): number | null {
  const mincore = libc.mincore;
  if (!mincore) return null;
  const page = 4096;
  const vec = new Uint8Array(16);
  let resident = 0;
  let total = 0;
  for (let i = 0; i < COLD_PROBES; i++) {
    const at = Math.floor((size - 1) * i / (COLD_PROBES - 1) / page) * page;
    const length = Math.min(16 * page, size - at);
    if (mincore(Deno.UnsafePointer.offset(ptr, at), BigInt(length), vec) !== 0) return null;
    const pages = Math.ceil(length / page);
    for (let j = 0; j < pages; j++) resident += vec[j] & 1;
    total += pages;
  }
  return total > 0 ? resident / total : 1;
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

  readAheadIfCold(maxBytes: () => number): Promise<BackgroundReadAhead> | null {
    const libc = this.#libc;
    if (this.#fd < 0 || this.size === 0 || !libc.madvise_async) return null;
    const len = BigInt(this.size);
    // no ArrayBuffer over it: a large external buffer would make V8 collect more often during
    // the parse (measured: +15–30 ms for a 12 MB header)
    const ptr = libc.mmap(null, len, LINUX.PROT_READ, LINUX.MAP_PRIVATE, this.#fd, 0n);
    if (ptr === null || Deno.UnsafePointer.value(ptr) === 0xffffffffffffffffn) return null;
    if ((sampledResidentShare(libc, ptr, this.size) ?? 1) >= 1 || this.size > maxBytes()) {
      libc.munmap(ptr, len); // warm: the loader's populate after the parse is all there is
      return null;
    }
    const startMs = performance.now();
    return libc.madvise_async(ptr, len, LINUX.MADV_POPULATE_READ).then((code) => {
      libc.munmap(ptr, len);
      return { ok: code === 0, bytes: this.size, startMs, endMs: performance.now() };
    });
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

  readAheadIfCold(): null {
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

/**
 * A private memory mapping of a whole file (`mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE)` through
 * libc: writes go to copy-on-write pages, never to the file), with
 * zero-copy `Uint8Array` views over it, and the copy path used when mapping is unavailable or
 * disabled: chunked reads into one preallocated buffer.
 *
 * Lifetime safety: the views share one external `ArrayBuffer`. `close()` first *detaches* that
 * buffer (`ArrayBuffer.prototype.transfer(0)`), so every view still held anywhere becomes empty —
 * reading returns `undefined`, typed-array methods and FFI calls throw "detached ArrayBuffer" —
 * and only then unmaps the memory. A view can therefore never touch unmapped memory. A
 * `FinalizationRegistry` unmaps a mapping nobody closed once its buffer is unreachable.
 *
 * A file that shrinks while mapped (another process truncates it): reading a page past the new
 * end raises SIGBUS. With the native library, its fault guard (`kernels/fault_guard.c`) maps a zero
 * page there and counts the event, and {@link FileMapping.check} (called by `view()`, and through
 * `checkMappedFiles` by every load, dequantize and generate step) throws `GgufError`
 * `FILE_CHANGED`. Without it, the file's size is checked (`lseek` on a descriptor the mapping
 * keeps) at the same points; a truncation between a check and the next read of a vanished page
 * still ends the process with SIGBUS (the remaining window).
 *
 * @module
 */

import {
  cString,
  lastErrno,
  type Libc,
  libcUnavailableReason,
  LINUX,
  openLibc,
} from "../../ffi/libc.ts";
import { faultGuard } from "../../ffi/fault_guard.ts";
import { requireRegularFile } from "../common/file_kind.ts";
import { fileChangedError, watchMappedFile } from "../gguf/mapped_files.ts";
import { LoadError } from "./errors.ts";

/** How to prefetch mapped pages (`madvise`). */
export type PrefetchAdvice = "none" | "willneed" | "sequential" | "random";

/** Options of {@link mapFile}. */
export interface MapOptions {
  /** Prefault every page at map time (`MAP_POPULATE`). Default false. */
  populate?: boolean;
  /** `madvise` hint for the whole mapping. Default "none". */
  prefetch?: PrefetchAdvice;
  /** Lock the pages in memory (`mlock`), like llama.cpp's `--mlock`. Default false. */
  mlock?: boolean;
}

/** Bytes of a file, mapped or read: the common interface of both load paths. */
export interface FileBytes {
  /** The file. */
  readonly path: string;
  /** Size of the file in bytes. */
  readonly size: number;
  /** Whether the bytes are a memory mapping (zero-copy) rather than a copy. */
  readonly mapped: boolean;
  /** Whether {@link FileBytes.close} was called. */
  readonly closed: boolean;
  /** A view of `length` bytes at file offset `offset`; throws after `close()`. */
  view(offset: number, length: number): Uint8Array;
  /** Releases the memory; views handed out before become empty. */
  close(): void;
}

const MADVICE: Record<PrefetchAdvice, number> = {
  none: LINUX.MADV_NORMAL,
  willneed: LINUX.MADV_WILLNEED,
  sequential: LINUX.MADV_SEQUENTIAL,
  random: LINUX.MADV_RANDOM,
};

/** What must be released with a mapping: the guard slot, the watch, the descriptor. */
interface MappingHandles {
  libc: Libc;
  ptr: Deno.PointerObject;
  size: number;
  fd: number;
  slot: number;
  unwatch: () => void;
}

function release({ libc, ptr, size, fd, slot, unwatch }: MappingHandles): void {
  unwatch();
  if (slot >= 0) faultGuard()?.remove(slot); // before munmap: the range may be reused
  if (fd >= 0) libc.close(fd);
  libc.munmap(ptr, BigInt(size));
}

/** Closes a mapping that was dropped without `close()`, once its buffer is unreachable. */
const unmapLater = new FinalizationRegistry<MappingHandles>(release);

/** Thrown by `view()` on a closed mapping or buffer. */
export class ClosedError extends LoadError {
  /** Creates the error (code `CLOSED`) with its one-line reason. */
  constructor(reason: string) {
    super("CLOSED", reason);
  }
}

function checkRange(path: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new LoadError("BAD_OPTION", `Invalid range ${offset}+${length} of "${path}"`);
  }
  if (offset + length > size) {
    throw new LoadError(
      "BAD_OPTION",
      `Range ${offset}–${offset + length} is past the end of "${path}" (${size} bytes)`,
    );
  }
}

/** A memory mapping of one file. Create with {@link mapFile}. */
export class FileMapping implements FileBytes, Disposable {
  readonly path: string;
  readonly size: number;
  readonly mapped = true;
  #libc: Libc;
  #ptr: Deno.PointerObject | null;
  #buffer: ArrayBuffer | null;
  #locked: boolean;
  #handles: MappingHandles | null = null;
  readonly #token = {};

  /**
   * Wraps an existing mapping; use {@link mapFile}. `fd` (owned: closed with the mapping) lets
   * {@link FileMapping.check} see the file's current size; -1 when there is none.
   */
  constructor(
    libc: Libc,
    path: string,
    ptr: Deno.PointerObject | null,
    size: number,
    locked: boolean,
    fd = -1,
  ) {
    this.#libc = libc;
    this.path = path;
    this.size = size;
    this.#ptr = ptr;
    this.#locked = locked;
    this.#buffer = ptr === null
      ? new ArrayBuffer(0)
      : Deno.UnsafePointerView.getArrayBuffer(ptr, size);
    if (ptr !== null) {
      const guard = faultGuard();
      const slot = guard?.add(ptr, size) ?? -1;
      const changed = () =>
        (slot >= 0 && guard!.events(slot) > 0) ||
        (fd >= 0 && Number(libc.lseek(fd, 0n, LINUX.SEEK_END)) < size);
      const unwatch = watchMappedFile({ path, changed });
      this.#handles = { libc, ptr, size, fd, slot, unwatch };
      unmapLater.register(this.#buffer, this.#handles, this.#token);
    } else if (fd >= 0) {
      libc.close(fd);
    }
  }

  /**
   * Throws `GgufError` `FILE_CHANGED` when the file shrank since it was mapped or a page of the
   * mapping vanished (a SIGBUS the fault guard caught: that page now reads as zeros).
   *
   * @example
   * ```ts ignore
   * import { mapFile } from "./mapping.ts";
   * using m = mapFile("model.gguf");
   * m.check(); // throws when another process truncated model.gguf
   * ```
   */
  check(): void {
    const h = this.#handles;
    if (h === null) return;
    if (h.slot >= 0 && faultGuard()!.events(h.slot) > 0) {
      throw fileChangedError(this.path); // a mapped page vanished and reads as zeros
    }
    if (h.fd >= 0 && Number(this.#libc.lseek(h.fd, 0n, LINUX.SEEK_END)) < this.size) {
      throw fileChangedError(this.path); // it shrank
    }
  }

  /** Whether {@link FileMapping.close} was called. */
  get closed(): boolean {
    return this.#buffer === null;
  }

  /** Whether the pages are locked in memory. */
  get locked(): boolean {
    return this.#locked;
  }

  /**
   * A zero-copy view of `length` bytes at file offset `offset`.
   *
   * @example
   * ```ts ignore
   * import { mapFile } from "./mapping.ts";
   * using m = mapFile("model.gguf");
   * const magic = m.view(0, 4); // "GGUF"
   * ```
   */
  view(offset: number, length: number): Uint8Array {
    if (this.#buffer === null) {
      throw new ClosedError(
        `The mapping of "${this.path}" was closed; its tensor views are no longer valid`,
      );
    }
    checkRange(this.path, this.size, offset, length);
    this.check();
    return new Uint8Array(this.#buffer, offset, length);
  }

  /** The mapping's base address (for native kernels); throws after close. */
  get pointer(): Deno.PointerObject | null {
    if (this.#buffer === null) throw new ClosedError(`The mapping of "${this.path}" was closed`);
    return this.#ptr;
  }

  /** The mapping's start address (0n for an empty file); for `/proc/self/smaps` lookups. */
  get address(): bigint {
    return this.#ptr === null ? 0n : Deno.UnsafePointer.value(this.#ptr);
  }

  /**
   * `madvise` on a byte range (page-aligned internally); returns false when the call failed.
   * `"populate"` (`MADV_POPULATE_READ`) maps every page of the range now, in one system call.
   */
  advise(
    offset: number,
    length: number,
    advice: PrefetchAdvice | "dontneed" | "populate",
  ): boolean {
    if (this.#ptr === null || this.#buffer === null || length <= 0) return true;
    const page = 4096;
    const start = Math.floor(offset / page) * page;
    const end = Math.min(this.size, offset + length);
    const at = Deno.UnsafePointer.offset(this.#ptr, start);
    const code = advice === "dontneed"
      ? LINUX.MADV_DONTNEED
      : advice === "populate"
      ? LINUX.MADV_POPULATE_READ
      : MADVICE[advice];
    return this.#libc.madvise(at, BigInt(end - start), code) === 0;
  }

  /**
   * Bytes of this mapping from byte `from` on (page-rounded down; the tensor data, leaving out
   * the header that was read, not mapped) resident in memory now (`mincore`: one byte per page,
   * no `/proc` parsing), or `null` when the call is unavailable or fails. Pages another process keeps in
   * the page cache count too: they are this model's memory either way.
   */
  residentBytes(from = 0): number | null {
    if (this.#ptr === null || this.#buffer === null) return 0;
    const mincore = this.#libc.mincore;
    if (!mincore) return null;
    const page = 4096;
    const start = Math.min(this.size, Math.floor(Math.max(0, from) / page) * page);
    const length = this.size - start;
    if (length === 0) return 0;
    const pages = Math.ceil(length / page);
    const vec = new Uint8Array(pages);
    const at = Deno.UnsafePointer.offset(this.#ptr, start);
    if (mincore(at, BigInt(length), vec) !== 0) return null;
    let resident = 0;
    for (let i = 0; i < pages; i++) resident += vec[i] & 1;
    return Math.min(length, resident * page);
  }

  /** Detaches every view, then unmaps. Safe to call twice. */
  close(): void {
    if (this.#buffer === null) return;
    const buffer = this.#buffer;
    this.#buffer = null;
    unmapLater.unregister(this.#token);
    // Detach first: views still held elsewhere become zero-length instead of dangling.
    buffer.transfer(0);
    if (this.#ptr !== null) {
      if (this.#locked) this.#libc.munlock(this.#ptr, BigInt(this.size));
      if (this.#handles) release(this.#handles);
      else this.#libc.munmap(this.#ptr, BigInt(this.size));
      this.#handles = null;
      this.#ptr = null;
    }
  }

  /** `using m = mapFile(...)` closes at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Why mapping is not possible here, or `""` when it is. */
export function mappingUnavailableReason(): string {
  return openLibc() ? "" : libcUnavailableReason();
}

/**
 * Maps a whole file (private, copy-on-write). Throws when libc is unavailable (see
 * {@link mappingUnavailableReason}) or the system call fails.
 *
 * @example
 * ```ts ignore
 * import { mapFile } from "./mapping.ts";
 * const m = mapFile("model.gguf", { prefetch: "willneed" });
 * console.log(m.view(0, 4));
 * m.close();
 * ```
 */
export function mapFile(path: string, options: MapOptions = {}): FileMapping {
  const libc = openLibc();
  if (!libc) {
    throw new LoadError("MAP_FAILED", `Cannot map "${path}": ${libcUnavailableReason()}`, { path });
  }
  const size = requireRegularFile(path).size;
  if (size === 0) return new FileMapping(libc, path, null, 0, false);
  const fd = libc.open(cString(path), LINUX.O_RDONLY | LINUX.O_CLOEXEC);
  if (fd < 0) {
    throw new LoadError(
      "MAP_FAILED",
      `Cannot open "${path}" for mapping (errno ${lastErrno(libc)})`,
      { path },
    );
  }
  try {
    return mapDescriptor(libc, fd, path, size, options);
  } finally {
    libc.close(fd); // the mapping keeps the file open
  }
}

/**
 * Maps `size` bytes of the open descriptor `fd` (private, copy-on-write); the caller keeps and
 * closes `fd` (the mapping holds its own reference to the file). {@link mapFile} opens a path and
 * calls this; the pipeline maps the descriptor its header was read from.
 *
 * @example
 * ```ts ignore
 * import { openLibc } from "../../ffi/libc.ts";
 * import { mapDescriptor } from "./mapping.ts";
 * const m = mapDescriptor(openLibc()!, fd, "model.gguf", size);
 * ```
 */
export function mapDescriptor(
  libc: Libc,
  fd: number,
  path: string,
  size: number,
  options: MapOptions = {},
): FileMapping {
  if (size === 0) return new FileMapping(libc, path, null, 0, false);
  const flags = LINUX.MAP_PRIVATE | (options.populate ? LINUX.MAP_POPULATE : 0);
  // PROT_WRITE with MAP_PRIVATE: a write through a view lands in a private copy-on-write page
  // (never in the file) instead of crashing the process on a read-only page.
  const ptr = libc.mmap(null, BigInt(size), LINUX.PROT_READ | LINUX.PROT_WRITE, flags, fd, 0n);
  if (ptr === null || Deno.UnsafePointer.value(ptr) === 0xffffffffffffffffn) {
    throw new LoadError(
      "MAP_FAILED",
      `mmap of "${path}" (${size} bytes) failed (errno ${lastErrno(libc)})`,
      { path },
    );
  }
  // A descriptor of our own for the mapping's life: check() asks it for the file's size.
  const own = libc.fcntl(fd, LINUX.F_DUPFD_CLOEXEC, 0);
  let locked = false;
  if (options.mlock) {
    if (libc.mlock(ptr, BigInt(size)) !== 0) {
      const errno = lastErrno(libc);
      libc.munmap(ptr, BigInt(size));
      if (own >= 0) libc.close(own);
      throw new LoadError(
        "MLOCK_FAILED",
        `mlock of "${path}" (${size} bytes) failed (errno ${errno}); raise RLIMIT_MEMLOCK (ulimit -l) or load without --mlock`,
        { path },
      );
    }
    locked = true;
  }
  const mapping = new FileMapping(libc, path, ptr, size, locked, own);
  if (options.prefetch && options.prefetch !== "none") mapping.advise(0, size, options.prefetch);
  return mapping;
}

/** Where a {@link ReadBuffer} reads from: an open file (see `file_handle.ts`). */
export interface ByteReader {
  /** The file, for messages. */
  readonly path: string;
  /** Size in bytes. */
  readonly size: number;
  /** Fills `dest` with the bytes at `offset` (throws on a short read). */
  readInto(dest: Uint8Array, offset: number): void;
  /** Releases the reader. */
  close(): void;
}

/** A {@link ByteReader} over a path opened with `Deno.openSync`. */
function denoReader(path: string): ByteReader {
  requireRegularFile(path);
  const file = Deno.openSync(path, { read: true });
  const size = file.statSync().size;
  return {
    path,
    size,
    readInto(dest, offset) {
      file.seekSync(offset, Deno.SeekMode.Start);
      let done = 0;
      while (done < dest.length) {
        const n = file.readSync(dest.subarray(done));
        if (n === null || n === 0) {
          // The size was taken when the file was opened: it shrank since.
          throw fileChangedError(path, `read (it now ends at byte ${offset + done})`);
        }
        done += n;
      }
    },
    close: () => file.close(),
  };
}

/**
 * The copy path: the file's bytes in one preallocated buffer, filled by chunked reads as
 * {@link ReadBuffer.readRange} asks. `view()` works on any range; ranges not yet read are zeros.
 */
export class ReadBuffer implements FileBytes, Disposable {
  readonly path: string;
  readonly size: number;
  readonly mapped = false;
  #buffer: Uint8Array<ArrayBuffer> | null;
  #file: ByteReader | null;
  #owned: boolean;
  /** Bytes read so far. */
  bytesRead = 0;

  /**
   * Allocates the buffer (`size` bytes). Given a path, opens it (and closes it on `close()`);
   * given an open reader, reads through it and leaves closing it to its owner.
   */
  constructor(source: string | ByteReader) {
    this.#owned = typeof source === "string";
    this.#file = typeof source === "string" ? denoReader(source) : source;
    this.path = this.#file.path;
    this.size = this.#file.size;
    this.#buffer = new Uint8Array(this.size);
  }

  /** Whether {@link ReadBuffer.close} was called. */
  get closed(): boolean {
    return this.#buffer === null;
  }

  /** Reads `[offset, offset + length)` from the file into the buffer, in chunks of ≤ 16 MiB. */
  readRange(offset: number, length: number): void {
    const buffer = this.#buffer;
    if (buffer === null || this.#file === null) throw new ClosedError(`"${this.path}" was closed`);
    checkRange(this.path, this.size, offset, length);
    this.#file.readInto(buffer.subarray(offset, offset + length), offset);
    this.bytesRead += length;
  }

  /** A view of the buffer (a copy of the file's bytes once read). */
  view(offset: number, length: number): Uint8Array {
    if (this.#buffer === null) {
      throw new ClosedError(
        `The buffer of "${this.path}" was released; its tensor views are no longer valid`,
      );
    }
    checkRange(this.path, this.size, offset, length);
    return this.#buffer.subarray(offset, offset + length);
  }

  /** Closes the file and detaches the buffer (views become empty). */
  close(): void {
    if (this.#buffer === null) return;
    if (this.#owned) this.#file?.close();
    this.#file = null;
    this.#buffer.buffer.transfer(0);
    this.#buffer = null;
  }

  /** `using b = new ReadBuffer(...)` closes at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }
}

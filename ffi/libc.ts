/**
 * The C library calls bitload needs for zero-copy loading: `mmap` and friends, and reading
 * `/proc` files (Deno refuses `/proc/self/*` without `--allow-all`; FFI access already implies
 * full trust, so reading them through libc needs no extra flag). One symbols table, one loader,
 * in the style of denodrivers/sqlite3 `src/ffi.ts`.
 *
 * @module
 */

import { openLibrary } from "./loader.ts";

/** libc symbols, with the C declaration of each. */
const LIBC_SYMBOLS = {
  // int open(const char *path, int flags)
  open: { parameters: ["buffer", "i32"], result: "i32" },
  // int close(int fd)
  close: { parameters: ["i32"], result: "i32" },
  // ssize_t read(int fd, void *buf, size_t count)
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // ssize_t pread(int fd, void *buf, size_t count, off_t offset)
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  // off_t lseek(int fd, off_t offset, int whence)
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  // int fcntl(int fd, int cmd, int arg)  (F_DUPFD_CLOEXEC: a descriptor a mapping keeps)
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  // int munmap(void *addr, size_t length)
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  // int madvise(void *addr, size_t length, int advice)
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  // the same call on a worker thread (a Promise): a populate that runs while JavaScript parses
  madvise_async: {
    name: "madvise",
    parameters: ["pointer", "usize", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // int mlock(const void *addr, size_t len)
  mlock: { parameters: ["pointer", "usize"], result: "i32" },
  // int munlock(const void *addr, size_t len)
  munlock: { parameters: ["pointer", "usize"], result: "i32" },
  // int mincore(void *addr, size_t length, unsigned char *vec)
  mincore: { parameters: ["pointer", "usize", "buffer"], result: "i32", optional: true },
  // int posix_fadvise(int fd, off_t offset, off_t len, int advice)
  posix_fadvise: { parameters: ["i32", "i64", "i64", "i32"], result: "i32" },
  // int *__errno_location(void)  (glibc; the thread's errno)
  __errno_location: { parameters: [], result: "pointer", optional: true },
} as const satisfies Deno.ForeignLibraryInterface;

/** Linux constants (asm-generic/mman-common.h, fcntl.h). */
export const LINUX = {
  O_RDONLY: 0,
  O_CLOEXEC: 0o2000000,
  SEEK_END: 2,
  F_DUPFD_CLOEXEC: 1030,
  PROT_READ: 1,
  PROT_WRITE: 2,
  MAP_PRIVATE: 2,
  MAP_POPULATE: 0x8000,
  MADV_NORMAL: 0,
  MADV_RANDOM: 1,
  MADV_SEQUENTIAL: 2,
  MADV_WILLNEED: 3,
  MADV_DONTNEED: 4,
  /** Linux 5.14+: fault the range in (readable) now, in the kernel; EINVAL on older kernels. */
  MADV_POPULATE_READ: 22,
  POSIX_FADV_DONTNEED: 4,
} as const;

/** The opened C library. */
export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

let cached: { libc: Libc | null; reason: string } | undefined;

/**
 * Opens libc once; `null` (and {@link libcUnavailableReason}) when FFI is not permitted or the
 * platform is not Linux.
 *
 * @example
 * ```ts ignore
 * import { openLibc } from "./libc.ts";
 * const libc = openLibc();
 * if (libc) console.log("mmap available");
 * ```
 */
export function openLibc(): Libc | null {
  if (cached) return cached.libc;
  if (Deno.build.os !== "linux") {
    cached = {
      libc: null,
      reason:
        `memory mapping through libc is implemented for Linux only (this is ${Deno.build.os})`,
    };
    return null;
  }
  // the generic loader (ffi/loader.ts) with the system's libc
  const opened = openLibrary({ what: "libc", symbols: LIBC_SYMBOLS, path: "libc.so.6" });
  cached = opened.ok
    ? { libc: opened.library.symbols, reason: "" }
    : { libc: null, reason: `cannot open libc.so.6: ${opened.reason}` };
  return cached.libc;
}

/** Why {@link openLibc} returned null (empty when it did not). */
export function libcUnavailableReason(): string {
  openLibc();
  return cached?.reason ?? "";
}

/** The calling thread's `errno` after a failed call (0 when unknown). */
export function lastErrno(libc: Libc): number {
  const p = libc.__errno_location?.();
  return p ? new Deno.UnsafePointerView(p).getInt32(0) : 0;
}

/** NUL-terminated UTF-8 for a C string argument. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/**
 * Reads a small text file (like `/proc/self/status`) through libc, bypassing Deno's
 * `--allow-all` requirement for `/proc`; falls back to `Deno.readTextFileSync` without FFI.
 * Returns `null` when neither works.
 *
 * @example
 * ```ts ignore
 * import { readSmallTextFile } from "./libc.ts";
 * console.log(readSmallTextFile("/proc/self/status")?.includes("VmRSS"));
 * ```
 */
export function readSmallTextFile(path: string, maxBytes = 1 << 20): string | null {
  const libc = openLibc();
  if (libc) {
    const fd = libc.open(cString(path), LINUX.O_RDONLY);
    if (fd >= 0) {
      try {
        const buf = new Uint8Array(maxBytes);
        let length = 0;
        while (length < maxBytes) {
          const n = Number(libc.read(fd, buf.subarray(length), BigInt(maxBytes - length)));
          if (n <= 0) break;
          length += n;
        }
        return new TextDecoder().decode(buf.subarray(0, length));
      } finally {
        libc.close(fd);
      }
    }
  }
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/**
 * The one native kernel library — the dequantizers and the inference kernels of `kernels/`, one
 * `.so` with the ABI of `kernels/bitload.h` — found, built and opened by the generic loader
 * (`ffi/loader.ts`):
 *
 * 1. `BITLOAD_NATIVE=0` disables native code altogether;
 * 2. `BITLOAD_NATIVE_LIB`: an explicit path to a built library;
 * 3. a cached build in `$BITLOAD_CACHE_DIR`, else `$XDG_CACHE_HOME/bitload`, else
 *    `~/.cache/bitload`, keyed by the sha256 of the compiler and its version, the flags, the
 *    target (CPU architecture) and every source (when the compiler cannot run, e.g. without `--allow-run`,
 *    the last build of the same sources);
 * 4. a build with `cc` (or `$CC`) into that cache on first use, announced by one stderr line; a
 *    lock file makes concurrent processes wait for one build;
 * 5. otherwise no library: the caller falls back to the pure-TypeScript kernels.
 *
 * The C sources are located relative to this module (`import.meta.url`) and read (from disk, or
 * with `fetch` for `http:`/`https:`) and hashed once, when this module is imported, so `file:`,
 * `http:` and `https:` imports work alike. Missing
 * permissions (`PermissionDenied`, `NotCapable`) lead to step 5 with the reason, never to a crash.
 *
 * @module
 */

import {
  buildCLibrary,
  C_LIBRARY_CFLAGS,
  type CLibrarySpec,
  cpuDescription,
  nativeCacheDir,
  prefetchSources,
} from "./c_build.ts";
import { describeError } from "./errors.ts";
import { abiProbe, type LibraryOrigin, openLibrary } from "./loader.ts";
import { openLazyLibrary } from "./lazy_library.ts";
import { BITLOAD_ABI_VERSION, BITLOAD_SYMBOLS, SIMD_LEVEL_NAMES } from "./symbols.ts";

/** The opened kernel library. */
export type BitloadLibrary = Deno.DynamicLibrary<typeof BITLOAD_SYMBOLS>;

export type { LibraryOrigin };

/** Outcome of {@link openNativeLibrary}: a library, or the reason there is none. */
export type OpenLibraryResult =
  | { ok: true; library: BitloadLibrary; path: string; origin: LibraryOrigin }
  | { ok: false; reason: string };

/** Options of {@link buildNativeLibrary}. */
export interface BuildOptions {
  /** Build even when a cached library with the same key exists. */
  force?: boolean;
}

/**
 * The C sources of the one kernel library, relative to `kernels/`, compiled in this order by one
 * `cc` command. Adding a source file to the library is one line here (see `kernels/README.md`).
 */
export const KERNEL_SOURCES = [
  "dispatch.c",
  "pool.c",
  "dequant_ref.c",
  "dequant_avx2.c",
  "dequant_avx512.c",
  "dequant_neon.c",
  "infer/activations.c",
  "infer/ternary.c",
  "infer/i2s_gemm.c",
  "infer/q8_0.c",
  "infer/q8_1.c",
  "infer/kquants.c",
  "infer/dense.c",
  "infer/ffn.c",
  "infer/norm.c",
  "infer/attention.c",
  "tl.c",
  "probe.c",
  "fault_guard.c",
  "gguf_strings.c",
] as const;

/** Headers that take part in the cache key (relative to `kernels/`). */
export const KERNEL_HEADERS = [
  "bitload.h",
  "internal.h",
  "iq_tables.h",
  "dequant_x86_body.h",
  "infer/internal.h",
  "infer/i2s_gemm.h",
] as const;

/**
 * Compiler flags of the kernel library: the flags shared by every bitload C library, plus
 * `-Wl,-z,nodelete`, which keeps the library mapped after `dlclose`: the pool's worker threads
 * outlive any one `Deno.dlopen` handle (a test worker that closes its handle while another
 * isolate's threads still run in the library would otherwise unmap code under them).
 */
export const KERNEL_CFLAGS = [...C_LIBRARY_CFLAGS, "-Wl,-z,nodelete"] as const;

/** How long a build takes on a 2-core machine, for the notice (a full build measured ~15 s). */
const BUILD_ESTIMATE = "about 15 s";

/** How the kernel library is built (see `ffi/c_build.ts` for the cache). */
export const KERNEL_LIBRARY: CLibrarySpec = {
  name: "bitload",
  what: "the kernels",
  dir: new URL("../kernels/", import.meta.url),
  sources: KERNEL_SOURCES,
  headers: KERNEL_HEADERS,
  cflags: KERNEL_CFLAGS,
  // the inference kernels' own library before the two became one (`libbitload-infer-<key>.so`)
  retiredNames: ["bitload-infer"],
  announce: () =>
    `bitload: building native kernels (${cpuDescription()}), once — ${BUILD_ESTIMATE}`,
};

/** Why the sources of a remote import could not be fetched, if they could not. */
let fetchFailure: string | undefined;
try {
  // once per process, when this module is imported: `file:`, `http:` and `https:` alike
  await prefetchSources(KERNEL_LIBRARY);
} catch (error) {
  fetchFailure = `cannot read the kernel sources: ${describeError(error)}`;
}

/**
 * The directory bitload caches built libraries in, or `null` when no home or cache variable is visible.
 *
 * @example
 * ```ts
 * import { nativeCacheDir } from "./library.ts";
 * console.log(nativeCacheDir()); // e.g. "/home/me/.cache/bitload"
 * ```
 */
export { nativeCacheDir };

/**
 * Builds the library into the cache (unless an up-to-date build is there) and returns its path.
 * Throws with the compiler's output when the build fails.
 *
 * @example
 * ```ts ignore
 * import { buildNativeLibrary } from "./library.ts";
 * const path = buildNativeLibrary();
 * console.log(`kernels at ${path}`);
 * ```
 */
export function buildNativeLibrary(options: BuildOptions = {}): string {
  return buildCLibrary(KERNEL_LIBRARY, options).path;
}

/**
 * Finds or builds the kernel library and opens it (`cacheOnly`: only a build already in the
 * cache, never compiling). Never throws: failures come back as `{ ok: false, reason }`.
 *
 * @example
 * ```ts ignore
 * import { openNativeLibrary } from "./library.ts";
 * const result = openNativeLibrary();
 * console.log(result.ok ? `${result.path} (${result.origin})` : result.reason);
 * ```
 */
export function openNativeLibrary(options: { cacheOnly?: boolean } = {}): OpenLibraryResult {
  const result = openLibrary({
    what: "the kernels",
    symbols: BITLOAD_SYMBOLS,
    disabledBy: ["BITLOAD_NATIVE", "0"],
    env: "BITLOAD_NATIVE_LIB",
    build: KERNEL_LIBRARY,
    cacheOnly: options.cacheOnly,
    // functions bound on first use: binding all 55 at once cost 35–60 ms of every command's start
    open: (path) => openLazyLibrary(path, { symbols: BITLOAD_SYMBOLS, eager: ["bl_abi_version"] }),
    probe: abiProbe((library) => library.symbols.bl_abi_version(), BITLOAD_ABI_VERSION),
  });
  if (
    !result.ok && fetchFailure !== undefined && !/^disabled|BITLOAD_NATIVE_LIB/.test(result.reason)
  ) {
    return { ok: false, reason: fetchFailure };
  }
  return result;
}

/**
 * The ABI version and SIMD level of the library at `path` (opened, asked, closed): what
 * `deno task build:native` prints.
 *
 * @example
 * ```ts ignore
 * import { buildNativeLibrary, describeNativeLibrary } from "./library.ts";
 * console.log(describeNativeLibrary(buildNativeLibrary())); // { abi: 6, simd: "avx512" }
 * ```
 */
export function describeNativeLibrary(path: string): { abi: number; simd: string } {
  const library = Deno.dlopen(path, BITLOAD_SYMBOLS);
  try {
    const simd = SIMD_LEVEL_NAMES[library.symbols.bl_simd_level()] ?? "unknown";
    return { abi: library.symbols.bl_abi_version(), simd };
  } finally {
    library.close();
  }
}

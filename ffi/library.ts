/**
 * Finds, builds and opens the native kernel library: the dequantizers and the inference kernels
 * of `kernels/`, one `.so` with the ABI of `kernels/bitload.h`.
 *
 * Discovery order:
 * 1. `BITLOAD_NATIVE=0` disables native code altogether;
 * 2. `BITLOAD_NATIVE_LIB`: an explicit path to a built library;
 * 3. a cached build in `$BITLOAD_CACHE_DIR`, else `$XDG_CACHE_HOME/bitload`, else `~/.cache/bitload`,
 *    keyed by the sha256 of (compiler and its version, flags, `Deno.build.target`, every kernel source);
 * 4. a build with `cc` (or `$CC`) into that cache on first use: written under a temporary name, then
 *    `Deno.rename`d into place, so two processes racing to build both end up with a complete file
 *    (when the compiler cannot run, e.g. without `--allow-run`, the last build of the same sources
 *    recorded in the cache is used);
 * 5. otherwise no library: the caller falls back to the pure-TypeScript kernels.
 *
 * Missing permissions (`PermissionDenied`, `NotCapable`) lead to step 5 with the reason, never to a crash.
 * The C sources are read next to this module through `import.meta.url`.
 *
 * @module
 */

import { readEnv } from "./env.ts";
import {
  buildCLibrary,
  C_LIBRARY_CFLAGS,
  cachedLibraryPath,
  type CLibrarySpec,
  compilerCommand,
  compilerVersion,
  describeError,
  fileExists,
  latestBuild,
  nativeCacheDir,
  recordLatestBuild,
  sourceDir,
} from "./c_build.ts";

import { BITLOAD_ABI_VERSION, BITLOAD_SYMBOLS } from "./symbols.ts";

/** The opened kernel library. */
export type BitloadLibrary = Deno.DynamicLibrary<typeof BITLOAD_SYMBOLS>;

/** Where an opened library came from. */
export type LibraryOrigin = "env" | "cache" | "built";

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
  "infer/q8_0.c",
  "infer/q8_1.c",
  "infer/kquants.c",
  "infer/dense.c",
  "infer/ffn.c",
  "infer/norm.c",
  "infer/attention.c",
  "tl.c",
] as const;

/** Headers that take part in the cache key (relative to `kernels/`). */
export const KERNEL_HEADERS = [
  "bitload.h",
  "internal.h",
  "iq_tables.h",
  "dequant_x86_body.h",
  "infer/internal.h",
] as const;

/**
 * Compiler flags of the kernel library: the flags shared by every bitload C library, plus
 * `-Wl,-z,nodelete`, which keeps the library mapped after `dlclose`: the pool's worker threads
 * outlive any one `Deno.dlopen` handle (a test worker that closes its handle while another
 * isolate's threads still run in the library would otherwise unmap code under them).
 */
export const KERNEL_CFLAGS = [...C_LIBRARY_CFLAGS, "-Wl,-z,nodelete"] as const;

/** How the kernel library is built (see `ffi/c_build.ts` for the cache). */
export const KERNEL_LIBRARY: CLibrarySpec = {
  name: "bitload",
  what: "the kernels",
  dir: new URL("../kernels/", import.meta.url),
  sources: KERNEL_SOURCES,
  headers: KERNEL_HEADERS,
  cflags: KERNEL_CFLAGS,
};

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
 * ```ts
 * import { buildNativeLibrary } from "./library.ts";
 * const path = buildNativeLibrary();
 * console.log(`kernels at ${path}`);
 * ```
 */
export function buildNativeLibrary(options: BuildOptions = {}): string {
  return buildCLibrary(KERNEL_LIBRARY, options);
}

/** Opens a library and checks its ABI version; closes it again on a mismatch. */
function openAndProbe(path: string): BitloadLibrary {
  const library = Deno.dlopen(path, BITLOAD_SYMBOLS);
  const version = library.symbols.bl_abi_version();
  if (version !== BITLOAD_ABI_VERSION) {
    library.close();
    throw new Error(
      `ABI version mismatch in "${path}": the library has ${version}, bitload expects ${BITLOAD_ABI_VERSION}`,
    );
  }
  return library;
}

/**
 * Finds or builds the kernel library and opens it. Never throws: failures come back as
 * `{ ok: false, reason }`.
 *
 * @example
 * ```ts
 * import { openNativeLibrary } from "./library.ts";
 * const result = openNativeLibrary();
 * console.log(result.ok ? result.path : result.reason);
 * ```
 */
export function openNativeLibrary(): OpenLibraryResult {
  if (readEnv("BITLOAD_NATIVE") === "0") {
    return { ok: false, reason: "disabled by BITLOAD_NATIVE=0" };
  }
  const fromEnv = readEnv("BITLOAD_NATIVE_LIB");
  if (fromEnv) {
    try {
      return { ok: true, library: openAndProbe(fromEnv), path: fromEnv, origin: "env" };
    } catch (error) {
      return { ok: false, reason: `BITLOAD_NATIVE_LIB="${fromEnv}": ${describeError(error)}` };
    }
  }
  let path: string;
  let origin: LibraryOrigin = "cache";
  try {
    sourceDir(KERNEL_LIBRARY);
    const cacheDir = nativeCacheDir();
    if (cacheDir === null) return { ok: false, reason: "no cache directory (HOME is not set)" };
    const cc = compilerCommand();
    let version: string;
    try {
      version = compilerVersion(cc);
    } catch (error) {
      // No compiler (or no --allow-run): use the last build of these sources, if there is one.
      const latest = latestBuild(KERNEL_LIBRARY, cacheDir);
      if (latest === null) throw error;
      return { ok: true, library: openAndProbe(latest), path: latest, origin: "cache" };
    }
    path = cachedLibraryPath(KERNEL_LIBRARY, cacheDir, cc, version);
    if (fileExists(path)) {
      recordLatestBuild(KERNEL_LIBRARY, cacheDir, path);
    } else {
      origin = "built";
      buildNativeLibrary();
    }
  } catch (error) {
    return { ok: false, reason: describeError(error) };
  }
  try {
    return { ok: true, library: openAndProbe(path), path, origin };
  } catch (error) {
    if (origin === "built") return { ok: false, reason: describeError(error) };
    // A damaged cached file: rebuild once.
    try {
      buildNativeLibrary({ force: true });
      return { ok: true, library: openAndProbe(path), path, origin: "built" };
    } catch (rebuildError) {
      return { ok: false, reason: describeError(rebuildError) };
    }
  }
}

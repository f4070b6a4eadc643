/**
 * Finds, builds and opens the native kernel library.
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
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

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

/** The kernel sources, compiled in this order by one `cc` command. */
export const KERNEL_SOURCES = [
  "dispatch.c",
  "threads.c",
  "dequant_ref.c",
  "dequant_avx2.c",
  "dequant_avx512.c",
  "dequant_neon.c",
] as const;

/** Headers that take part in the cache key. */
const KERNEL_HEADERS = ["bitload.h", "internal.h", "iq_tables.h", "dequant_x86_body.h"] as const;

/**
 * Compiler flags. `-ffp-contract=off` keeps the compiler from fusing a multiply and an add, which would
 * change roundings and break bit-exactness with ggml.
 */
export const KERNEL_CFLAGS = [
  "-O3",
  "-shared",
  "-fPIC",
  "-fvisibility=hidden",
  "-ffp-contract=off",
  "-std=gnu11",
  "-pthread",
  "-Wall",
  "-Wextra",
] as const;

const KERNELS_DIR_URL = new URL("../kernels/", import.meta.url);

function libraryFileName(key: string): string {
  const os = Deno.build.os;
  const ext = os === "darwin" ? "dylib" : os === "windows" ? "dll" : "so";
  return `libbitload-${key.slice(0, 24)}.${ext}`;
}

/** Formats an error for a one-line reason. */
function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message.split("\n")[0]}`;
  return String(error);
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
export function nativeCacheDir(): string | null {
  const explicit = readEnv("BITLOAD_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = readEnv("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "bitload");
  const home = readEnv("HOME") ?? readEnv("USERPROFILE");
  return home ? join(home, ".cache", "bitload") : null;
}

function compilerCommand(): string {
  return readEnv("CC") || "cc";
}

/** First line of `cc --version`; throws when the compiler cannot run. */
function compilerVersion(cc: string): string {
  const out = new Deno.Command(cc, { args: ["--version"], stdout: "piped", stderr: "piped" })
    .outputSync();
  if (!out.success) throw new Error(`"${cc} --version" exited with code ${out.code}`);
  return new TextDecoder().decode(out.stdout).split("\n")[0].trim();
}

/** sha256 of flags, target and every kernel file: what the library is built from, minus the compiler. */
function sourceKey(dir: string): string {
  const hash = createHash("sha256");
  hash.update(`${KERNEL_CFLAGS.join(" ")}\0${Deno.build.target}\0`);
  for (const name of [...KERNEL_HEADERS, ...KERNEL_SOURCES]) {
    hash.update(`${name}\0`);
    hash.update(Deno.readFileSync(join(dir, name)));
    hash.update("\0");
  }
  return hash.digest("hex");
}

/** The cache key: sha256 of compiler, its version and the source key. */
function cacheKey(cc: string, version: string, dir: string): string {
  return createHash("sha256").update(`${cc}\0${version}\0${sourceKey(dir)}`).digest("hex");
}

/**
 * A small file naming the last library built from these sources, so that a process that may not run
 * the compiler (no `--allow-run`) still finds the cached build.
 */
function latestBuildPointer(cacheDir: string, dir: string): string {
  return join(cacheDir, `latest-${sourceKey(dir).slice(0, 24)}.txt`);
}

function recordLatestBuild(cacheDir: string, dir: string, libraryPath: string): void {
  try {
    const pointer = latestBuildPointer(cacheDir, dir);
    const temp = `${pointer}.${Deno.pid}.tmp`;
    Deno.writeTextFileSync(temp, libraryPath);
    Deno.renameSync(temp, pointer);
  } catch { /* only an optimisation */ }
}

/** The cached library recorded for these sources, or `null`. */
function latestBuild(cacheDir: string, dir: string): string | null {
  try {
    const path = Deno.readTextFileSync(latestBuildPointer(cacheDir, dir)).trim();
    return exists(path) ? path : null;
  } catch {
    return null;
  }
}

function kernelsDir(): string {
  if (KERNELS_DIR_URL.protocol !== "file:") {
    throw new Error(`kernel sources are not on the local file system (${KERNELS_DIR_URL.href})`);
  }
  return fileURLToPath(KERNELS_DIR_URL);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

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
  const dir = kernelsDir();
  const cacheDir = nativeCacheDir();
  if (cacheDir === null) throw new Error("no cache directory: set BITLOAD_CACHE_DIR or HOME");
  const cc = compilerCommand();
  const version = compilerVersion(cc);
  const target = join(cacheDir, libraryFileName(cacheKey(cc, version, dir)));
  if (!options.force && exists(target)) {
    recordLatestBuild(cacheDir, dir, target);
    return target;
  }
  Deno.mkdirSync(cacheDir, { recursive: true });
  const temp = `${target}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const args = [
    ...KERNEL_CFLAGS,
    "-o",
    temp,
    ...KERNEL_SOURCES.map((name) => join(dir, name)),
    "-lm",
  ];
  const out = new Deno.Command(cc, { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) {
    try {
      Deno.removeSync(temp);
    } catch { /* nothing was written */ }
    const log = new TextDecoder().decode(out.stderr).trim().split("\n").slice(0, 20).join("\n");
    throw new Error(`"${cc}" failed to build the kernels (exit code ${out.code}):\n${log}`);
  }
  Deno.renameSync(temp, target);
  recordLatestBuild(cacheDir, dir, target);
  return target;
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
    const dir = kernelsDir();
    const cacheDir = nativeCacheDir();
    if (cacheDir === null) return { ok: false, reason: "no cache directory (HOME is not set)" };
    const cc = compilerCommand();
    let version: string;
    try {
      version = compilerVersion(cc);
    } catch (error) {
      // No compiler (or no --allow-run): use the last build of these sources, if there is one.
      const latest = latestBuild(cacheDir, dir);
      if (latest === null) throw error;
      return { ok: true, library: openAndProbe(latest), path: latest, origin: "cache" };
    }
    path = join(cacheDir, libraryFileName(cacheKey(cc, version, dir)));
    if (exists(path)) {
      recordLatestBuild(cacheDir, dir, path);
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

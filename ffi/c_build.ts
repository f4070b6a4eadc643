/**
 * Building a C shared library on first use into a content-addressed cache: the key is the sha256
 * of the compiler and its version, the flags, `Deno.build.target` and every source and header, so
 * a changed file or compiler means a new build and never a stale one. The build writes a
 * temporary file and renames it into place, so processes racing to build all end up with a
 * complete library; a small pointer file records the last build of the same sources for processes
 * that may not run the compiler (no `--allow-run`). Used for the one kernel library
 * (`ffi/library.ts`: dequantizers and inference kernels).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeTextFileAtomicSync } from "../src/common/atomic_write.ts";
import { readEnv } from "./env.ts";
import { describeError } from "./errors.ts";

/**
 * Flags every bitload C library is built with. `-ffp-contract=off` keeps the compiler from fusing
 * a multiply and an add, which would change roundings and break bit-exactness with ggml.
 *
 * @example
 * ```ts
 * import { C_LIBRARY_CFLAGS } from "./c_build.ts";
 * C_LIBRARY_CFLAGS.includes("-ffp-contract=off"); // true
 * ```
 */
export const C_LIBRARY_CFLAGS = [
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

/** What to build. */
export interface CLibrarySpec {
  /** File name stem: the library is `lib<name>-<key>.so`. */
  name: string;
  /** What it is, for error messages ("the kernels"). */
  what: string;
  /** Directory of the sources (a `file:` URL next to the module). */
  dir: URL;
  /** Sources, compiled in this order by one command. */
  sources: readonly string[];
  /** Headers that take part in the cache key. */
  headers: readonly string[];
  /** Compiler flags (`-shared` etc. included). */
  cflags: readonly string[];
}

/**
 * The directory built libraries are cached in (`$BITLOAD_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/bitload`, else `~/.cache/bitload`), or `null` when none is visible.
 *
 * @example
 * ```ts
 * import { nativeCacheDir } from "./c_build.ts";
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

/** The C compiler: `$CC`, else `cc`. */
export function compilerCommand(): string {
  return readEnv("CC") || "cc";
}

/** First line of `cc --version`; throws when the compiler cannot run. */
export function compilerVersion(cc: string): string {
  const out = new Deno.Command(cc, { args: ["--version"], stdout: "piped", stderr: "piped" })
    .outputSync();
  if (!out.success) throw new Error(`"${cc} --version" exited with code ${out.code}`);
  return new TextDecoder().decode(out.stdout).split("\n")[0].trim();
}

/** Formats an error for a one-line reason (the one copy lives in `./errors.ts`). */
export { describeError };

/** Whether a path exists (other errors, e.g. permissions, are rethrown). */
export function fileExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** The sources' directory as a path; throws when they are not on the local file system. */
export function sourceDir(spec: CLibrarySpec): string {
  if (spec.dir.protocol !== "file:") {
    throw new Error(`${spec.what} sources are not on the local file system (${spec.dir.href})`);
  }
  return fileURLToPath(spec.dir);
}

/** sha256 of flags, target and every file: what the library is built from, minus the compiler. */
function sourceKey(spec: CLibrarySpec): string {
  const dir = sourceDir(spec);
  const hash = createHash("sha256");
  hash.update(`${spec.cflags.join(" ")}\0${Deno.build.target}\0`);
  for (const name of [...spec.headers, ...spec.sources]) {
    hash.update(`${name}\0`);
    hash.update(Deno.readFileSync(join(dir, name)));
    hash.update("\0");
  }
  return hash.digest("hex");
}

/** Where the library built by `cc` (version `version`) from these sources lives in the cache. */
export function cachedLibraryPath(
  spec: CLibrarySpec,
  cacheDir: string,
  cc: string,
  version: string,
): string {
  const key = createHash("sha256").update(`${cc}\0${version}\0${sourceKey(spec)}`).digest("hex");
  const os = Deno.build.os;
  const ext = os === "darwin" ? "dylib" : os === "windows" ? "dll" : "so";
  return join(cacheDir, `lib${spec.name}-${key.slice(0, 24)}.${ext}`);
}

function latestPointer(spec: CLibrarySpec, cacheDir: string): string {
  return join(cacheDir, `latest-${spec.name}-${sourceKey(spec).slice(0, 24)}.txt`);
}

/** Records `libraryPath` as the last build of these sources (an optimisation; never throws). */
export function recordLatestBuild(spec: CLibrarySpec, cacheDir: string, libraryPath: string): void {
  try {
    writeTextFileAtomicSync(latestPointer(spec, cacheDir), libraryPath);
  } catch { /* only an optimisation */ }
}

/** The cached library last recorded for these sources, or `null`. */
export function latestBuild(spec: CLibrarySpec, cacheDir: string): string | null {
  try {
    const path = Deno.readTextFileSync(latestPointer(spec, cacheDir)).trim();
    return fileExists(path) ? path : null;
  } catch {
    return null;
  }
}

/**
 * Builds the library into the cache (unless an up-to-date build is there, or `force`) and returns
 * its path. Throws with the compiler's output when the build fails.
 *
 * @example
 * ```ts ignore
 * import { buildCLibrary } from "./c_build.ts";
 * const path = buildCLibrary({
 *   name: "demo", what: "the demo", dir: new URL("./c/", import.meta.url),
 *   sources: ["demo.c"], headers: [], cflags: ["-O2", "-shared", "-fPIC"],
 * });
 * ```
 */
export function buildCLibrary(spec: CLibrarySpec, options: { force?: boolean } = {}): string {
  const dir = sourceDir(spec);
  const cacheDir = nativeCacheDir();
  if (cacheDir === null) throw new Error("no cache directory: set BITLOAD_CACHE_DIR or HOME");
  const cc = compilerCommand();
  const target = cachedLibraryPath(spec, cacheDir, cc, compilerVersion(cc));
  if (!options.force && fileExists(target)) {
    recordLatestBuild(spec, cacheDir, target);
    return target;
  }
  Deno.mkdirSync(cacheDir, { recursive: true });
  const temp = `${target}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const args = [...spec.cflags, "-o", temp, ...spec.sources.map((name) => join(dir, name)), "-lm"];
  const out = new Deno.Command(cc, { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) {
    try {
      Deno.removeSync(temp);
    } catch { /* nothing was written */ }
    const log = new TextDecoder().decode(out.stderr).trim().split("\n").slice(0, 20).join("\n");
    throw new Error(`"${cc}" failed to build ${spec.what} (exit code ${out.code}):\n${log}`);
  }
  Deno.renameSync(temp, target);
  recordLatestBuild(spec, cacheDir, target);
  return target;
}

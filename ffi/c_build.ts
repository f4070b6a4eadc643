/**
 * Building a native library on first use into a content-addressed cache, for every compiled
 * library of bitload (the CPU kernels with `cc`, the CUDA kernels with `nvcc`): the key is the
 * sha256 of the compiler and its version, the flags, `Deno.build.target` (the CPU architecture) and
 * every source and header, so a changed file or compiler means a new build and never a stale one.
 *
 * - The sources are located relative to the module that names them (`import.meta.url`) and read
 *   once per process ({@link prefetchSources}: from disk for `file:`, with `fetch` for `http:` and
 *   `https:`), and hashed then with WebCrypto, so remote and local imports work alike; sources fetched over the network are written next to the cache for the
 *   compiler. A spec nobody prefetched (the CUDA library) is read from disk.
 * - One process builds, the others wait: a lock file (`<library>.lock`, created exclusively) is
 *   held during the build; a process that finds it waits for the library to appear and reuses it
 *   (a lock older than {@link STALE_LOCK_MS} is a crashed build and is taken over).
 * - The build writes a temporary file and renames it into place; a small pointer file records the
 *   last build of the same sources for processes that may not run the compiler (no `--allow-run`).
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeTextFileAtomicSync } from "../src/common/atomic_write.ts";
import { readEnv } from "./env.ts";
import { describeError, NativeKernelError } from "./errors.ts";
import { sha256Hex } from "./sha256.ts";

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

/**
 * A lock older than this is left by a build that died (e.g. Ctrl-C during the first build): the
 * next process takes it over. A full build takes 15–25 s on two idle cores and was measured at up to
 * 90 s on two cores shared by seven busy processes; three minutes leaves room for that, and a
 * takeover of a build that was merely slow only costs a second compile (each writes its own
 * temporary file and renames it into place), while a user who interrupted the first build waits at
 * most this long.
 */
export const STALE_LOCK_MS = 3 * 60_000;

/** How long a process waits for another one's build before giving up. */
export const BUILD_WAIT_MS = 15 * 60_000;

/** A compiler: the command (overridable by an environment variable) and the trailing arguments. */
export interface Compiler {
  /** Environment variable that names the command (`CC`, `NVCC`). */
  env: string;
  /** The command when the variable is unset. */
  command: string;
  /** Arguments after the sources (libraries such as `-lm`). */
  libs: readonly string[];
}

/** The C compiler: `$CC`, else `cc`, linking libm. */
export const CC: Compiler = { env: "CC", command: "cc", libs: ["-lm"] };

/** What to build. */
export interface CLibrarySpec {
  /** File name stem: the library is `lib<name>-<key>.so`. */
  name: string;
  /** What it is, for messages ("the kernels"). */
  what: string;
  /** Directory of the sources, next to the module (`file:`, `http:` or `https:`). */
  dir: URL;
  /** Sources relative to `dir`, compiled in this order by one command. */
  sources: readonly string[];
  /** Headers relative to `dir` that take part in the cache key. */
  headers: readonly string[];
  /** Compiler flags (`-shared` etc. included). */
  cflags: readonly string[];
  /** The compiler (default {@link CC}). */
  compiler?: Compiler;
  /**
   * A line printed to stderr once, by the process that builds, while it builds (when stderr is a
   * terminal, or with `BITLOAD_BUILD_NOTICE=1`).
   */
  announce?: () => string;
  /**
   * Names this library was built under before (`lib<name>-<key>.so` files of a library that was
   * merged or renamed): {@link pruneBuildCache} removes those builds too.
   */
  retiredNames?: readonly string[];
}

/** Options of {@link buildCLibrary}. */
export interface BuildOptions {
  /** Build even when a cached library with the same key exists. */
  force?: boolean;
  /** Write the library here instead of the cache (no lock, no pointer). */
  output?: string;
  /** Replaces the spec's flags (e.g. fewer CUDA architectures for a quick compile check). */
  cflags?: readonly string[];
}

/** What {@link buildCLibrary} produced. */
export interface BuildResult {
  /** Path of the library. */
  path: string;
  /** Whether this process ran the compiler (false: a cached build, or another process's). */
  built: boolean;
  /** Milliseconds the compiler ran (0 when it did not). */
  ms: number;
  /** The compiler command line, for logs. */
  command: string[];
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

/**
 * The command of a compiler: its environment variable, else its default.
 *
 * @example
 * ```ts
 * import { CC, compilerCommand } from "./c_build.ts";
 * compilerCommand(CC); // "cc" unless $CC is set
 * ```
 */
export function compilerCommand(compiler: Compiler = CC): string {
  return readEnv(compiler.env) || compiler.command;
}

const versions = new Map<string, string>();

/**
 * `<command> --version` (its non-empty lines joined with " | "), asked once per process; throws
 * when the compiler cannot run. The answer is also kept in the cache directory
 * (`compiler-<key>.txt`), keyed by the compiler's resolved path, size, mtime and inode: running
 * the compiler driver took 4–9 ms (up to 40 ms on a busy machine) of every command that opens the
 * kernels. Another binary, or the same one upgraded, is another key. The stored answer is used
 * only where the compiler may run (`--allow-run`), so that a process that may not run it still
 * fails here, as it did.
 *
 * @example
 * ```ts ignore
 * import { compilerVersion } from "./c_build.ts";
 * compilerVersion("cc"); // "cc (Debian 12.2.0-14) 12.2.0 | Copyright …"
 * ```
 */
export function compilerVersion(command: string): string {
  const known = versions.get(command);
  if (known !== undefined) return known;
  const stored = storedVersionPath(command);
  if (stored !== null) {
    try {
      const version = Deno.readTextFileSync(stored);
      if (version !== "") {
        versions.set(command, version);
        return version;
      }
    } catch { /* not stored yet */ }
  }
  const out = new Deno.Command(command, { args: ["--version"], stdout: "piped", stderr: "piped" })
    .outputSync();
  if (!out.success) {
    throw new NativeKernelError(
      "BUILD_FAILED",
      `"${command} --version" exited with code ${out.code}`,
    );
  }
  const text = new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim());
  const version = text.filter((line) => line !== "").join(" | ");
  versions.set(command, version);
  if (stored !== null) {
    try {
      Deno.mkdirSync(dirname(stored), { recursive: true });
      writeTextFileAtomicSync(stored, version);
    } catch { /* only an optimisation */ }
  }
  return version;
}

/**
 * Where `compilerVersion` keeps the answer for this binary, or `null` (not allowed to run it, not
 * found on `PATH`, no cache directory): `compiler-<sha256 of command, resolved path, size, mtime,
 * inode>.txt` in the cache directory.
 */
function storedVersionPath(command: string): string | null {
  try {
    if (Deno.permissions.querySync({ name: "run", command }).state !== "granted") return null;
    const cacheDir = nativeCacheDir();
    const binary = findExecutable(command);
    if (cacheDir === null || binary === null) return null;
    const real = Deno.realPathSync(binary);
    const info = Deno.statSync(real);
    const id = `${command}\0${real}\0${info.size}\0${info.mtime?.getTime()}\0${info.ino}`;
    return join(cacheDir, `compiler-${sha256Hex(id).slice(0, 24)}.txt`);
  } catch {
    return null;
  }
}

/** The file `command` runs (a path, or the first executable of that name on `PATH`), or `null`. */
function findExecutable(command: string): string | null {
  const executable = (path: string) => {
    try {
      const info = Deno.statSync(path);
      return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
    } catch {
      return false;
    }
  };
  if (command.includes("/")) return executable(command) ? command : null;
  for (const dir of (readEnv("PATH") ?? "").split(":")) {
    const path = join(dir || ".", command);
    if (executable(path)) return path;
  }
  return null;
}

/** Formats an error for a one-line reason (the one copy lives in `./errors.ts`). */
export { describeError };

/**
 * Whether a path exists (other errors, e.g. permissions, are rethrown).
 *
 * @example
 * ```ts
 * import { fileExists } from "./c_build.ts";
 * fileExists("/nonexistent"); // false
 * ```
 */
export function fileExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

let cpu: string | undefined;

/**
 * The CPU as the build notice names it: the architecture and the best SIMD level the kernels can
 * use (`"x86_64, avx512"`, `"x86_64, avx2"`, `"aarch64, neon"`), read from `/proc/cpuinfo` on Linux
 * (just the architecture where it cannot be read: Deno wants `--allow-all` for it).
 *
 * @example
 * ```ts
 * import { cpuDescription } from "./c_build.ts";
 * console.log(cpuDescription()); // e.g. "x86_64, avx512"
 * ```
 */
export function cpuDescription(): string {
  if (cpu !== undefined) return cpu;
  const arch = Deno.build.arch;
  let level = "";
  if (arch === "aarch64") level = "neon";
  else {
    try {
      const info = Deno.readTextFileSync("/proc/cpuinfo");
      const flags = new Set((/^flags\s*:(.*)$/m.exec(info)?.[1] ?? "").trim().split(/\s+/));
      const avx2 = flags.has("avx2") && flags.has("fma") && flags.has("f16c");
      const avx512 = ["avx512f", "avx512bw", "avx512vl", "avx512_vnni"].every((f) => flags.has(f));
      level = avx2 && avx512 ? "avx512" : avx2 ? "avx2" : flags.size > 1 ? "scalar" : "";
    } catch { /* no /proc, or no read permission: the architecture alone */ }
  }
  cpu = level ? `${arch}, ${level}` : arch;
  return cpu;
}

/** Sources read ahead of the build ({@link prefetchSources}), by directory URL. */
const fetched = new Map<string, Map<string, Uint8Array>>();

/** Source keys computed ahead with WebCrypto ({@link prefetchSources}), by {@link sourceKeyId}. */
const sourceKeys = new Map<string, string>();

function isLocal(spec: CLibrarySpec): boolean {
  return spec.dir.protocol === "file:";
}

/**
 * Reads a spec's sources and headers (`file:` from disk, `http:`/`https:` with `fetch`) and
 * hashes them (WebCrypto), so that the synchronous build and open find both ready: the key costs
 * no hashing at start-up, and no `node:crypto` import. Rejects when a file cannot be read.
 *
 * @example
 * ```ts ignore
 * import { prefetchSources } from "./c_build.ts";
 * await prefetchSources(KERNEL_LIBRARY);
 * ```
 */
export async function prefetchSources(spec: CLibrarySpec): Promise<void> {
  if (fetched.has(spec.dir.href)) return;
  const names = [...spec.headers, ...spec.sources];
  // local files synchronously: 26 files in ~1 ms, against ~7 ms through fetch()
  const files = isLocal(spec)
    ? names.map((name) => [name, Deno.readFileSync(new URL(name, spec.dir))] as const)
    : await Promise.all(names.map(async (name) => {
      const url = new URL(name, spec.dir);
      const response = await fetch(url);
      if (!response.ok) {
        await response.body?.cancel();
        throw new NativeKernelError(
          "BUILD_FAILED",
          `cannot fetch ${url.href}: HTTP ${response.status}`,
        );
      }
      return [name, new Uint8Array(await response.arrayBuffer())] as const;
    }));
  const sources = new Map(files);
  fetched.set(spec.dir.href, sources);
  const digest = await crypto.subtle.digest("SHA-256", sourceKeyInput(spec.cflags, sources));
  sourceKeys.set(sourceKeyId(spec, spec.cflags), new Uint8Array(digest).toHex());
}

/** Every header and source of the spec, by name. */
function readSources(spec: CLibrarySpec): Map<string, Uint8Array> {
  const prefetched = fetched.get(spec.dir.href);
  if (prefetched !== undefined) return prefetched;
  if (!isLocal(spec)) {
    throw new NativeKernelError(
      "BUILD_FAILED",
      `${spec.what} sources at ${spec.dir.href} could not be fetched`,
    );
  }
  const files = new Map<string, Uint8Array>();
  for (const name of [...spec.headers, ...spec.sources]) {
    files.set(name, Deno.readFileSync(new URL(name, spec.dir)));
  }
  return files;
}

/**
 * sha256 of flags, target and every file: what the library is built from, minus the compiler. The
 * target names the CPU architecture; the CPU's features are not part of the key, because the library
 * dispatches on them at run time (one build serves every CPU of an architecture) and because reading
 * them (`/proc/cpuinfo`) needs `--allow-all`, which would give one machine two keys. Computed ahead
 * by {@link prefetchSources} when it ran; else here (plain TypeScript: the CUDA library).
 */
function sourceKey(spec: CLibrarySpec, cflags: readonly string[] = spec.cflags): string {
  const known = sourceKeys.get(sourceKeyId(spec, cflags));
  if (known !== undefined) return known;
  return sha256Hex(sourceKeyInput(cflags, readSources(spec)));
}

/** What a source key is computed from, so that a stored key is found again. */
function sourceKeyId(spec: CLibrarySpec, cflags: readonly string[]): string {
  return `${spec.dir.href}\0${[...spec.headers, ...spec.sources].join(",")}\0${cflags.join(" ")}`;
}

/** The bytes a source key hashes: flags, target, then each file as `name \0 bytes \0`. */
function sourceKeyInput(
  cflags: readonly string[],
  sources: ReadonlyMap<string, Uint8Array>,
): Uint8Array<ArrayBuffer> {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [encoder.encode(`${cflags.join(" ")}\0${Deno.build.target}\0`)];
  for (const [name, bytes] of sources) parts.push(encoder.encode(`${name}\0`), bytes, ZERO);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const ZERO = new Uint8Array(1);

function libraryFileName(name: string, key: string): string {
  const os = Deno.build.os;
  const ext = os === "darwin" ? "dylib" : os === "windows" ? "dll" : "so";
  return `lib${name}-${key.slice(0, 24)}.${ext}`;
}

/**
 * Where the library built by `command` (version `version`) from these sources lives in the cache.
 *
 * @example
 * ```ts ignore
 * import { cachedLibraryPath } from "./c_build.ts";
 * cachedLibraryPath(KERNEL_LIBRARY, "/tmp/cache", "cc", "gcc 12"); // "/tmp/cache/libbitload-….so"
 * ```
 */
export function cachedLibraryPath(
  spec: CLibrarySpec,
  cacheDir: string,
  command: string,
  version: string,
): string {
  const key = sha256Hex(`${command}\0${version}\0${sourceKey(spec)}`);
  return join(cacheDir, libraryFileName(spec.name, key));
}

function latestPointer(spec: CLibrarySpec, cacheDir: string): string {
  return join(cacheDir, `latest-${spec.name}-${sourceKey(spec).slice(0, 24)}.txt`);
}

/**
 * Records `libraryPath` as the last build of these sources (an optimisation; never throws). The
 * pointer's mtime is also the build's last use, which {@link pruneBuildCache} ranks builds by: a
 * pointer that already names the path only has its times set (no directory scan, no write and
 * rename on every start).
 *
 * @example
 * ```ts ignore
 * import { recordLatestBuild } from "./c_build.ts";
 * recordLatestBuild(KERNEL_LIBRARY, "/tmp/cache", "/tmp/cache/libbitload-….so");
 * ```
 */
export function recordLatestBuild(spec: CLibrarySpec, cacheDir: string, libraryPath: string): void {
  const pointer = latestPointer(spec, cacheDir);
  try {
    if (Deno.lstatSync(pointer).isFile && Deno.readTextFileSync(pointer) === libraryPath) {
      const now = new Date();
      Deno.utimeSync(pointer, now, now);
      return;
    }
  } catch { /* no pointer yet (or an unreadable one): write it */ }
  try {
    writeTextFileAtomicSync(pointer, libraryPath);
  } catch { /* only an optimisation */ }
}

/**
 * The cached library last recorded for these sources, or `null`.
 *
 * @example
 * ```ts ignore
 * import { latestBuild } from "./c_build.ts";
 * latestBuild(KERNEL_LIBRARY, "/tmp/cache"); // null before the first build
 * ```
 */
export function latestBuild(spec: CLibrarySpec, cacheDir: string): string | null {
  try {
    const path = Deno.readTextFileSync(latestPointer(spec, cacheDir)).trim();
    return fileExists(path) ? path : null;
  } catch {
    return null;
  }
}

/**
 * Whether the build line goes to stderr: on a terminal, where someone waits for it, or when
 * `BITLOAD_BUILD_NOTICE=1` asks for it (tests); a pipe or a log gets no line it did not ask for.
 */
function announceBuilds(): boolean {
  if (readEnv("BITLOAD_BUILD_NOTICE") === "1") return true;
  try {
    return Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

/** Sleeps the calling thread (the loader is synchronous). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Takes the build lock: true when this process now owns it. */
function tryLock(lock: string): boolean {
  try {
    Deno.writeTextFileSync(lock, `${Deno.pid}\n`, { createNew: true });
    return true;
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  try {
    const age = Date.now() - (Deno.statSync(lock).mtime?.getTime() ?? Date.now());
    if (age > STALE_LOCK_MS) Deno.removeSync(lock); // a build that died: retry next round
  } catch { /* released meanwhile */ }
  return false;
}

/** The directory the compiler reads: the sources' own for `file:`, else a copy in the cache. */
function stagedSourceDir(spec: CLibrarySpec, cacheDir: string): string {
  if (isLocal(spec)) return fileURLToPath(spec.dir);
  const dir = join(cacheDir, `src-${spec.name}-${sourceKey(spec).slice(0, 24)}`);
  for (const [name, bytes] of readSources(spec)) {
    const path = join(dir, name);
    Deno.mkdirSync(dirname(path), { recursive: true });
    Deno.writeFileSync(path, bytes);
  }
  return dir;
}

function compile(
  spec: CLibrarySpec,
  command: string,
  cflags: readonly string[],
  sourceDir: string,
  output: string,
): { ms: number; args: string[] } {
  const compiler = spec.compiler ?? CC;
  const temp = `${output}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const args = [
    ...cflags,
    "-o",
    temp,
    ...spec.sources.map((n) => join(sourceDir, n)),
    ...compiler.libs,
  ];
  const started = performance.now();
  let out: Deno.CommandOutput;
  try {
    out = new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).outputSync();
  } catch (error) {
    throw new NativeKernelError(
      "BUILD_FAILED",
      `cannot run "${command}": ${describeError(error)}`,
      { cause: error },
    );
  }
  const ms = Math.round(performance.now() - started);
  if (!out.success) {
    try {
      Deno.removeSync(temp);
    } catch { /* nothing was written */ }
    const log = new TextDecoder().decode(out.stderr).trim().split("\n").slice(0, 20).join("\n");
    throw new NativeKernelError(
      "BUILD_FAILED",
      `"${command}" failed to build ${spec.what} (exit code ${out.code}):\n${log}`,
    );
  }
  Deno.renameSync(temp, output);
  args[args.indexOf(temp)] = output;
  return { ms, args };
}

/**
 * Builds the library into the cache (unless an up-to-date build is there, or `force`) and says
 * where it is. When another process is building the same library, waits for it and reuses its
 * build. Throws with the compiler's output when the build fails.
 *
 * @example
 * ```ts ignore
 * import { buildCLibrary } from "./c_build.ts";
 * const { path } = buildCLibrary({
 *   name: "demo", what: "the demo", dir: new URL("./c/", import.meta.url),
 *   sources: ["demo.c"], headers: [], cflags: ["-O2", "-shared", "-fPIC"],
 * });
 * ```
 */
export function buildCLibrary(spec: CLibrarySpec, options: BuildOptions = {}): BuildResult {
  const command = compilerCommand(spec.compiler);
  const cflags = options.cflags ?? spec.cflags;
  if (options.output !== undefined) {
    const cacheDir = nativeCacheDir() ?? Deno.makeTempDirSync();
    const { ms, args } = compile(
      spec,
      command,
      cflags,
      stagedSourceDir(spec, cacheDir),
      options.output,
    );
    return { path: options.output, built: true, ms, command: [command, ...args] };
  }
  const cacheDir = nativeCacheDir();
  if (cacheDir === null) {
    throw new NativeKernelError(
      "BUILD_FAILED",
      "no cache directory: set BITLOAD_CACHE_DIR or HOME",
    );
  }
  const target = cachedLibraryPath(spec, cacheDir, command, compilerVersion(command));
  const cached = { path: target, built: false, ms: 0, command: [command] };
  if (!options.force && fileExists(target)) {
    recordLatestBuild(spec, cacheDir, target);
    return cached;
  }
  Deno.mkdirSync(cacheDir, { recursive: true });
  const lock = `${target}.lock`;
  const deadline = Date.now() + BUILD_WAIT_MS;
  while (!tryLock(lock)) {
    if (fileExists(target) && !options.force) return cached; // another process built it
    if (Date.now() > deadline) {
      throw new NativeKernelError("BUILD_FAILED", `timed out waiting for the build lock ${lock}`);
    }
    sleepSync(100);
  }
  try {
    if (!options.force && fileExists(target)) return cached;
    if (spec.announce && announceBuilds()) console.error(spec.announce());
    const { ms, args } = compile(spec, command, cflags, stagedSourceDir(spec, cacheDir), target);
    recordLatestBuild(spec, cacheDir, target);
    pruneBuildCache(spec, cacheDir, target); // never throws: a full cache must not fail a build
    return { path: target, built: true, ms, command: [command, ...args] };
  } finally {
    try {
      Deno.removeSync(lock);
    } catch { /* already gone */ }
  }
}

/**
 * Builds of a library kept by {@link pruneBuildCache} besides the current one: the most recently
 * used ones, for other checkouts (another branch, an older install) that may still open them. Each
 * kernel build is ~0.4 MB; a day of development left ~100 of them.
 */
export const KEEP_RECENT_BUILDS = 4;

/**
 * A build used (built, or opened from the cache: every open rewrites its `latest-*.txt` pointer)
 * this recently is never pruned, however many others there are: some process is likely about to
 * open it. (A process that has it open is safe anyway: on Linux a removed file stays valid for
 * whoever has it mapped.)
 */
export const PRUNE_GRACE_MS = 15 * 60_000;

/** What {@link pruneBuildCache} did. */
export interface PruneResult {
  /** Paths removed: old builds, their pointers, temporary files of crashed builds. */
  removed: string[];
  /** Builds of the library that stay (the current one first). */
  kept: string[];
}

/** Options of {@link pruneBuildCache} (tests shorten them). */
export interface PruneOptions {
  /** Builds kept besides `current` (default {@link KEEP_RECENT_BUILDS}). */
  keep?: number;
  /** Builds used within this many ms stay (default {@link PRUNE_GRACE_MS}). */
  graceMs?: number;
  /** The time to judge ages against (default now). */
  now?: number;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Removes old builds of `spec` from `cacheDir`: every `lib<name>-<key>.<ext>` other than `current`,
 * the {@link KEEP_RECENT_BUILDS} most recently used and any used within {@link PRUNE_GRACE_MS}
 * (also of the spec's `retiredNames`), the `latest-<name>-<key>.txt` pointers that name a removed
 * or missing build, and temporary files of builds that died (`….<ext>.PID.RAND.tmp` older than
 * {@link STALE_LOCK_MS}). Only plain files whose names match these patterns are touched (never a
 * symbolic link, a directory, a lock, or another file of the cache such as the tuner's
 * `kernel-choices.json`); a build in progress writes a temporary file and renames it into place,
 * so it is never seen half-written. Never throws: a file that cannot be read or removed is left.
 * Run after each build (the only time the cache grows).
 *
 * @example
 * ```ts ignore
 * import { pruneBuildCache } from "./c_build.ts";
 * const { removed } = pruneBuildCache(KERNEL_LIBRARY, "/home/me/.cache/bitload", currentPath);
 * ```
 */
export function pruneBuildCache(
  spec: CLibrarySpec,
  cacheDir: string,
  current: string,
  options: PruneOptions = {},
): PruneResult {
  const keep = options.keep ?? KEEP_RECENT_BUILDS;
  const graceMs = options.graceMs ?? PRUNE_GRACE_MS;
  const now = options.now ?? Date.now();
  const result: PruneResult = { removed: [], kept: [] };
  try {
    const names = [spec.name, ...(spec.retiredNames ?? [])].map(escapeRegExp).join("|");
    const library = new RegExp(`^lib(${names})-[0-9a-f]{24}\\.(so|dylib|dll)$`);
    const temporary = new RegExp(
      `^lib(${names})-[0-9a-f]{24}\\.(so|dylib|dll)\\.\\d+\\.[0-9a-f]{8}\\.tmp$`,
    );
    const pointer = new RegExp(`^latest-(${names})-[0-9a-f]{24}\\.txt$`);
    /** Last use of each build (by file name): its mtime, or a newer pointer naming it. */
    const builds = new Map<string, { used: number; retired: boolean }>();
    const pointers: { path: string; names: string | null }[] = [];
    const pointerUse = new Map<string, number>();
    for (const entry of Deno.readDirSync(cacheDir)) {
      if (!entry.isFile) continue; // symlinks and directories are never touched
      const path = join(cacheDir, entry.name);
      const mtime = plainFileMtime(path);
      if (mtime === null) continue;
      const lib = library.exec(entry.name);
      if (lib) {
        builds.set(entry.name, { used: mtime, retired: lib[1] !== spec.name });
      } else if (pointer.test(entry.name)) {
        pointers.push({ path, names: pointedBuild(path, cacheDir) });
        const named = pointers[pointers.length - 1].names;
        if (named !== null) pointerUse.set(named, Math.max(pointerUse.get(named) ?? 0, mtime));
      } else if (temporary.test(entry.name) && now - mtime > STALE_LOCK_MS) {
        if (removeQuietly(path)) result.removed.push(path);
      }
    }
    for (const [name, build] of builds) {
      build.used = Math.max(build.used, pointerUse.get(name) ?? 0);
    }
    const currentName = current.slice(current.lastIndexOf("/") + 1);
    const ranked = [...builds].filter(([name, b]) => name !== currentName && !b.retired)
      .sort((a, b) => b[1].used - a[1].used);
    const kept = new Set([currentName, ...ranked.slice(0, keep).map(([name]) => name)]);
    for (const [name, build] of builds) {
      if (kept.has(name) || now - build.used < graceMs) {
        kept.add(name);
        continue;
      }
      if (removeQuietly(join(cacheDir, name))) {
        result.removed.push(join(cacheDir, name));
        builds.delete(name);
      }
    }
    for (const p of pointers) {
      // a pointer to a build that is gone only sends a process without a compiler to a dead end
      // (one that names something elsewhere, or cannot be read, is left alone)
      if (p.names !== null && !builds.has(p.names)) {
        if (removeQuietly(p.path)) result.removed.push(p.path);
      }
    }
    result.kept = [...kept].filter((name) => builds.has(name)).map((name) => join(cacheDir, name));
  } catch { /* an unreadable cache directory: nothing pruned */ }
  return result;
}

/** The mtime of a plain file (`lstat`: a symbolic link is not one), or `null`. */
function plainFileMtime(path: string): number | null {
  try {
    const info = Deno.lstatSync(path);
    return info.isFile ? (info.mtime?.getTime() ?? 0) : null;
  } catch {
    return null;
  }
}

/** The build a `latest-*.txt` pointer names, as a file name in `cacheDir`, or `null`. */
function pointedBuild(path: string, cacheDir: string): string | null {
  try {
    const target = Deno.readTextFileSync(path).trim();
    const slash = target.lastIndexOf("/");
    return slash >= 0 && target.slice(0, slash) === cacheDir.replace(/\/+$/, "")
      ? target.slice(slash + 1)
      : null;
  } catch {
    return null;
  }
}

function removeQuietly(path: string): boolean {
  try {
    Deno.removeSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The one way bitload opens a native library (the CPU kernels, the CUDA kernels, the ggml
 * reference): a chain that stops at the first step that applies, and a result that is a library
 * or the one reason there is none. Never throws.
 *
 * 1. disabled by an environment variable (`BITLOAD_NATIVE=0`);
 * 2. an explicit path: the caller's, else an environment variable (`BITLOAD_NATIVE_LIB`,
 *    `BITLOAD_CUDA_LIB`, `BITLOAD_GGML_LIB`);
 * 3. the cache: the build of the current sources with this compiler (`ffi/c_build.ts`), or, when
 *    the compiler cannot run, the last build of the same sources;
 * 4. a build into the cache (one process builds, the others wait for it);
 * 5. otherwise the reason, and the caller falls back (pure TypeScript, the CPU, "not run").
 *
 * Every opened library goes through the spec's probe (an ABI version check); a cached library
 * that fails it is rebuilt once.
 *
 * @module
 */

import {
  buildCLibrary,
  cachedLibraryPath,
  type CLibrarySpec,
  compilerCommand,
  compilerVersion,
  fileExists,
  latestBuild,
  nativeCacheDir,
  recordLatestBuild,
} from "./c_build.ts";
import { readEnv } from "./env.ts";
import { describeError, NativeKernelError } from "./errors.ts";

/** Where an opened library came from. */
export type LibraryOrigin = "env" | "path" | "cache" | "built";

/** A library to open. */
export interface LibraryLoadSpec<S extends Deno.ForeignLibraryInterface> {
  /** What it is, for reasons ("the kernels"). */
  what: string;
  /** The symbol table. */
  symbols: S;
  /** `[variable, value]` that disables the library (`["BITLOAD_NATIVE", "0"]`). */
  disabledBy?: readonly [string, string];
  /** The environment variable naming a prebuilt library. */
  env?: string;
  /** An explicit path from the caller (before the environment variable). */
  path?: string;
  /** How to build it into the cache (no build step without). */
  build?: CLibrarySpec;
  /**
   * Opens the file (default `Deno.dlopen(path, symbols)`); the kernel library binds its functions
   * on first use (`./lazy_library.ts`).
   */
  open?: (path: string) => Deno.DynamicLibrary<S>;
  /** Checks an opened library (the ABI version); throws to refuse it. */
  probe?: (library: Deno.DynamicLibrary<S>, path: string) => void;
  /** The reason when no step applies (no path, no build spec). */
  missing?: string;
  /** The reason when the compiler cannot run and nothing is cached (default: the error). */
  noCompiler?: string;
  /**
   * Open only a build already in the cache: never compile (not even to replace a damaged file).
   * For an optional speed-up that is not worth a first build (`openCachedNativeLibrary`).
   */
  cacheOnly?: boolean;
}

/** A library, or the one reason there is none. */
export type OpenLibraryResult<S extends Deno.ForeignLibraryInterface> =
  | { ok: true; library: Deno.DynamicLibrary<S>; path: string; origin: LibraryOrigin }
  | { ok: false; reason: string };

/** Whether FFI is granted for every path (a narrower grant still opens an explicit path). */
function ffiGranted(): boolean {
  try {
    return Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}

function openAndProbe<S extends Deno.ForeignLibraryInterface>(
  spec: LibraryLoadSpec<S>,
  path: string,
): Deno.DynamicLibrary<S> {
  const library = spec.open ? spec.open(path) : Deno.dlopen(path, spec.symbols);
  try {
    spec.probe?.(library, path);
  } catch (error) {
    library.close();
    throw error;
  }
  return library;
}

/**
 * An ABI probe: `abi()` of the opened library must return `expected`.
 *
 * @example
 * ```ts ignore
 * import { abiProbe } from "./loader.ts";
 * const probe = abiProbe((lib) => lib.symbols.bl_abi_version(), 6);
 * ```
 */
export function abiProbe<S extends Deno.ForeignLibraryInterface>(
  abi: (library: Deno.DynamicLibrary<S>) => number,
  expected: number,
): (library: Deno.DynamicLibrary<S>, path: string) => void {
  return (library, path) => {
    const version = abi(library);
    if (version !== expected) {
      throw new NativeKernelError(
        "ABI_MISMATCH",
        `ABI version mismatch in "${path}": the library has ${version}, bitload expects ${expected}`,
      );
    }
  };
}

/**
 * Opens a library through the chain above. Never throws.
 *
 * @example
 * ```ts ignore
 * import { openLibrary } from "./loader.ts";
 * const opened = openLibrary({ what: "libm", symbols: { cos: { parameters: ["f64"], result: "f64" } }, path: "libm.so.6" });
 * console.log(opened.ok ? opened.library.symbols.cos(0) : opened.reason); // 1
 * ```
 */
export function openLibrary<S extends Deno.ForeignLibraryInterface>(
  spec: LibraryLoadSpec<S>,
): OpenLibraryResult<S> {
  if (spec.disabledBy && readEnv(spec.disabledBy[0]) === spec.disabledBy[1]) {
    return { ok: false, reason: `disabled by ${spec.disabledBy[0]}=${spec.disabledBy[1]}` };
  }
  const explicit = spec.path ?? (spec.env ? readEnv(spec.env) : undefined);
  if (explicit) {
    const origin: LibraryOrigin = spec.path !== undefined ? "path" : "env";
    try {
      return { ok: true, library: openAndProbe(spec, explicit), path: explicit, origin };
    } catch (error) {
      const label = origin === "env" ? `${spec.env}="${explicit}"` : `"${explicit}"`;
      return { ok: false, reason: `${label}: ${describeError(error)}` };
    }
  }
  const build = spec.build;
  if (build === undefined) return { ok: false, reason: spec.missing ?? `${spec.what} not found` };
  if (!ffiGranted()) {
    // nothing built could be opened: say so instead of compiling for nothing
    return { ok: false, reason: "NotCapable: no FFI permission (run with --allow-ffi)" };
  }
  let path: string;
  let origin: LibraryOrigin = "cache";
  try {
    const cacheDir = nativeCacheDir();
    if (cacheDir === null) return { ok: false, reason: "no cache directory (HOME is not set)" };
    const command = compilerCommand(build.compiler);
    let version: string;
    try {
      version = compilerVersion(command);
    } catch (error) {
      // No compiler (or no --allow-run): the last build of these sources, if there is one.
      const latest = latestBuild(build, cacheDir);
      if (latest === null) {
        return { ok: false, reason: spec.noCompiler ?? describeError(error) };
      }
      return { ok: true, library: openAndProbe(spec, latest), path: latest, origin: "cache" };
    }
    path = cachedLibraryPath(build, cacheDir, command, version);
    if (fileExists(path)) {
      recordLatestBuild(build, cacheDir, path);
    } else if (spec.cacheOnly) {
      return { ok: false, reason: `${spec.what} are not built yet` };
    } else if (buildCLibrary(build).built) {
      origin = "built";
    }
  } catch (error) {
    return { ok: false, reason: describeError(error) };
  }
  try {
    return { ok: true, library: openAndProbe(spec, path), path, origin };
  } catch (error) {
    if (origin === "built" || spec.cacheOnly) return { ok: false, reason: describeError(error) };
    // A damaged cached file: rebuild once.
    try {
      buildCLibrary(build, { force: true });
      return { ok: true, library: openAndProbe(spec, path), path, origin: "built" };
    } catch (rebuildError) {
      return { ok: false, reason: describeError(rebuildError) };
    }
  }
}

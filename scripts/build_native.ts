/**
 * Builds the native kernel library into the cache (`deno task build:native`) and prints where it went,
 * its ABI version and the SIMD level it selects on this machine.
 *
 * Usage: `deno run -A scripts/build_native.ts [--force]`
 *
 * @module
 */

import { buildNativeLibrary } from "../ffi/library.ts";
import { BITLOAD_SYMBOLS, SIMD_LEVEL_NAMES } from "../ffi/symbols.ts";

/**
 * Builds (or finds the up-to-date cached build of) the kernels and returns a one-line summary.
 *
 * @example
 * ```ts
 * import { buildAndDescribe } from "./build_native.ts";
 * console.log(buildAndDescribe({ force: false }));
 * ```
 */
export function buildAndDescribe(options: { force: boolean }): string {
  const started = performance.now();
  const path = buildNativeLibrary({ force: options.force });
  const ms = Math.round(performance.now() - started);
  const library = Deno.dlopen(path, BITLOAD_SYMBOLS);
  try {
    const abi = library.symbols.bl_abi_version();
    const simd = SIMD_LEVEL_NAMES[library.symbols.bl_simd_level()] ?? "unknown";
    return `${path} (abi ${abi}, simd ${simd}, ${ms} ms)`;
  } finally {
    library.close();
  }
}

if (import.meta.main) {
  try {
    console.log(buildAndDescribe({ force: Deno.args.includes("--force") }));
  } catch (error) {
    console.error(`bitload: cannot build the native kernels: ${(error as Error).message}`);
    Deno.exit(1);
  }
}

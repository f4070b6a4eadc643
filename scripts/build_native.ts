/**
 * Builds the native kernel library into the cache (`deno task build:native`) and prints where it went,
 * its ABI version and the SIMD level it selects on this machine.
 *
 * Usage: `deno run -A scripts/build_native.ts [--force]`
 *
 * @module
 */

import { buildNativeLibrary, describeNativeLibrary } from "../ffi/library.ts";

/**
 * Builds (or finds the up-to-date cached build of) the kernels and returns a one-line summary.
 *
 * @example
 * ```ts ignore
 * import { buildAndDescribe } from "./build_native.ts";
 * console.log(buildAndDescribe({ force: false }));
 * ```
 */
export function buildAndDescribe(options: { force: boolean }): string {
  const started = performance.now();
  const path = buildNativeLibrary({ force: options.force });
  const ms = Math.round(performance.now() - started);
  const { abi, simd } = describeNativeLibrary(path);
  return `${path} (abi ${abi}, simd ${simd}, ${ms} ms)`;
}

if (import.meta.main) {
  try {
    console.log(buildAndDescribe({ force: Deno.args.includes("--force") }));
  } catch (error) {
    console.error(`bitload: cannot build the native kernels: ${(error as Error).message}`);
    Deno.exit(1);
  }
}

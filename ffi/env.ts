/**
 * Environment access that never throws: a missing `--allow-env` permission reads as "unset", so
 * every part of bitload runs with only the permissions it really needs.
 *
 * @module
 */

/**
 * An environment variable, or `undefined` when it is unset or env access was not granted.
 *
 * @example
 * ```ts
 * import { readEnv } from "./env.ts";
 * readEnv("BITLOAD_NATIVE_LIB"); // undefined unless set
 * ```
 */
export function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

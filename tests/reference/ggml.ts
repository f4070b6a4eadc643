/**
 * The C++ reference oracle for tests: llama.cpp/ggml's `libggml-base.so` from the npm package
 * `@node-llama-cpp/linux-x64@3.22.1` (llama.cpp release v0.5.0). A thin test-facing view of the
 * product's loader, `src/validate/ggml_reference.ts` (one symbols table for the library): when
 * the library is absent, {@link openGgmlReference} returns `null` and {@link ggmlSkipReason}
 * says why, so tests can skip with a stated reason.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  findGgmlReferenceLibrary,
  type GgmlGgufSummary,
  type GgmlTypeTraits,
  openGgmlReferenceLibrary,
} from "../../src/validate/ggml_reference.ts";

/** Type traits of one ggml type as ggml itself reports them. */
export type GgmlTraits = GgmlTypeTraits;

/** What ggml's GGUF parser reports about a file (`null` means ggml refused it). */
export type { GgmlGgufSummary };

/** An opened reference library. */
export interface GgmlReference {
  /** Absolute path of the library that was opened. */
  path: string;
  /** ggml's traits of a type id (throws for ids ggml does not know). */
  traits(type: number): GgmlTraits;
  /** Dequantizes `n` elements of `type` with ggml's own `to_float`. */
  dequantize(type: number, data: Uint8Array, n: number): Float32Array;
  /** Quantizes f32 rows with `ggml_quantize_chunk` (the reference quantizers). */
  quantize(type: number, src: Float32Array, nRows: number, nPerRow: number): Uint8Array;
  /** `ggml_validate_row_data`. */
  validateRowData(type: number, data: Uint8Array): boolean;
  /** Parses a GGUF file's metadata with ggml's own reader; `null` when ggml rejects it. */
  readGguf(path: string): GgmlGgufSummary | null;
  /** Unloads the library. */
  close(): void;
}

let skipReason = "";

/** Why the reference is unavailable (empty when it loaded). */
export function ggmlSkipReason(): string {
  return skipReason;
}

/** Where the npm package puts the library, relative to the repository root. */
export const NPM_GGML_LIBRARY =
  "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so";

/**
 * Finds the library: `BITLOAD_GGML_LIB`, else the npm package in this repository's
 * `node_modules` (the repository, not the product, knows where npm put it).
 */
export function findGgmlLibrary(): string | null {
  const fromEnv = findGgmlReferenceLibrary();
  if (fromEnv) return fromEnv;
  const local = fileURLToPath(new URL("../../" + NPM_GGML_LIBRARY, import.meta.url));
  return existsSync(local) ? local : null;
}

/**
 * Points `BITLOAD_GGML_LIB` at the npm package's library when it is unset, so the product's
 * own lookup (`bitload validate --reference ggml` run in-process) finds the oracle.
 */
export function exportGgmlLibraryPath(): void {
  if (Deno.env.get("BITLOAD_GGML_LIB")) return;
  const path = findGgmlLibrary();
  if (path) Deno.env.set("BITLOAD_GGML_LIB", path);
}

/**
 * Opens the reference library, or returns `null` (see {@link ggmlSkipReason}).
 * Only x86-64 Linux has the npm build; elsewhere set `BITLOAD_GGML_LIB`.
 */
export function openGgmlReference(): GgmlReference | null {
  const path = findGgmlLibrary();
  const opened = openGgmlReferenceLibrary(path ?? undefined);
  if ("reason" in opened) {
    skipReason = opened.reason;
    return null;
  }
  const ref = opened.reference;
  return {
    path: ref.path,
    traits(type) {
      const t = ref.traits(type);
      if (t === null) throw new Error(`ggml has no traits for type ${type}`);
      return t;
    },
    dequantize: (type, data, n) => ref.dequantize(type, data, n),
    quantize: (type, src, nRows, nPerRow) => ref.quantize(type, src, nRows, nPerRow),
    validateRowData: (type, data) => ref.validateRowData(type, data),
    readGguf: (path) => ref.readGguf(path),
    close: () => ref.close(),
  };
}

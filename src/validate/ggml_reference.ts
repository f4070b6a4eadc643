/**
 * The C++ reference for `bitload validate --reference ggml`: llama.cpp/ggml's `libggml-base.so`
 * (npm `@node-llama-cpp/linux-x64@3.22.1`, llama.cpp release v0.5.0) opened with `Deno.dlopen`.
 * Found through `BITLOAD_GGML_LIB`, else in this repository's `node_modules`. Only the few symbols
 * the validators need are bound; their table is {@link GGML_REFERENCE_SYMBOLS}.
 *
 * Struct layout of `ggml_type_traits` in v0.5.0 (`ggml/include/ggml.h`): `type_name` char* @0,
 * `blck_size` i64 @8, `blck_size_interleave` i64 @16, `type_size` usize @24, `is_quantized` bool
 * @32, `to_float` fn @40, `from_float_ref` fn @48.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The symbols bound from `libggml-base.so` (C declarations in the comments). */
export const GGML_REFERENCE_SYMBOLS = {
  // const struct ggml_type_traits * ggml_get_type_traits(enum ggml_type type)
  ggml_get_type_traits: { parameters: ["i32"], result: "pointer" },
  // void ggml_quantize_init(enum ggml_type type)
  ggml_quantize_init: { parameters: ["i32"], result: "void" },
  // size_t ggml_quantize_chunk(type, const float * src, void * dst, int64_t start,
  //                            int64_t nrows, int64_t n_per_row, const float * imatrix)
  ggml_quantize_chunk: {
    parameters: ["i32", "buffer", "buffer", "i64", "i64", "i64", "buffer"],
    result: "usize",
  },
  // bool ggml_validate_row_data(enum ggml_type type, const void * data, size_t nbytes)
  ggml_validate_row_data: { parameters: ["i32", "buffer", "usize"], result: "bool" },
} as const satisfies Deno.ForeignLibraryInterface;

/** Where the npm package puts the library, relative to the repository root. */
export const NPM_GGML_LIBRARY =
  "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so";

/** An opened reference library. Close it (or `using`) when done. */
export interface GgmlReferenceLibrary extends Disposable {
  /** Absolute path of the opened library. */
  readonly path: string;
  /** Whether ggml has a `to_float` for the type id. */
  hasToFloat(typeId: number): boolean;
  /** ggml's name of the type (`q4_K`), or `""` for ids it does not know. */
  typeName(typeId: number): string;
  /** Dequantizes `n` elements with ggml's own `to_float`. */
  dequantize(typeId: number, data: Uint8Array, n: number): Float32Array;
  /** Quantizes f32 rows with `ggml_quantize_chunk` (no importance matrix). */
  quantize(typeId: number, src: Float32Array, nRows: number, nPerRow: number): Uint8Array;
  /** `ggml_validate_row_data`. */
  validateRowData(typeId: number, data: Uint8Array): boolean;
  /** Unloads the library. */
  close(): void;
}

function envGet(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * Where the reference library is: `BITLOAD_GGML_LIB`, else the npm package under this
 * repository's `node_modules`; `null` when neither exists.
 *
 * @example
 * ```ts
 * import { findGgmlReferenceLibrary } from "./ggml_reference.ts";
 * const path = findGgmlReferenceLibrary(); // null without node_modules
 * ```
 */
export function findGgmlReferenceLibrary(): string | null {
  const fromEnv = envGet("BITLOAD_GGML_LIB");
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null;
  try {
    const local = fileURLToPath(new URL("../../" + NPM_GGML_LIBRARY, import.meta.url));
    return existsSync(local) ? local : null;
  } catch {
    return null; // not a file: URL (e.g. imported over HTTP)
  }
}

type ToFloat = { parameters: ["buffer", "buffer", "i64"]; result: "void" };

/**
 * Opens the reference library. Returns `{ reference }` or `{ reason }` saying why it is
 * unavailable, so reports can say "not run" with the cause instead of passing.
 *
 * @example
 * ```ts ignore
 * import { openGgmlReferenceLibrary } from "./ggml_reference.ts";
 * const opened = openGgmlReferenceLibrary();
 * if ("reason" in opened) console.log(opened.reason);
 * else using ref = opened.reference;
 * ```
 */
export function openGgmlReferenceLibrary():
  | { reference: GgmlReferenceLibrary }
  | { reason: string } {
  const path = findGgmlReferenceLibrary();
  if (path === null) {
    return {
      reason:
        `ggml reference library not found (set BITLOAD_GGML_LIB, or run "npm install" for ${NPM_GGML_LIBRARY})`,
    };
  }
  let lib: Deno.DynamicLibrary<typeof GGML_REFERENCE_SYMBOLS>;
  try {
    lib = Deno.dlopen(path, GGML_REFERENCE_SYMBOLS);
  } catch (error) {
    if (error instanceof Deno.errors.PermissionDenied) throw error;
    return { reason: `cannot open ggml reference library ${path}: ${(error as Error).message}` };
  }
  const s = lib.symbols;
  const toFloat = new Map<number, Deno.UnsafeFnPointer<ToFloat>>();
  const traits = (id: number): Deno.UnsafePointerView | null => {
    if (!Number.isInteger(id) || id < 0 || id >= 43) return null;
    const p = s.ggml_get_type_traits(id);
    return p === null ? null : new Deno.UnsafePointerView(p);
  };
  let closed = false;
  const reference: GgmlReferenceLibrary = {
    path,
    hasToFloat(id) {
      const v = traits(id);
      return v !== null && Number(v.getBigInt64(8)) > 0 && v.getPointer(40) !== null;
    },
    typeName(id) {
      const v = traits(id);
      const p = v?.getPointer(0) ?? null;
      return p === null ? "" : Deno.UnsafePointerView.getCString(p);
    },
    dequantize(id, data, n) {
      let fn = toFloat.get(id);
      if (!fn) {
        const p = traits(id)?.getPointer(40) ?? null;
        if (p === null) throw new RangeError(`ggml has no to_float for type id ${id}`);
        fn = new Deno.UnsafeFnPointer(p as Deno.PointerObject<ToFloat>, {
          parameters: ["buffer", "buffer", "i64"],
          result: "void",
        } as ToFloat);
        toFloat.set(id, fn);
      }
      const out = new Float32Array(n);
      fn.call(data, out, BigInt(n));
      return out;
    },
    quantize(id, src, nRows, nPerRow) {
      const v = traits(id);
      if (v === null) throw new RangeError(`ggml has no type id ${id}`);
      const blck = Number(v.getBigInt64(8));
      const size = Number(v.getBigUint64(24));
      if (blck <= 0 || nPerRow % blck !== 0) {
        throw new RangeError(`Cannot quantize rows of ${nPerRow} to ggml type ${id}`);
      }
      s.ggml_quantize_init(id);
      const dst = new Uint8Array((nPerRow / blck) * size * nRows);
      const written = s.ggml_quantize_chunk(
        id,
        src,
        dst,
        0n,
        BigInt(nRows),
        BigInt(nPerRow),
        null,
      );
      if (Number(written) !== dst.length) {
        throw new Error(`ggml_quantize_chunk wrote ${written} bytes, expected ${dst.length}`);
      }
      return dst;
    },
    validateRowData(id, data) {
      return s.ggml_validate_row_data(id, data, BigInt(data.byteLength));
    },
    close() {
      if (!closed) lib.close();
      closed = true;
    },
    [Symbol.dispose]() {
      reference.close();
    },
  };
  return { reference };
}

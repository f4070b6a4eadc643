/**
 * The C++ reference for `bitload validate --reference ggml`: llama.cpp/ggml's `libggml-base.so`
 * (npm `@node-llama-cpp/linux-x64@3.22.1`, llama.cpp release v0.5.0) opened with `Deno.dlopen`.
 * Found at the path the caller gives, else through `BITLOAD_GGML_LIB`; the product never searches
 * a repository for it (the tests' oracle, `tests/reference/ggml.ts`, supplies the npm package's
 * path). The one table of its symbols is {@link GGML_REFERENCE_SYMBOLS}; the test oracle and the
 * benchmarks use this module too.
 *
 * Struct layout of `ggml_type_traits` in v0.5.0 (`ggml/include/ggml.h`): `type_name` char* @0,
 * `blck_size` i64 @8, `blck_size_interleave` i64 @16, `type_size` usize @24, `is_quantized` bool
 * @32, `to_float` fn @40, `from_float_ref` fn @48.
 *
 * @module
 */

import { ValidateError } from "./errors.ts";
import { readEnv } from "../../ffi/env.ts";
import { openLibrary } from "../../ffi/loader.ts";
import { existsSync } from "node:fs";

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
  // bool ggml_quantize_requires_imatrix(enum ggml_type type)
  ggml_quantize_requires_imatrix: { parameters: ["i32"], result: "bool" },
  // struct gguf_context * gguf_init_from_file(const char * fname, struct gguf_init_params params)
  gguf_init_from_file: {
    parameters: ["buffer", { struct: ["bool", "pointer"] }],
    result: "pointer",
  },
  // void gguf_free(struct gguf_context * ctx)
  gguf_free: { parameters: ["pointer"], result: "void" },
  // uint32_t gguf_get_version(const struct gguf_context * ctx)
  gguf_get_version: { parameters: ["pointer"], result: "u32" },
  // size_t gguf_get_alignment(const struct gguf_context * ctx)
  gguf_get_alignment: { parameters: ["pointer"], result: "usize" },
  // size_t gguf_get_data_offset(const struct gguf_context * ctx)
  gguf_get_data_offset: { parameters: ["pointer"], result: "usize" },
  // int64_t gguf_get_n_kv(const struct gguf_context * ctx)
  gguf_get_n_kv: { parameters: ["pointer"], result: "i64" },
  // int64_t gguf_get_n_tensors(const struct gguf_context * ctx)
  gguf_get_n_tensors: { parameters: ["pointer"], result: "i64" },
  // const char * gguf_get_key(const struct gguf_context * ctx, int64_t key_id)
  gguf_get_key: { parameters: ["pointer", "i64"], result: "pointer" },
  // const char * gguf_get_tensor_name(const struct gguf_context * ctx, int64_t tensor_id)
  gguf_get_tensor_name: { parameters: ["pointer", "i64"], result: "pointer" },
  // enum ggml_type gguf_get_tensor_type(const struct gguf_context * ctx, int64_t tensor_id)
  gguf_get_tensor_type: { parameters: ["pointer", "i64"], result: "i32" },
  // size_t gguf_get_tensor_offset(const struct gguf_context * ctx, int64_t tensor_id)
  gguf_get_tensor_offset: { parameters: ["pointer", "i64"], result: "usize" },
  // size_t gguf_get_tensor_size(const struct gguf_context * ctx, int64_t tensor_id)
  gguf_get_tensor_size: { parameters: ["pointer", "i64"], result: "usize" },
} as const satisfies Deno.ForeignLibraryInterface;

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
  /** Dequantizes into `out` (`out.length` elements), allocating nothing: for fair timings. */
  dequantizeInto(typeId: number, data: Uint8Array, out: Float32Array): void;
  /** ggml's type traits, or `null` for ids it does not know. */
  traits(typeId: number): GgmlTypeTraits | null;
  /** Parses a GGUF file's header with ggml's own `gguf_init_from_file`; `null` when ggml refuses it. */
  readGguf(path: string): GgmlGgufSummary | null;
  /**
   * Quantizes f32 rows with `ggml_quantize_chunk`. Types that need an importance matrix get a
   * uniform one (all ones).
   */
  quantize(typeId: number, src: Float32Array, nRows: number, nPerRow: number): Uint8Array;
  /** `ggml_validate_row_data`. */
  validateRowData(typeId: number, data: Uint8Array): boolean;
  /** Unloads the library. */
  close(): void;
}

/**
 * Where the reference library is: `path` when given, else `BITLOAD_GGML_LIB`; `null` when neither
 * names an existing file.
 *
 * @example
 * ```ts
 * import { findGgmlReferenceLibrary } from "./ggml_reference.ts";
 * const path = findGgmlReferenceLibrary(); // null unless BITLOAD_GGML_LIB is set
 * ```
 */
export function findGgmlReferenceLibrary(path?: string): string | null {
  const candidate = path ?? readEnv("BITLOAD_GGML_LIB");
  return candidate && existsSync(candidate) ? candidate : null;
}

type ToFloat = { parameters: ["buffer", "buffer", "i64"]; result: "void" };

/** Type traits as ggml reports them. */
export interface GgmlTypeTraits {
  /** ggml's lower-case name, e.g. `q4_K`. */
  name: string;
  /** Elements per block (0 for removed ids). */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
  /** Whether ggml marks the type quantized. */
  isQuantized: boolean;
  /** Whether ggml has a `to_float` for it. */
  hasToFloat: boolean;
}

/** What `gguf_init_from_file` reports about a file. */
export interface GgmlGgufSummary {
  /** GGUF version. */
  version: number;
  /** Alignment. */
  alignment: number;
  /** Absolute offset of the data section. */
  dataOffset: number;
  /** Keys in file order. */
  keys: string[];
  /** Tensors in directory order. */
  tensors: { name: string; type: number; offset: number; size: number }[];
}

function cString(p: Deno.PointerValue): string {
  return p === null ? "" : Deno.UnsafePointerView.getCString(p);
}

/**
 * Opens the reference library at `path` (else `BITLOAD_GGML_LIB`). Returns `{ reference }` or
 * `{ reason }` saying why it is unavailable, so reports can say "not run" with the cause instead
 * of passing.
 *
 * @example
 * ```ts ignore
 * import { openGgmlReferenceLibrary } from "./ggml_reference.ts";
 * const opened = openGgmlReferenceLibrary();
 * if ("reason" in opened) console.log(opened.reason);
 * else using ref = opened.reference;
 * ```
 */
export function openGgmlReferenceLibrary(libraryPath?: string):
  | { reference: GgmlReferenceLibrary }
  | { reason: string } {
  const path = findGgmlReferenceLibrary(libraryPath);
  if (path === null) {
    const given = libraryPath ?? readEnv("BITLOAD_GGML_LIB");
    return {
      reason: given
        ? `ggml reference library not found at ${given}`
        : "ggml reference library not found (set BITLOAD_GGML_LIB to a libggml-base.so, e.g. the one in npm @node-llama-cpp/linux-x64)",
    };
  }
  // the generic loader (ffi/loader.ts), with the caller's (or BITLOAD_GGML_LIB's) path
  const opened = openLibrary({ what: "the ggml reference", symbols: GGML_REFERENCE_SYMBOLS, path });
  if (!opened.ok) return { reason: `cannot open ggml reference library ${opened.reason}` };
  const lib = opened.library;
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
        if (p === null) {
          throw new ValidateError("REFERENCE", `ggml has no to_float for type id ${id}`);
        }
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
    dequantizeInto(id, data, out) {
      if (!toFloat.has(id)) reference.dequantize(id, data, 0);
      toFloat.get(id)!.call(data, out, BigInt(out.length));
    },
    traits(id) {
      const v = traits(id);
      if (v === null) return null;
      return {
        name: cString(v.getPointer(0)),
        blockSize: Number(v.getBigInt64(8)),
        typeSize: Number(v.getBigUint64(24)),
        isQuantized: v.getUint8(32) !== 0,
        hasToFloat: v.getPointer(40) !== null,
      };
    },
    readGguf(file) {
      const params = new Uint8Array(16);
      params[0] = 1; // no_alloc = true; ctx = NULL
      const name = new TextEncoder().encode(file + "\0");
      const ctx = s.gguf_init_from_file(name, params);
      if (ctx === null) return null;
      try {
        const keys: string[] = [];
        for (let i = 0n; i < s.gguf_get_n_kv(ctx); i++) keys.push(cString(s.gguf_get_key(ctx, i)));
        const tensors: GgmlGgufSummary["tensors"] = [];
        for (let i = 0n; i < s.gguf_get_n_tensors(ctx); i++) {
          tensors.push({
            name: cString(s.gguf_get_tensor_name(ctx, i)),
            type: s.gguf_get_tensor_type(ctx, i),
            offset: Number(s.gguf_get_tensor_offset(ctx, i)),
            size: Number(s.gguf_get_tensor_size(ctx, i)),
          });
        }
        return {
          version: s.gguf_get_version(ctx),
          alignment: Number(s.gguf_get_alignment(ctx)),
          dataOffset: Number(s.gguf_get_data_offset(ctx)),
          keys,
          tensors,
        };
      } finally {
        s.gguf_free(ctx);
      }
    },
    quantize(id, src, nRows, nPerRow) {
      const v = traits(id);
      if (v === null) throw new ValidateError("REFERENCE", `ggml has no type id ${id}`);
      const blck = Number(v.getBigInt64(8));
      const size = Number(v.getBigUint64(24));
      if (blck <= 0 || nPerRow % blck !== 0) {
        throw new ValidateError(
          "REFERENCE",
          `Cannot quantize rows of ${nPerRow} to ggml type ${id}`,
        );
      }
      s.ggml_quantize_init(id);
      const dst = new Uint8Array((nPerRow / blck) * size * nRows);
      const imatrix = s.ggml_quantize_requires_imatrix(id)
        ? new Float32Array(nPerRow).fill(1)
        : null;
      const written = s.ggml_quantize_chunk(
        id,
        src,
        dst,
        0n,
        BigInt(nRows),
        BigInt(nPerRow),
        imatrix,
      );
      if (Number(written) !== dst.length) {
        throw new ValidateError(
          "REFERENCE",
          `ggml_quantize_chunk wrote ${written} bytes, expected ${dst.length}`,
        );
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

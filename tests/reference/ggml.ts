/**
 * The C++ reference oracle: llama.cpp/ggml's `libggml-base.so` from the npm package
 * `@node-llama-cpp/linux-x64@3.22.1` (llama.cpp release v0.5.0), reached through `Deno.dlopen`.
 *
 * Tests use it to check bitload against the code users actually run: ggml's `to_float`
 * dequantizers, its quantizers (to make realistic blocks) and its own GGUF parser
 * (`gguf_init_from_file`). When the library is absent, {@link openGgmlReference} returns `null` and
 * {@link ggmlSkipReason} says why, so tests can skip with a stated reason.
 *
 * Struct layout of `ggml_type_traits` in v0.5.0 (ggml/include/ggml.h): `type_name` char* @0,
 * `blck_size` i64 @8, `blck_size_interleave` i64 @16, `type_size` usize @24, `is_quantized` bool @32,
 * `to_float` fn @40, `from_float_ref` fn @48.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const SYMBOLS = {
  ggml_get_type_traits: { parameters: ["i32"], result: "pointer" },
  ggml_quantize_init: { parameters: ["i32"], result: "void" },
  ggml_quantize_requires_imatrix: { parameters: ["i32"], result: "bool" },
  // size_t ggml_quantize_chunk(type, const float* src, void* dst, int64 start, int64 nrows,
  //                            int64 n_per_row, const float* imatrix)
  ggml_quantize_chunk: {
    parameters: ["i32", "buffer", "buffer", "i64", "i64", "i64", "buffer"],
    result: "usize",
  },
  // bool ggml_validate_row_data(type, const void* data, size_t nbytes)
  ggml_validate_row_data: { parameters: ["i32", "buffer", "usize"], result: "bool" },
  // struct gguf_context* gguf_init_from_file(const char* fname, struct gguf_init_params params)
  gguf_init_from_file: {
    parameters: ["buffer", { struct: ["bool", "pointer"] }],
    result: "pointer",
  },
  gguf_free: { parameters: ["pointer"], result: "void" },
  gguf_get_version: { parameters: ["pointer"], result: "u32" },
  gguf_get_alignment: { parameters: ["pointer"], result: "usize" },
  gguf_get_data_offset: { parameters: ["pointer"], result: "usize" },
  gguf_get_n_kv: { parameters: ["pointer"], result: "i64" },
  gguf_get_n_tensors: { parameters: ["pointer"], result: "i64" },
  gguf_get_key: { parameters: ["pointer", "i64"], result: "pointer" },
  gguf_get_kv_type: { parameters: ["pointer", "i64"], result: "i32" },
  gguf_get_arr_type: { parameters: ["pointer", "i64"], result: "i32" },
  gguf_get_arr_n: { parameters: ["pointer", "i64"], result: "usize" },
  gguf_get_arr_str: { parameters: ["pointer", "i64", "usize"], result: "pointer" },
  gguf_get_val_str: { parameters: ["pointer", "i64"], result: "pointer" },
  gguf_get_val_u32: { parameters: ["pointer", "i64"], result: "u32" },
  gguf_get_val_u64: { parameters: ["pointer", "i64"], result: "u64" },
  gguf_get_val_f32: { parameters: ["pointer", "i64"], result: "f32" },
  gguf_get_tensor_name: { parameters: ["pointer", "i64"], result: "pointer" },
  gguf_get_tensor_type: { parameters: ["pointer", "i64"], result: "i32" },
  gguf_get_tensor_offset: { parameters: ["pointer", "i64"], result: "usize" },
  gguf_get_tensor_size: { parameters: ["pointer", "i64"], result: "usize" },
} as const satisfies Deno.ForeignLibraryInterface;

/** Where the npm package puts the reference library, relative to this repository. */
const NPM_GGML_PATH = "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so";

/** Type traits of one ggml type as ggml itself reports them. */
export interface GgmlTraits {
  /** ggml's lower-case name, e.g. `q4_K`. */
  name: string;
  blockSize: number;
  typeSize: number;
  isQuantized: boolean;
  /** Whether ggml-base has a `to_float` for the type. */
  hasToFloat: boolean;
}

/** A tensor as `gguf_init_from_file` sees it. */
export interface GgmlGgufTensor {
  name: string;
  type: number;
  offset: number;
  size: number;
}

/** What ggml's GGUF parser reports about a file (`null` means ggml refused it). */
export interface GgmlGgufSummary {
  version: number;
  alignment: number;
  dataOffset: number;
  keys: string[];
  tensors: GgmlGgufTensor[];
}

/** An opened reference library. */
export interface GgmlReference {
  /** Absolute path of the library that was opened. */
  path: string;
  traits(type: number): GgmlTraits;
  /** Dequantizes `n` elements of `type` with ggml's own `to_float`. */
  dequantize(type: number, data: Uint8Array, n: number): Float32Array;
  /** Quantizes f32 rows with `ggml_quantize_chunk` (the reference quantizers). */
  quantize(type: number, src: Float32Array, nRows: number, nPerRow: number): Uint8Array;
  /** `ggml_validate_row_data`. */
  validateRowData(type: number, data: Uint8Array): boolean;
  /** Parses a GGUF file's metadata with ggml's own reader; `null` when ggml rejects it. */
  readGguf(path: string): GgmlGgufSummary | null;
  close(): void;
}

let skipReason = "";

/** Why the reference is unavailable (empty when it loaded). */
export function ggmlSkipReason(): string {
  return skipReason;
}

function repoRoot(): string {
  return fileURLToPath(new URL("../../", import.meta.url));
}

/** Finds the library: `BITLOAD_GGML_LIB`, else the npm package in node_modules. */
export function findGgmlLibrary(): string | null {
  const fromEnv = Deno.env.get("BITLOAD_GGML_LIB");
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null;
  const local = repoRoot() + NPM_GGML_PATH;
  return existsSync(local) ? local : null;
}

function cString(p: Deno.PointerValue): string {
  return p === null ? "" : Deno.UnsafePointerView.getCString(p);
}

function cPath(path: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(path);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/**
 * Opens the reference library, or returns `null` (see {@link ggmlSkipReason}).
 * Only x86-64 Linux has the npm build; elsewhere set `BITLOAD_GGML_LIB`.
 */
export function openGgmlReference(): GgmlReference | null {
  const path = findGgmlLibrary();
  if (path === null) {
    skipReason =
      `ggml reference library not found (set BITLOAD_GGML_LIB or run "npm install" for ${NPM_GGML_PATH})`;
    return null;
  }
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen(path, SYMBOLS);
  } catch (error) {
    skipReason = `cannot open ggml reference library ${path}: ${(error as Error).message}`;
    return null;
  }
  const s = lib.symbols;
  const toFloatCache = new Map<number, Deno.UnsafeFnPointer<ToFloat>>();
  type ToFloat = { parameters: ["buffer", "buffer", "i64"]; result: "void" };

  function traitsView(type: number): Deno.UnsafePointerView {
    const p = s.ggml_get_type_traits(type);
    if (p === null) throw new Error(`ggml has no traits for type ${type}`);
    return new Deno.UnsafePointerView(p);
  }

  const ref: GgmlReference = {
    path,
    traits(type) {
      const v = traitsView(type);
      return {
        name: cString(v.getPointer(0)),
        blockSize: Number(v.getBigInt64(8)),
        typeSize: Number(v.getBigUint64(24)),
        isQuantized: v.getUint8(32) !== 0,
        hasToFloat: v.getPointer(40) !== null,
      };
    },
    dequantize(type, data, n) {
      let fn = toFloatCache.get(type);
      if (!fn) {
        const p = traitsView(type).getPointer(40);
        if (p === null) throw new Error(`ggml has no to_float for type ${type}`);
        fn = new Deno.UnsafeFnPointer(p as Deno.PointerObject<ToFloat>, {
          parameters: ["buffer", "buffer", "i64"],
          result: "void",
        } as ToFloat);
        toFloatCache.set(type, fn);
      }
      const out = new Float32Array(n);
      fn.call(data, out, BigInt(n));
      return out;
    },
    quantize(type, src, nRows, nPerRow) {
      s.ggml_quantize_init(type);
      const t = ref.traits(type);
      const bytes = (nPerRow / t.blockSize) * t.typeSize * nRows;
      const dst = new Uint8Array(bytes);
      let imatrix: Float32Array | null = null;
      if (s.ggml_quantize_requires_imatrix(type)) imatrix = new Float32Array(nPerRow).fill(1);
      const written = s.ggml_quantize_chunk(
        type,
        src,
        dst,
        0n,
        BigInt(nRows),
        BigInt(nPerRow),
        imatrix,
      );
      if (Number(written) !== bytes) {
        throw new Error(`ggml_quantize_chunk wrote ${written} bytes, expected ${bytes}`);
      }
      return dst;
    },
    validateRowData(type, data) {
      return s.ggml_validate_row_data(type, data, BigInt(data.byteLength));
    },
    readGguf(file) {
      const params = new Uint8Array(16);
      params[0] = 1; // no_alloc = true; ctx = NULL
      const ctx = s.gguf_init_from_file(cPath(file), params);
      if (ctx === null) return null;
      try {
        const nKv = Number(s.gguf_get_n_kv(ctx));
        const nTensors = Number(s.gguf_get_n_tensors(ctx));
        const keys: string[] = [];
        for (let i = 0; i < nKv; i++) keys.push(cString(s.gguf_get_key(ctx, BigInt(i))));
        const tensors: GgmlGgufTensor[] = [];
        for (let i = 0; i < nTensors; i++) {
          const id = BigInt(i);
          tensors.push({
            name: cString(s.gguf_get_tensor_name(ctx, id)),
            type: s.gguf_get_tensor_type(ctx, id),
            offset: Number(s.gguf_get_tensor_offset(ctx, id)),
            size: Number(s.gguf_get_tensor_size(ctx, id)),
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
    close() {
      lib.close();
    },
  };
  return ref;
}

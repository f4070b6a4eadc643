/**
 * The C ABI of the bitload kernel library (`kernels/bitload.h`), as one Deno FFI symbol table.
 * Lengths are `i64` and are passed as bigint (a JS number takes Deno's slow path).
 *
 * @module
 */

/** Version of `kernels/bitload.h` this table describes; checked against `bl_abi_version()`. */
export const BITLOAD_ABI_VERSION = 2;

/** Status codes of the C entry points (`BL_OK`, `BL_ERR_*` in bitload.h). */
export const BitloadStatus = {
  OK: 0,
  UNKNOWN_TYPE: -1,
  BAD_LENGTH: -2,
  NULL_BUFFER: -3,
  BAD_LEVEL: -4,
  THREADS: -5,
} as const;

/** SIMD levels (`BL_SIMD_*` in bitload.h), indexed by their C value. */
export const SIMD_LEVEL_NAMES = ["scalar", "avx2", "avx512", "neon"] as const;

/** The symbol table passed to `Deno.dlopen`. */
export const BITLOAD_SYMBOLS = {
  // int bl_abi_version(void);
  bl_abi_version: { parameters: [], result: "i32" },
  // int bl_simd_level(void);
  bl_simd_level: { parameters: [], result: "i32" },
  // int bl_simd_best(void);
  bl_simd_best: { parameters: [], result: "i32" },
  // int bl_set_simd(int level);  level -1 = best
  bl_set_simd: { parameters: ["i32"], result: "i32" },
  // int bl_type_geometry(int type, int64_t* block_elements, int64_t* block_bytes);
  bl_type_geometry: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int64_t bl_source_bytes(int type, int64_t n);
  bl_source_bytes: { parameters: ["i32", "i64"], result: "i64" },
  // int bl_dequantize_f32(int type, const void* src, float* dst, int64_t n, int threads);
  bl_dequantize_f32: { parameters: ["i32", "buffer", "buffer", "i64", "i32"], result: "i32" },
  // bl_dequantize_f32_fn bl_dequantize_f32_address(void);
  bl_dequantize_f32_address: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened library's symbols. */
export type BitloadSymbols = Deno.DynamicLibrary<typeof BITLOAD_SYMBOLS>["symbols"];

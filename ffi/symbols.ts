/**
 * The C ABI of the bitload kernel library (`kernels/bitload.h`), as one Deno FFI symbol table: the
 * dequantizers, the inference kernels, the thread pool and the SIMD levels. Every entry carries
 * the C prototype it mirrors; `tests/native_abi_test.ts` parses `kernels/bitload.h` and checks
 * every parameter and result type against this table. Lengths are `i64` and are passed as bigint
 * (a JS number takes Deno's slow path).
 *
 * @module
 */

/** Version of `kernels/bitload.h` this table describes; checked against `bl_abi_version()`. */
export const BITLOAD_ABI_VERSION = 6;

/** Status codes of the C entry points (`BL_OK`, `BL_ERR_*` in bitload.h). */
export const BitloadStatus = {
  OK: 0,
  UNKNOWN_TYPE: -1,
  BAD_LENGTH: -2,
  NULL_BUFFER: -3,
  BAD_LEVEL: -4,
  THREADS: -5,
  NO_MEMORY: -6,
} as const;

/** SIMD levels (`BL_SIMD_*` in bitload.h), indexed by their C value. */
export const SIMD_LEVEL_NAMES = ["scalar", "avx2", "avx512", "neon"] as const;

/** `(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x, int64_t ntok, float *y)`:
 * block-quantized weights times activation blocks, returning `int32_t` status. */
const ON_BLOCKS_STATUS = {
  parameters: ["buffer", "i64", "i64", "buffer", "i64", "buffer"],
  result: "i32",
} as const;

/** The same shape returning `void`. */
const ON_BLOCKS = {
  parameters: ["buffer", "i64", "i64", "buffer", "i64", "buffer"],
  result: "void",
} as const;

/** `(const T *w, int64_t rows, int64_t cols, const float *x, int64_t ntok, float *y)`. */
const DENSE = ON_BLOCKS;

/** `(const float *x, int64_t rows, int64_t width, uint8_t *out)`: activation rows to blocks. */
const QUANTIZE_ROWS = { parameters: ["buffer", "i64", "i64", "buffer"], result: "void" } as const;

/** `(const uint8_t *w, int64_t rows, int64_t cols, const int8_t *q, const int32_t *gsum,
 * const float *factor, int64_t ntok, float *y)`: ternary weights times int8 activations. */
const TERNARY = {
  parameters: ["buffer", "i64", "i64", "buffer", "buffer", "buffer", "i64", "buffer"],
  result: "i32",
} as const;

/** `(const float *q, const T *k, const T *v, int32_t n_head, int32_t n_kv, int32_t head_dim,
 * int32_t pos0, int32_t ntok, float scale, float *out, float *scratch)`: batched attention. */
const ATTENTION_BATCH = {
  parameters: [
    "buffer",
    "buffer",
    "buffer",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "f32",
    "buffer",
    "buffer",
  ],
  result: "void",
} as const;

/** The symbol table passed to `Deno.dlopen`. */
export const BITLOAD_SYMBOLS = {
  // int bl_abi_version(void);
  bl_abi_version: { parameters: [], result: "i32" },
  // int bl_simd_level(void);
  bl_simd_level: { parameters: [], result: "i32" },
  // int bl_simd_best(void);
  bl_simd_best: { parameters: [], result: "i32" },
  // const char *bl_simd_name(int level);
  bl_simd_name: { parameters: ["i32"], result: "pointer" },
  // int bl_set_simd(int level);  level -1 = best
  bl_set_simd: { parameters: ["i32"], result: "i32" },
  // int bl_type_geometry(int type, int64_t *block_elements, int64_t *block_bytes);
  bl_type_geometry: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int64_t bl_source_bytes(int type, int64_t n);
  bl_source_bytes: { parameters: ["i32", "i64"], result: "i64" },
  // int bl_dequantize_f32(int type, const void *src, float *dst, int64_t n, int threads);
  bl_dequantize_f32: { parameters: ["i32", "buffer", "buffer", "i64", "i32"], result: "i32" },
  // int64_t bl_tl_decode(int32_t tl, const uint8_t *src, int64_t src_len, int64_t m, int64_t k,
  //   int32_t BM, int32_t BK, int32_t bm, uint8_t *i2s, float *f32);
  bl_tl_decode: {
    parameters: ["i32", "buffer", "i64", "i64", "i64", "i32", "i32", "i32", "buffer", "buffer"],
    result: "i64",
  },
  // int bl_set_threads(int n);
  bl_set_threads: { parameters: ["i32"], result: "i32" },
  // float bl_quantize_act(const float *x, int64_t n, int8_t *q, int32_t *gsum);
  bl_quantize_act: { parameters: ["buffer", "i64", "buffer", "buffer"], result: "f32" },
  // void bl_quantize_rows(const float *x, int64_t rows, int64_t width, int8_t *q, int32_t *gsum,
  //   float *factor);
  bl_quantize_rows: {
    parameters: ["buffer", "i64", "i64", "buffer", "buffer", "buffer"],
    result: "void",
  },
  // int32_t bl_matmul_i2s(const uint8_t *w, int64_t rows, int64_t cols, float wscale,
  //   const int8_t *q, const int32_t *gsum, const float *factor, int64_t ntok, float *y);
  bl_matmul_i2s: {
    parameters: ["buffer", "i64", "i64", "f32", "buffer", "buffer", "buffer", "i64", "buffer"],
    result: "i32",
  },
  // int32_t bl_matmul_i2s_fused(int32_t count, const uint8_t *w0, int64_t rows0, float wscale0,
  //   float *y0, const uint8_t *w1, int64_t rows1, float wscale1, float *y1, const uint8_t *w2,
  //   int64_t rows2, float wscale2, float *y2, int64_t cols, const int8_t *q, const int32_t *gsum,
  //   const float *factor, int64_t ntok);
  bl_matmul_i2s_fused: {
    parameters: [
      "i32",
      "buffer",
      "i64",
      "f32",
      "buffer",
      "buffer",
      "i64",
      "f32",
      "buffer",
      "buffer",
      "i64",
      "f32",
      "buffer",
      "i64",
      "buffer",
      "buffer",
      "buffer",
      "i64",
    ],
    result: "i32",
  },
  // int32_t bl_matmul_tq2(<TERNARY>);
  bl_matmul_tq2: TERNARY,
  // int32_t bl_matmul_tq1(<TERNARY>);
  bl_matmul_tq1: TERNARY,
  // void bl_matmul_f16(const uint16_t *w, int64_t rows, int64_t cols, const float *x, int64_t ntok,
  //   float *y);
  bl_matmul_f16: DENSE,
  // void bl_matmul_f32(const float *w, int64_t rows, int64_t cols, const float *x, int64_t ntok,
  //   float *y);
  bl_matmul_f32: DENSE,
  // void bl_quantize_weight_i8(const void *src, int32_t type, int64_t rows, int64_t cols,
  //   int8_t *dst, float *scale, int32_t *wsum);
  bl_quantize_weight_i8: {
    parameters: ["buffer", "i32", "i64", "i64", "buffer", "buffer", "buffer"],
    result: "void",
  },
  // void bl_matmul_i8(const int8_t *w, const float *wscale, const int32_t *wsum, int64_t rows,
  //   int64_t cols, const int8_t *q, const float *factor, int64_t ntok, float *y);
  bl_matmul_i8: {
    parameters: ["buffer", "buffer", "buffer", "i64", "i64", "buffer", "buffer", "i64", "buffer"],
    result: "void",
  },
  // int32_t bl_matmul_dequant(int32_t type, const uint8_t *w, int64_t rows, int64_t cols,
  //   int64_t row_bytes, const float *x, int64_t ntok, float *y);
  bl_matmul_dequant: {
    parameters: ["i32", "buffer", "i64", "i64", "i64", "buffer", "i64", "buffer"],
    result: "i32",
  },
  // void bl_quantize_rows_q8_0(const float *x, int64_t rows, int64_t width, uint8_t *out);
  bl_quantize_rows_q8_0: QUANTIZE_ROWS,
  // void bl_quantize_rows_q8_1(<QUANTIZE_ROWS>);
  bl_quantize_rows_q8_1: QUANTIZE_ROWS,
  // void bl_quantize_rows_q8_k(<QUANTIZE_ROWS>);
  bl_quantize_rows_q8_k: QUANTIZE_ROWS,
  // int32_t bl_matmul_q8_0(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x,
  //   int64_t ntok, float *y);  and the same for q4_0, q5_0, iq4_nl
  bl_matmul_q8_0: ON_BLOCKS_STATUS,
  bl_matmul_q4_0: ON_BLOCKS_STATUS,
  bl_matmul_q5_0: ON_BLOCKS_STATUS,
  bl_matmul_iq4_nl: ON_BLOCKS_STATUS,
  // void bl_matmul_q4_1(const uint8_t *w, int64_t rows, int64_t cols, const uint8_t *x,
  //   int64_t ntok, float *y);  and the same for q5_1, iq4_xs, q2_k … q6_k
  bl_matmul_q4_1: ON_BLOCKS,
  bl_matmul_q5_1: ON_BLOCKS,
  bl_matmul_iq4_xs: ON_BLOCKS,
  bl_matmul_q2_k: ON_BLOCKS,
  bl_matmul_q3_k: ON_BLOCKS,
  bl_matmul_q4_k: ON_BLOCKS,
  bl_matmul_q5_k: ON_BLOCKS,
  bl_matmul_q6_k: ON_BLOCKS,
  // void bl_rms_norm(const float *x, const float *w, int64_t rows, int64_t width, double eps,
  //   float *out);
  bl_rms_norm: { parameters: ["buffer", "buffer", "i64", "i64", "f64", "buffer"], result: "void" },
  // void bl_rope(float *v, int64_t ntok, int32_t heads, int32_t head_dim, int32_t half,
  //   const float *cos_t, const float *sin_t, int32_t neox);
  bl_rope: {
    parameters: ["buffer", "i64", "i32", "i32", "i32", "buffer", "buffer", "i32"],
    result: "void",
  },
  // void bl_rope_cache(int64_t pos0, int64_t ntok, int32_t half, float theta_scale, float *cos_t,
  //   float *sin_t);
  bl_rope_cache: {
    parameters: ["i64", "i64", "i32", "f32", "buffer", "buffer"],
    result: "void",
  },
  // float bl_powf(float base, float exponent);
  bl_powf: { parameters: ["f32", "f32"], result: "f32" },
  // void bl_add(float *x, const float *o, int64_t n);
  bl_add: { parameters: ["buffer", "buffer", "i64"], result: "void" },
  // void bl_ffn_act(float *g, const float *u, int64_t n, int32_t kind);
  bl_ffn_act: { parameters: ["buffer", "buffer", "i64", "i32"], result: "void" },
  // void bl_attention_batch(const float *q, const float *k, const float *v, <ATTENTION_BATCH>);
  bl_attention_batch: ATTENTION_BATCH,
  // void bl_attention_batch_f16(const float *q, const uint16_t *k, const uint16_t *v, …);
  bl_attention_batch_f16: ATTENTION_BATCH,
  // void bl_attention(const float *q, const float *k, const float *v, int32_t n_head, int32_t n_kv,
  //   int32_t head_dim, int32_t npos, float scale, float *out, float *scratch);
  bl_attention: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "buffer",
    ],
    result: "void",
  },
  // void bl_attention_decode(const float *q, const void *k, const void *v, int32_t n_head,
  //   int32_t n_kv, int32_t head_dim, int32_t npos, float scale, float *out, float *scratch,
  //   int32_t kv_f16);
  bl_attention_decode: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  // int32_t bl_matmul_f16_decode(const uint16_t *w, int64_t rows, int64_t cols, const float *x,
  //   int64_t ntok, float *y);
  bl_matmul_f16_decode: {
    parameters: ["buffer", "i64", "i64", "buffer", "i64", "buffer"],
    result: "i32",
  },
  // int32_t bl_fault_guard_install(void);
  bl_fault_guard_install: { parameters: [], result: "i32" },
  // int32_t bl_fault_guard_add(int64_t start, int64_t length);
  bl_fault_guard_add: { parameters: ["i64", "i64"], result: "i32" },
  // void bl_fault_guard_remove(int32_t slot);
  bl_fault_guard_remove: { parameters: ["i32"], result: "void" },
  // int64_t bl_fault_guard_events(int32_t slot);
  bl_fault_guard_events: { parameters: ["i32"], result: "i64" },
  // double bl_probe_read_bandwidth(const uint8_t *buf, int64_t bytes, int32_t threads, int32_t reps);
  bl_probe_read_bandwidth: { parameters: ["buffer", "i64", "i32", "i32"], result: "f64" },
  // double bl_probe_mac_rate(int32_t kind, int64_t iters);
  bl_probe_mac_rate: { parameters: ["i32", "i64"], result: "f64" },
  // double bl_probe_i2s_rate(int64_t rows, int64_t cols, int32_t reps);
  bl_probe_i2s_rate: { parameters: ["i64", "i64", "i32"], result: "f64" },
  // int64_t bl_gguf_scan_strings(const uint8_t *buf, int64_t buf_len, int64_t pos, int64_t first,
  //   int64_t n, int32_t flags, int64_t max_len, void *bounds, int64_t *end_pos);
  bl_gguf_scan_strings: {
    parameters: ["buffer", "i64", "i64", "i64", "i64", "i32", "i64", "buffer", "buffer"],
    result: "i64",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened library's symbols. */
export type BitloadSymbols = Deno.DynamicLibrary<typeof BITLOAD_SYMBOLS>["symbols"];

/**
 * Finds, builds and opens the native inference kernels (`kernels/infer/*.c`): ternary I2_S/TQ2_0
 * matrix products on int8 activations, f16/f32 products and single-query attention.
 *
 * Same caching approach as `ffi/library.ts`: the library is built with `cc` (or `$CC`) into
 * `$BITLOAD_CACHE_DIR` / `$XDG_CACHE_HOME/bitload` / `~/.cache/bitload`, keyed by the sha256 of
 * compiler, version, flags, target and sources, written under a temporary name and renamed into
 * place. `BITLOAD_NATIVE=0` disables it; `BITLOAD_INFER_LIB` names a prebuilt library. Failures
 * (no compiler, no permission) give `null` and a reason, and callers use the TypeScript kernels.
 *
 * @module
 */

import { buildCLibrary, C_LIBRARY_CFLAGS, type CLibrarySpec, describeError } from "./c_build.ts";
import { readEnv } from "./env.ts";

/** ABI version `bli_abi_version()` must return. */
export const INFER_ABI_VERSION = 5;

/** `int32 fn(const uint8_t *w, int64 rows, int64 cols, const uint8_t *xq, int64 ntok, float *y)`:
 * weights times Q8_0 activations; 0, or -1 when scratch memory cannot be allocated. */
const ON_Q8_0 = {
  parameters: ["buffer", "i64", "i64", "buffer", "i64", "buffer"],
  result: "i32",
} as const;

/** `void fn(const uint8_t *w, int64 rows, int64 cols, const uint8_t *xq, int64 ntok, float *y)`:
 * weights times Q8_K activations. */
const ON_Q8_K = {
  parameters: ["buffer", "i64", "i64", "buffer", "i64", "buffer"],
  result: "void",
} as const;

/** `void fn(const float *q, k, v, int32 n_head, int32 n_kv, int32 head_dim, int32 pos0, int32 ntok,
 * float scale, float *out, float *scratch)`: batched causal attention over an f32 or f16 cache. */
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

/** The same shape on Q8_1 activations (Q4_1, Q5_1). */
const ON_Q8_1 = ON_Q8_K;

/** The C symbols. Lengths and counts are `i64` (pass bigint). */
export const INFER_SYMBOLS = {
  bli_abi_version: { parameters: [], result: "i32" },
  bli_init: { parameters: ["i32"], result: "i32" },
  bli_set_threads: { parameters: ["i32"], result: "i32" },
  bli_quantize_act: { parameters: ["buffer", "i64", "buffer", "buffer"], result: "f32" },
  bli_quantize_rows: {
    parameters: ["buffer", "i64", "i64", "buffer", "buffer", "buffer"],
    result: "void",
  },
  // The ternary products return 0, or -1 when their scratch memory cannot be allocated.
  bli_matmul_i2s: {
    parameters: ["buffer", "i64", "i64", "f32", "buffer", "buffer", "buffer", "i64", "buffer"],
    result: "i32",
  },
  bli_matmul_tq2: {
    parameters: ["buffer", "i64", "i64", "buffer", "buffer", "buffer", "i64", "buffer"],
    result: "i32",
  },
  bli_matmul_f16: {
    parameters: ["buffer", "i64", "i64", "buffer", "i64", "buffer"],
    result: "void",
  },
  bli_matmul_f32: {
    parameters: ["buffer", "i64", "i64", "buffer", "i64", "buffer"],
    result: "void",
  },
  bli_quantize_weight_i8: {
    parameters: ["buffer", "i32", "i64", "i64", "buffer", "buffer", "buffer"],
    result: "void",
  },
  bli_matmul_i8: {
    parameters: ["buffer", "buffer", "buffer", "i64", "i64", "buffer", "buffer", "i64", "buffer"],
    result: "void",
  },
  // void bli_quantize_rows_q8_0(const float *x, int64 rows, int64 width, uint8_t *out)
  bli_quantize_rows_q8_0: { parameters: ["buffer", "i64", "i64", "buffer"], result: "void" },
  // Q8_0 / Q4_0 / Q5_0 / IQ4_NL weights on Q8_0 activations (kernels/infer/q8_0.c)
  bli_matmul_q8_0: ON_Q8_0,
  bli_matmul_q4_0: ON_Q8_0,
  bli_matmul_q5_0: ON_Q8_0,
  bli_matmul_iq4_nl: ON_Q8_0,
  // int32 bli_matmul_dequant(const void *fn, int32 type, const uint8_t *w, int64 rows, int64 cols,
  //   int64 row_bytes, const float *x, int64 ntok, float *y): fn is bl_dequantize_f32's address
  bli_matmul_dequant: {
    parameters: ["pointer", "i32", "buffer", "i64", "i64", "i64", "buffer", "i64", "buffer"],
    result: "i32",
  },
  // void bli_rms_norm(const float *x, const float *w, int64 rows, int64 width, double eps, float *out)
  bli_rms_norm: {
    parameters: ["buffer", "buffer", "i64", "i64", "f64", "buffer"],
    result: "void",
  },
  // void bli_rope(float *v, int64 ntok, int32 heads, int32 head_dim, int32 half, const float *cos,
  //   const float *sin, int32 neox)
  bli_rope: {
    parameters: ["buffer", "i64", "i32", "i32", "i32", "buffer", "buffer", "i32"],
    result: "void",
  },
  // void bli_add(float *x, const float *o, int64 n)
  bli_add: { parameters: ["buffer", "buffer", "i64"], result: "void" },
  // void bli_quantize_rows_q8_k(const float *x, int64 rows, int64 width, uint8_t *out)
  bli_quantize_rows_q8_k: { parameters: ["buffer", "i64", "i64", "buffer"], result: "void" },
  // void bli_quantize_rows_q8_1(const float *x, int64 rows, int64 width, uint8_t *out)
  bli_quantize_rows_q8_1: { parameters: ["buffer", "i64", "i64", "buffer"], result: "void" },
  // Q4_1 / Q5_1 weights on Q8_1 activations (kernels/infer/q8_1.c)
  bli_matmul_q4_1: ON_Q8_1,
  bli_matmul_q5_1: ON_Q8_1,
  // IQ4_XS and Q2_K…Q6_K weights on Q8_K activations (kernels/infer/kquants.c)
  bli_matmul_iq4_xs: ON_Q8_K,
  bli_matmul_q2_k: ON_Q8_K,
  bli_matmul_q3_k: ON_Q8_K,
  bli_matmul_q4_k: ON_Q8_K,
  bli_matmul_q5_k: ON_Q8_K,
  bli_matmul_q6_k: ON_Q8_K,
  bli_ffn_act: { parameters: ["buffer", "buffer", "i64", "i32"], result: "void" },
  bli_attention_batch: ATTENTION_BATCH,
  // void bli_matmul_tq1(const uint8_t *w, int64 rows, int64 cols, const int8_t *q,
  //   const int32_t *gsum, const float *factor, int64 ntok, float *y)
  bli_matmul_tq1: {
    parameters: ["buffer", "i64", "i64", "buffer", "buffer", "buffer", "i64", "buffer"],
    result: "i32",
  },
  // void bli_attention_batch_f16(const float *q, const uint16_t *k, const uint16_t *v, int32 n_head,
  //   int32 n_kv, int32 head_dim, int32 pos0, int32 ntok, float scale, float *out, float *scratch)
  bli_attention_batch_f16: ATTENTION_BATCH,
  bli_attention: {
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
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened inference library's symbols. */
export type InferSymbols = Deno.DynamicLibrary<typeof INFER_SYMBOLS>["symbols"];

/** Sources compiled into the library, in `kernels/infer/`. */
export const INFER_SOURCES = [
  "pool.c",
  "activations.c",
  "ternary.c",
  "q8_0.c",
  "q8_1.c",
  "kquants.c",
  "dense.c",
  "ffn.c",
  "norm.c",
  "attention.c",
] as const;

/**
 * Compiler flags. `-Wl,-z,nodelete` keeps the library mapped after `dlclose`: its worker threads
 * outlive any one `Deno.dlopen` handle (a test worker that closes its handle while another
 * isolate's threads still run in the library would otherwise unmap code under them).
 */
export const INFER_CFLAGS = [...C_LIBRARY_CFLAGS, "-Wl,-z,nodelete"] as const;

/** SIMD level names by the number `bli_init` returns. */
export const INFER_LEVELS = ["scalar", "avx2", "avx512-vnni"] as const;

/** A SIMD level of the inference kernels. */
export type InferLevel = typeof INFER_LEVELS[number];

/** The loaded inference kernels. */
export interface InferNative {
  /** The raw C functions. */
  symbols: InferSymbols;
  /** Path of the opened library. */
  path: string;
  /** The SIMD level in use. */
  level: InferLevel;
  /** Selects a level (`"best"` for the fastest); returns the level now in use. */
  setLevel(level: InferLevel | "best"): InferLevel;
  /** Sets the worker count (caller included); returns the count in use. */
  setThreads(n: number): number;
  /** The worker count in use (process-wide). */
  threads: number;
}

/** How the inference library is built (see `ffi/c_build.ts` for the cache). */
export const INFER_LIBRARY: CLibrarySpec = {
  name: "bitload-infer",
  what: "the inference kernels",
  dir: new URL("../kernels/infer/", import.meta.url),
  sources: INFER_SOURCES,
  headers: ["internal.h"],
  cflags: INFER_CFLAGS,
};

let cached: { native: InferNative | null; reason: string } | undefined;

/**
 * Builds (if needed) the inference library into the cache and returns its path; throws with the
 * compiler output when the build fails.
 *
 * @example
 * ```ts ignore
 * import { buildInferLibrary } from "./infer_native.ts";
 * console.log(buildInferLibrary());
 * ```
 */
export function buildInferLibrary(): string {
  return buildCLibrary(INFER_LIBRARY);
}

function levelFromEnv(): number {
  const forced = readEnv("BITLOAD_KERNEL");
  if (!forced) return -1;
  const i = (INFER_LEVELS as readonly string[]).indexOf(forced);
  return i >= 0 ? i : forced === "avx512" ? 2 : -1;
}

/**
 * The inference kernels, loaded once per process, or `null` when unavailable (see
 * {@link inferNativeReason}). `BITLOAD_KERNEL=scalar|avx2|avx512-vnni` caps the SIMD level.
 *
 * @example
 * ```ts ignore
 * import { inferNative } from "./infer_native.ts";
 * const native = inferNative();
 * console.log(native ? `${native.level} kernels` : "TypeScript kernels");
 * ```
 */
export function inferNative(): InferNative | null {
  if (cached) return cached.native;
  if (readEnv("BITLOAD_NATIVE") === "0") {
    cached = { native: null, reason: "disabled by BITLOAD_NATIVE=0" };
    return null;
  }
  try {
    const path = readEnv("BITLOAD_INFER_LIB") || buildInferLibrary();
    const lib = Deno.dlopen(path, INFER_SYMBOLS);
    const abi = lib.symbols.bli_abi_version();
    if (abi !== INFER_ABI_VERSION) {
      lib.close();
      throw new Error(`ABI ${abi} in "${path}", expected ${INFER_ABI_VERSION}`);
    }
    const symbols = lib.symbols;
    const native: InferNative = {
      symbols,
      path,
      level: INFER_LEVELS[symbols.bli_init(levelFromEnv())],
      setLevel(level) {
        const n = level === "best" ? -1 : INFER_LEVELS.indexOf(level);
        native.level = INFER_LEVELS[symbols.bli_init(n)];
        return native.level;
      },
      setThreads(n) {
        native.threads = symbols.bli_set_threads(n);
        return native.threads;
      },
      threads: 1,
    };
    cached = { native, reason: "" };
  } catch (error) {
    cached = { native: null, reason: describeError(error) };
  }
  return cached.native;
}

/**
 * Why {@link inferNative} returned `null` (empty when the kernels loaded or were not tried yet).
 *
 * @example
 * ```ts ignore
 * import { inferNative, inferNativeReason } from "./infer_native.ts";
 * if (!inferNative()) console.error(inferNativeReason());
 * ```
 */
export function inferNativeReason(): string {
  return cached?.reason ?? "";
}

/**
 * The inference kernels of the one native library (`kernels/infer/*.c`, built and opened with the
 * dequantizers by `ffi/library.ts`) as one typed class: ternary I2_S/TQ2_0/TQ1_0 products on int8
 * activations, block-quantized products bit-exact with ggml's `vec_dot`, f16/f32 products, norms
 * and attention. Raw symbols stay inside `ffi/`; C statuses become {@link NativeKernelError}s.
 *
 * `BITLOAD_NATIVE=0` disables the library, `BITLOAD_NATIVE_LIB` names a prebuilt one, and
 * `BITLOAD_SIMD=scalar|avx2|avx512` caps the SIMD level (`BITLOAD_KERNEL` is a deprecated alias).
 * Failures (no compiler, no permission) give `null` and a reason, and callers use the TypeScript
 * kernels.
 *
 * @module
 */

import { check, NativeKernelError } from "./errors.ts";
import { nativeLibrary } from "./native.ts";
import { type BitloadSymbols, SIMD_LEVEL_NAMES } from "./symbols.ts";

/** SIMD levels of the library by their C value (`BL_SIMD_*`). */
export const INFER_LEVELS = SIMD_LEVEL_NAMES;

/** A SIMD level of the kernels. */
export type InferLevel = typeof INFER_LEVELS[number];

/** Weight formats multiplied by activation blocks, and the blocks each one takes. */
export const BLOCK_KERNEL_ACTIVATIONS = {
  q8_0: "q8_0",
  q4_0: "q8_0",
  q5_0: "q8_0",
  iq4_nl: "q8_0",
  q4_1: "q8_1",
  q5_1: "q8_1",
  q2_k: "q8_k",
  q3_k: "q8_k",
  q4_k: "q8_k",
  q5_k: "q8_k",
  q6_k: "q8_k",
  iq4_xs: "q8_k",
} as const;

/** A block-quantized weight format with a product of its own (`bl_matmul_<kernel>`). */
export type BlockKernel = keyof typeof BLOCK_KERNEL_ACTIVATIONS;

/** Activation blocks: Q8_0 (34 bytes per 32 values), Q8_1 (36 per 32), Q8_K (292 per 256). */
export type ActivationBlocks = typeof BLOCK_KERNEL_ACTIVATIONS[BlockKernel];

/** Ternary weight formats multiplied by per-row int8 activations. */
export type TernaryKernel = "i2s" | "tq2" | "tq1";

/** FFN gating: `g = silu(g) * u` or `g = relu(g)^2 * u`. */
export type FfnActivation = "swiglu" | "relu2";

/** Per-row int8 activations: codes, the sum of each 32-code group, and one scale per row. */
export interface Int8Activations {
  q: Int8Array;
  gsum: Int32Array;
  factor: Float32Array;
}

/** Causal-attention arguments shared by the batched and single-query kernels. */
export interface AttentionShape {
  nHead: number;
  nKv: number;
  headDim: number;
  scale: number;
}

/** One matrix of {@link InferNative.matmulI2sFused}: I2_S bytes, rows, tensor scale, output. */
export interface I2sFusedMatrix {
  /** I2_S weight bytes (rows x cols / 4, the scale after them is not read). */
  w: Uint8Array;
  /** Output rows. */
  rows: number;
  /** The tensor's f32 scale. */
  wscale: number;
  /** Output, `ntok * rows` values (token-major). */
  y: Float32Array;
}

const big = BigInt;

/**
 * The loaded inference kernels. Lengths are numbers; the wrappers pass them to C as `int64_t`.
 *
 * @example
 * ```ts ignore
 * import { inferNative } from "./infer_native.ts";
 * const native = inferNative();
 * if (native) {
 *   const x = new Float32Array(2).fill(1);
 *   native.add(x, Float32Array.of(1, 2), 2); // x = [2, 3]
 * }
 * ```
 */
export class InferNative {
  readonly #s: BitloadSymbols;
  /** Path of the opened library. */
  readonly path: string;
  /** The levels this machine runs, slowest first (`"scalar"` first). */
  readonly levels: readonly InferLevel[];
  /** The SIMD level the calling thread uses. */
  level: InferLevel;
  /** The worker count in use (process-wide). */
  threads = 1;

  /** Wraps an opened library's symbols (see {@link inferNative}). */
  constructor(symbols: BitloadSymbols, path: string) {
    this.#s = symbols;
    this.path = path;
    // Bind every kernel now (the library binds each function on first use, ffi/lazy_library.ts):
    // a binding compiles a call trampoline, memory that `run` accounts for when the engine is
    // built; bound during generation it raised the peak past the plan (planned ÷ measured 0.965
    // on a small model, limit 3 %).
    for (const name of Object.keys(symbols)) void symbols[name as keyof BitloadSymbols];
    const best = symbols.bl_simd_best();
    this.levels = best === 3
      ? ["scalar", "neon"]
      : INFER_LEVELS.slice(0, best + 1).filter((name) => name !== "neon");
    this.level = INFER_LEVELS[symbols.bl_simd_level()];
  }

  /**
   * Selects a level for the calling thread (`"best"` for the fastest; a level the CPU lacks
   * selects the best one below it); returns the level now in use.
   */
  setLevel(level: InferLevel | "best"): InferLevel {
    let i = level === "best" ? -1 : INFER_LEVELS.indexOf(level);
    if (level !== "best" && i < 0) {
      throw new NativeKernelError("BAD_ARGUMENT", `Unknown SIMD level "${level}"`);
    }
    if (i >= 0 && !this.levels.includes(level as InferLevel)) {
      const below = this.levels.filter((name) =>
        name !== "neon" && INFER_LEVELS.indexOf(name) <= i
      );
      i = INFER_LEVELS.indexOf(below[below.length - 1] ?? "scalar");
    }
    this.level = INFER_LEVELS[check(this.#s.bl_set_simd(i), `Cannot select SIMD level "${level}"`)];
    return this.level;
  }

  /** Sets the worker count (caller included, 1..64); returns the count in use. */
  setThreads(n: number): number {
    this.threads = this.#s.bl_set_threads(n);
    return this.threads;
  }

  /** Quantizes `n` floats to int8 codes and 32-group sums; returns the scale (127 / max|x|). */
  quantizeAct(x: Float32Array, n: number, q: Int8Array, gsum: Int32Array): number {
    return this.#s.bl_quantize_act(x, big(n), q, gsum);
  }

  /** Quantizes `rows` rows of `width` to per-row int8 activations. */
  quantizeRows(x: Float32Array, rows: number, width: number, acts: Int8Activations): void {
    this.#s.bl_quantize_rows(x, big(rows), big(width), acts.q, acts.gsum, acts.factor);
  }

  /** Quantizes `rows` rows of `width` to activation blocks of `kind`, as ggml does. */
  quantizeBlocks(
    kind: ActivationBlocks,
    x: Float32Array,
    rows: number,
    width: number,
    out: Uint8Array,
  ): void {
    const s = this.#s;
    const fn = kind === "q8_0"
      ? s.bl_quantize_rows_q8_0
      : kind === "q8_1"
      ? s.bl_quantize_rows_q8_1
      : s.bl_quantize_rows_q8_k;
    fn(x, big(rows), big(width), out);
  }

  /** Block-quantized weights times activation blocks (from {@link quantizeBlocks}). */
  matmulBlocks(
    kernel: BlockKernel,
    w: Uint8Array,
    rows: number,
    cols: number,
    xq: Uint8Array,
    ntok: number,
    y: Float32Array,
    context = `bl_matmul_${kernel}`,
  ): void {
    const status: number | void = this.#s[`bl_matmul_${kernel}`](
      w,
      big(rows),
      big(cols),
      xq,
      big(ntok),
      y,
    );
    if (typeof status === "number") check(status, context);
  }

  /** Ternary weights times per-row int8 activations; `wscale` is I2_S's tensor scale. */
  matmulTernary(
    kernel: TernaryKernel,
    w: Uint8Array,
    rows: number,
    cols: number,
    wscale: number,
    acts: Int8Activations,
    ntok: number,
    y: Float32Array,
    context = `bl_matmul_${kernel}`,
  ): void {
    const s = this.#s;
    const status = kernel === "i2s"
      ? s.bl_matmul_i2s(
        w,
        big(rows),
        big(cols),
        wscale,
        acts.q,
        acts.gsum,
        acts.factor,
        big(ntok),
        y,
      )
      : (kernel === "tq2" ? s.bl_matmul_tq2 : s.bl_matmul_tq1)(
        w,
        big(rows),
        big(cols),
        acts.q,
        acts.gsum,
        acts.factor,
        big(ntok),
        y,
      );
    check(status, context);
  }

  /**
   * Up to three I2_S products of the same activations (`cols` wide each) in one pool job, bit for
   * bit the separate {@link InferNative.matmulTernary} calls (decode's q/k/v and gate/up).
   */
  matmulI2sFused(
    mats: readonly I2sFusedMatrix[],
    cols: number,
    acts: Int8Activations,
    ntok: number,
    context = "bl_matmul_i2s_fused",
  ): void {
    if (mats.length < 1 || mats.length > 3) {
      throw new RangeError(`${context}: 1 to 3 matrices, got ${mats.length}`);
    }
    const m = (i: number) => mats[i < mats.length ? i : 0];
    const s = this.#s;
    const status = s.bl_matmul_i2s_fused(
      mats.length,
      m(0).w,
      big(mats.length > 0 ? m(0).rows : 0),
      m(0).wscale,
      m(0).y,
      m(1).w,
      big(mats.length > 1 ? m(1).rows : 0),
      m(1).wscale,
      m(1).y,
      m(2).w,
      big(mats.length > 2 ? m(2).rows : 0),
      m(2).wscale,
      m(2).y,
      big(cols),
      acts.q,
      acts.gsum,
      acts.factor,
      big(ntok),
    );
    check(status, context);
  }

  /** F16 weights (raw bytes or halves) times f32 activations. */
  matmulF16(
    w: Uint8Array | Uint16Array,
    rows: number,
    cols: number,
    x: Float32Array,
    ntok: number,
    y: Float32Array,
  ): void {
    this.#s.bl_matmul_f16(w, big(rows), big(cols), x, big(ntok), y);
  }

  /**
   * F16 weights times f32 activations in ggml's one-token arithmetic (activations rounded to f16,
   * `ggml_vec_dot_f16` per row), as llama.cpp and bitnet.cpp compute a decode step's LM head.
   */
  matmulF16Decode(
    w: Uint8Array | Uint16Array,
    rows: number,
    cols: number,
    x: Float32Array,
    ntok: number,
    y: Float32Array,
    context: string,
  ): void {
    check(this.#s.bl_matmul_f16_decode(w, big(rows), big(cols), x, big(ntok), y), context);
  }

  /** F32 weights times f32 activations. */
  matmulF32(
    w: Float32Array,
    rows: number,
    cols: number,
    x: Float32Array,
    ntok: number,
    y: Float32Array,
  ): void {
    this.#s.bl_matmul_f32(w, big(rows), big(cols), x, big(ntok), y);
  }

  /** Requantizes F16 (`src` bytes) or F32 rows to int8 with one absmax scale per row. */
  quantizeWeightI8(
    src: Uint8Array | Float32Array,
    type: "f16" | "f32",
    rows: number,
    cols: number,
    out: { w: Int8Array; scale: Float32Array; sum: Int32Array },
  ): void {
    this.#s.bl_quantize_weight_i8(
      src,
      type === "f16" ? 1 : 0,
      big(rows),
      big(cols),
      out.w,
      out.scale,
      out.sum,
    );
  }

  /** int8 weights (from {@link quantizeWeightI8}) times per-row int8 activations. */
  matmulI8(
    weights: { w: Int8Array; scale: Float32Array; sum: Int32Array },
    rows: number,
    cols: number,
    acts: Int8Activations,
    ntok: number,
    y: Float32Array,
  ): void {
    this.#s.bl_matmul_i8(
      weights.w,
      weights.scale,
      weights.sum,
      big(rows),
      big(cols),
      acts.q,
      acts.factor,
      big(ntok),
      y,
    );
  }

  /** Weights of any dequantizable ggml type id, dequantized row by row inside the product. */
  matmulDequant(
    typeId: number,
    w: Uint8Array,
    rows: number,
    cols: number,
    rowBytes: number,
    x: Float32Array,
    ntok: number,
    y: Float32Array,
    context = "bl_matmul_dequant",
  ): void {
    check(
      this.#s.bl_matmul_dequant(typeId, w, big(rows), big(cols), big(rowBytes), x, big(ntok), y),
      context,
    );
  }

  /** RMSNorm of `rows` rows of `width` times `w` (`out` may be `x`). */
  rmsNorm(
    x: Float32Array,
    w: Float32Array,
    rows: number,
    width: number,
    eps: number,
    out: Float32Array,
  ): void {
    this.#s.bl_rms_norm(x, w, big(rows), big(width), eps, out);
  }

  /** Rotates `ntok` rows of `heads` heads in place with token t's tables at `t * half`. */
  rope(
    v: Float32Array,
    ntok: number,
    heads: number,
    headDim: number,
    half: number,
    cos: Float32Array,
    sin: Float32Array,
    neox: boolean,
  ): void {
    this.#s.bl_rope(v, big(ntok), heads, headDim, half, cos, sin, neox ? 1 : 0);
  }

  /**
   * ggml's RoPE tables for positions `pos0 … pos0 + ntok - 1`: theta = position, times
   * `thetaScale` in f32 per pair; `cos[t * half + i] = cosf(theta)`, `sin` likewise.
   */
  ropeCache(
    pos0: number,
    ntok: number,
    half: number,
    thetaScale: number,
    cos: Float32Array,
    sin: Float32Array,
  ): void {
    this.#s.bl_rope_cache(big(pos0), big(ntok), half, thetaScale, cos, sin);
  }

  /** The C library's `powf` (ggml's RoPE theta scale `powf(base, -2 / n_rot)`). */
  powf(base: number, exponent: number): number {
    return this.#s.bl_powf(base, exponent);
  }

  /** `x[i] += o[i]` for `i < n`. */
  add(x: Float32Array, o: Float32Array, n: number): void {
    this.#s.bl_add(x, o, big(n));
  }

  /** `g = act(g) * u` over `n` values. */
  ffnAct(g: Float32Array, u: Float32Array, n: number, activation: FfnActivation): void {
    this.#s.bl_ffn_act(g, u, big(n), activation === "relu2" ? 1 : 0);
  }

  /** Causal attention of `ntok` queries at `pos0…` over an f32 or f16 KV cache. */
  attentionBatch(
    q: Float32Array,
    k: Float32Array | Float16Array,
    v: Float32Array | Float16Array,
    shape: AttentionShape,
    pos0: number,
    ntok: number,
    out: Float32Array,
    scratch: Float32Array,
  ): void {
    const s = this.#s;
    const fn = k instanceof Float16Array ? s.bl_attention_batch_f16 : s.bl_attention_batch;
    fn(q, k, v, shape.nHead, shape.nKv, shape.headDim, pos0, ntok, shape.scale, out, scratch);
  }

  /**
   * One query over positions `0…npos-1` of an f32 or f16 cache in ggml's one-token arithmetic
   * (V · p by `ggml_vec_dot_f16` with p rounded to f16 for an f16 cache), as llama.cpp and
   * bitnet.cpp decode.
   */
  attentionDecode(
    q: Float32Array,
    k: Float32Array | Float16Array,
    v: Float32Array | Float16Array,
    shape: AttentionShape,
    npos: number,
    out: Float32Array,
    scratch: Float32Array,
  ): void {
    this.#s.bl_attention_decode(
      q,
      k,
      v,
      shape.nHead,
      shape.nKv,
      shape.headDim,
      npos,
      shape.scale,
      out,
      scratch,
      k instanceof Float16Array ? 1 : 0,
    );
  }

  /** Single-query attention over positions `0…npos-1` of an f32 cache. */
  attention(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    shape: AttentionShape,
    npos: number,
    out: Float32Array,
    scratch: Float32Array,
  ): void {
    this.#s.bl_attention(
      q,
      k,
      v,
      shape.nHead,
      shape.nKv,
      shape.headDim,
      npos,
      shape.scale,
      out,
      scratch,
    );
  }
}

let cached: { native: InferNative | null; reason: string } | undefined;

/**
 * The inference kernels, loaded once per process, or `null` when unavailable (see
 * {@link inferNativeReason}).
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
  const lib = nativeLibrary();
  cached = "symbols" in lib
    ? { native: new InferNative(lib.symbols, lib.path), reason: "" }
    : { native: null, reason: lib.reason };
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

/**
 * The inference kernels or a {@link NativeKernelError} (`UNAVAILABLE`) with the reason.
 *
 * @example
 * ```ts ignore
 * import { requireInferNative } from "./infer_native.ts";
 * const native = requireInferNative(); // throws when the library cannot be used
 * ```
 */
export function requireInferNative(): InferNative {
  const native = inferNative();
  if (native === null) {
    throw new NativeKernelError(
      "UNAVAILABLE",
      `native inference kernels unavailable: ${inferNativeReason()}`,
    );
  }
  return native;
}

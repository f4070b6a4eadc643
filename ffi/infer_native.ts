/**
 * The inference kernels of the one native library (`kernels/infer/*.c`, built and opened with the
 * dequantizers by `ffi/library.ts`): ternary I2_S/TQ2_0/TQ1_0 products on int8 activations,
 * block-quantized products bit-exact with ggml's `vec_dot`, f16/f32 products, norms and attention.
 *
 * `BITLOAD_NATIVE=0` disables the library, `BITLOAD_NATIVE_LIB` names a prebuilt one, and
 * `BITLOAD_SIMD=scalar|avx2|avx512` caps the SIMD level (`BITLOAD_KERNEL` is a deprecated alias).
 * Failures (no compiler, no permission) give `null` and a reason, and callers use the TypeScript
 * kernels.
 *
 * @module
 */

import { nativeLibrary } from "./native.ts";
import { BitloadStatus, type BitloadSymbols, SIMD_LEVEL_NAMES } from "./symbols.ts";

/** SIMD levels of the library by their C value (`BL_SIMD_*`). */
export const INFER_LEVELS = SIMD_LEVEL_NAMES;

/** A SIMD level of the kernels. */
export type InferLevel = typeof INFER_LEVELS[number];

/** The loaded inference kernels. */
export interface InferNative {
  /** The raw C functions (for the wrappers in `ffi/` and `src/infer/linear.ts`). */
  symbols: BitloadSymbols;
  /** Path of the opened library. */
  path: string;
  /** The SIMD level the calling thread uses. */
  level: InferLevel;
  /** The levels this machine runs, slowest first (`"scalar"` first). */
  levels: readonly InferLevel[];
  /**
   * Selects a level for the calling thread (`"best"` for the fastest; a level the CPU lacks
   * selects the best one below it); returns the level now in use.
   */
  setLevel(level: InferLevel | "best"): InferLevel;
  /** Sets the worker count (caller included); returns the count in use. */
  setThreads(n: number): number;
  /** The worker count in use (process-wide). */
  threads: number;
}

let cached: { native: InferNative | null; reason: string } | undefined;

function open(): InferNative {
  const lib = nativeLibrary();
  if (!("symbols" in lib)) throw new Error(lib.reason);
  const symbols = lib.symbols;
  const best = symbols.bl_simd_best();
  const levels: InferLevel[] = best === 3
    ? ["scalar", "neon"]
    : INFER_LEVELS.slice(0, best + 1).filter((name) => name !== "neon");
  const native: InferNative = {
    symbols,
    path: lib.path,
    level: INFER_LEVELS[symbols.bl_simd_level()],
    levels,
    setLevel(level) {
      let i = level === "best" ? -1 : INFER_LEVELS.indexOf(level);
      if (i >= 0 && !levels.includes(level as InferLevel)) {
        // the best supported level below the requested one
        const below = levels.filter((name) => INFER_LEVELS.indexOf(name) <= i && name !== "neon");
        i = INFER_LEVELS.indexOf(below[below.length - 1] ?? "scalar");
      }
      const got = symbols.bl_set_simd(i);
      if (got === BitloadStatus.BAD_LEVEL) {
        throw new RangeError(`Cannot select SIMD level "${level}"`);
      }
      native.level = INFER_LEVELS[got];
      return native.level;
    },
    setThreads(n) {
      native.threads = symbols.bl_set_threads(n);
      return native.threads;
    },
    threads: 1,
  };
  return native;
}

/**
 * The inference kernels, loaded once per process, or `null` when unavailable (see
 * {@link inferNativeReason}). `BITLOAD_SIMD=scalar|avx2|avx512` caps the SIMD level.
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
  try {
    cached = { native: open(), reason: "" };
  } catch (error) {
    cached = { native: null, reason: error instanceof Error ? error.message : String(error) };
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

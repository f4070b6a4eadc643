/**
 * The native dequantization kernels as a small TypeScript object, or `null` when they are unavailable
 * (then one notice goes to stderr and callers use the pure-TypeScript kernels).
 *
 * @module
 */

import { type LibraryOrigin, openNativeLibrary } from "./library.ts";
import { check, NativeKernelError } from "./errors.ts";
import { type BitloadSymbols, SIMD_LEVEL_NAMES } from "./symbols.ts";

/** A SIMD level of the native kernels. */
export type SimdLevel = "scalar" | "avx2" | "avx512" | "neon";

/** The native kernels. */
export interface NativeKernels {
  /**
   * Dequantizes `out.length` elements of ggml type `typeId` (36 = BitNet I2_S) from `src` into `out`.
   * `src` must hold at least the tensor's bytes (for I2_S: `n/4` code bytes and the f32 scale).
   * `threads` (default 1) splits the work by whole blocks; the result is the same for any count.
   */
  dequantize(typeId: number, src: Uint8Array, out: Float32Array, threads?: number): void;
  /**
   * Decodes a TL1 (`tl` 1) or TL2 (`tl` 2) tensor of `m` rows and `k` columns tiled by
   * `(BM, BK, bm)` into its I2_S transcode and/or f32 values (`kernels/tl.c`). Returns 0, or
   * 1 + the index of the first BM-row strip with a code the converter never writes.
   */
  tlDecode(
    tl: 1 | 2,
    src: Uint8Array,
    m: number,
    k: number,
    tiles: { BM: number; BK: number; bm: number },
    i2s: Uint8Array | null,
    f32: Float32Array | null,
  ): number;
  /** The SIMD level in use. */
  simdLevel(): SimdLevel;
  /**
   * Selects a SIMD level for the calling thread (every kernel of the library: dequantizers and
   * inference); `"best"` restores the fastest one.
   */
  setSimd(level: SimdLevel | "best"): void;
  /** Path of the opened library. */
  libraryPath: string;
}

/** What backend the kernels use, for reports and `bitload bench`. */
export interface KernelInfo {
  /** `"native"` when the C kernels are loaded, `"ts"` when the pure-TypeScript ones are used. */
  backend: "native" | "ts";
  /** Path of the native library, when loaded. */
  library?: string;
  /** SIMD level in use, when native. */
  simd?: string;
  /** Hardware threads available to the kernels (dequantize uses 1 unless asked for more). */
  threads: number;
  /** Why the native kernels are not used, when they are not. */
  reason?: string;
  /**
   * Where the kernels came from: `"env"` (`BITLOAD_NATIVE_LIB`), `"cache"` (an earlier build),
   * `"built"` (built by this process), or `"fallback"` (the TypeScript kernels; see `reason`).
   */
  origin: "env" | "path" | "cache" | "built" | "fallback";
}

interface Loaded {
  kernels: NativeKernels | null;
  symbols: BitloadSymbols | null;
  path?: string;
  origin?: LibraryOrigin;
  reason?: string;
}

let loaded: Loaded | undefined;

function makeKernels(symbols: BitloadSymbols, libraryPath: string): NativeKernels {
  const geometryCache = new Map<number, { elements: number; bytes: number }>();
  function geometry(typeId: number): { elements: number; bytes: number } {
    let g = geometryCache.get(typeId);
    if (g === undefined) {
      const elements = new BigInt64Array(1);
      const bytes = new BigInt64Array(1);
      check(symbols.bl_type_geometry(typeId, elements, bytes), `Cannot dequantize type ${typeId}`);
      g = { elements: Number(elements[0]), bytes: Number(bytes[0]) };
      geometryCache.set(typeId, g);
    }
    return g;
  }

  return {
    libraryPath,
    dequantize(typeId, src, out, threads = 1) {
      if (!Number.isInteger(typeId)) {
        throw new NativeKernelError("BAD_ARGUMENT", `Type id must be an integer: got ${typeId}`);
      }
      if (!(src instanceof Uint8Array)) {
        throw new NativeKernelError("BAD_ARGUMENT", "Source must be a Uint8Array");
      }
      if (!(out instanceof Float32Array)) {
        throw new NativeKernelError("BAD_ARGUMENT", "Output must be a Float32Array");
      }
      if (!Number.isInteger(threads) || threads < 1) {
        throw new NativeKernelError(
          "BAD_ARGUMENT",
          `Thread count must be a positive integer: got ${threads}`,
        );
      }
      const n = out.length;
      const { elements } = geometry(typeId);
      if (n % elements !== 0) {
        throw new NativeKernelError(
          "BAD_ARGUMENT",
          `Cannot dequantize type ${typeId}: ${n} elements is not a multiple of the block size ${elements}`,
        );
      }
      const needed = Number(symbols.bl_source_bytes(typeId, BigInt(n)));
      check(needed, `Cannot dequantize type ${typeId}`);
      if (src.byteLength < needed) {
        throw new NativeKernelError(
          "BAD_ARGUMENT",
          `Cannot dequantize type ${typeId}: ${n} elements need ${needed} source bytes but got ${src.byteLength}`,
        );
      }
      if (n === 0) return;
      check(
        symbols.bl_dequantize_f32(typeId, src, out, BigInt(n), Math.min(threads, 64)),
        `Cannot dequantize type ${typeId}`,
      );
    },
    tlDecode(tl, src, m, k, tiles, i2s, f32) {
      if (i2s !== null && i2s.byteLength !== m * k / 4 + 32) {
        throw new NativeKernelError(
          "BAD_ARGUMENT",
          `The I2_S output needs ${m * k / 4 + 32} bytes, got ${i2s.byteLength}`,
        );
      }
      if (f32 !== null && f32.length !== m * k) {
        throw new NativeKernelError(
          "BAD_ARGUMENT",
          `The f32 output needs ${m * k} values, got ${f32.length}`,
        );
      }
      const status = Number(symbols.bl_tl_decode(
        tl,
        src,
        BigInt(src.byteLength),
        BigInt(m),
        BigInt(k),
        tiles.BM,
        tiles.BK,
        tiles.bm,
        i2s,
        f32,
      ));
      check(status, `Cannot decode TL${tl}`);
      return status;
    },
    simdLevel() {
      return SIMD_LEVEL_NAMES[symbols.bl_simd_level()] ?? "scalar";
    },
    setSimd(level) {
      const index = level === "best" ? -1 : SIMD_LEVEL_NAMES.indexOf(level);
      if (level !== "best" && index < 0) {
        throw new NativeKernelError("BAD_ARGUMENT", `Unknown SIMD level "${level}"`);
      }
      check(symbols.bl_set_simd(index), `Cannot select SIMD level "${level}"`);
    },
  };
}

function load(): Loaded {
  if (loaded !== undefined) return loaded;
  const result = openNativeLibrary();
  if (result.ok) {
    loaded = {
      kernels: makeKernels(result.library.symbols, result.path),
      symbols: result.library.symbols,
      path: result.path,
      origin: result.origin,
    };
  } else {
    loaded = { kernels: null, symbols: null, reason: result.reason };
    console.error(
      `bitload: native kernels unavailable (${result.reason}); using pure-TypeScript kernels`,
    );
  }
  return loaded;
}

/**
 * The native kernels, loaded (and built if needed) on first call; `null` when unavailable, after one
 * notice on stderr.
 *
 * @example
 * ```ts
 * import { nativeKernels } from "./native.ts";
 * const native = nativeKernels();
 * if (native) {
 *   const q8 = new Uint8Array(34); // one Q8_0 block: f16 scale + 32 int8
 *   const out = new Float32Array(32);
 *   native.dequantize(8, q8, out);
 * }
 * ```
 */
export function nativeKernels(): NativeKernels | null {
  return load().kernels;
}

/**
 * The opened kernel library (dequantizers and inference kernels: one library), loaded and built
 * if needed on first call, or `null` with the reason when it is unavailable. For the wrappers in
 * `ffi/`; nothing outside `ffi/` touches the raw symbols.
 *
 * @example
 * ```ts
 * import { nativeLibrary } from "./native.ts";
 * const lib = nativeLibrary();
 * console.log("symbols" in lib ? lib.path : lib.reason);
 * ```
 */
export function nativeLibrary(): { symbols: BitloadSymbols; path: string } | { reason: string } {
  const { symbols, path, reason } = load();
  return symbols !== null ? { symbols, path: path! } : { reason: reason ?? "" };
}

/**
 * Opens the kernel library if a build is already in the cache, quietly: nothing is compiled, no
 * notice is printed, and a failure is not remembered (a later {@link nativeKernels} tries again,
 * building if it must, and prints its notice). For optional speed-ups of commands that need no
 * kernels: with the library open, the header parse scans a large vocabulary's strings natively
 * (`plan`, `inspect`: the 32000 strings of a 2B model's header in ~50 ms instead of ~130 ms, for
 * an open of ~8 ms). Returns whether the library is open.
 *
 * @example
 * ```ts
 * import { openCachedNativeLibrary } from "./native.ts";
 * console.log(openCachedNativeLibrary() ? "kernels open" : "not built yet");
 * ```
 */
export function openCachedNativeLibrary(): boolean {
  if (loaded !== undefined) return loaded.symbols !== null;
  const result = openNativeLibrary({ cacheOnly: true });
  if (!result.ok) return false;
  loaded = {
    kernels: makeKernels(result.library.symbols, result.path),
    symbols: result.library.symbols,
    path: result.path,
    origin: result.origin,
  };
  return true;
}

/**
 * Whether the kernel library is already open in this process (nothing is loaded or built): for
 * optional speed-ups that are worth it only when the library is there anyway.
 *
 * @example
 * ```ts
 * import { nativeLibraryOpen } from "./native.ts";
 * if (nativeLibraryOpen()) console.log("kernels open");
 * ```
 */
export function nativeLibraryOpen(): boolean {
  return loaded !== undefined && loaded.symbols !== null;
}

/**
 * The SIMD levels this machine can run, slowest first (always starts with `"scalar"`); empty when the
 * native kernels are unavailable. Tests use it to run every path.
 *
 * @example
 * ```ts
 * import { supportedSimdLevels } from "./native.ts";
 * console.log(supportedSimdLevels()); // e.g. ["scalar", "avx2", "avx512"]
 * ```
 */
export function supportedSimdLevels(): SimdLevel[] {
  const { symbols } = load();
  if (symbols === null) return [];
  const best = symbols.bl_simd_best();
  if (best === 3) return ["scalar", "neon"];
  return SIMD_LEVEL_NAMES.slice(0, best + 1).filter((name) => name !== "neon");
}

/**
 * Which kernels bitload uses, for reports.
 *
 * @example
 * ```ts
 * import { kernelInfo } from "./native.ts";
 * const info = kernelInfo();
 * console.log(info.backend, info.simd ?? info.reason);
 * ```
 */
export function kernelInfo(): KernelInfo {
  const { kernels, reason, origin } = load();
  const threads = navigator.hardwareConcurrency ?? 1;
  if (kernels === null) return { backend: "ts", threads, reason, origin: "fallback" };
  const simd = kernels.simdLevel();
  return { backend: "native", library: kernels.libraryPath, simd, threads, origin: origin! };
}

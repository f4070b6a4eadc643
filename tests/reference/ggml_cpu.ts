/**
 * ggml's CPU kernels as a test oracle: the x86 builds of `libggml-cpu-<variant>.so` that sit next
 * to `libggml-base.so` in `@node-llama-cpp/linux-x64@3.22.1` (llama.cpp v0.5.0). `haswell` is the
 * AVX2 build, `zen4` the AVX-512 (VNNI) one. Each library has its own f16 table, filled by its
 * `ggml_cpu_init`. Absent libraries (or a CPU that lacks the variant's ISA) give `null` and a
 * reason, so tests can skip.
 *
 * @module
 */

import { dirname } from "node:path";
import { existsSync } from "node:fs";
import { findGgmlLibrary } from "./ggml.ts";

/** `void ggml_vec_dot_*(int n, float *s, size_t bs, const void *vx, size_t bx, const void *vy,
 * size_t by, int nrc)`. */
const VEC_DOT = {
  parameters: ["i32", "buffer", "usize", "buffer", "usize", "buffer", "usize", "i32"],
  result: "void",
} as const;

/** The ggml-cpu symbols the tests call. */
const SYMBOLS = {
  ggml_cpu_init: { parameters: [], result: "void" },
  // void quantize_row_q8_0(const float *x, void *y, int64_t k)
  quantize_row_q8_0: { parameters: ["buffer", "buffer", "i64"], result: "void" },
  ggml_vec_dot_q8_0_q8_0: VEC_DOT,
  ggml_vec_dot_iq4_nl_q8_0: VEC_DOT,
  ggml_vec_dot_q5_0_q8_0: VEC_DOT,
  ggml_vec_dot_q4_0_q8_0: VEC_DOT,
  quantize_row_q8_K: { parameters: ["buffer", "buffer", "i64"], result: "void" },
  quantize_row_q8_1: { parameters: ["buffer", "buffer", "i64"], result: "void" },
  ggml_vec_dot_q4_1_q8_1: VEC_DOT,
  ggml_vec_dot_q5_1_q8_1: VEC_DOT,
  ggml_vec_dot_iq4_xs_q8_K: VEC_DOT,
  ggml_vec_dot_q2_K_q8_K: VEC_DOT,
  ggml_vec_dot_q3_K_q8_K: VEC_DOT,
  ggml_vec_dot_q4_K_q8_K: VEC_DOT,
  ggml_vec_dot_q5_K_q8_K: VEC_DOT,
  ggml_vec_dot_q6_K_q8_K: VEC_DOT,
} as const satisfies Deno.ForeignLibraryInterface;

/** The types with a `ggml_vec_dot_*_q8_K` the tests call. */
export type KQuant = "Q2_K" | "Q3_K" | "Q4_K" | "Q5_K" | "Q6_K" | "IQ4_XS";

/** A ggml-cpu build opened for tests. */
export interface GgmlCpu {
  /** Library path. */
  path: string;
  /** `quantize_row_q8_0` of `x` (length a multiple of 32) into new Q8_0 blocks. */
  quantizeRowQ8_0(x: Float32Array): Uint8Array;
  /** `ggml_vec_dot_q8_0_q8_0` of one weight row and one activation row of `n` values. */
  vecDotQ8_0(n: number, w: Uint8Array, x: Uint8Array): number;
  /** `quantize_row_q8_1` of `x` (length a multiple of 32) into new Q8_1 blocks. */
  quantizeRowQ8_1(x: Float32Array): Uint8Array;
  /** `ggml_vec_dot_q{4,5}_1_q8_1` of one Q4_1 / Q5_1 weight row and one Q8_1 activation row. */
  vecDotOnQ8_1(type: "Q4_1" | "Q5_1", n: number, w: Uint8Array, x: Uint8Array): number;
  /** `ggml_vec_dot_{q4_0,q5_0,iq4_nl}_q8_0` of one weight row and one Q8_0 activation row. */
  vecDotOnQ8_0(type: "Q4_0" | "Q5_0" | "IQ4_NL", n: number, w: Uint8Array, x: Uint8Array): number;
  /**
   * `quantize_row_q8_K` of `x` (length a multiple of 256) into new Q8_K blocks. ggml leaves the
   * 16-sums of an all-zero block unwritten: they come back as zeros here (the buffer is new).
   */
  quantizeRowQ8_K(x: Float32Array): Uint8Array;
  /** `ggml_vec_dot_{q2_K…q6_K,iq4_xs}_q8_K` of one row of `n` values. */
  vecDotK(type: KQuant, n: number, w: Uint8Array, x: Uint8Array): number;
}

/** The CPU features each variant needs (from `/proc/cpuinfo` flag names). */
const NEEDS: Record<string, string[]> = {
  haswell: ["avx2", "fma", "f16c"],
  zen4: ["avx512f", "avx512bw", "avx512vl", "avx512_vnni"],
};

function cpuFlags(): Set<string> {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    const line = info.split("\n").find((l) => l.startsWith("flags"));
    return new Set(line ? line.split(":")[1].trim().split(/\s+/) : []);
  } catch {
    return new Set();
  }
}

/**
 * Opens `libggml-cpu-<variant>.so`, or returns a reason string when it cannot be used here.
 *
 * @example
 * ```ts ignore
 * const cpu = openGgmlCpu("haswell");
 * if (typeof cpu !== "string") cpu.quantizeRowQ8_0(new Float32Array(32));
 * ```
 */
export function openGgmlCpu(variant: "haswell" | "zen4"): GgmlCpu | string {
  const base = findGgmlLibrary();
  if (!base) return "libggml-base.so not found (npm install @node-llama-cpp/linux-x64)";
  const path = `${dirname(base)}/libggml-cpu-${variant}.so`;
  if (!existsSync(path)) return `${path} not found`;
  const flags = cpuFlags();
  const missing = NEEDS[variant].filter((f) => !flags.has(f));
  if (missing.length) return `this CPU lacks ${missing.join(", ")} for the ${variant} build`;
  const lib = Deno.dlopen(path, SYMBOLS);
  lib.symbols.ggml_cpu_init();
  const out = new Float32Array(1);
  return {
    path,
    quantizeRowQ8_0(x) {
      const y = new Uint8Array(x.length / 32 * 34);
      lib.symbols.quantize_row_q8_0(x, y, BigInt(x.length));
      return y;
    },
    vecDotQ8_0(n, w, x) {
      lib.symbols.ggml_vec_dot_q8_0_q8_0(n, out, 0n, w, 0n, x, 0n, 1);
      return out[0];
    },
    vecDotOnQ8_0(type, n, w, x) {
      const dot = {
        Q4_0: lib.symbols.ggml_vec_dot_q4_0_q8_0,
        Q5_0: lib.symbols.ggml_vec_dot_q5_0_q8_0,
        IQ4_NL: lib.symbols.ggml_vec_dot_iq4_nl_q8_0,
      }[type];
      dot(n, out, 0n, w, 0n, x, 0n, 1);
      return out[0];
    },
    quantizeRowQ8_1(x) {
      const y = new Uint8Array(x.length / 32 * 36);
      lib.symbols.quantize_row_q8_1(x, y, BigInt(x.length));
      return y;
    },
    vecDotOnQ8_1(type, n, w, x) {
      const dot = type === "Q4_1"
        ? lib.symbols.ggml_vec_dot_q4_1_q8_1
        : lib.symbols.ggml_vec_dot_q5_1_q8_1;
      dot(n, out, 0n, w, 0n, x, 0n, 1);
      return out[0];
    },
    quantizeRowQ8_K(x) {
      const y = new Uint8Array(x.length / 256 * 292);
      lib.symbols.quantize_row_q8_K(x, y, BigInt(x.length));
      return y;
    },
    vecDotK(type, n, w, x) {
      const dot = {
        Q2_K: lib.symbols.ggml_vec_dot_q2_K_q8_K,
        Q3_K: lib.symbols.ggml_vec_dot_q3_K_q8_K,
        Q4_K: lib.symbols.ggml_vec_dot_q4_K_q8_K,
        Q5_K: lib.symbols.ggml_vec_dot_q5_K_q8_K,
        Q6_K: lib.symbols.ggml_vec_dot_q6_K_q8_K,
        IQ4_XS: lib.symbols.ggml_vec_dot_iq4_xs_q8_K,
      }[type];
      dot(n, out, 0n, w, 0n, x, 0n, 1);
      return out[0];
    },
  };
}

/**
 * `ntok × rows` products in bitload's output layout (`y[t * rows + r]`), one oracle dot per weight
 * row `w[r]` (`wRowBytes` apart) and activation row `x[t]` (`xRowBytes` apart).
 *
 * @example
 * ```ts ignore
 * const want = rowProducts(rows, ntok, w, wRowBytes, xq, xRowBytes, (wr, xr) => cpu.vecDotQ8_0(n, wr, xr));
 * ```
 */
export function rowProducts(
  rows: number,
  ntok: number,
  w: Uint8Array,
  wRowBytes: number,
  x: Uint8Array,
  xRowBytes: number,
  dot: (wRow: Uint8Array, xRow: Uint8Array) => number,
): Float32Array {
  const out = new Float32Array(ntok * rows);
  for (let t = 0; t < ntok; t++) {
    const xr = x.subarray(t * xRowBytes, (t + 1) * xRowBytes);
    for (let r = 0; r < rows; r++) {
      out[t * rows + r] = dot(w.subarray(r * wRowBytes, (r + 1) * wRowBytes), xr);
    }
  }
  return out;
}

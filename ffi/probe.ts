/**
 * The machine probes of the native library (`kernels/probe.c`) as typed functions: streaming read
 * bandwidth on the pool, the multiply-accumulate throughput of one core per instruction (AVX2
 * `vpmaddubsw`, AVX-512 VNNI `vpdpbusd` on ymm and zmm, f32 FMA), and the I2_S product's own rate
 * on cache-resident weights. They are the two sides of the decode roofline
 * (`src/infer/decode_roofline.ts`). Every function returns `null` when the native library is
 * unavailable.
 *
 * @module
 */

import { nativeLibrary } from "./native.ts";

/** Instructions timed by {@link macRate}, by their `bl_probe_mac_rate` kind. */
export const MAC_KINDS = {
  /** `vpmaddubsw` + `vpaddw` on ymm (AVX2): int8 products per second. */
  maddubsYmm: 0,
  /** `vpdpbusd` on ymm (AVX-512 VNNI, VL): int8 products per second. */
  dpbusdYmm: 1,
  /** `vpdpbusd` on zmm (AVX-512 VNNI): int8 products per second. */
  dpbusdZmm: 2,
  /** `vfmadd` on ymm (AVX2 + FMA): f32 fused multiply-adds per second. */
  fmaYmm: 3,
} as const;

/** An instruction timed by {@link macRate}. */
export type MacKind = keyof typeof MAC_KINDS;

function symbols() {
  const lib = nativeLibrary();
  return "symbols" in lib ? lib.symbols : null;
}

/**
 * The fastest of `reps` streaming reads of `buffer` (after one unmeasured pass) on `threads`
 * threads of the library's pool, in bytes/s; `null` without the native library.
 *
 * @example
 * ```ts
 * import { probeReadBandwidth } from "./probe.ts";
 * const rate = probeReadBandwidth(new Uint8Array(1 << 20), 1, 2);
 * rate === null || rate > 0; // true
 * ```
 */
export function probeReadBandwidth(buffer: Uint8Array, threads: number, reps = 3): number | null {
  const s = symbols();
  if (!s) return null;
  return s.bl_probe_read_bandwidth(buffer, BigInt(buffer.byteLength), threads, reps);
}

/**
 * Multiply-accumulates per second of one instruction on the calling thread (`iters` iterations
 * of 12 independent chains): int8 products for the integer kinds, f32 FMAs for `fmaYmm`. 0 when
 * the CPU lacks the instruction; `null` without the native library.
 *
 * @example
 * ```ts
 * import { probeMacRate } from "./probe.ts";
 * const rate = probeMacRate("maddubsYmm", 1000);
 * rate === null || rate >= 0; // true
 * ```
 */
export function probeMacRate(kind: MacKind, iters = 200_000): number | null {
  const s = symbols();
  if (!s) return null;
  return s.bl_probe_mac_rate(MAC_KINDS[kind], BigInt(iters));
}

/**
 * Weight bytes per second of the I2_S product on one token (the calling thread's SIMD level and
 * the pool's thread count) over a `rows` × `cols` matrix small enough to stay in cache: the
 * kernel's compute ceiling. `null` without the native library.
 *
 * @example
 * ```ts
 * import { probeI2sRate } from "./probe.ts";
 * const rate = probeI2sRate(64, 256, 3);
 * rate === null || rate > 0; // true
 * ```
 */
export function probeI2sRate(rows: number, cols: number, reps = 50): number | null {
  const s = symbols();
  if (!s) return null;
  return s.bl_probe_i2s_rate(BigInt(rows), BigInt(cols), reps);
}

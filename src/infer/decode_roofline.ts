/**
 * The decode roofline of a loaded model: bytes read per generated token (`decode_bytes.ts`) against
 * the read bandwidth measured on this machine at the model's thread count, and the multiply-adds
 * per token against the core's measured instruction throughput (`ffi/probe.ts`). A decode step
 * reads every weight once, so `bytes per token × tok/s ÷ bandwidth` is the fraction of the memory
 * limit reached; when the compute ceiling is the lower one, the step is compute-bound.
 *
 * The bandwidth is measured by streaming the model's own weight bytes (the working set of a decode
 * step: a small model that fits in the last-level cache is compared with the cache's bandwidth, a
 * large one with DRAM's; at most its first GiB) on the pool's threads. A measurement is kept per
 * machine, thread count, library ABI and span size (`bandwidth_cache.ts`: a 700 MB model's probe
 * takes 0.25–0.45 s) and measured again when the caller asks (`freshBandwidth`, as `bitload bench
 * --only decode` does); the instruction rates are measured once per process (about 40 ms).
 *
 * @module
 */

import { type InferLevel, inferNative } from "../../ffi/infer_native.ts";
import { type MacKind, probeI2sRate, probeMacRate, probeReadBandwidth } from "../../ffi/probe.ts";
import type { ModelConfig } from "./config.ts";
import {
  type DecodeBytes,
  decodeBytesPerToken,
  type DecodeOps,
  decodeOpsPerToken,
  type DecodeReads,
} from "./decode_bytes.ts";
import type { ModelWeights } from "./model.ts";
import { bandwidthKey, cachedBandwidth, saveBandwidth } from "./bandwidth_cache.ts";
import { stealMeter } from "../common/cpu_steal.ts";

/** Passes of the bandwidth probe after its warm-up pass (the fastest is kept). */
const BANDWIDTH_REPS = 2;
/**
 * Most bytes of the weights the bandwidth probe streams: 1 GiB is far above any last-level cache
 * of today's CPUs and keeps the probe under half a second at 10 GB/s for models of any size.
 */
const BANDWIDTH_MAX_BYTES = 2 ** 30;
/** Loop iterations of one instruction-throughput probe (12 chains each: about 2 ms). */
const MAC_ITERS = 250_000;
/** Probes per instruction (the fastest is kept: a busy machine only ever slows one down). */
const MAC_REPS = 4;
/** The cache-resident I2_S matrix of the kernel probe: 1024 × 2560 codes, 640 KiB (fits L2). */
const I2S_PROBE_SHAPE = [1024, 2560] as const;
/** Calls of the I2_S kernel probe (the fastest is kept). */
const I2S_PROBE_REPS = 40;

/**
 * The int8 instruction of the integer kernels at each SIMD level (null: none). At AVX-512 a
 * model whose integer projections are all I2_S decodes on 512-bit `vpdpbusd` (the one-token I2_S
 * kernel, kernels/infer/ternary.c dot_i2s_zmm_1); the other integer kernels use 256-bit.
 */
export const INT8_INSTRUCTION: Readonly<Record<InferLevel, keyof CoreRates | null>> = {
  scalar: null,
  avx2: "maddubsYmm",
  avx512: "dpbusdYmm",
  neon: null,
};

/** Per-core throughput of the instructions the kernels use (multiply-adds per second). */
export interface CoreRates {
  /** `vpmaddubsw` + `vpaddw` ymm (AVX2), int8 products/s; 0 without AVX2. */
  maddubsYmm: number;
  /** `vpdpbusd` ymm (AVX-512 VNNI), int8 products/s; 0 without it. */
  dpbusdYmm: number;
  /** `vpdpbusd` zmm (AVX-512 VNNI), int8 products/s; 0 without it. */
  dpbusdZmm: number;
  /** `vfmadd` ymm, f32 FMAs/s; 0 without FMA. */
  fmaYmm: number;
}

/** A model's decode step against the machine's limits. */
export interface DecodeRoofline {
  /** Threads of the kernels (the bandwidth and compute ceilings are for this many). */
  threads: number;
  /** SIMD level of the kernels (`"scalar"`, `"avx2"`, `"avx512"`, `"neon"`). */
  level: string;
  /** Positions attended to per step (mean over the steps measured). */
  contextTokens: number;
  /** Bytes read per generated token, by part. */
  bytes: DecodeBytes;
  /** Sum of {@link bytes}. */
  bytesPerToken: number;
  /** Generation speed measured. */
  tokensPerSecond: number;
  /** Streaming read bandwidth of the model's weight bytes at {@link threads}, bytes/s. */
  bandwidthBytesPerSecond: number;
  /** Whether {@link bandwidthBytesPerSecond} was measured by this call or a stored one. */
  bandwidthSource: "measured" | "cached";
  /** When the bandwidth was measured (ISO 8601; "" without one). */
  bandwidthMeasuredAt: string;
  /** bytesPerToken × tokensPerSecond ÷ bandwidth. */
  fractionOfBandwidth: number;
  /** bandwidth ÷ bytesPerToken: the memory bound of tok/s. */
  bandwidthBoundTokensPerSecond: number;
  /** Multiply-adds per token. */
  ops: DecodeOps;
  /** The int8 instruction of the kernels at this level, if any. */
  int8Instruction: keyof CoreRates | null;
  /** Its measured throughput × threads, int8 products/s (0 without one). */
  int8MacsPerSecond: number;
  /** f32 FMA throughput × threads (ymm), FMAs/s. */
  f32FmasPerSecond: number;
  /** 1 ÷ (int8Macs ÷ int8 rate + f32Fmas ÷ FMA rate): the instruction bound of tok/s. */
  computeBoundTokensPerSecond: number;
  /**
   * The I2_S product's own rate on cache-resident weights at this level and thread count, weight
   * bytes/s (0 for models without I2_S projections): the kernel's ceiling, decode and all.
   */
  kernelBytesPerSecond: number;
  /**
   * tok/s if the I2_S bytes went at {@link kernelBytesPerSecond} and the rest at the bandwidth (0
   * without I2_S projections).
   */
  kernelBoundTokensPerSecond: number;
  /** The lower ceiling: `"memory"` or `"compute"` (instructions or the I2_S kernel's rate). */
  bound: "memory" | "compute";
}

/** A read-bandwidth figure and where it came from. */
export interface BandwidthReading {
  /** Streaming read rate, bytes/s (0 without the native library or an empty span). */
  bytesPerSecond: number;
  /** `"measured"` by this call, or `"cached"` (this process's or the machine's stored probe). */
  source: "measured" | "cached";
  /** When it was measured (ISO 8601; "" without a measurement). */
  measuredAt: string;
  /** The hypervisor's share of the CPUs' time during that probe (null: unknown). */
  stealFraction: number | null;
}

const bandwidthCache = new Map<string, Omit<BandwidthReading, "source">>();
let coreRatesCache: CoreRates | undefined;
const kernelRateCache = new Map<string, number>();

/**
 * The model's weight bytes as one span of memory: the range of the mapping (or read buffer) that
 * holds most of its tensor bytes, from the first tensor's start to the last one's end.
 *
 * @example
 * ```ts ignore
 * import { weightSpan } from "./decode_roofline.ts";
 * weightSpan(model.weights).byteLength; // ≈ the file size for a one-part file
 * ```
 */
export function weightSpan(weights: ModelWeights): Uint8Array {
  const spans = new Map<ArrayBufferLike, { start: number; end: number; bytes: number }>();
  for (const t of weights.tensors) {
    const d = weights.tensorData(t.name);
    if (d.byteLength === 0) continue;
    const s = spans.get(d.buffer) ?? { start: Infinity, end: 0, bytes: 0 };
    s.start = Math.min(s.start, d.byteOffset);
    s.end = Math.max(s.end, d.byteOffset + d.byteLength);
    s.bytes += d.byteLength;
    spans.set(d.buffer, s);
  }
  let best: [ArrayBufferLike, { start: number; end: number; bytes: number }] | undefined;
  for (const e of spans) if (!best || e[1].bytes > best[1].bytes) best = e;
  if (!best) return new Uint8Array(0);
  return new Uint8Array(best[0], best[1].start, best[1].end - best[1].start);
}

/**
 * The part of a model's weights the bandwidth probe streams: {@link weightSpan}, at most its
 * first GiB.
 *
 * @example
 * ```ts ignore
 * import { bandwidthSpan } from "./decode_roofline.ts";
 * bandwidthSpan(model.weights).byteLength; // ≤ 2 ** 30
 * ```
 */
export function bandwidthSpan(weights: ModelWeights): Uint8Array {
  const span = weightSpan(weights);
  return span.subarray(0, Math.min(span.byteLength, BANDWIDTH_MAX_BYTES));
}

/**
 * Streaming read bandwidth of `span` on `threads` pool threads. Unless `fresh`, a figure already
 * measured in this process or stored for this machine (`bandwidth_cache.ts`) is returned as
 * `"cached"`; otherwise the probe runs (`"measured"`) and, unless `store` is false, its result is
 * kept for later processes when it beats the stored figure (`bandwidth_cache.ts`: a busy moment
 * only slows a probe; not when the hypervisor stole too much of it). Bytes/s 0 without the
 * native library.
 *
 * @example
 * ```ts ignore
 * import { bandwidthSpan, readBandwidth } from "./decode_roofline.ts";
 * readBandwidth(bandwidthSpan(model.weights), 2).bytesPerSecond; // e.g. 1.05e10
 * readBandwidth(bandwidthSpan(model.weights), 2, { fresh: true }).source; // "measured"
 * ```
 */
export function readBandwidth(
  span: Uint8Array,
  threads: number,
  options: { fresh?: boolean; store?: boolean } = {},
): BandwidthReading {
  if (span.byteLength === 0) {
    return { bytesPerSecond: 0, source: "measured", measuredAt: "", stealFraction: null };
  }
  const key = bandwidthKey(threads, span.byteLength);
  if (!options.fresh) {
    const known = bandwidthCache.get(key) ?? cachedBandwidth(key);
    if (known) {
      bandwidthCache.set(key, known);
      return { ...known, source: "cached" };
    }
  }
  const steal = stealMeter();
  const rate = probeReadBandwidth(span, threads, BANDWIDTH_REPS) ?? 0;
  const reading = {
    bytesPerSecond: rate,
    measuredAt: new Date().toISOString(),
    stealFraction: steal(),
  };
  if (rate > 0) {
    bandwidthCache.set(key, reading);
    if (options.store !== false) saveBandwidth(key, reading);
  }
  return { ...reading, source: "measured" };
}

/**
 * The calling core's measured instruction throughput (once per process); zeros without the native
 * library.
 *
 * @example
 * ```ts ignore
 * import { coreRates } from "./decode_roofline.ts";
 * coreRates().dpbusdZmm; // e.g. 1.7e11 int8 products/s
 * ```
 */
export function coreRates(): CoreRates {
  const best = (kind: MacKind) => {
    let rate = 0;
    for (let i = 0; i < MAC_REPS; i++) rate = Math.max(rate, probeMacRate(kind, MAC_ITERS) ?? 0);
    return rate;
  };
  coreRatesCache ??= {
    maddubsYmm: best("maddubsYmm"),
    dpbusdYmm: best("dpbusdYmm"),
    dpbusdZmm: best("dpbusdZmm"),
    fmaYmm: best("fmaYmm"),
  };
  return coreRatesCache;
}

/**
 * The I2_S product's rate on cache-resident weights at the current SIMD level and thread count,
 * weight bytes/s (once per process, level and thread count); 0 without the native library.
 *
 * @example
 * ```ts ignore
 * import { i2sKernelRate } from "./decode_roofline.ts";
 * i2sKernelRate("avx512", 1); // e.g. 1.3e10
 * ```
 */
export function i2sKernelRate(level: InferLevel, threads: number): number {
  const key = `${level}:${threads}`;
  let rate = kernelRateCache.get(key);
  if (rate === undefined) {
    rate = probeI2sRate(I2S_PROBE_SHAPE[0], I2S_PROBE_SHAPE[1], I2S_PROBE_REPS) ?? 0;
    kernelRateCache.set(key, rate);
  }
  return rate;
}

/** What {@link decodeRoofline} needs from a model. */
export interface RooflineModel {
  /** Hyperparameters. */
  readonly config: ModelConfig;
  /** KV cache element type. */
  readonly kvType: "f32" | "f16";
  /** Kernel threads. */
  readonly threads: number;
  /** The weights (their bytes are the bandwidth probe's buffer). */
  readonly weights: ModelWeights;
  /** What a decode step reads. */
  decodeReads(): DecodeReads;
}

/**
 * Sets a model's measured generation speed against this machine's ceilings at the model's thread
 * count. `contextTokens` is the mean number of positions a measured step attended to (for a run:
 * prompt length + generated tokens / 2). Runs the probes the first time (see the module notes);
 * `freshBandwidth` measures the bandwidth again even when a stored figure exists.
 *
 * @example
 * ```ts ignore
 * import { decodeRoofline } from "./decode_roofline.ts";
 * const r = decodeRoofline(model, { tokensPerSecond: 7.1, contextTokens: 48 });
 * console.log(`${(r.fractionOfBandwidth * 100).toFixed(0)} % of ${r.bandwidthBytesPerSecond / 1e9} GB/s`);
 * ```
 */
export function decodeRoofline(
  model: RooflineModel,
  measured: { tokensPerSecond: number; contextTokens: number },
  options: { freshBandwidth?: boolean } = {},
): DecodeRoofline {
  const native = inferNative();
  const level: InferLevel = native?.level ?? "scalar";
  const threads = model.threads;
  const reads = model.decodeReads();
  const bytes = decodeBytesPerToken(reads, model.config, model.kvType, measured.contextTokens);
  const ops = decodeOpsPerToken(reads, model.config, measured.contextTokens);
  const probed = native ? bandwidthSpan(model.weights) : new Uint8Array(0);
  const reading = readBandwidth(probed, threads, { fresh: options.freshBandwidth });
  const bandwidth = reading.bytesPerSecond;
  const cores = Math.min(threads, navigator.hardwareConcurrency ?? threads);
  const rates = native ? coreRates() : { maddubsYmm: 0, dpbusdYmm: 0, dpbusdZmm: 0, fmaYmm: 0 };
  const integer = reads.projections.filter((p) => !p.float);
  const allI2s = integer.length > 0 && integer.every((p) => p.kernel === "i2s");
  const instruction = level === "avx512" && allI2s ? "dpbusdZmm" : INT8_INSTRUCTION[level];
  const int8Rate = instruction ? rates[instruction] * cores : 0;
  const fmaRate = level === "scalar" ? 0 : rates.fmaYmm * cores;
  const computeSeconds = (ops.int8Macs > 0 ? ops.int8Macs / int8Rate : 0) +
    (ops.f32Fmas > 0 ? ops.f32Fmas / fmaRate : 0);
  const computeBound = computeSeconds > 0 && Number.isFinite(computeSeconds)
    ? 1 / computeSeconds
    : 0;
  const hasI2s = reads.projections.some((p) => p.kernel === "i2s");
  const kernelRate = native && hasI2s ? i2sKernelRate(level, threads) : 0;
  const bandwidthBound = bandwidth > 0 ? bandwidth / bytes.total : 0;
  // the kernel's own ceiling: I2_S bytes at its cache-resident rate, the rest at the bandwidth
  const i2sBytes = reads.projections.filter((p) => p.kernel === "i2s")
    .reduce((n, p) => n + p.bytes, 0);
  const kernelSeconds = kernelRate > 0 && bandwidth > 0
    ? i2sBytes / kernelRate + (bytes.total - i2sBytes) / bandwidth
    : 0;
  const kernelBound = kernelSeconds > 0 ? 1 / kernelSeconds : 0;
  const computeCeiling = Math.min(
    computeBound > 0 ? computeBound : Infinity,
    kernelBound > 0 ? kernelBound : Infinity,
  );
  return {
    threads,
    level,
    contextTokens: measured.contextTokens,
    bytes,
    bytesPerToken: bytes.total,
    tokensPerSecond: measured.tokensPerSecond,
    bandwidthBytesPerSecond: bandwidth,
    bandwidthSource: reading.source,
    bandwidthMeasuredAt: reading.measuredAt,
    fractionOfBandwidth: bandwidth > 0 ? bytes.total * measured.tokensPerSecond / bandwidth : 0,
    bandwidthBoundTokensPerSecond: bandwidthBound,
    ops,
    int8Instruction: instruction,
    int8MacsPerSecond: int8Rate,
    f32FmasPerSecond: fmaRate,
    computeBoundTokensPerSecond: computeBound,
    kernelBytesPerSecond: kernelRate,
    kernelBoundTokensPerSecond: kernelBound,
    bound: bandwidthBound > 0 && computeCeiling < bandwidthBound ? "compute" : "memory",
  };
}

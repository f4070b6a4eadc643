/**
 * The machine's measured read bandwidth, remembered across processes: `run` reports decode speed
 * as a fraction of it, and probing it again after every run cost 0.25–0.45 s. Records live in
 * `<cache dir>/read-bandwidth.json` beside the kernel choices (`kernel_choice.ts`), keyed by the
 * CPU model, the hardware threads, the probe's thread count, the native library's ABI and the
 * bytes streamed (a span that fits in the last-level cache reads faster than one that does not).
 * A record measured while the hypervisor stole a large share of the CPUs
 * ({@link MAX_CACHED_STEAL}) is not trusted: the next run measures again.
 *
 * @module
 */

import { join } from "node:path";
import { writeTextFileAtomicSync } from "../common/atomic_write.ts";
import { nativeCacheDir } from "../../ffi/c_build.ts";
import { readSmallTextFile } from "../../ffi/libc.ts";
import { BITLOAD_ABI_VERSION } from "../../ffi/symbols.ts";

/** A remembered bandwidth measurement. */
export interface BandwidthRecord {
  /** Streaming read rate, bytes/s. */
  bytesPerSecond: number;
  /** When it was measured (ISO 8601). */
  measuredAt: string;
  /** The hypervisor's share of the CPUs' time during the probe (null: unknown). */
  stealFraction: number | null;
}

/**
 * A probe during which the hypervisor took more than this share of the CPUs' time is kept for
 * the process but not stored: at 5 % a 2-thread probe already reads measurably slower here (the
 * streaming threads stall whenever one vCPU is descheduled).
 */
export const MAX_CACHED_STEAL = 0.05;

/**
 * The cache key for a probe of `bytes` bytes on `threads` threads on this machine.
 *
 * @example
 * ```ts ignore
 * import { bandwidthKey } from "./bandwidth_cache.ts";
 * bandwidthKey(2, 699_000_000); // "Intel(R) Xeon(R) Processor|2|t2|abi 9|699000000"
 * ```
 */
export function bandwidthKey(threads: number, bytes: number): string {
  const cpuinfo = readSmallTextFile("/proc/cpuinfo", 4 << 20) ?? "";
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? Deno.build.target;
  return [
    cpu,
    navigator.hardwareConcurrency ?? 1,
    `t${threads}`,
    `abi ${BITLOAD_ABI_VERSION}`,
    bytes,
  ].join("|");
}

function cachePath(): string | null {
  const dir = nativeCacheDir();
  return dir === null ? null : join(dir, "read-bandwidth.json");
}

function readAll(): Record<string, BandwidthRecord> {
  const path = cachePath();
  if (path === null) return {};
  try {
    const all = JSON.parse(Deno.readTextFileSync(path));
    return all && typeof all === "object" ? all as Record<string, BandwidthRecord> : {};
  } catch {
    return {};
  }
}

/**
 * The stored measurement for `key` when it can be trusted (a positive rate measured with at most
 * {@link MAX_CACHED_STEAL} steal), else undefined.
 *
 * @example
 * ```ts ignore
 * import { bandwidthKey, cachedBandwidth } from "./bandwidth_cache.ts";
 * cachedBandwidth(bandwidthKey(2, span.byteLength))?.bytesPerSecond;
 * ```
 */
export function cachedBandwidth(key: string): BandwidthRecord | undefined {
  const r = readAll()[key];
  if (!r || !(typeof r.bytesPerSecond === "number" && r.bytesPerSecond > 0)) return undefined;
  if (typeof r.measuredAt !== "string") return undefined;
  if (typeof r.stealFraction === "number" && r.stealFraction > MAX_CACHED_STEAL) return undefined;
  return r;
}

/**
 * Stores a measurement (atomically; failures are ignored: the cache is only an optimisation).
 * One measured under more than {@link MAX_CACHED_STEAL} steal is not stored.
 *
 * @example
 * ```ts ignore
 * import { bandwidthKey, saveBandwidth } from "./bandwidth_cache.ts";
 * saveBandwidth(bandwidthKey(2, n), { bytesPerSecond: 1.05e10, measuredAt: new Date().toISOString(), stealFraction: 0 });
 * ```
 */
export function saveBandwidth(key: string, record: BandwidthRecord): void {
  const path = cachePath();
  if (path === null || !(record.bytesPerSecond > 0)) return;
  if (record.stealFraction !== null && record.stealFraction > MAX_CACHED_STEAL) return;
  try {
    const all = readAll();
    all[key] = record;
    Deno.mkdirSync(join(path, ".."), { recursive: true });
    writeTextFileAtomicSync(path, JSON.stringify(all, null, 2) + "\n");
  } catch { /* only an optimisation */ }
}

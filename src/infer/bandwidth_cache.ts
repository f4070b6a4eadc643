/**
 * The machine's measured read bandwidth, remembered across processes: `run` reports decode speed
 * as a fraction of it, and probing it again after every run cost 0.25–0.45 s. Records live in
 * `<cache dir>/read-bandwidth.json` beside the kernel choices (`kernel_choice.ts`), keyed by the
 * CPU model, the hardware threads, the probe's thread count, the native library's ABI and the
 * bytes streamed (a span that fits in the last-level cache reads faster than one that does not).
 * A record measured while the hypervisor stole a large share of the CPUs
 * ({@link MAX_CACHED_STEAL}) is not trusted: the next run measures again. A new measurement
 * replaces the stored one only when it is faster: other processes and the hypervisor only ever
 * slow a probe down, and a figure taken in a busy moment would make every later fraction look
 * better than it is (seen here: a 6.7 GB/s probe taken while two other jobs streamed files made
 * quiet decode runs read as 2.3× the bandwidth).
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
 * A stored figure older than this is measured again (and then replaced even by a slower one): a
 * machine's memory can change under the same CPU model (another host, other DIMMs), and the
 * stored figure is the fastest seen, never lowered otherwise.
 */
export const MAX_AGE_MS = 7 * 24 * 3600 * 1000;

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
 * {@link MAX_CACHED_STEAL} steal, less than {@link MAX_AGE_MS} ago), else undefined.
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
  const age = Date.now() - Date.parse(r.measuredAt);
  if (!(age >= -60_000 && age < MAX_AGE_MS)) return undefined;
  if (typeof r.stealFraction === "number" && r.stealFraction > MAX_CACHED_STEAL) return undefined;
  return r;
}

/**
 * Stores a measurement when it is faster than the trusted one stored for `key` (atomically;
 * failures are ignored: the cache is only an optimisation); returns the record kept. One measured
 * under more than {@link MAX_CACHED_STEAL} steal is not stored.
 *
 * @example
 * ```ts ignore
 * import { bandwidthKey, saveBandwidth } from "./bandwidth_cache.ts";
 * saveBandwidth(bandwidthKey(2, n), { bytesPerSecond: 1.05e10, measuredAt: new Date().toISOString(), stealFraction: 0 });
 * ```
 */
export function saveBandwidth(key: string, record: BandwidthRecord): BandwidthRecord {
  const path = cachePath();
  if (path === null || !(record.bytesPerSecond > 0)) return record;
  if (record.stealFraction !== null && record.stealFraction > MAX_CACHED_STEAL) return record;
  try {
    const stored = cachedBandwidth(key);
    if (stored && stored.bytesPerSecond >= record.bytesPerSecond) return stored;
    const all = readAll();
    all[key] = record;
    Deno.mkdirSync(join(path, ".."), { recursive: true });
    writeTextFileAtomicSync(path, JSON.stringify(all, null, 2) + "\n");
  } catch { /* only an optimisation */ }
  return record;
}

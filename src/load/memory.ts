/**
 * Memory readings for the loader and the memory validator: this process's resident memory split
 * into anonymous and file-backed pages (`/proc/self/status`), and the memory budget of the
 * machine (`MemAvailable` from `/proc/meminfo`, capped by a cgroup v2/v1 limit when one applies).
 *
 * @module
 */

import { readSmallTextFile } from "../../ffi/libc.ts";
import { detectDevices } from "../plan/devices.ts";

/** Resident memory of this process, in bytes. */
export interface ProcessMemory {
  /** VmRSS: resident set now. */
  rss: number;
  /** VmHWM: peak resident set since start (or the last reset). */
  peakRss: number;
  /** RssAnon: anonymous pages (heap, buffers). */
  anon: number;
  /** RssFile: file-backed pages (mapped files, code). */
  file: number;
}

function kib(text: string, field: string): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

/**
 * Reads `/proc/self/status`; `null` off Linux or without access.
 *
 * @example
 * ```ts ignore
 * import { processMemory } from "./memory.ts";
 * console.log(processMemory()?.anon);
 * ```
 */
export function processMemory(): ProcessMemory | null {
  const text = readSmallTextFile("/proc/self/status");
  if (!text) return null;
  const rss = kib(text, "VmRSS");
  if (rss === undefined) return null;
  return {
    rss,
    peakRss: kib(text, "VmHWM") ?? rss,
    anon: kib(text, "RssAnon") ?? 0,
    file: kib(text, "RssFile") ?? 0,
  };
}

/**
 * The sum of one `kB` field (`Rss`, `FilePmdMapped`, …) over the `/proc/self/smaps` entries of
 * the mappings that start at the given addresses; `null` when smaps cannot be read, or, when
 * `strict`, when one of those entries lacks the field (an older kernel) or is missing.
 */
function smapsField(addresses: readonly bigint[], field: string, strict: boolean): number | null {
  if (addresses.length === 0) return 0;
  const text = readSmallTextFile("/proc/self/smaps", 64 * 1024 * 1024);
  if (!text) return null;
  const wanted = new Set(addresses.map((a) => a.toString(16)));
  const prefix = `${field}:`;
  let total = 0;
  let seen = 0;
  let inWanted = false;
  for (const line of text.split("\n")) {
    const header = /^([0-9a-f]+)-[0-9a-f]+ /.exec(line);
    if (header) {
      inWanted = wanted.has(header[1].replace(/^0+(?=.)/, ""));
      continue;
    }
    if (inWanted && line.startsWith(prefix)) {
      total += Number(/(\d+) kB/.exec(line)![1]) * 1024;
      seen++;
    }
  }
  return strict && seen < wanted.size ? null : total;
}

/**
 * Resident bytes of the mappings that start at the given addresses (the `Rss:` of their entries
 * in `/proc/self/smaps`): exactly the file-backed memory a mapped model occupies in this process,
 * without the runtime's own code pages. `null` when smaps cannot be read.
 *
 * @example
 * ```ts ignore
 * import { mappedResidentBytes } from "./memory.ts";
 * console.log(mappedResidentBytes([0x7f0000000000n]));
 * ```
 */
export function mappedResidentBytes(addresses: readonly bigint[]): number | null {
  return smapsField(addresses, "Rss", false);
}

/**
 * Bytes of the mappings that start at the given addresses that the kernel maps with 2 MiB
 * page-table entries (`FilePmdMapped:` in `/proc/self/smaps`): non-zero only where the page cache
 * holds the file in 2 MiB folios, which is what lets a populate of a warm file cost a page-table
 * entry per 2 MiB instead of one per 4 KiB. `null` off Linux, when smaps cannot be read, or on a
 * kernel without the field. Reads all of smaps (tens of ms with many mappings): call it once,
 * when reporting, never per batch.
 *
 * @example
 * ```ts ignore
 * import { mappedPmdBytes } from "./memory.ts";
 * console.log(mappedPmdBytes([0x7f0000000000n]));
 * ```
 */
export function mappedPmdBytes(addresses: readonly bigint[]): number | null {
  return smapsField(addresses, "FilePmdMapped", true);
}

/**
 * Resets VmHWM to the current RSS (writes "5" to `/proc/self/clear_refs`), so a following
 * {@link processMemory} reports the peak of what comes next. Returns false when not possible.
 */
export function resetPeakRss(): boolean {
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

/** Where a memory budget came from. */
export interface MemoryBudget {
  /** Bytes the process can use. */
  bytes: number;
  /** `"meminfo"` (MemAvailable), `"cgroup"` (a lower cgroup limit), or `"option"`. */
  source: "meminfo" | "cgroup" | "option" | "unknown";
}

/**
 * The memory this process may still use: the planner's CPU device (MemAvailable, capped by the
 * cgroup limit when one applies); `override` (bytes) wins when given.
 *
 * @example
 * ```ts ignore
 * import { memoryBudget } from "./memory.ts";
 * const { bytes, source } = memoryBudget();
 * ```
 */
export function memoryBudget(override?: number): MemoryBudget {
  if (override !== undefined) return { bytes: override, source: "option" };
  try {
    const cpu = detectDevices({ cuda: false }).find((d) => d.kind === "cpu");
    if (cpu) {
      return {
        bytes: cpu.freeBytes,
        source: cpu.source?.includes("cgroup") ? "cgroup" : "meminfo",
      };
    }
  } catch { /* no /proc and no --allow-sys */ }
  try {
    return { bytes: Deno.systemMemoryInfo().available, source: "meminfo" };
  } catch {
    return { bytes: Infinity, source: "unknown" };
  }
}

/**
 * What a benchmark ran on: CPU model, cores, SIMD level of the native kernels, memory, and the
 * measured memcpy and read bandwidth — the physical ceiling that throughput figures are compared
 * with, so reports from different machines stay comparable.
 *
 * @module
 */

import { readSmallTextFile } from "../../ffi/libc.ts";
import { kernelInfo } from "../../ffi/native.ts";

/** A machine description. */
export interface MachineInfo {
  /** CPU model name from /proc/cpuinfo (or the target triple). */
  cpu: string;
  /** Logical cores. */
  cores: number;
  /** SIMD level of the native kernels, or "ts" without them. */
  simd: string;
  /** Total memory in bytes (0 when unknown). */
  memoryBytes: number;
  /** memcpy bandwidth in bytes/s (bytes copied per second, 64 MiB buffers). */
  memcpyBytesPerSec: number;
  /** Sequential read bandwidth in bytes/s (a 64 MiB buffer summed as 32-bit words). */
  readBytesPerSec: number;
  /** Deno version. */
  deno: string;
  /** OS and architecture. */
  target: string;
}

/**
 * memcpy bandwidth in bytes/s: the best of `reps` copies of a `bytes`-sized buffer.
 *
 * @example
 * ```ts
 * import { measureMemcpyBandwidth } from "./machine.ts";
 * measureMemcpyBandwidth(1 << 20, 3) > 0; // true
 * ```
 */
export function measureMemcpyBandwidth(bytes = 64 * 1024 * 1024, reps = 5): number {
  const src = new Uint8Array(bytes).fill(1);
  const dst = new Uint8Array(bytes);
  dst.set(src); // fault the pages in
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    dst.set(src);
    best = Math.min(best, performance.now() - t0);
  }
  return best > 0 ? (bytes * 1000) / best : 0;
}

/**
 * Sequential read bandwidth in bytes/s: the best of `reps` sums over a buffer as 32-bit words.
 *
 * @example
 * ```ts
 * import { measureReadBandwidth } from "./machine.ts";
 * measureReadBandwidth(1 << 20, 3) > 0; // true
 * ```
 */
export function measureReadBandwidth(bytes = 64 * 1024 * 1024, reps = 5): number {
  const words = new Uint32Array(bytes / 4).fill(1);
  let best = Infinity;
  let sink = 0;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    let sum = 0;
    for (let j = 0; j < words.length; j++) sum = (sum + words[j]) | 0;
    sink ^= sum;
    best = Math.min(best, performance.now() - t0);
  }
  if (sink === 0x7fffffff) console.log(""); // keep the loop observable
  return best > 0 ? (bytes * 1000) / best : 0;
}

/**
 * Describes this machine (measuring bandwidth takes about half a second).
 *
 * @example
 * ```ts ignore
 * import { machineInfo } from "./machine.ts";
 * console.log(machineInfo());
 * ```
 */
export function machineInfo(): MachineInfo {
  const cpuinfo = readSmallTextFile("/proc/cpuinfo", 4 << 20) ?? "";
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? Deno.build.target;
  const meminfo = readSmallTextFile("/proc/meminfo") ?? "";
  const totalKiB = Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)?.[1] ?? 0);
  const kernels = kernelInfo();
  return {
    cpu,
    cores: navigator.hardwareConcurrency ?? 1,
    simd: kernels.backend === "native" ? kernels.simd ?? "scalar" : "ts",
    memoryBytes: totalKiB * 1024,
    memcpyBytesPerSec: measureMemcpyBandwidth(),
    readBytesPerSec: measureReadBandwidth(),
    deno: Deno.version.deno,
    target: Deno.build.target,
  };
}

/** Whether two machine descriptions are the same machine for comparing absolute numbers. */
export function sameMachine(a: MachineInfo, b: MachineInfo): boolean {
  return a.cpu === b.cpu && a.cores === b.cores && a.simd === b.simd && a.target === b.target;
}

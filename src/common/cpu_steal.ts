/**
 * Hypervisor steal: the share of the CPUs' time that the hypervisor gave to other guests while
 * this machine's vCPUs wanted to run. On a virtual machine every timing is slower by roughly that
 * share (a 2-thread decode step waits for its slowest thread), so the decode figures report it
 * next to the fraction of the bandwidth. Linux only: the `cpu` line of `/proc/stat` (user, nice,
 * system, idle, iowait, irq, softirq, steal, guest, guest_nice in USER_HZ ticks; guest time is
 * already counted in user and nice, so the total is the first eight). Beside it, the share of the
 * wall time this process's threads actually ran (`/proc/self/stat` utime + stime): below 1 when
 * other processes of the same machine took the cores, which no steal figure shows.
 *
 * @module
 */

import { readSmallTextFile } from "../../ffi/libc.ts";

/** CPU time of all CPUs together since boot, in USER_HZ ticks (`getconf CLK_TCK`, usually 100). */
export interface CpuTimes {
  /** Ticks the hypervisor ran something else while a vCPU wanted to run (8th field). */
  steal: number;
  /** Sum of user, nice, system, idle, iowait, irq, softirq and steal. */
  total: number;
}

/**
 * Parses the aggregate `cpu` line of a `/proc/stat` text; `null` without one (or a line of fewer
 * than eight numbers: kernels before 2.6.11 had no steal field).
 *
 * @example
 * ```ts
 * import { parseCpuTimes } from "./cpu_steal.ts";
 * parseCpuTimes("cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 50 0 25 400 5 0 2 18 0 0\n");
 * // { steal: 35, total: 1000 }
 * ```
 */
export function parseCpuTimes(text: string): CpuTimes | null {
  const line = /^cpu\s+(.*)$/m.exec(text)?.[1];
  if (line === undefined) return null;
  const fields = line.trim().split(/\s+/).slice(0, 8).map(Number);
  if (fields.length < 8 || fields.some((v) => !Number.isFinite(v) || v < 0)) return null;
  return { steal: fields[7], total: fields.reduce((a, b) => a + b, 0) };
}

/**
 * The CPU times now (`/proc/stat`), or `null` off Linux or when it cannot be read.
 *
 * @example
 * ```ts ignore
 * import { readCpuTimes } from "./cpu_steal.ts";
 * readCpuTimes(); // { steal: 96705, total: 3740624 } on Linux
 * ```
 */
export function readCpuTimes(): CpuTimes | null {
  if (Deno.build.os !== "linux") return null;
  const text = readSmallTextFile("/proc/stat");
  return text === null ? null : parseCpuTimes(text);
}

/**
 * The hypervisor's share of the CPUs' time between two readings, in [0, 1]; `null` when either is
 * missing. A span shorter than one tick counts as 0 (no steal was seen in it).
 *
 * @example
 * ```ts
 * import { stealShare } from "./cpu_steal.ts";
 * stealShare({ steal: 10, total: 1000 }, { steal: 130, total: 2000 }); // 0.12
 * stealShare(null, { steal: 1, total: 2 }); // null
 * stealShare({ steal: 1, total: 2 }, { steal: 1, total: 2 }); // 0
 * ```
 */
export function stealShare(start: CpuTimes | null, end: CpuTimes | null): number | null {
  if (!start || !end) return null;
  const total = end.total - start.total;
  if (!(total > 0)) return 0;
  return Math.min(1, Math.max(0, (end.steal - start.steal) / total));
}

/**
 * Starts a steal measurement: the returned function gives the share since the call (see
 * {@link stealShare}); `null` off Linux or when `/proc/stat` cannot be read.
 *
 * @example
 * ```ts ignore
 * import { stealMeter } from "./cpu_steal.ts";
 * const steal = stealMeter();
 * work();
 * steal(); // e.g. 0.04
 * ```
 */
export function stealMeter(): () => number | null {
  const start = readCpuTimes();
  return () => stealShare(start, readCpuTimes());
}

/**
 * Text for a steal share next to a timing: `"; hypervisor steal 12 %"` from 1 % up, else `""`.
 *
 * @example
 * ```ts
 * import { stealNote } from "./cpu_steal.ts";
 * stealNote(0.123); // "; hypervisor steal 12 %"
 * stealNote(0.004); // ""
 * ```
 */
export function stealNote(share: number | null): string {
  return share !== null && share >= 0.01 ? `; hypervisor steal ${(share * 100).toFixed(0)} %` : "";
}

/**
 * Clock ticks per second of `/proc/self/stat`'s times: USER_HZ, fixed at 100 by the kernel's ABI
 * on x86 and ARM (`getconf CLK_TCK`).
 */
const USER_HZ = 100;

/**
 * CPU seconds (user + system, all threads) of a process from its `/proc/<pid>/stat` text; `null`
 * when the text is not one.
 *
 * @example
 * ```ts
 * import { parseProcessCpuSeconds } from "./cpu_steal.ts";
 * parseProcessCpuSeconds("42 (deno run) R 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0");
 * // 3 (250 + 50 ticks)
 * ```
 */
export function parseProcessCpuSeconds(text: string): number | null {
  // the command name may hold spaces and parentheses: the fields start after the last ")"
  const rest = text.slice(text.lastIndexOf(")") + 1).trim().split(/\s+/);
  const utime = Number(rest[11]), stime = Number(rest[12]);
  if (!(utime >= 0) || !(stime >= 0)) return null;
  return (utime + stime) / USER_HZ;
}

/**
 * Starts a measurement of the share of `threads` × the wall time that this process's threads ran
 * (its CPU time over the span ÷ wall time × threads, at most 1); the returned function gives it,
 * or `null` off Linux or when `/proc/self/stat` cannot be read. A decode on 2 threads of a 2-vCPU
 * machine with another busy process gets about 0.5–0.7.
 *
 * @example
 * ```ts ignore
 * import { cpuShareMeter } from "./cpu_steal.ts";
 * const share = cpuShareMeter(2);
 * work();
 * share(); // e.g. 0.98
 * ```
 */
export function cpuShareMeter(threads: number): () => number | null {
  const read = () =>
    Deno.build.os === "linux"
      ? parseProcessCpuSeconds(readSmallTextFile("/proc/self/stat") ?? "")
      : null;
  const start = read(), t0 = performance.now();
  return () => {
    const end = read();
    const wall = (performance.now() - t0) / 1000;
    if (start === null || end === null || !(wall > 0) || threads < 1) return null;
    return Math.min(1, Math.max(0, (end - start) / (wall * threads)));
  };
}

/**
 * The device inventory the planner places tensors on: the CPU (total and available memory from
 * `/proc/meminfo`, capped by the cgroup v2 `memory.max` or v1 `memory.limit_in_bytes` that
 * applies to this process, NUMA nodes from `/sys/devices/system/node`), CUDA devices once the
 * optional CUDA library exists ({@link cudaDevices}), and simulated or remote devices from a
 * spec string (`cpu:32GiB,cuda0:24GiB,rpc:host:50052:16GiB`) or a JSON file validated with zod
 * (`./device_file.ts`, imported only when a `.json` file is read: zod costs start-up time).
 *
 * Every reader takes a root directory so tests can point it at fixture trees.
 *
 * @module
 */

import { parseSize, SizeError } from "../common/size.ts";
import { PlanError } from "./errors.ts";
import { cudaDevices as probeCudaDevices } from "../../ffi/cuda_open.ts";
import { readSmallTextFile } from "../../ffi/libc.ts";
import { join } from "node:path";

/** What kind of memory a device has: host RAM, a local CUDA GPU, or a llama.cpp RPC server. */
export type DeviceKind = "cpu" | "cuda" | "rpc";

/** One NUMA node's memory. */
export interface NumaNode {
  /** Node id (`nodeN`). */
  id: number;
  /** `MemTotal` of the node, bytes. */
  totalBytes: number;
  /** `MemFree` of the node, bytes. */
  freeBytes: number;
}

/** A device the planner can place tensors on. All sizes in bytes. */
export interface Device {
  /** Unique name: `cpu`, `cuda0`, `rpc0`, … */
  name: string;
  /** Device kind. */
  kind: DeviceKind;
  /** Total memory. */
  totalBytes: number;
  /** Memory free for the model now (the planner's budget). */
  freeBytes: number;
  /** Memory bandwidth in bytes/s, when known (informational). */
  bandwidth?: number;
  /** `host:port` of an RPC server. */
  host?: string;
  /** NUMA nodes (CPU only, when the machine reports them). */
  numaNodes?: NumaNode[];
  /** Where the numbers came from, e.g. `/proc/meminfo, cgroup v2 memory.max`. */
  source?: string;
}

/** One device as written in a `--devices FILE.json`: a {@link Device} without the derived fields. */
export type DeviceJson = Omit<Device, "numaNodes" | "source">;

/**
 * Parses a device spec: comma-separated `NAME:SIZE` entries, where NAME is `cpu`, `cudaN` or
 * `rpc` (then `rpc:HOST:PORT:SIZE`). SIZE is both total and free memory; `NAME:FREE/TOTAL`
 * gives them apart. Sizes follow the one size grammar (`src/common/size.ts`). Throws
 * {@link PlanError} `BAD_DEVICE_SPEC` naming the bad entry.
 *
 * @example
 * ```ts
 * import { parseDeviceSpec } from "./devices.ts";
 * const devices = parseDeviceSpec("cpu:32GiB,cuda0:24GiB,cuda1:8GiB,rpc:10.0.0.2:50052:16GiB");
 * devices.map((d) => d.name); // ["cpu", "cuda0", "cuda1", "rpc0"]
 * devices[3].host; // "10.0.0.2:50052"
 * ```
 */
export function parseDeviceSpec(spec: string): Device[] {
  const entries = spec.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (entries.length === 0) {
    throw new PlanError(
      "BAD_DEVICE_SPEC",
      `Invalid device spec "${spec}": expected e.g. cpu:32GiB,cuda0:24GiB`,
    );
  }
  const devices: Device[] = [];
  let rpcIndex = 0;
  for (const entry of entries) {
    const fields = entry.split(":");
    const bad = (why: string) =>
      new PlanError("BAD_DEVICE_SPEC", `Invalid device "${entry}" in spec "${spec}": ${why}`);
    const name = fields[0].toLowerCase();
    let device: Device;
    if (name === "rpc") {
      if (fields.length !== 4) throw bad("expected rpc:HOST:PORT:SIZE");
      const [, host, port, size] = fields;
      if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw bad(`port "${port}" is invalid`);
      if (host === "") throw bad("the host is empty");
      device = { name: `rpc${rpcIndex++}`, kind: "rpc", host: `${host}:${port}`, ...sizes(size) };
    } else {
      if (fields.length !== 2) throw bad("expected NAME:SIZE, e.g. cuda0:24GiB");
      let kind: DeviceKind;
      if (name === "cpu") kind = "cpu";
      else if (/^cuda\d+$/.test(name)) kind = "cuda";
      else throw bad(`unknown device "${fields[0]}" (use cpu, cudaN or rpc:HOST:PORT)`);
      device = { name, kind, ...sizes(fields[1]) };
    }
    if (devices.some((d) => d.name === device.name)) throw bad(`"${device.name}" appears twice`);
    devices.push({ ...device, source: "spec" });
  }
  if (devices.filter((d) => d.kind === "cpu").length > 1) {
    throw new PlanError("BAD_DEVICE_SPEC", `Invalid device spec "${spec}": more than one cpu`);
  }
  return devices;

  function sizes(text: string): { totalBytes: number; freeBytes: number } {
    const [free, total] = text.split("/");
    const freeBytes = bytesOf(free);
    const totalBytes = total === undefined ? freeBytes : bytesOf(total);
    if (freeBytes > totalBytes) {
      throw new PlanError("BAD_DEVICE_SPEC", `Invalid device size "${text}": free exceeds total`);
    }
    return { totalBytes, freeBytes };
  }

  function bytesOf(text: string): number {
    try {
      return parseSize(text);
    } catch (e) {
      if (!(e instanceof SizeError)) throw e;
      throw new PlanError("BAD_DEVICE_SPEC", `Invalid device spec "${spec}": ${e.reason}`, {
        cause: e,
      });
    }
  }
}

/**
 * Reads `--devices` input: a `.json` path (read and validated) or a spec string.
 *
 * @example
 * ```ts
 * import { loadDevices } from "./devices.ts";
 * (await loadDevices("cuda0:8GiB"))[0].kind; // "cuda"
 * ```
 */
export async function loadDevices(specOrPath: string): Promise<Device[]> {
  if (/\.json$/i.test(specOrPath)) {
    const { parseDeviceFile } = await import("./device_file.ts");
    return parseDeviceFile(await Deno.readTextFile(specOrPath), specOrPath);
  }
  return parseDeviceSpec(specOrPath);
}

/** `/proc/meminfo` numbers, bytes. */
export interface MemInfo {
  /** `MemTotal`. */
  totalBytes: number;
  /** `MemAvailable` (or `MemFree + Buffers + Cached` on kernels before 3.14). */
  availableBytes: number;
}

/**
 * Parses the text of `/proc/meminfo` (values in kB).
 *
 * @example
 * ```ts
 * import { parseMemInfo } from "./devices.ts";
 * parseMemInfo("MemTotal: 1000 kB\nMemAvailable: 500 kB\n"); // { totalBytes: 1024000, availableBytes: 512000 }
 * ```
 */
export function parseMemInfo(text: string): MemInfo {
  const kb = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\w+):\s+(\d+)(?:\s+kB)?/.exec(line);
    if (m) kb.set(m[1], Number(m[2]) * 1024);
  }
  const total = kb.get("MemTotal");
  if (total === undefined) {
    throw new PlanError("NO_MEMINFO", "Invalid /proc/meminfo: no MemTotal line");
  }
  const available = kb.get("MemAvailable") ??
    (kb.get("MemFree") ?? 0) + (kb.get("Buffers") ?? 0) + (kb.get("Cached") ?? 0);
  return { totalBytes: total, availableBytes: Math.min(available, total) };
}

/** The memory limit of the cgroup this process runs in. */
export interface CgroupLimit {
  /** cgroup version the limit came from. */
  version: 1 | 2;
  /** The tightest limit on the path from the process's cgroup to the root, bytes. */
  limitBytes: number;
  /** Memory charged to the cgroup minus reclaimable inactive file cache, bytes. */
  usedBytes: number;
  /** The file the limit was read from, relative to the root. */
  file: string;
}

/**
 * cgroup v1 reports "no limit" as a huge page-aligned number (`PAGE_COUNTER_MAX` × page size,
 * 9223372036854771712 on x86-64); anything at or above 2^60 is treated as unlimited.
 */
const CGROUP_V1_UNLIMITED = 2 ** 60;

/**
 * Reads a small text file; `/proc` files go through libc when FFI is allowed, since Deno refuses
 * `/proc/self/*` and `/proc/meminfo` without `--allow-all`.
 */
function readText(path: string): string | undefined {
  return readSmallTextFile(path) ?? undefined;
}

function statValue(text: string | undefined, key: string): number {
  if (text === undefined) return 0;
  const m = new RegExp(`^${key} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

/** The directory chain from a cgroup path to the hierarchy root, deepest first. */
function cgroupChain(mount: string, path: string): string[] {
  const parts = path.split("/").filter((p) => p !== "");
  const chain: string[] = [];
  for (let i = parts.length; i >= 0; i--) chain.push(join(mount, ...parts.slice(0, i)));
  return chain;
}

/**
 * Reads the cgroup memory limit for this process under `root`: `proc/self/cgroup` gives the
 * cgroup path; v2 (`0::/path`) reads `memory.max` at `sys/fs/cgroup/path` and every parent, v1
 * (`N:memory:/path`) reads `memory.limit_in_bytes` under `sys/fs/cgroup/memory/`. The tightest
 * limit wins; a path missing in a container's namespaced view falls back to the mount root.
 * Usage is `memory.current` (v2) or `memory.usage_in_bytes` (v1) minus `inactive_file`
 * (v1: `total_inactive_file`), the kubelet's "working set". Returns `undefined` when no limit
 * applies.
 *
 * @example
 * ```ts ignore
 * import { readCgroupLimit } from "./devices.ts";
 * readCgroupLimit("tests/fixtures/cgroup/v2"); // { version: 2, limitBytes: 4294967296, … }
 * ```
 */
export function readCgroupLimit(root = "/"): CgroupLimit | undefined {
  const self = readText(join(root, "proc/self/cgroup")) ?? "";

  let v2Path: string | undefined;
  let v1Path: string | undefined;
  for (const line of self.split("\n")) {
    const [, , controllers, path] = /^(\d+):([^:]*):(.*)$/.exec(line.trim()) ?? [];
    if (path === undefined) continue;
    if (controllers === "" && line.startsWith("0::")) v2Path = path;
    if (controllers.split(",").includes("memory")) v1Path = path;
  }
  // A memory controller line means v1 (hybrid hosts list both; v1 holds the memory limit).
  if (v1Path !== undefined) {
    const mount = join(root, "sys/fs/cgroup/memory");
    return tightest(1, cgroupChain(mount, v1Path), "memory.limit_in_bytes", (dir) => {
      const usage = Number(readText(join(dir, "memory.usage_in_bytes"))?.trim() ?? 0);
      return usage - statValue(readText(join(dir, "memory.stat")), "total_inactive_file");
    });
  }
  const mount = join(root, "sys/fs/cgroup");
  return tightest(2, cgroupChain(mount, v2Path ?? "/"), "memory.max", (dir) => {
    const current = Number(readText(join(dir, "memory.current"))?.trim() ?? 0);
    return current - statValue(readText(join(dir, "memory.stat")), "inactive_file");
  });

  function tightest(
    version: 1 | 2,
    chain: string[],
    file: string,
    used: (dir: string) => number,
  ): CgroupLimit | undefined {
    let best: CgroupLimit | undefined;
    for (const dir of chain) {
      const text = readText(join(dir, file))?.trim();
      if (text === undefined || text === "max" || !/^\d+$/.test(text)) continue;
      const limit = Number(text);
      if (limit >= CGROUP_V1_UNLIMITED) continue;
      if (!best || limit < best.limitBytes) {
        const rel = join(dir, file).slice(root.length).replace(/^\/*/, "/");
        best = { version, limitBytes: limit, usedBytes: Math.max(0, used(dir)), file: rel };
      }
    }
    return best;
  }
}

/**
 * The NUMA nodes under `root/sys/devices/system/node` with their memory (empty when the
 * directory is missing, e.g. on non-Linux systems).
 *
 * @example
 * ```ts ignore
 * import { readNumaNodes } from "./devices.ts";
 * readNumaNodes("/"); // [{ id: 0, totalBytes: …, freeBytes: … }]
 * ```
 */
export function readNumaNodes(root = "/"): NumaNode[] {
  const dir = join(root, "sys/devices/system/node");
  const nodes: NumaNode[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (e) {
    if (e instanceof Deno.errors.PermissionDenied) throw e;
    return [];
  }
  for (const e of entries) {
    const m = /^node(\d+)$/.exec(e.name);
    if (!m) continue;
    const text = readText(join(dir, e.name, "meminfo")) ?? "";
    const value = (key: string) =>
      Number(new RegExp(`Node \\d+ ${key}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0) * 1024;
    nodes.push({ id: Number(m[1]), totalBytes: value("MemTotal"), freeBytes: value("MemFree") });
  }
  return nodes.sort((a, b) => a.id - b.id);
}

/**
 * CUDA devices with their free memory (`cudaMemGetInfo`), name and compute capability, from
 * bitload's optional CUDA library (`ffi/cuda.ts`). Returns `[]` where no driver or GPU is present
 * (or FFI is not permitted).
 *
 * @example
 * ```ts
 * import { cudaDevices } from "./devices.ts";
 * cudaDevices(); // [] on a machine without a GPU
 * ```
 */
export function cudaDevices(): Device[] {
  try {
    return probeCudaDevices().map((d) => ({
      name: d.name,
      kind: "cuda" as const,
      totalBytes: d.totalBytes,
      freeBytes: d.freeBytes,
      ...(d.peakBandwidthBytesPerSecond ? { bandwidth: d.peakBandwidthBytesPerSecond } : {}),
      source: `cudaMemGetInfo (${d.model}, compute capability ${d.computeCapability})`,
    }));
  } catch {
    return [];
  }
}

/** Options of {@link detectDevices}. */
export interface DetectDevicesOptions {
  /** Root of the file system to read `/proc` and `/sys` from. Default `/`. */
  root?: string;
  /** Whether to ask the CUDA hook for GPUs. Default true. */
  cuda?: boolean;
}

/**
 * The devices of this machine: the CPU (`MemTotal` / `MemAvailable`, each capped by the cgroup
 * limit and the limit minus the cgroup's working set), its NUMA nodes, and CUDA devices from
 * {@link cudaDevices}. Needs `--allow-read` for `/proc` and `/sys`; without procfs (macOS,
 * Windows) the CPU comes from `Deno.systemMemoryInfo()`.
 *
 * @example
 * ```ts ignore
 * import { detectDevices } from "./devices.ts";
 * const [cpu] = detectDevices();
 * console.log(cpu.name, cpu.freeBytes);
 * ```
 */
export function detectDevices(options: DetectDevicesOptions = {}): Device[] {
  const root = options.root ?? "/";
  const text = readText(join(root, "proc/meminfo"));
  let mem: MemInfo;
  let source = "/proc/meminfo";
  if (text !== undefined) {
    mem = parseMemInfo(text);
  } else if (root === "/" && Deno.build.os !== "linux") {
    // No procfs (macOS, Windows): the runtime's own reading.
    const info = Deno.systemMemoryInfo();
    mem = { totalBytes: info.total, availableBytes: info.available };
    source = "Deno.systemMemoryInfo()";
  } else {
    throw new PlanError(
      "NO_MEMINFO",
      `Cannot read ${join(root, "proc/meminfo")}: CPU memory is unknown`,
    );
  }
  let totalBytes = mem.totalBytes;
  let freeBytes = mem.availableBytes;
  const cgroup = readCgroupLimit(root);
  if (cgroup && cgroup.limitBytes < totalBytes) {
    totalBytes = cgroup.limitBytes;
    freeBytes = Math.max(0, Math.min(freeBytes, cgroup.limitBytes - cgroup.usedBytes));
    source += `, cgroup v${cgroup.version} ${cgroup.file}`;
  }
  const cpu: Device = { name: "cpu", kind: "cpu", totalBytes, freeBytes, source };
  const numa = readNumaNodes(root);
  if (numa.length > 0) cpu.numaNodes = numa;
  return [cpu, ...(options.cuda === false ? [] : cudaDevices())];
}

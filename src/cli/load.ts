/**
 * `bitload load FILE [--no-mmap] [--mlock] [--batch-layers N] [--dequant f32|f16|none] [--json]`:
 * loads a model progressively and prints the memory-efficiency report. Ctrl-C cancels cleanly.
 *
 * @module
 */

import { parseSize } from "../common/size.ts";
import type { LoadProgress } from "../load/loader.ts";
import { InsufficientMemoryError } from "../load/errors.ts";
import type { MemoryReport } from "../load/memory_report.ts";
import type { PlacementPlan } from "../plan/strategies.ts";
import { PerfMonitor } from "../common/perf_monitor.ts";
import {
  bold,
  CancelledError,
  cyan,
  dim,
  envVar,
  formatBytes,
  table,
  UsageError,
  yellow,
} from "./output.ts";
import { TL_CONFIG_FLAG, tlConfigOption } from "./tl_option.ts";
import { progressBar } from "./progress.ts";
import {
  COMMON_FLAGS,
  integerOption,
  modelArgument,
  noMorePositionals,
  parseCommand,
  pick,
} from "./options.ts";

/** Help text of `bitload load`. */
export const LOAD_HELP = `Usage: bitload load [FILE] [options]   (FILE defaults to $BITNET_GGUF)

Loads a model the way an inference engine would: maps every part (zero-copy), makes the
tensors resident batch by batch (critical tensors, then layers, then the rest), and prints the
memory-efficiency report (peak RSS added, anonymous vs file-backed, multiplier, throughput).

Options:
  -m, --model FILE   the model (instead of the positional FILE)
  --no-mmap          read into memory instead of mapping (chunked reads, one buffer per file)
  --mlock            lock the mapped pages in memory
  --populate         prefault the whole mapping at once (MAP_POPULATE)
  --batch-layers N   layers per batch (default 4); implies progressive loading
  --dequant T        also dequantize every tensor: f32, f16 or none (default none)
  --budget BYTES     memory budget instead of MemAvailable / the cgroup limit (e.g. 2GiB)
  --device D         cpu (default) or cudaN: after the load, upload the tensors to that GPU
                     (the ones the --plan places there, or all) and report GB/s
  --gpu-as T         what to upload: quantized (default, stored bytes), f16 or f32
  --plan FILE        a plan from \`bitload plan --json\`: after the load, compare its planned
                     weights on the CPU with the memory the load measured
  --profile          print the time, bytes and throughput of each span (parse, map, batches,
                     dequant), alert on spans below half the measured memory bandwidth, and the
                     share of the mapping in 2 MiB page-table entries (FilePmdMapped)
  --tl-config FILE   bitnet.cpp kernel_config.ini for dequantizing TL1/TL2 tensors (else the
                     official presets)
  --json             print the report as JSON
  -h, --help         show this help

Models over 4 GiB load progressively by default. A progress bar shows on stderr when it is a
terminal. Ctrl-C cancels and releases everything.
Permissions: --allow-read, --allow-ffi (mmap, /proc readings), --allow-env.`;

/** Renders a memory report as a small table. */
export function renderMemoryReport(r: MemoryReport): string {
  const rows = [
    ["tensor data", formatBytes(r.fileBytes)],
    ["mode", r.mapped ? "memory-mapped (zero-copy)" : "read into memory"],
    ["resident added", formatBytes(r.peakRssBytes)],
    ["  anonymous", formatBytes(r.anonBytes)],
    ["  file-backed", formatBytes(r.fileBackedBytes)],
    ["metadata parse", formatBytes(r.parseOverheadBytes)],
    ...(r.outputBytes > 0 ? [["dequantized", formatBytes(r.outputBytes)]] : []),
    ["multiplier", r.measured ? `${r.multiplier.toFixed(3)} (limit ${r.limit})` : "not measured"],
    ["tensors", `${r.zeroCopyTensors} zero-copy, ${r.copiedTensors} copied`],
    ["time", `${(r.seconds * 1000).toFixed(1)} ms, ${formatBytes(r.throughputBytesPerSec)}/s`],
  ];
  const lines = [
    bold("  memory report"),
    ...rows.map(([k, v]) => `  ${cyan(k.padEnd(16))}${v}`),
  ];
  for (const w of r.warnings) lines.push(yellow(`  warning: ${w}`));
  return lines.join("\n");
}

/** Renders the spans of a profiled load, then its alerts. */
export function renderProfile(monitor: PerfMonitor): string {
  const rows = [["span", "ms", "bytes", "throughput"]];
  for (const s of monitor.spans) {
    rows.push([
      s.name,
      s.durationMs.toFixed(2),
      s.bytes ? formatBytes(s.bytes) : "",
      s.bytesPerSec ? `${formatBytes(s.bytesPerSec)}/s` : "",
    ]);
  }
  const lines = [bold("  profile"), ...table(rows).split("\n").map((l) => "  " + l)];
  for (const a of monitor.alerts) lines.push(yellow(`  alert: ${a.message}`));
  return lines.join("\n");
}

/**
 * The page-table line of `load --profile`: how much of the mapping the kernel maps with 2 MiB
 * entries (the page cache holds the file in 2 MiB folios: a warm populate is cheap) or 4 KiB
 * ones (one entry per page: the kernel's floor for a warm load).
 *
 * @example
 * ```ts
 * import { renderPmdShare } from "./load.ts";
 * renderPmdShare(0.97); // "  page tables: 97.0 % of the mapping in 2 MiB entries (FilePmdMapped) …"
 * ```
 */
export function renderPmdShare(share: number | null): string {
  if (share === null) {
    return dim("  page tables: FilePmdMapped unavailable (not Linux, or not mapped)");
  }
  const state = share >= 0.5
    ? "the page cache holds the file in 2 MiB folios"
    : "mostly 4 KiB pages, one page-table entry each: the kernel's floor for a warm load " +
      "(dropping the file from the page cache and reading it once, e.g. " +
      "`dd if=FILE iflag=nocache count=0; cat FILE >/dev/null`, usually puts it in 2 MiB folios)";
  return `  page tables: ${(share * 100).toFixed(1)} % of the mapping in 2 MiB entries ` +
    `(FilePmdMapped): ${state}`;
}

/** Runs `load`; returns the exit code. */
export async function runLoad(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("load", args, {
    ...pick("model", "no-mmap", "mlock"),
    ...{
      populate: { type: "boolean" },
      "batch-layers": { type: "string" },
      profile: { type: "boolean" },
      plan: { type: "string" },
      device: { type: "string" },
      "gpu-as": { type: "string" },
      dequant: { type: "string" },
      budget: { type: "string" },
    } as const,
    ...TL_CONFIG_FLAG,
    ...COMMON_FLAGS,
  });
  if (values.help) {
    out(LOAD_HELP);
    return 0;
  }
  const { file, rest } = modelArgument("load", values, positionals, envVar("BITNET_GGUF"));
  noMorePositionals("load", rest);
  const dequant = values.dequant ?? "none";
  if (dequant !== "none" && dequant !== "f32" && dequant !== "f16") {
    throw new UsageError(`--dequant must be f32, f16 or none, got "${dequant}"`);
  }
  const batchLayers = integerOption("batch-layers", values["batch-layers"], 1);
  const device = values.device ?? "cpu";
  const gpu = /^cuda(\d+)$/.exec(device);
  if (device !== "cpu" && !gpu) {
    throw new UsageError(`--device must be cpu or cudaN, got "${device}"`);
  }
  const gpuAs = values["gpu-as"] ?? "quantized";
  if (gpuAs !== "quantized" && gpuAs !== "f16" && gpuAs !== "f32") {
    throw new UsageError(`--gpu-as must be quantized, f16 or f32, got "${gpuAs}"`);
  }
  // The CUDA modules and the bandwidth probe are imported only for the flags that use them:
  // a plain load starts faster without them (tests/startup_imports_test.ts keeps it so).
  const cuda = gpu ? await import("../../ffi/cuda.ts") : undefined;
  if (cuda && cuda.cudaRuntime() === null) {
    throw new Error(
      `${file}: cannot use ${device}: ${cuda.cudaUnavailableReason() ?? "no CUDA runtime"}`,
    );
  }
  let budget: number | undefined;
  try {
    budget = values.budget === undefined ? undefined : parseSize(values.budget);
  } catch (e) {
    throw new UsageError(`--budget: ${(e as Error).message}`);
  }
  const controller = new AbortController();
  const onSigint = () =>
    controller.abort(
      new CancelledError("cancelled (Ctrl-C); everything mapped or allocated was released"),
    );
  try {
    Deno.addSignalListener("SIGINT", onSigint);
  } catch { /* signals unavailable */ }
  let monitor: PerfMonitor | undefined;
  if (values.profile) {
    const { measureMemcpyBandwidth } = await import("../bench/machine.ts");
    const floor = measureMemcpyBandwidth(32 * 1024 * 1024, 3) / 2;
    monitor = new PerfMonitor({ minBytesPerSec: { batch: floor } });
  }
  const bar = progressBar("load");
  let label = "";
  try {
    const plan = values.plan
      ? JSON.parse(await Deno.readTextFile(values.plan)) as Partial<PlacementPlan>
      : undefined;
    // a whole plan from `bitload plan --json` is honoured by the load (unless --device uploads)
    const honoured = plan?.model && plan.tensors && plan.devices && !gpu
      ? plan as PlacementPlan
      : undefined;
    // imported here, after the flags are checked: `load --help` and a usage error need neither
    // the loader nor the native library's bindings (tests/startup_test.ts keeps it so)
    const { openGguf } = await import("../pipeline/open.ts");
    const { faultGuard } = await import("../../ffi/fault_guard.ts");
    // process set-up (as the loader does it): the native library guards the mapping, and being
    // open it also scans a large vocabulary's strings during the parse
    faultGuard();
    await using model = await openGguf(file, {
      mmap: !values["no-mmap"],
      mlock: values.mlock,
      populate: values.populate,
      // every tensor will be made resident here: a cold file is read while the header is parsed
      readAhead: !values.plan && !gpu && budget === undefined,
    });
    using loaded = await model.load({
      plan: honoured,
      batchLayers,
      progressive: batchLayers !== undefined ? true : undefined,
      dequant,
      memoryBudgetBytes: budget,
      tlConfig: await tlConfigOption(values["tl-config"]),
      signal: controller.signal,
      monitor,
      onProgress(e: LoadProgress) {
        label = `load [batch ${e.batch + 1}/${e.batches}]`;
        bar.update(e.bytesDone, e.bytesTotal, label);
      },
    });
    bar.done();
    // read once, after the load (smaps costs tens of ms): the page-table state behind the speed
    const pmdMappedShare = values.json || monitor ? loaded.pmdMappedShare() : null;
    if (values.json) {
      out(
        JSON.stringify({
          ...loaded.report,
          batches: loaded.plan.batches.length,
          warnings: loaded.warnings,
          pmdMappedShare,
        }),
      );
    } else {
      out(
        `${
          bold(file)
        }: ${loaded.model.tensors.length} tensors in ${loaded.plan.batches.length} batches`,
      );
      out(renderMemoryReport({ ...loaded.report, warnings: [...loaded.warnings] }));
      for (const line of loaded.info) out(dim(`  note: ${line}`));
    }
    if (monitor) {
      (values.json ? console.error : out)(
        renderProfile(monitor) + "\n" + renderPmdShare(pmdMappedShare),
      );
    }
    if (gpu) {
      const names = plan?.tensors
        ? plan.tensors.filter((t) => t.device === device).map((t) => t.name)
        : loaded.model.tensors.map((t) => t.name);
      const { uploadTensorsToCuda } = await import("../gpu/place.ts");
      using placed = uploadTensorsToCuda(
        { tensors: loaded.model.tensors, tensorData: (n) => loaded.tensorData(n) },
        names,
        { device: Number(gpu[1]), as: gpuAs },
      );
      (values.json ? console.error : out)(
        `  uploaded ${placed.tensors.size} tensors (${
          formatBytes(placed.bytes)
        }) to ${device} as ${gpuAs} in ${(placed.seconds * 1000).toFixed(1)} ms: ${
          placed.gbPerSecond.toFixed(2)
        } GB/s`,
      );
    }
    if (plan) {
      const cpu = plan.devices?.find((d) => d.kind === "cpu");
      if (!cpu) {
        throw new Error(`${values.plan}: not a plan from bitload plan --json (no CPU device)`);
      }
      const measured = loaded.report.fileBackedBytes + loaded.report.anonBytes;
      const gap = cpu.weights > 0 ? (measured - cpu.weights) / cpu.weights : 0;
      (values.json ? console.error : out)(
        `  planned vs measured: ${cpu.device} weights planned ${
          formatBytes(cpu.weights)
        }, measured ${formatBytes(measured)} resident (${(gap * 100).toFixed(2)} %)` +
          (plan.devices!.some((d) => d.kind !== "cpu" && d.weights > 0)
            ? "; GPU devices in the plan are not measured without the CUDA library"
            : ""),
      );
    }
    return loaded.report.ok ? 0 : 1;
  } catch (e) {
    if (e instanceof InsufficientMemoryError) throw new Error(`${file}: ${e.message}`);
    throw e;
  } finally {
    bar.done();
    try {
      Deno.removeSignalListener("SIGINT", onSigint);
    } catch { /* not added */ }
  }
}

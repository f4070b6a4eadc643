/**
 * `bitload bench [--json] [--save F] [--compare F] [--only PATTERN] [--size small|full]
 * [--model FILE]`: the
 * benchmark suite outside `deno bench` — warm-up, repetitions, medians with spread, outliers
 * dropped — with the seed's targets beside each figure, the machine it ran on, and the
 * regression tester.
 *
 * @module
 */

import { COMMON_FLAGS, noMorePositionals, parseCommand, pick } from "./options.ts";
import { requireRegularFile } from "../common/file_kind.ts";
import { DEFAULT_THRESHOLDS, gateReports, type RegressionThresholds } from "../bench/compare.ts";
import { machineInfo } from "../bench/machine.ts";
import type { BenchReport, Metric } from "../bench/report.ts";
import type { BenchPeers, BenchSize } from "../bench/suite.ts";
import { writeBytesAtomically } from "../common/atomic_write.ts";
import { bold, dim, formatBytes, formatCount, table, UsageError, yellow } from "./output.ts";

/** Help text of `bitload bench`. */
export const BENCH_HELP = `Usage: bitload bench [options]

Runs the benchmark suite in this process: metadata parse (vs @huggingface/gguf), dequantization
per type (scalar, best SIMD, 2 threads vs ggml's to_float), I2_S, and loading (mmap, read path,
plain read, Deno.readFile). Every peer runs in the same run; the table shows medians with their
spread, bitload's advantage over each peer, and the seed's targets (pass/fail).

Options:
  --size S             small (default; about a minute) or full (1 GiB models, 64 MiB buffers)
  --only PATTERN       only these benchmarks: an id (parse, dequant, load, plan, tokenize, decode), a
                       comma-separated list, or a regular expression matched against the ids
  -m, --model FILE     the load group measures this model instead of a generated one (load.model.*:
                       warm load ÷ cat, cold load ÷ dd, the share in 2 MiB page-table entries);
                       the file is only read (its pages are dropped for the cold figure; when they
                       cannot be, the cold figure is skipped with the reason)
  --json               print the report as JSON (validated by the report schema)
  --save FILE          also write the report to FILE (e.g. bench/baselines/my-machine.json)
  --compare FILE       compare with a saved report; exit 1 when a metric regressed beyond its
                       threshold (same machine: the figures; another machine: the advantage over
                       the in-run peer or the share of the in-run memcpy ceiling); a change
                       inside both runs' spread is "noise", and a suspected regression is
                       measured again before it fails
  --threshold K=F      change a threshold, K one of time, memory, throughput, ratio; F a fraction
                       (defaults: time 0.10, memory 0.15, throughput 0.05, ratio 0.10)
  -h, --help           show this help

Permissions: -A is simplest (FFI for kernels and the ggml reference, read/write of temp files).`;

function fmtNumber(v: number): string {
  if (Math.abs(v) >= 1e5) return formatCount(v);
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : Math.abs(v) >= 1 ? 2 : 3;
  return v.toFixed(digits);
}

function fmtValue(m: Metric): string {
  if (m.skipped) return "not run";
  return `${fmtNumber(m.value)}${m.unit ? " " + m.unit : ""}`;
}

/** Renders a report as a table. */
export function renderBenchReport(report: BenchReport): string {
  const m = report.machine;
  const lines = [
    bold(`bitload bench (${report.size})`) +
    dim(
      `  ${m.cpu}, ${m.cores} cores, ${m.simd}, ${formatBytes(m.memoryBytes)}, memcpy ${
        formatBytes(m.memcpyBytesPerSec)
      }/s, read ${formatBytes(m.readBytesPerSec)}/s, Deno ${m.deno}`,
    ),
  ];
  const rows = [["metric", "value", "spread", "vs peer", "target", ""]];
  for (const x of report.metrics) {
    rows.push([
      x.label,
      fmtValue(x),
      x.spread ? `${fmtNumber(x.spread[0])}–${fmtNumber(x.spread[1])}` : "",
      x.peer ? `${x.peer.advantage.toFixed(2)}× ${x.peer.name}` : "",
      x.target?.label ?? "",
      x.skipped ? yellow(x.skipped) : x.pass === undefined ? "" : x.pass ? "pass" : yellow("FAIL"),
    ]);
  }
  lines.push(table(rows));
  return lines.join("\n");
}

function parseThresholds(specs: string[] | undefined): RegressionThresholds {
  const t = { ...DEFAULT_THRESHOLDS };
  for (const spec of specs ?? []) {
    const m = /^(time|memory|throughput|ratio)=(\d*\.?\d+)$/.exec(spec);
    if (!m) {
      throw new UsageError(`--threshold expects KIND=FRACTION (e.g. time=0.1), got "${spec}"`);
    }
    t[m[1] as keyof RegressionThresholds] = Number(m[2]);
  }
  return t;
}

/**
 * Runs `bench`; returns the exit code. `peers` replaces the ones an installed bitload finds
 * (`src/bench/peers.ts`): the repository's `bench/suite.ts` passes the test oracles this way.
 */
export async function runBench(
  args: string[],
  out: (s: string) => void,
  peers?: BenchPeers,
): Promise<number> {
  const { values, positionals } = parseCommand("bench", args, {
    size: { type: "string" },
    only: { type: "string" },
    save: { type: "string" },
    compare: { type: "string" },
    threshold: { type: "string", multiple: true },
    ...pick("model"),
    ...COMMON_FLAGS,
  });
  noMorePositionals("bench", positionals);
  if (values.help) {
    out(BENCH_HELP);
    return 0;
  }
  const size = (values.size ?? "small") as BenchSize;
  if (size !== "small" && size !== "full") {
    throw new UsageError(`--size must be small or full, got "${values.size}"`);
  }
  const thresholds = parseThresholds(values.threshold);
  // the suite (every benchmark's modules), the peers and the report schema (zod) are imported
  // past --help (start-up time)
  const { BenchReportSchema, parseBenchReport } = await import("../bench/report.ts");
  const { selectBenches } = await import("../bench/suite.ts");
  const { installedBenchPeers } = await import("../bench/peers.ts");
  const baseline = values.compare
    ? parseBenchReport(JSON.parse(await Deno.readTextFile(values.compare)))
    : undefined;
  const benches = selectBenches(values.only);
  if (benches.length === 0) {
    throw new UsageError(
      `--only "${values.only}" matches no benchmark (parse, dequant, load, plan, tokenize, decode)`,
    );
  }
  const model = values.model;
  if (model !== undefined) {
    if (!benches.some((b) => b.id === "load")) {
      throw new UsageError(
        `--model is measured by the load group only; add it to --only (e.g. --only load)`,
      );
    }
    requireRegularFile(model); // a missing or special file fails before anything is measured
  }
  const log = (line: string) => console.error(dim(`bench: ${line}`));
  log("measuring the machine (memcpy and read bandwidth)");
  const machine = machineInfo();
  const dir = await Deno.makeTempDir({ prefix: "bitload-bench-" });
  const metrics: Metric[] = [];
  using installed = peers ? undefined : await installedBenchPeers();
  try {
    for (const b of benches) {
      log(`${b.id}: ${b.description}`);
      metrics.push(
        ...await b.run({ size, machine, dir, log, peers: peers ?? installed?.peers, model }),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const report = BenchReportSchema.parse({
    version: 1,
    date: new Date().toISOString(),
    size,
    machine,
    metrics,
  });
  if (values.save) {
    const text = JSON.stringify(report, null, 2) + "\n";
    await writeBytesAtomically(values.save, text);
  }
  if (values.json) out(JSON.stringify(report));
  else out(renderBenchReport(report));
  if (!baseline) return 0;
  const result = await gateReports(baseline, report, {
    thresholds,
    remeasure: async (ids) => {
      const again: Metric[] = [];
      for (const b of benches.filter((b) => ids.some((id) => id.startsWith(`${b.id}.`)))) {
        log(`re-measuring ${b.id} (suspected regression)`);
        const d = await Deno.makeTempDir({ prefix: "bitload-bench-" });
        try {
          again.push(
            ...await b.run({ size, machine, dir: d, log, peers: peers ?? installed?.peers, model }),
          );
        } finally {
          await Deno.remove(d, { recursive: true }).catch(() => {});
        }
      }
      return again;
    },
  });
  const rows = [["metric", "basis", "baseline", "now", "change", "status"]];
  for (const c of result.metrics) {
    rows.push([
      c.id,
      c.basis,
      c.baseline?.toFixed(3) ?? "",
      c.current?.toFixed(3) ?? "",
      c.worsening === undefined ? "" : `${(-c.worsening * 100).toFixed(1)} %`,
      c.status === "regressed"
        ? yellow(c.note ? `REGRESSED (${c.note})` : "REGRESSED")
        : c.note
        ? `${c.status} (${c.note})`
        : c.status,
    ]);
  }
  const head = result.sameMachine
    ? "compared with the baseline's figures (same machine)"
    : "baseline from another machine: compared by advantage over the in-run peer or share of the memcpy ceiling";
  (values.json ? console.error : out)(`\n${bold("regression check")} ${dim(head)}\n${table(rows)}`);
  return result.ok ? 0 : 1;
}

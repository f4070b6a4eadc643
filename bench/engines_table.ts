/**
 * The same-run engine comparison's results and what is built from them: the median and range of
 * each engine's tok/s, bitload's ratio to each peer and to the fastest peer, the markdown tables
 * of the closing notes, and the figures as `bitload bench` metrics (`src/bench/report.ts`: value,
 * spread, peer with advantage). Pure functions: `bench/engines.ts` measures, this module reports.
 *
 * @module
 */

import type { Metric } from "../src/bench/report.ts";

/** The tests, as llama-bench names them (`tg32@pp512`: 32 tokens generated after a 512 prompt). */
export const ENGINE_TESTS = ["pp32", "pp512", "tg32", "tg32@pp512"] as const;

/** One of {@link ENGINE_TESTS}. */
export type EngineTest = typeof ENGINE_TESTS[number];

/** Column headings of the tests. */
export const TEST_HEADINGS: Record<EngineTest, string> = {
  pp32: "pp32",
  pp512: "pp512",
  tg32: "tg32",
  "tg32@pp512": "tg32 after pp512",
};

/** An engine of the comparison. */
export interface EngineInfo {
  /** Stable id, e.g. `ik-iq2_bn_r4-native`. */
  id: string;
  /** Row label, e.g. `ik_llama.cpp IQ2_BN_R4, native`. */
  label: string;
  /** False for bitload itself, true for the peers. */
  peer: boolean;
  /** bitload of another revision (the "before"): compared with, never a peer. */
  baseline?: boolean;
  /** Why the engine did not run at all. */
  notRun?: string;
  /** What it ran with (kernels, build), for the notes under the tables. */
  detail?: string;
}

/** The tok/s samples of one engine, thread count and test (one per repetition). */
export interface EngineCell {
  /** {@link EngineInfo.id}. */
  engine: string;
  /** Threads. */
  threads: number;
  /** The test. */
  test: EngineTest;
  /** Tokens per second, one per repetition. */
  samples: number[];
  /** Why this test was not measured for this engine (the others may have been). */
  skipped?: string;
}

/** Everything one comparison run measured. */
export interface EngineResults {
  /** The model shape, in words (e.g. `2B-4T shape (30 × 2560, …)`). */
  shape: string;
  /** Short shape name for metric ids (`2B`, `tiny`, or `model`). */
  shapeId: string;
  /** Thread counts, in run order. */
  threads: number[];
  /** Tests, in column order. */
  tests: EngineTest[];
  /** Repetitions asked for. */
  reps: number;
  /** Engines, bitload first. */
  engines: EngineInfo[];
  /** The measurements. */
  cells: EngineCell[];
  /** Where and when: CPU model, hardware threads, ISO date. */
  machine?: { cpu: string; threads: number; date: string };
  /** The 1-minute load average before and after the run (other processes competing). */
  loadAverage?: [number, number];
  /** Set on a snapshot taken before the run ended: where it stopped. */
  partial?: string;
}

/** Median and range of samples. */
export interface RangeStat {
  /** Median. */
  median: number;
  /** Smallest sample. */
  min: number;
  /** Largest sample. */
  max: number;
  /** Number of samples. */
  n: number;
}

/**
 * Median and min–max of `samples` (null when there are none).
 *
 * @example
 * ```ts
 * import { rangeStat } from "./engines_table.ts";
 * rangeStat([3, 1, 2]); // { median: 2, min: 1, max: 3, n: 3 }
 * ```
 */
export function rangeStat(samples: readonly number[]): RangeStat | null {
  if (samples.length === 0) return null;
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], n: s.length };
}

/** bitload's speed divided by a peer's, for one thread count and test. */
export interface EngineRatio {
  /** The peer's id, or `fastest` for the fastest peer of that column. */
  peer: string;
  /** For `fastest`: the id of the engine that was fastest. */
  fastest?: string;
  /** Threads. */
  threads: number;
  /** The test. */
  test: EngineTest;
  /** bitload median ÷ peer median (> 1: bitload is faster). */
  ratio: number;
  /** bitload min ÷ peer max … bitload max ÷ peer min: how far the ratio can move within the spread. */
  range: [number, number];
  /** bitload's median tok/s. */
  bitload: number;
  /** The peer's median tok/s. */
  peerValue: number;
}

function cellStat(r: EngineResults, engine: string, threads: number, test: EngineTest) {
  const cell = r.cells.find((c) => c.engine === engine && c.threads === threads && c.test === test);
  return cell ? rangeStat(cell.samples) : null;
}

function ratioOf(a: RangeStat, b: RangeStat): { ratio: number; range: [number, number] } {
  return { ratio: a.median / b.median, range: [a.min / b.max, a.max / b.min] };
}

/**
 * bitload's ratio to every peer that was measured, and to the fastest peer of each thread count
 * and test (the peer with the highest median).
 *
 * @example
 * ```ts
 * import { engineRatios } from "./engines_table.ts";
 * const r = engineRatios({
 *   shape: "tiny", shapeId: "tiny", threads: [1], tests: ["tg32"], reps: 2,
 *   engines: [{ id: "bitload", label: "bitload", peer: false }, { id: "p", label: "p", peer: true }],
 *   cells: [
 *     { engine: "bitload", threads: 1, test: "tg32", samples: [10, 12] },
 *     { engine: "p", threads: 1, test: "tg32", samples: [20, 22] },
 *   ],
 * });
 * r.map((x) => [x.peer, x.ratio.toFixed(2)]); // [["p", "0.52"], ["fastest", "0.52"]]
 * ```
 */
export function engineRatios(r: EngineResults): EngineRatio[] {
  const own = r.engines.find((e) => !e.peer && !e.baseline);
  if (!own) return [];
  const out: EngineRatio[] = [];
  for (const threads of r.threads) {
    for (const test of r.tests) {
      const ours = cellStat(r, own.id, threads, test);
      if (!ours) continue;
      let best: { id: string; stat: RangeStat } | null = null;
      for (const peer of r.engines.filter((e) => e.peer || e.baseline)) {
        const theirs = cellStat(r, peer.id, threads, test);
        if (!theirs) continue;
        out.push({
          peer: peer.id,
          threads,
          test,
          ...ratioOf(ours, theirs),
          bitload: ours.median,
          peerValue: theirs.median,
        });
        if (peer.baseline) continue;
        if (!best || theirs.median > best.stat.median) best = { id: peer.id, stat: theirs };
      }
      if (best) {
        out.push({
          peer: "fastest",
          fastest: best.id,
          threads,
          test,
          ...ratioOf(ours, best.stat),
          bitload: ours.median,
          peerValue: best.stat.median,
        });
      }
    }
  }
  return out;
}

/** Formats a tok/s figure with three significant digits (at least one decimal below 100). */
function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toPrecision(2);
}

/** `median (min–max)`, or the median alone for one sample. */
function fmtStat(s: RangeStat): string {
  return s.n > 1 ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : fmt(s.median);
}

function fmtRatio(x: { ratio: number; range: [number, number] }, n: number): string {
  return n > 1
    ? `${x.ratio.toFixed(2)}× (${x.range[0].toFixed(2)}–${x.range[1].toFixed(2)})`
    : `${x.ratio.toFixed(2)}×`;
}

/**
 * The comparison as markdown: the tok/s table (engines × threads, one column per test, median
 * and range over the repetitions), the table of bitload's ratios to each peer and to the fastest
 * peer, and the list of what was not run with the reason.
 *
 * @example
 * ```ts ignore
 * import { engineMarkdown } from "./engines_table.ts";
 * console.log(engineMarkdown(results));
 * ```
 */
export function engineMarkdown(r: EngineResults): string {
  const labels = new Map(r.engines.map((e) => [e.id, e.label]));
  const heads = r.tests.map((t) => TEST_HEADINGS[t]);
  const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const rule = row(["---", "---:", ...r.tests.map(() => "---:")]);
  const lines: string[] = [
    `${r.shape}: tok/s, median (min–max) of ${r.reps} repetition${
      r.reps === 1 ? "" : "s"
    }, every engine timed in the same run.`,
    "",
  ];
  if (r.machine) {
    const load = r.loadAverage
      ? `; 1-minute load average ${r.loadAverage[0].toFixed(2)} before, ${
        r.loadAverage[1].toFixed(2)
      } after${
        Math.max(...r.loadAverage) > r.machine.threads * 0.5 + 0.5
          ? " (other processes competed for the cores: compare only ratios)"
          : ""
      }`
      : "";
    lines.push(
      `Measured ${r.machine.date} on ${r.machine.cpu}, ${r.machine.threads} hardware threads${load}.`,
    );
  }
  if (r.partial) lines.push(`Partial results: ${r.partial}.`);
  lines.push("", row(["engine", "threads", ...heads]), rule);
  const notRun: string[] = [];
  for (const threads of r.threads) {
    for (const e of r.engines) {
      if (e.notRun) continue;
      const cells = r.tests.map((test) => {
        const s = cellStat(r, e.id, threads, test);
        return s ? fmtStat(s) : "–";
      });
      const label = e.peer || e.baseline ? e.label : `**${e.label}**`;
      lines.push(row([label, String(threads), ...cells]));
    }
  }
  const ratios = engineRatios(r);
  if (ratios.length > 0) {
    lines.push(
      "",
      "bitload ÷ peer (> 1: bitload faster; a row of bitload at another revision is the " +
        "speed-up since), ratio of the medians (range: bitload's slowest ÷ the peer's fastest … " +
        "bitload's fastest ÷ the peer's slowest):",
      "",
      row(["peer", "threads", ...heads]),
      rule,
    );
    for (const threads of r.threads) {
      const peers = [...new Set(ratios.filter((x) => x.threads === threads).map((x) => x.peer))];
      for (const peer of peers) {
        const cells = r.tests.map((test) => {
          const x = ratios.find((y) => y.peer === peer && y.threads === threads && y.test === test);
          if (!x) return "–";
          const n = Math.min(
            cellStat(r, r.engines.find((e) => !e.peer && !e.baseline)!.id, threads, test)?.n ?? 1,
            cellStat(r, x.fastest ?? peer, threads, test)?.n ?? 1,
          );
          const who = x.fastest ? ` ${labels.get(x.fastest) ?? x.fastest}` : "";
          return fmtRatio(x, n) + who;
        });
        const label = peer === "fastest" ? "**fastest peer**" : labels.get(peer) ?? peer;
        lines.push(row([label, String(threads), ...cells]));
      }
    }
  }
  if (r.tests.includes("tg32") && r.tests.includes("tg32@pp512")) {
    const kept: string[] = [];
    for (const e of r.engines.filter((x) => !x.notRun)) {
      const per = r.threads.flatMap((threads) => {
        const short = cellStat(r, e.id, threads, "tg32");
        const long = cellStat(r, e.id, threads, "tg32@pp512");
        return short && long ? [`${(long.median / short.median).toFixed(2)} (${threads} t)`] : [];
      });
      if (per.length > 0) kept.push(`${e.label} ${per.join(", ")}`);
    }
    if (kept.length > 0) {
      lines.push(
        "",
        `Generation after a 512-token prompt ÷ after none (tg32 after pp512 ÷ tg32, medians): ${
          kept.join("; ")
        }.`,
      );
    }
  }
  for (const e of r.engines) {
    if (e.notRun) notRun.push(`- ${e.label}: not run: ${e.notRun}`);
  }
  const partial = new Map<string, string[]>();
  for (const c of r.cells) {
    if (!c.skipped || r.engines.find((e) => e.id === c.engine)?.notRun) continue;
    const key = `${labels.get(c.engine) ?? c.engine}, ${
      TEST_HEADINGS[c.test]
    }: not run: ${c.skipped}`;
    partial.set(key, [...(partial.get(key) ?? []), String(c.threads)]);
  }
  for (const [key, threads] of partial) {
    notRun.push(`- ${key} (threads ${threads.join(", ")})`);
  }
  if (notRun.length > 0) lines.push("", ...notRun);
  const details = r.engines.filter((e) => e.detail && !e.notRun);
  if (details.length > 0) {
    lines.push("", ...details.map((e) => `- ${e.label}: ${e.detail}`));
  }
  return lines.join("\n");
}

/**
 * The comparison as `bitload bench` metrics: one per thread count and test, bitload's median
 * tok/s with its min–max spread, and the fastest peer of that column with bitload's advantage
 * over it (so a saved report compares across machines on the peer ratio). Tests bitload did not
 * measure become metrics with `skipped` set.
 *
 * @example
 * ```ts ignore
 * import { engineMetrics } from "./engines_table.ts";
 * for (const m of engineMetrics(results)) console.log(m.id, m.value, m.peer?.advantage);
 * ```
 */
export function engineMetrics(r: EngineResults): Metric[] {
  const own = r.engines.find((e) => !e.peer && !e.baseline);
  const ratios = engineRatios(r);
  const labels = new Map(r.engines.map((e) => [e.id, e.label]));
  const out: Metric[] = [];
  for (const threads of r.threads) {
    for (const test of r.tests) {
      const id = `engines.${r.shapeId}.t${threads}.${test}`;
      const label = `${r.shape}: bitload ${TEST_HEADINGS[test]}, ${threads} thread${
        threads === 1 ? "" : "s"
      }`;
      const base = {
        id,
        label,
        unit: "tok/s",
        kind: "throughput" as const,
        better: "higher" as const,
      };
      const cell = own
        ? r.cells.find((c) => c.engine === own.id && c.threads === threads && c.test === test)
        : undefined;
      const s = own ? cellStat(r, own.id, threads, test) : null;
      if (!s) {
        out.push({ ...base, value: 0, skipped: own?.notRun ?? cell?.skipped ?? "not measured" });
        continue;
      }
      const fastest = ratios.find((x) =>
        x.peer === "fastest" && x.threads === threads && x.test === test
      );
      out.push({
        ...base,
        value: s.median,
        spread: [s.min, s.max],
        ...(fastest
          ? {
            peer: {
              name: labels.get(fastest.fastest!) ?? fastest.fastest!,
              value: fastest.peerValue,
              advantage: fastest.ratio,
            },
          }
          : {}),
      });
    }
  }
  return out;
}

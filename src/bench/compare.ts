/**
 * The regression tester: compares a benchmark report with a baseline. On the same machine the
 * figures themselves are compared; from another machine absolute numbers mean little, so the
 * comparison uses what travels — bitload's advantage over the peer measured in the same run, or
 * throughput as a share of the machine's own memcpy bandwidth — and says which basis it used.
 *
 * A change inside the run-to-run spread measured for the figure (the p10–p90 ranges of the two
 * runs overlap) is `noise`, never a regression; a suspected regression is measured again
 * ({@link gateReports} with a `remeasure` function) and only fails when the new measurement
 * confirms it.
 *
 * @module
 */

import { sameMachine } from "./machine.ts";
import type { BenchReport, Metric } from "./report.ts";

/** Allowed regression per metric kind, as a fraction (0.1 = 10 %). */
export interface RegressionThresholds {
  /** Load and other times. The seed's number: 10 %. */
  time: number;
  /** Memory. The seed's number: 15 %. */
  memory: number;
  /** Throughput. The project's number: 5 %. */
  throughput: number;
  /** Ratios (advantages over peers, speed-ups). 10 %. */
  ratio: number;
}

/** The seed's thresholds. */
export const DEFAULT_THRESHOLDS: RegressionThresholds = {
  time: 0.10,
  memory: 0.15,
  throughput: 0.05,
  ratio: 0.10,
};

/** What happened to one metric. */
export interface MetricComparison {
  /** Metric id. */
  id: string;
  /**
   * `ok`, `regressed`, `improved`, `noise` (beyond the threshold but inside the run-to-run
   * spread), `missing` (in the baseline only), `new`, or `skipped`.
   */
  status: "ok" | "regressed" | "improved" | "noise" | "missing" | "new" | "skipped";
  /** What was compared: the value itself, the advantage over the peer, or the share of memcpy. */
  basis: "absolute" | "peer-ratio" | "ceiling-share" | "none";
  /** Baseline figure on that basis. */
  baseline?: number;
  /** Current figure on that basis. */
  current?: number;
  /** Relative change in the "worse" direction (positive = worse). */
  worsening?: number;
  /** Allowed worsening. */
  threshold?: number;
  /** Why it was skipped, noise, or what re-measuring found. */
  note?: string;
  /** The first run's figure, when a suspected regression was measured again. */
  firstRun?: number;
}

/** The outcome of a comparison. */
export interface ComparisonResult {
  /** False when any metric regressed. */
  ok: boolean;
  /** Whether baseline and current came from the same machine. */
  sameMachine: boolean;
  /** Per metric. */
  metrics: MetricComparison[];
}

function basisFor(
  a: Metric,
  b: Metric,
  same: boolean,
):
  | { basis: MetricComparison["basis"]; base: number; cur: number; better: "lower" | "higher" }
  | null {
  if (same) return { basis: "absolute", base: a.value, cur: b.value, better: a.better };
  if (a.peer && b.peer) {
    return { basis: "peer-ratio", base: a.peer.advantage, cur: b.peer.advantage, better: "higher" };
  }
  if (a.ceilingShare !== undefined && b.ceilingShare !== undefined) {
    return { basis: "ceiling-share", base: a.ceilingShare, cur: b.ceilingShare, better: "higher" };
  }
  if (a.kind === "ratio") {
    return { basis: "absolute", base: a.value, cur: b.value, better: a.better };
  }
  return null;
}

function range(m: Metric): [number, number] {
  return m.spread ?? [m.value, m.value];
}

/** Whether the two runs' p10–p90 ranges overlap (a point without a spread is its own range). */
function spreadsOverlap(a: Metric, b: Metric): boolean {
  if (!a.spread && !b.spread) return false;
  const [a0, a1] = range(a);
  const [b0, b1] = range(b);
  return a0 <= b1 && b0 <= a1;
}

function fmtSpread(s: [number, number] | undefined): string {
  return s ? `${s[0].toPrecision(3)}–${s[1].toPrecision(3)}` : "none";
}

/**
 * Compares `current` with `baseline`.
 *
 * @example
 * ```ts ignore
 * import { compareReports } from "./compare.ts";
 * const result = compareReports(baseline, current);
 * if (!result.ok) Deno.exitCode = 1;
 * ```
 */
export function compareReports(
  baseline: BenchReport,
  current: BenchReport,
  thresholds: RegressionThresholds = DEFAULT_THRESHOLDS,
): ComparisonResult {
  const same = sameMachine(baseline.machine, current.machine);
  const now = new Map(current.metrics.map((m) => [m.id, m]));
  const out: MetricComparison[] = [];
  for (const base of baseline.metrics) {
    const cur = now.get(base.id);
    now.delete(base.id);
    if (!cur) {
      out.push({
        id: base.id,
        status: "missing",
        basis: "none",
        note: "not in the current report",
      });
      continue;
    }
    if (base.skipped || cur.skipped) {
      out.push({
        id: base.id,
        status: "skipped",
        basis: "none",
        note: cur.skipped ?? base.skipped,
      });
      continue;
    }
    const b = basisFor(base, cur, same);
    if (!b || b.base === 0) {
      out.push({
        id: base.id,
        status: "skipped",
        basis: "none",
        note: "no machine-independent figure to compare across machines",
      });
      continue;
    }
    const worsening = b.better === "lower" ? (b.cur - b.base) / b.base : (b.base - b.cur) / b.base;
    const threshold = thresholds[cur.kind];
    let status: MetricComparison["status"] = worsening > threshold
      ? "regressed"
      : worsening < -threshold
      ? "improved"
      : "ok";
    let note: string | undefined;
    if (status !== "ok" && b.basis === "absolute" && spreadsOverlap(base, cur)) {
      status = "noise";
      note = `inside the run-to-run spread (${fmtSpread(base.spread)} then ${
        fmtSpread(cur.spread)
      })`;
    }
    out.push({
      id: base.id,
      status,
      basis: b.basis,
      baseline: b.base,
      current: b.cur,
      worsening,
      threshold,
      ...(note ? { note } : {}),
    });
  }
  for (const id of now.keys()) out.push({ id, status: "new", basis: "none" });
  return { ok: !out.some((m) => m.status === "regressed"), sameMachine: same, metrics: out };
}

/** Options of {@link gateReports}. */
export interface GateOptions {
  /** Allowed worsening per kind. Default {@link DEFAULT_THRESHOLDS}. */
  thresholds?: RegressionThresholds;
  /**
   * Measures the given metric ids again (e.g. re-runs the benchmarks they belong to) and returns
   * fresh metrics; without it a suspected regression fails at once.
   */
  remeasure?: (ids: string[]) => Promise<Metric[]>;
}

/**
 * The regression gate: {@link compareReports}, then every suspected regression measured again
 * with `remeasure`; a metric fails only when the new measurement regresses too (it is then
 * marked "confirmed by re-measurement"), otherwise it becomes `ok`/`noise`/`improved` with a
 * note naming the first run's figure.
 *
 * @example
 * ```ts ignore
 * import { gateReports } from "./compare.ts";
 * const result = await gateReports(baseline, current, {
 *   remeasure: async (ids) => (await runAgain(ids)).metrics,
 * });
 * if (!result.ok) Deno.exitCode = 1;
 * ```
 */
export async function gateReports(
  baseline: BenchReport,
  current: BenchReport,
  options: GateOptions = {},
): Promise<ComparisonResult> {
  const thresholds = options.thresholds ?? DEFAULT_THRESHOLDS;
  const first = compareReports(baseline, current, thresholds);
  const suspects = first.metrics.filter((m) => m.status === "regressed").map((m) => m.id);
  if (suspects.length === 0 || !options.remeasure) return first;
  const fresh = new Map((await options.remeasure(suspects)).map((m) => [m.id, m]));
  const again = compareReports(
    baseline,
    { ...current, metrics: current.metrics.map((m) => fresh.get(m.id) ?? m) },
    thresholds,
  );
  const second = new Map(again.metrics.map((m) => [m.id, m]));
  const metrics = first.metrics.map((m): MetricComparison => {
    if (m.status !== "regressed") return m;
    const r = second.get(m.id);
    if (!r || !fresh.has(m.id)) return { ...m, note: "could not be measured again" };
    const note = r.status === "regressed"
      ? "confirmed by re-measurement"
      : `cleared by re-measurement (first run ${m.current?.toPrecision(4)})${
        r.note ? `; ${r.note}` : ""
      }`;
    return { ...r, note, firstRun: m.current };
  });
  return { ...first, ok: !metrics.some((m) => m.status === "regressed"), metrics };
}

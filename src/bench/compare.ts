/**
 * The regression tester: compares a benchmark report with a baseline. On the same machine the
 * figures themselves are compared; from another machine absolute numbers mean little, so the
 * comparison uses what travels — bitload's advantage over the peer measured in the same run, or
 * throughput as a share of the machine's own memcpy bandwidth — and says which basis it used.
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
  /** Throughput. 10 %. */
  throughput: number;
  /** Ratios (advantages over peers, speed-ups). 10 %. */
  ratio: number;
}

/** The seed's thresholds. */
export const DEFAULT_THRESHOLDS: RegressionThresholds = {
  time: 0.10,
  memory: 0.15,
  throughput: 0.10,
  ratio: 0.10,
};

/** What happened to one metric. */
export interface MetricComparison {
  /** Metric id. */
  id: string;
  /** `ok`, `regressed`, `improved`, `missing` (in the baseline only), `new`, or `skipped`. */
  status: "ok" | "regressed" | "improved" | "missing" | "new" | "skipped";
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
  /** Why it was skipped, when it was. */
  note?: string;
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
    const status = worsening > threshold ? "regressed" : worsening < -threshold ? "improved" : "ok";
    out.push({
      id: base.id,
      status,
      basis: b.basis,
      baseline: b.base,
      current: b.cur,
      worsening,
      threshold,
    });
  }
  for (const id of now.keys()) out.push({ id, status: "new", basis: "none" });
  return { ok: !out.some((m) => m.status === "regressed"), sameMachine: same, metrics: out };
}

/**
 * The validation report: plain data that every validator fills (one {@link CheckResult} per check,
 * one {@link TensorResult} per tensor and check), its JSON form (`{ok, checks, tensors}`, numbers
 * that are not finite written as `null`), and its rendering as tables for the terminal.
 *
 * @module
 */

import { table } from "../common/format.ts";

/** How a check or a tensor fared. `not-run` means a prerequisite (the reference) was missing. */
export type CheckStatus = "pass" | "fail" | "skip" | "not-run";

/** Figures of a check or tensor; `null` stands for a non-finite value in JSON. */
export type Figures = Record<string, number | string | boolean | null>;

/** One check of the report (structure, crossval, tensors, accuracy, determinism). */
export interface CheckResult {
  /** The check's name: `structure`, `crossval`, `tensors`, `accuracy`, `determinism`. */
  name: string;
  /** Its outcome; the report is ok only when every check passes. */
  status: CheckStatus;
  /** One line for humans. */
  summary: string;
  /** Settings and totals (tolerances, seed, tensors compared, …). */
  figures: Figures;
}

/** What one check found for one tensor. */
export interface TensorResult {
  /** The check this row belongs to. */
  check: string;
  /** Tensor name. */
  name: string;
  /** Tensor type name. */
  type: string;
  /** Outcome for this tensor. */
  status: CheckStatus;
  /** Why it failed or was skipped. */
  detail?: string;
  /** The check's figures for this tensor. */
  figures: Figures;
}

/** A whole validation report. */
export interface ValidationReport {
  /** The validated file. */
  file: string;
  /** True when every check passed. */
  ok: boolean;
  /** The checks in the order they ran. */
  checks: CheckResult[];
  /** Per-tensor rows of every check. */
  tensors: TensorResult[];
}

/**
 * Builds a report; `ok` is true only when every check has status `pass`.
 *
 * @example
 * ```ts
 * import { makeReport } from "./report.ts";
 * const r = makeReport("m.gguf", [{ name: "structure", status: "pass", summary: "", figures: {} }], []);
 * r.ok; // true
 * ```
 */
export function makeReport(
  file: string,
  checks: CheckResult[],
  tensors: TensorResult[],
): ValidationReport {
  return {
    file,
    ok: checks.length > 0 && checks.every((c) => c.status === "pass"),
    checks,
    tensors,
  };
}

/**
 * The status of a check from its tensor rows: `fail` if any failed, `pass` if any passed, else
 * `skip`.
 *
 * @example
 * ```ts
 * import { statusOf } from "./report.ts";
 * statusOf([{ check: "x", name: "a", type: "F32", status: "pass", figures: {} }]); // "pass"
 * ```
 */
export function statusOf(rows: readonly TensorResult[]): CheckStatus {
  if (rows.some((r) => r.status === "fail")) return "fail";
  if (rows.some((r) => r.status === "pass")) return "pass";
  return "skip";
}

/**
 * The report as JSON text; non-finite numbers become `null`.
 *
 * @example
 * ```ts
 * import { makeReport, reportToJson } from "./report.ts";
 * reportToJson(makeReport("m.gguf", [], [])); // '{"file":"m.gguf","ok":false,"checks":[],"tensors":[]}'
 * ```
 */
export function reportToJson(report: ValidationReport, indent?: number): string {
  return JSON.stringify(
    report,
    (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
    indent,
  );
}

/**
 * A number for a table cell: integers as they are, six significant digits otherwise (exponent
 * form for small or large magnitudes), `∞`/`NaN` spelled out.
 *
 * @example
 * ```ts
 * import { formatFigure } from "./report.ts";
 * formatFigure(0.000012345); // "1.23e-5"
 * formatFigure(0.99999412); // "0.999994"
 * ```
 */
export function formatFigure(v: number | string | boolean | null | undefined): string {
  if (v === null || v === undefined) return "-";
  if (typeof v !== "number") return String(v);
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "-∞";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e6) return v.toExponential(2).replace("e-0", "e-").replace("e+", "e");
  return v.toPrecision(6);
}

/** A figure as a table cell: sentinels such as "no bad block" (−1) show as `-`. */
function figureCell(key: string, v: number | string | boolean | null | undefined): string {
  if (key === "firstBadBlock" && typeof v === "number" && v < 0) return "-";
  return formatFigure(v);
}

/** Which figures each check shows in its tensor table, in order, with column titles. */
const TENSOR_COLUMNS: Record<string, [string, string][]> = {
  crossval: [
    ["maxAbsError", "max abs"],
    ["maxRelError", "max rel"],
    ["l2", "L2"],
    ["cosine", "cosine"],
    ["withinFraction", "≤1e-6"],
    ["codeMismatches", "code diffs"],
    ["scaleRounding", "f16 scale rnd"],
    ["reference", "reference"],
  ],
  tensors: [["badBlocks", "bad blocks"], ["firstBadBlock", "first bad"], ["problem", "problem"]],
  accuracy: [
    ["cosine", "cosine"],
    ["snrDb", "SNR dB"],
    ["snrLossDb", "SNR loss dB"],
    ["klMean", "KL"],
    ["rangeCovered", "range"],
  ],
  determinism: [["runs", "runs"], ["maxVariance", "variance"], ["identical", "identical"]],
};

const MARK: Record<CheckStatus, string> = {
  pass: "pass",
  fail: "FAIL",
  skip: "skip",
  "not-run": "NOT RUN",
};

/**
 * Renders a report as text: one summary table of the checks, then one table per check of its
 * tensors (failing ones first, at most `maxRows` rows each, default 20), then the verdict.
 *
 * @example
 * ```ts
 * import { makeReport, renderValidationReport } from "./report.ts";
 * const text = renderValidationReport(
 *   makeReport("m.gguf", [{ name: "structure", status: "pass", summary: "3 tensors", figures: {} }], []),
 * );
 * text.includes("structure"); // true
 * ```
 */
export function renderValidationReport(
  report: ValidationReport,
  options: { maxRows?: number; full?: boolean } = {},
): string {
  const maxRows = options.maxRows ?? 20;
  const fit = { full: options.full };
  const lines: string[] = [`validation of ${report.file}`, ""];
  lines.push(table([
    ["check", "status", "summary"],
    ...report.checks.map((c) => [c.name, MARK[c.status], c.summary]),
  ], fit));
  for (const check of report.checks) {
    const rows = report.tensors.filter((t) => t.check === check.name);
    const columns = TENSOR_COLUMNS[check.name];
    if (rows.length === 0 || !columns) continue;
    const order = (s: CheckStatus) => (s === "fail" ? 0 : s === "pass" ? 1 : 2);
    const shown = [...rows].sort((a, b) => order(a.status) - order(b.status)).slice(0, maxRows);
    lines.push("", `${check.name}:`);
    lines.push(table([
      ["tensor", "type", "status", ...columns.map(([, title]) => title)],
      ...shown.map((r) => [
        r.name,
        r.type,
        MARK[r.status] + (r.status !== "pass" && r.detail ? ` (${r.detail})` : ""),
        ...columns.map(([key]) => figureCell(key, r.figures[key])),
      ]),
    ], fit));
    if (rows.length > shown.length) {
      lines.push(`… and ${rows.length - shown.length} more (--all shows every row)`);
    }
  }
  lines.push("", report.ok ? "validation passed" : "validation FAILED");
  return lines.join("\n");
}

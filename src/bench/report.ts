/**
 * The benchmark report: metrics with their targets and peers, the machine they ran on, and the
 * zod schema that every saved or loaded report is validated against.
 *
 * @module
 */

import { BenchError } from "./errors.ts";
import { z } from "npm:zod@^4";
import type { MachineInfo } from "./machine.ts";

/** A target from the seeds/issues, e.g. "≥ 3× @huggingface/gguf". */
export const TargetSchema = z.strictObject({
  op: z.enum([">=", "<="]),
  value: z.number(),
  label: z.string(),
});

/** One measured figure. */
export const MetricSchema = z.strictObject({
  id: z.string().min(1),
  label: z.string(),
  unit: z.string(),
  /** What kind of number it is: decides the regression threshold. */
  kind: z.enum(["time", "memory", "throughput", "ratio"]),
  better: z.enum(["lower", "higher"]),
  value: z.number(),
  /** Spread of the samples (p10, p90), in the metric's unit. */
  spread: z.tuple([z.number(), z.number()]).optional(),
  /** The peer measured in the same run, and bitload's advantage over it (> 1 is better). */
  peer: z.strictObject({ name: z.string(), value: z.number(), advantage: z.number() }).optional(),
  /** Throughput as a share of the machine's memcpy bandwidth. */
  ceilingShare: z.number().optional(),
  target: TargetSchema.optional(),
  pass: z.boolean().optional(),
  /** Why the metric could not be measured (then `value` is NaN-free 0 and `pass` absent). */
  skipped: z.string().optional(),
});

/** The machine a report came from. */
export const MachineSchema = z.strictObject({
  cpu: z.string(),
  cores: z.number().int().positive(),
  simd: z.string(),
  memoryBytes: z.number().nonnegative(),
  memcpyBytesPerSec: z.number().nonnegative(),
  readBytesPerSec: z.number().nonnegative(),
  deno: z.string(),
  target: z.string(),
});

/** A whole report. */
export const BenchReportSchema = z.strictObject({
  version: z.literal(1),
  date: z.string(),
  size: z.enum(["small", "full"]),
  machine: MachineSchema,
  metrics: z.array(MetricSchema),
});

/** A target from the seeds/issues. */
export interface Target {
  /** `>=` (at least) or `<=` (at most). */
  op: ">=" | "<=";
  /** The threshold, in the metric's unit. */
  value: number;
  /** How it is shown, e.g. "≥ 3×". */
  label: string;
}

/** One measured figure (the shape {@link MetricSchema} validates). */
export interface Metric {
  /** Stable id, e.g. `dequant.Q4_K.gibps`. */
  id: string;
  /** Human label. */
  label: string;
  /** Unit of `value`. */
  unit: string;
  /** What kind of number it is: decides the regression threshold. */
  kind: "time" | "memory" | "throughput" | "ratio";
  /** Which direction is better. */
  better: "lower" | "higher";
  /** The median figure. */
  value: number;
  /** Spread of the samples (p10, p90), in the metric's unit. */
  spread?: [number, number];
  /** The peer measured in the same run, and bitload's advantage over it (> 1 is better). */
  peer?: { name: string; value: number; advantage: number };
  /** Throughput as a share of the machine's memcpy bandwidth. */
  ceilingShare?: number;
  /** The seed's target, when there is one. */
  target?: Target;
  /** Whether the target is met. */
  pass?: boolean;
  /** Why the metric could not be measured. */
  skipped?: string;
}

/** A whole benchmark report (the shape {@link BenchReportSchema} validates). */
export interface BenchReport {
  /** Format version. */
  version: 1;
  /** ISO date of the run. */
  date: string;
  /** Input sizes used. */
  size: "small" | "full";
  /** The machine it ran on. */
  machine: MachineInfo;
  /** The figures. */
  metrics: Metric[];
}

/**
 * Whether a value meets a target.
 *
 * @example
 * ```ts
 * import { meetsTarget } from "./report.ts";
 * meetsTarget(4.2, { op: ">=", value: 3, label: "≥ 3×" }); // true
 * ```
 */
export function meetsTarget(value: number, target: Target): boolean {
  return target.op === ">=" ? value >= target.value : value <= target.value;
}

/**
 * Parses and validates a report (e.g. a saved baseline); throws a readable error when invalid.
 *
 * @example
 * ```ts ignore
 * import { parseBenchReport } from "./report.ts";
 * const baseline = parseBenchReport(JSON.parse(await Deno.readTextFile("bench/baselines/x.json")));
 * ```
 */
export function parseBenchReport(json: unknown): BenchReport {
  const result = BenchReportSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new BenchError(
      "BAD_REPORT",
      `Not a bitload benchmark report: ${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
  }
  return result.data as BenchReport;
}

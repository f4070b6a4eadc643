/**
 * The typed error of the benchmark layer.
 *
 * @module
 */

import { BitloadError } from "../common/errors.ts";

/** Stable machine-readable reasons a benchmark operation fails. */
export type BenchErrorCode = "BAD_REPORT"; // a saved report does not follow the report schema

/**
 * A benchmark report (or another benchmark input) was refused.
 *
 * @example
 * ```ts
 * import { BenchError } from "./errors.ts";
 * import { parseBenchReport } from "./report.ts";
 * try {
 *   parseBenchReport({ version: 9 });
 * } catch (e) {
 *   if (e instanceof BenchError) console.log(e.code); // BAD_REPORT
 * }
 * ```
 */
export class BenchError extends BitloadError<BenchErrorCode> {}

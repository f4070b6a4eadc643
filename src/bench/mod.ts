/**
 * `@bitload/bitload/bench`: the benchmark suite behind `bitload bench` (peers injected, never
 * imported), timing statistics, machine description, the report schema, the regression tester
 * and the performance monitor.
 *
 * @example
 * ```ts ignore
 * import { measure } from "@bitload/bitload/bench";
 * const stats = await measure(() => crypto.getRandomValues(new Uint8Array(1 << 16)), { reps: 9 });
 * console.log(stats.medianMs, stats.p10Ms, stats.p90Ms);
 * ```
 *
 * @module
 */

export {
  type PerfAlert,
  PerfMonitor,
  type PerfSpan,
  type PerfThresholds,
} from "../common/perf_monitor.ts";
export {
  type MachineInfo,
  machineInfo,
  measureMemcpyBandwidth,
  measureReadBandwidth,
} from "./machine.ts";
export { measure, type MeasureOptions, summarize, type TimingStats } from "./measure.ts";
export {
  compareReports,
  type ComparisonResult,
  DEFAULT_THRESHOLDS,
  type GateOptions,
  gateReports,
  type MetricComparison,
  type RegressionThresholds,
} from "./compare.ts";
export { type BenchReport, type Metric, parseBenchReport, type Target } from "./report.ts";
export { BenchError, type BenchErrorCode } from "./errors.ts";
export {
  type Bench,
  type BenchContext,
  BENCHES,
  type BenchPeers,
  type BenchSize,
  type GgufParserPeer,
  selectBenches,
  type TokenizerPeer,
} from "./suite.ts";
export { installedBenchPeers, type OpenedBenchPeers } from "./peers.ts";

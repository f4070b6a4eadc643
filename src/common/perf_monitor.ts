/**
 * A small performance monitor: named spans with byte counts and durations, throughput derived
 * from them, and alerts (events) when a span runs below a throughput floor or memory passes a
 * limit. Used by the loader (`bitload load --profile`) and by the benchmark runner. Recording a
 * span costs two `performance.now()` calls and one array push.
 *
 * @module
 */

import { formatBytes } from "./format.ts";

/** One finished span. */
export interface PerfSpan {
  /** What was measured, e.g. `parse`, `map`, `batch 3`, `dequant`. */
  name: string;
  /** Start, in ms since the monitor was created. */
  startMs: number;
  /** Duration in ms. */
  durationMs: number;
  /** Bytes processed, when it applies. */
  bytes: number;
  /** Bytes per second (0 without bytes or duration). */
  bytesPerSec: number;
}

/** An alert raised by {@link PerfMonitor}. */
export interface PerfAlert {
  /** `throughput` (a span below its floor) or `memory` (a reading above its limit). */
  kind: "throughput" | "memory";
  /** The span or reading concerned. */
  name: string;
  /** The measured value (bytes/s or bytes). */
  value: number;
  /** The threshold it crossed. */
  threshold: number;
  /** A one-line explanation. */
  message: string;
}

/** Thresholds of a {@link PerfMonitor}. */
export interface PerfThresholds {
  /** Minimum bytes/s for spans whose name starts with a key (e.g. `{ batch: 1e9 }`). */
  minBytesPerSec?: Record<string, number>;
  /** Maximum memory in bytes for {@link PerfMonitor.checkMemory}. */
  maxMemoryBytes?: number;
}

/**
 * Records spans and raises alerts.
 *
 * @example
 * ```ts
 * import { PerfMonitor } from "./perf_monitor.ts";
 * const monitor = new PerfMonitor({ minBytesPerSec: { copy: 1 } });
 * const alerts: string[] = [];
 * monitor.addEventListener("alert", (e) => alerts.push((e as CustomEvent).detail.message));
 * const end = monitor.start("copy", 1024);
 * end();
 * monitor.spans.length; // 1
 * ```
 */
export class PerfMonitor extends EventTarget {
  /** Finished spans in order of completion. */
  readonly spans: PerfSpan[] = [];
  /** Alerts raised so far. */
  readonly alerts: PerfAlert[] = [];
  readonly #origin = performance.now();
  readonly #thresholds: PerfThresholds;

  /** Creates a monitor with optional alert thresholds. */
  constructor(thresholds: PerfThresholds = {}) {
    super();
    this.#thresholds = thresholds;
  }

  /** Starts a span; call the returned function to end it (optionally with the final byte count). */
  start(name: string, bytes = 0): (finalBytes?: number) => PerfSpan {
    const t0 = performance.now();
    return (finalBytes?: number) => this.record(name, t0, performance.now(), finalBytes ?? bytes);
  }

  /** Records a span measured elsewhere (`performance.now()` values). */
  record(name: string, startNow: number, endNow: number, bytes = 0): PerfSpan {
    const durationMs = endNow - startNow;
    const span: PerfSpan = {
      name,
      startMs: startNow - this.#origin,
      durationMs,
      bytes,
      bytesPerSec: durationMs > 0 && bytes > 0 ? (bytes * 1000) / durationMs : 0,
    };
    this.spans.push(span);
    const floors = this.#thresholds.minBytesPerSec;
    if (floors && bytes > 0 && durationMs > 0) {
      for (const prefix in floors) {
        if (name.startsWith(prefix) && span.bytesPerSec < floors[prefix]) {
          this.#alert({
            kind: "throughput",
            name,
            value: span.bytesPerSec,
            threshold: floors[prefix],
            message: `span "${name}" ran at ${fmtRate(span.bytesPerSec)}, below the ${
              fmtRate(floors[prefix])
            } floor`,
          });
        }
      }
    }
    return span;
  }

  /** Checks a memory reading against `maxMemoryBytes`; raises a `memory` alert above it. */
  checkMemory(name: string, bytes: number): void {
    const max = this.#thresholds.maxMemoryBytes;
    if (max !== undefined && bytes > max) {
      this.#alert({
        kind: "memory",
        name,
        value: bytes,
        threshold: max,
        message: `${name}: ${formatBytes(bytes)} is above the ${formatBytes(max)} limit`,
      });
    }
  }

  /** Sum of bytes and duration per span name (e.g. all `batch …` spans), in first-seen order. */
  totals(): PerfSpan[] {
    const byName = new Map<string, PerfSpan>();
    for (const s of this.spans) {
      const t = byName.get(s.name);
      if (!t) byName.set(s.name, { ...s });
      else {
        t.durationMs += s.durationMs;
        t.bytes += s.bytes;
        t.bytesPerSec = t.durationMs > 0 && t.bytes > 0 ? (t.bytes * 1000) / t.durationMs : 0;
      }
    }
    return [...byName.values()];
  }

  #alert(alert: PerfAlert): void {
    this.alerts.push(alert);
    this.dispatchEvent(new CustomEvent("alert", { detail: alert }));
  }
}

function fmtRate(bytesPerSec: number): string {
  return `${formatBytes(bytesPerSec)}/s`;
}

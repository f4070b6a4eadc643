/**
 * Repeated timing with warm-up, median and spread, and outlier rejection (samples further than
 * 3 scaled median absolute deviations from the median are dropped before the final median).
 *
 * @module
 */

/** Statistics of one measurement. */
export interface TimingStats {
  /** Median of the kept samples, ms. */
  medianMs: number;
  /** Fastest kept sample, ms. */
  minMs: number;
  /** 10th percentile of the kept samples, ms. */
  p10Ms: number;
  /** 90th percentile of the kept samples, ms. */
  p90Ms: number;
  /** Scaled median absolute deviation (≈ standard deviation for normal noise), ms. */
  madMs: number;
  /** Samples taken (after warm-up). */
  samples: number;
  /** Samples dropped as outliers. */
  outliers: number;
}

/** Options of {@link measure}. */
export interface MeasureOptions {
  /** Unmeasured runs first. Default 2. */
  warmup?: number;
  /** Measured runs. Default 7. */
  reps?: number;
  /** Stop adding runs past this much measured time (at least 3 runs are taken). Default 5000. */
  budgetMs?: number;
  /** Runs before each sample, not timed (e.g. dropping the page cache). */
  before?: () => unknown | Promise<unknown>;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Summarises samples: drops outliers (|x − median| > 3 × 1.4826 × MAD) and reports the rest.
 *
 * @example
 * ```ts
 * import { summarize } from "./measure.ts";
 * const s = summarize([10, 11, 10, 12, 10, 95]);
 * s.outliers; // 1
 * s.medianMs; // 10
 * ```
 */
export function summarize(samples: readonly number[]): TimingStats {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = quantile(sorted, 0.5);
  const deviations = sorted.map((x) => Math.abs(x - median)).sort((a, b) => a - b);
  const mad = 1.4826 * quantile(deviations, 0.5);
  const kept = mad > 0 ? sorted.filter((x) => Math.abs(x - median) <= 3 * mad) : sorted;
  return {
    medianMs: quantile(kept, 0.5),
    minMs: kept[0],
    p10Ms: quantile(kept, 0.1),
    p90Ms: quantile(kept, 0.9),
    madMs: mad,
    samples: sorted.length,
    outliers: sorted.length - kept.length,
  };
}

/**
 * Times `fn` repeatedly.
 *
 * @example
 * ```ts
 * import { measure } from "./measure.ts";
 * const stats = await measure(() => new Uint8Array(1 << 16).fill(1), { reps: 5, warmup: 1 });
 * stats.samples; // 5
 * ```
 */
export async function measure(
  fn: () => unknown | Promise<unknown>,
  options: MeasureOptions = {},
): Promise<TimingStats> {
  const warmup = options.warmup ?? 2;
  const reps = options.reps ?? 7;
  const budget = options.budgetMs ?? 5000;
  for (let i = 0; i < warmup; i++) {
    await options.before?.();
    await fn();
  }
  const samples: number[] = [];
  let spent = 0;
  while (samples.length < reps && (samples.length < 3 || spent < budget)) {
    await options.before?.();
    const t0 = performance.now();
    await fn();
    const ms = performance.now() - t0;
    samples.push(ms);
    spent += ms;
  }
  return summarize(samples);
}

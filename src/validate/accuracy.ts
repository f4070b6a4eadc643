/**
 * Quantization accuracy: how close a quantized tensor's values are to the original's (f32, f16 or
 * bf16, from the same or another GGUF). Definitions (x = original, y = dequantized quantized
 * values, sums in double and in index order):
 *
 * - **cosine** = Σxy / (‖x‖·‖y‖) (1 when both are all zero);
 * - **SNR (dB)** = 10·log10(Σx² / Σ(x−y)²) (∞ when y = x);
 * - **SNR loss (dB)** = 10·log10(1 + Σ(x−y)²/Σx²): how much the quantization noise raises the
 *   power of the tensor over that of the original, i.e. the drop in SNR of a signal carried by the
 *   weights. The seed's "SNR < 1 dB" cannot mean the SNR itself (1 dB would be noise nearly as
 *   strong as the signal), so we read it as this loss: < 1 dB ⇔ SNR > 5.87 dB;
 * - **KL** = KL(p‖q) of the softmax-normalised values, row by row: for each row of ne0 elements,
 *   p = softmax(x_row), q = softmax(y_row) (temperature 1, max subtracted first), KL = Σ p·(ln p −
 *   ln q) in nats; reported as the mean over rows (`klMean`) and the largest row (`klMax`).
 *   It treats each row as logits, so it depends on the values' scale: weights of magnitude ~0.02
 *   give near-uniform softmaxes and small KL;
 * - **range covered** = |[min x, max x] ∩ [min y, max y]| / (max x − min x): the share of the
 *   original dynamic range the quantized values still span (1 when both ranges are empty points
 *   that coincide).
 *
 * Seed thresholds as defaults ({@link ACCURACY_DEFAULTS}): cosine ≥ 0.99, KL < 0.01, range > 95 %,
 * SNR loss < 1 dB.
 *
 * @module
 */

import { ValidateError } from "./errors.ts";
import type { TensorResult } from "./report.ts";

/** The seed's thresholds. */
export const ACCURACY_DEFAULTS = {
  /** Minimum cosine similarity. */
  minCosine: 0.99,
  /** Mean KL divergence of the row softmaxes must be below this (nats). */
  maxKl: 0.01,
  /** Share of the original range that must be covered (strictly more). */
  minRangeCovered: 0.95,
  /** SNR loss must be below this (dB). */
  maxSnrLossDb: 1,
} as const;

/** Thresholds of {@link accuracyMetrics}. */
export type AccuracyThresholds = { -readonly [K in keyof typeof ACCURACY_DEFAULTS]?: number };

/** The accuracy figures of one tensor. */
export interface AccuracyMetrics {
  /** Elements compared. */
  elements: number;
  /** Cosine similarity. */
  cosine: number;
  /** Signal-to-noise ratio in dB (∞ when exact). */
  snrDb: number;
  /** 10·log10(1 + N/S) in dB (0 when exact). */
  snrLossDb: number;
  /** Mean over rows of KL(softmax(x_row) ‖ softmax(y_row)), nats. */
  klMean: number;
  /** Largest row KL, nats. */
  klMax: number;
  /** Share of the original range covered by the quantized values' range. */
  rangeCovered: number;
  /** max |x − y|. */
  maxAbsError: number;
  /** Root mean square error. */
  rmse: number;
}

/**
 * Accuracy metrics of quantized values `y` against the original `x`, rows of `rowLength`
 * elements (default: one row).
 *
 * @throws {ValidateError} `BAD_LENGTH` when the lengths differ or `rowLength` does not divide them.
 *
 * @example
 * ```ts
 * import { accuracyMetrics } from "./accuracy.ts";
 * const m = accuracyMetrics(Float32Array.of(1, -1), Float32Array.of(1, -0.5));
 * m.snrDb; // 10·log10(2 / 0.25) = 9.03…
 * m.rangeCovered; // 0.75
 * ```
 */
export function accuracyMetrics(
  x: Float32Array,
  y: Float32Array,
  rowLength: number = x.length,
): AccuracyMetrics {
  if (x.length !== y.length) {
    throw new ValidateError(
      "BAD_LENGTH",
      `Cannot compare ${x.length} original values with ${y.length} quantized`,
    );
  }
  const n = x.length;
  if (n > 0 && (rowLength <= 0 || n % rowLength !== 0)) {
    throw new ValidateError("BAD_LENGTH", `Row length ${rowLength} does not divide ${n} elements`);
  }
  let sxx = 0, syy = 0, sxy = 0, see = 0, maxAbs = 0;
  let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
  for (let i = 0; i < n; i++) {
    const a = x[i];
    const b = y[i];
    const e = a - b;
    sxx += a * a;
    syy += b * b;
    sxy += a * b;
    see += e * e;
    const ae = Math.abs(e);
    if (ae > maxAbs || Number.isNaN(ae)) maxAbs = ae;
    if (a < xmin) xmin = a;
    if (a > xmax) xmax = a;
    if (b < ymin) ymin = b;
    if (b > ymax) ymax = b;
  }
  const norm = Math.sqrt(sxx * syy); // equal arrays give exactly 1
  const cosine = norm > 0
    ? Math.max(-1, Math.min(1, sxy / norm))
    : (sxx === 0 && syy === 0 ? 1 : 0);
  const snrDb = see === 0 ? Infinity : 10 * Math.log10(sxx / see);
  const snrLossDb = see === 0 ? 0 : 10 * Math.log10(1 + see / sxx);
  let klSum = 0, klMax = 0;
  const rows = n === 0 ? 0 : n / rowLength;
  for (let r = 0; r < rows; r++) {
    const kl = rowKl(x, y, r * rowLength, rowLength);
    klSum += kl;
    if (kl > klMax || Number.isNaN(kl)) klMax = kl;
  }
  const span = xmax - xmin;
  const overlap = Math.max(0, Math.min(xmax, ymax) - Math.max(xmin, ymin));
  const rangeCovered = n === 0
    ? 1
    : span > 0
    ? overlap / span
    : (xmin === ymin && xmax === ymax ? 1 : 0);
  return {
    elements: n,
    cosine,
    snrDb,
    snrLossDb,
    klMean: rows > 0 ? klSum / rows : 0,
    klMax,
    rangeCovered,
    maxAbsError: maxAbs,
    rmse: n > 0 ? Math.sqrt(see / n) : 0,
  };
}

/** KL(softmax(x[o..o+len]) ‖ softmax(y[o..o+len])) in nats, computed stably in double. */
function rowKl(x: Float32Array, y: Float32Array, o: number, len: number): number {
  let mx = -Infinity, my = -Infinity;
  for (let i = o; i < o + len; i++) {
    if (x[i] > mx) mx = x[i];
    if (y[i] > my) my = y[i];
  }
  let zx = 0, zy = 0;
  for (let i = o; i < o + len; i++) {
    zx += Math.exp(x[i] - mx);
    zy += Math.exp(y[i] - my);
  }
  const lzx = Math.log(zx), lzy = Math.log(zy);
  let kl = 0;
  for (let i = o; i < o + len; i++) {
    const lp = x[i] - mx - lzx;
    const lq = y[i] - my - lzy;
    kl += Math.exp(lp) * (lp - lq);
  }
  return Math.max(0, kl);
}

/**
 * Why the metrics break the thresholds, or `""` when they meet them.
 *
 * @example
 * ```ts
 * import { accuracyMetrics, accuracyVerdict } from "./accuracy.ts";
 * accuracyVerdict(accuracyMetrics(Float32Array.of(1, 2), Float32Array.of(1, 2))); // ""
 * ```
 */
export function accuracyVerdict(m: AccuracyMetrics, thresholds: AccuracyThresholds = {}): string {
  const t = { ...ACCURACY_DEFAULTS, ...thresholds };
  const why: string[] = [];
  if (!(m.cosine >= t.minCosine)) why.push(`cosine ${m.cosine.toFixed(4)} < ${t.minCosine}`);
  if (!(m.klMean < t.maxKl)) why.push(`KL ${m.klMean.toExponential(2)} ≥ ${t.maxKl}`);
  if (!(m.rangeCovered > t.minRangeCovered)) {
    why.push(`range ${(100 * m.rangeCovered).toFixed(1)} % ≤ ${100 * t.minRangeCovered} %`);
  }
  if (!(m.snrLossDb < t.maxSnrLossDb)) {
    why.push(`SNR loss ${m.snrLossDb.toFixed(2)} dB ≥ ${t.maxSnrLossDb} dB`);
  }
  return why.join("; ");
}

/**
 * The report row (`check: "accuracy"`) of one tensor.
 *
 * @example
 * ```ts
 * import { accuracyRow } from "./accuracy.ts";
 * const row = accuracyRow("w", "Q8_0", Float32Array.of(1, 2), Float32Array.of(1, 2), 2);
 * row.status; // "pass"
 * ```
 */
export function accuracyRow(
  name: string,
  type: string,
  original: Float32Array,
  quantized: Float32Array,
  rowLength: number,
  thresholds: AccuracyThresholds = {},
): TensorResult {
  const m = accuracyMetrics(original, quantized, rowLength);
  const why = accuracyVerdict(m, thresholds);
  return {
    check: "accuracy",
    name,
    type,
    status: why ? "fail" : "pass",
    ...(why ? { detail: why } : {}),
    figures: { ...m },
  };
}

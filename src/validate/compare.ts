/**
 * Element-wise comparison of two f32 arrays, the figures every cross-check reports: maximum
 * absolute and relative error, the L2 norm of the difference, cosine similarity, the share of
 * elements within a fixed tolerance, and how many elements break an `atol + rtol·|ref|` budget.
 *
 * Sums are accumulated in double, in index order, so the figures are the same on every run and
 * machine. Non-finite values: a pair with identical bits (or two NaNs) counts as equal; any other
 * pair involving a NaN or an infinity is a "non-finite mismatch", makes the maximum errors
 * infinite and is left out of the sums.
 *
 * @module
 */

import { ValidateError } from "./errors.ts";

/** The figures of one comparison. */
export interface DiffStats {
  /** Elements compared. */
  elements: number;
  /** Elements whose f32 bits differ (two NaNs count as equal). */
  mismatched: number;
  /** Index of the first such element, or −1. */
  firstMismatch: number;
  /** Pairs where one side is NaN/±Inf and the other is not the same. */
  nonFiniteMismatches: number;
  /** max |a − b|. */
  maxAbsError: number;
  /** max |a − b| / |b| over elements with b ≠ 0 (the reference is `b`). */
  maxRelError: number;
  /** sqrt(Σ (a − b)²). */
  l2: number;
  /** Σab / (‖a‖·‖b‖) over the finite pairs; 1 when both are all zero, 0 when only one is. */
  cosine: number;
  /** Share of elements with |a − b| ≤ `within` (default 1e-6). */
  withinFraction: number;
  /** Elements with |a − b| > atol + rtol·|b| (the budget given to {@link compareArrays}). */
  toleranceViolations: number;
}

/** Budgets for {@link compareArrays}. */
export interface CompareOptions {
  /** Threshold of {@link DiffStats.withinFraction}. Default 1e-6. */
  within?: number;
  /** Absolute part of the per-element budget. Default 1e-5. */
  atol?: number;
  /** Relative part of the per-element budget. Default 1e-4. */
  rtol?: number;
}

const f32a = new Float32Array(2);
const u32a = new Uint32Array(f32a.buffer);

function sameBits(x: number, y: number): boolean {
  f32a[0] = x;
  f32a[1] = y;
  return u32a[0] === u32a[1];
}

/**
 * Compares `actual` against the reference `expected` (same length).
 *
 * @throws {ValidateError} `BAD_LENGTH` when the lengths differ.
 *
 * @example
 * ```ts
 * import { compareArrays } from "./compare.ts";
 * const s = compareArrays(Float32Array.of(1, 2.5), Float32Array.of(1, 2));
 * s.maxAbsError; // 0.5
 * s.withinFraction; // 0.5
 * ```
 */
export function compareArrays(
  actual: Float32Array,
  expected: Float32Array,
  options: CompareOptions = {},
): DiffStats {
  if (actual.length !== expected.length) {
    throw new ValidateError(
      "BAD_LENGTH",
      `Cannot compare ${actual.length} values with ${expected.length}: the lengths differ`,
    );
  }
  const within = options.within ?? 1e-6;
  const atol = options.atol ?? 1e-5;
  const rtol = options.rtol ?? 1e-4;
  let mismatched = 0;
  let firstMismatch = -1;
  let nonFinite = 0;
  let maxAbs = 0;
  let maxRel = 0;
  let sumD2 = 0;
  let dot = 0;
  let aa = 0;
  let bb = 0;
  let inside = 0;
  let violations = 0;
  const n = actual.length;
  for (let i = 0; i < n; i++) {
    const a = actual[i];
    const b = expected[i];
    if (Number.isFinite(a) && Number.isFinite(b)) {
      const d = Math.abs(a - b);
      if (d !== 0 || !sameBits(a, b)) {
        mismatched++;
        if (firstMismatch < 0) firstMismatch = i;
      }
      if (d > maxAbs) maxAbs = d;
      if (b !== 0) {
        const r = d / Math.abs(b);
        if (r > maxRel) maxRel = r;
      }
      sumD2 += d * d;
      dot += a * b;
      aa += a * a;
      bb += b * b;
      if (d <= within) inside++;
      if (d > atol + rtol * Math.abs(b)) violations++;
    } else if (sameBits(a, b) || (Number.isNaN(a) && Number.isNaN(b))) {
      inside++;
    } else {
      mismatched++;
      if (firstMismatch < 0) firstMismatch = i;
      nonFinite++;
      violations++;
      maxAbs = Infinity;
      maxRel = Infinity;
    }
  }
  // sqrt(aa·bb), not sqrt(aa)·sqrt(bb): equal arrays then give exactly 1.
  const norm = Math.sqrt(aa * bb);
  const cosine = norm > 0 ? Math.max(-1, Math.min(1, dot / norm)) : (aa === 0 && bb === 0 ? 1 : 0);
  return {
    elements: n,
    mismatched,
    firstMismatch,
    nonFiniteMismatches: nonFinite,
    maxAbsError: maxAbs,
    maxRelError: maxRel,
    l2: nonFinite > 0 ? Infinity : Math.sqrt(sumD2),
    cosine,
    withinFraction: n === 0 ? 1 : inside / n,
    toleranceViolations: violations,
  };
}

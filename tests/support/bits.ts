/**
 * Bit-exactness assertions shared by the kernel tests.
 *
 * @module
 */

import assert from "node:assert/strict";

/**
 * Asserts that two f32 arrays hold the same bits (so `-0` differs from `0` and every NaN payload
 * counts), naming how many values differ and the first few of them.
 *
 * @example
 * ```ts
 * import { assertBitsEqual } from "./bits.ts";
 * assertBitsEqual(Float32Array.of(1, -0), Float32Array.of(1, -0), "known answer");
 * ```
 */
export function assertBitsEqual(actual: Float32Array, expected: Float32Array, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  const diffs: string[] = [];
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === e[i]) continue;
    if (count < 5) {
      diffs.push(
        `[${i}] got ${actual[i]} (0x${a[i].toString(16)}), expected ${expected[i]} (0x${
          e[i].toString(16)
        })`,
      );
    }
    count++;
  }
  assert.equal(count, 0, `${label}: ${count} of ${a.length} values differ: ${diffs.join(", ")}`);
}

/**
 * Sampling: the top-k selection (`topKOrder`, a heap) orders ids exactly as the full sort did,
 * so seeded samplers draw the same tokens as before; checked on tie-heavy logits against the
 * full-sort twin.
 */

import assert from "node:assert/strict";
import { makeSampler, topKOrder } from "../src/infer/sample.ts";
import { seededRandom } from "../src/common/random.ts";

function fullSort(logits: Float32Array): number[] {
  return Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
}

Deno.test("topKOrder equals the first k of a full sort (ties by id)", () => {
  const rng = seededRandom(11);
  for (let round = 0; round < 50; round++) {
    const n = 1 + Math.floor(rng.float() * 300);
    // few distinct values: many ties
    const logits = Float32Array.from({ length: n }, () => Math.floor(rng.float() * 7) - 3);
    for (const k of [1, 2, 5, 40, n - 1, n]) {
      if (k < 1 || k > n) continue;
      assert.deepEqual(Array.from(topKOrder(logits, k)), fullSort(logits).slice(0, k));
    }
  }
});

Deno.test("a seeded top-k sampler draws the tokens of the full-sort sampler", () => {
  // the sampler as it was (full sort), inlined as the twin
  function twin(temperature: number, topK: number, topP: number, seed: number) {
    const rng = seededRandom(seed);
    return (logits: Float32Array) => {
      const sorted = fullSort(logits);
      const k = topK > 0 ? Math.min(topK, logits.length) : logits.length;
      const probs = new Float64Array(k);
      let sum = 0;
      for (let i = 0; i < k; i++) {
        sum += probs[i] = Math.exp((logits[sorted[i]] - logits[sorted[0]]) / temperature);
      }
      let keep = k;
      if (topP < 1) {
        let cum = 0;
        for (let i = 0; i < k; i++) {
          cum += probs[i] / sum;
          if (cum >= topP) {
            keep = i + 1;
            break;
          }
        }
      }
      let total = 0;
      for (let i = 0; i < keep; i++) total += probs[i];
      let r = rng.float() * total;
      for (let i = 0; i < keep; i++) {
        r -= probs[i];
        if (r < 0) return sorted[i];
      }
      return sorted[keep - 1];
    };
  }
  const data = seededRandom(5);
  for (const [topK, topP] of [[40, 0.95], [5, 1], [0, 0.9], [1000, 0.5]]) {
    const ours = makeSampler({ temperature: 0.8, topK, topP, seed: 3 });
    const theirs = twin(0.8, topK, topP, 3);
    for (let i = 0; i < 200; i++) {
      const logits = Float32Array.from({ length: 500 }, () => Math.round(data.float() * 40) / 4);
      assert.equal(ours.sample(logits), theirs(logits));
    }
  }
});

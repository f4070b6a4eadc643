/**
 * Token sampling: greedy (temperature ≤ 0), or temperature + top-k + top-p with a seeded PRNG
 * (xoshiro128** from `src/common/random.ts`), so the same seed gives the same tokens.
 *
 * @module
 */

import { type SeededRandom, seededRandom } from "../common/random.ts";

/** Sampling options. */
export interface SamplingOptions {
  /** Temperature; ≤ 0 means greedy. Default 0. */
  temperature?: number;
  /** Keep the k most likely tokens (0 = all). Default 40. */
  topK?: number;
  /** Keep the smallest set whose probability reaches p (1 = all). Default 0.95. */
  topP?: number;
  /** PRNG seed. Default 42. */
  seed?: number;
}

/**
 * Index of the largest value (the first one on ties).
 *
 * @example
 * ```ts
 * import { argmax } from "./sample.ts";
 * argmax(Float32Array.of(0.1, 3, 2)); // 1
 * ```
 */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < values.length; i++) {
    if (values[i] > bestValue) {
      bestValue = values[i];
      best = i;
    }
  }
  return best;
}

/** A sampler: picks the next token from logits. */
export interface Sampler {
  /** Picks a token id from `logits`. */
  sample(logits: Float32Array): number;
}

/**
 * Makes a sampler for `options`.
 *
 * @example
 * ```ts
 * import { makeSampler } from "./sample.ts";
 * const greedy = makeSampler({ temperature: 0 });
 * greedy.sample(Float32Array.of(0, 5, 1)); // 1
 * const s = makeSampler({ temperature: 0.8, topK: 2, seed: 7 });
 * [0, 1].includes(s.sample(Float32Array.of(4, 5, -9))); // true
 * ```
 */
export function makeSampler(options: SamplingOptions = {}): Sampler {
  const temperature = options.temperature ?? 0;
  if (!(temperature > 0)) return { sample: argmax };
  const topK = options.topK ?? 40;
  const topP = options.topP ?? 0.95;
  const rng: SeededRandom = seededRandom(options.seed ?? 42);
  let order = new Int32Array(0);
  let probs = new Float64Array(0);
  return {
    sample(logits: Float32Array): number {
      const n = logits.length;
      if (order.length !== n) {
        order = new Int32Array(n);
        probs = new Float64Array(n);
      }
      const k = topK > 0 ? Math.min(topK, n) : n;
      // descending by logit, ties by id (stable and deterministic); with top-k only the k best
      // are selected (a heap, O(n log k)) and sorted, in the same order a full sort gives them
      let sorted: ArrayLike<number>;
      if (k < n) sorted = topKOrder(logits, k);
      else {
        for (let i = 0; i < n; i++) order[i] = i;
        sorted = Array.from(order).sort((a, b) => logits[b] - logits[a] || a - b);
      }
      const max = logits[sorted[0]];
      let sum = 0;
      for (let i = 0; i < k; i++) {
        probs[i] = Math.exp((logits[sorted[i]] - max) / temperature);
        sum += probs[i];
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
    },
  };
}

/**
 * Ids of the `k` largest logits in descending order, ties by id: the first `k` entries of a full
 * sort with `(a, b) => logits[b] - logits[a] || a - b`, found with a size-`k` heap.
 *
 * @example
 * ```ts
 * import { topKOrder } from "./sample.ts";
 * Array.from(topKOrder(Float32Array.of(1, 5, 5, 0), 2)); // [1, 2]
 * ```
 */
export function topKOrder(logits: Float32Array, k: number): Int32Array {
  // heap[0] is the worst of the kept ids: lower logit, or equal logit and higher id
  const heap = new Int32Array(k);
  const worse = (a: number, b: number) =>
    logits[a] < logits[b] || (logits[a] === logits[b] && a > b);
  let size = 0;
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let w = i;
      if (l < size && worse(heap[l], heap[w])) w = l;
      if (r < size && worse(heap[r], heap[w])) w = r;
      if (w === i) return;
      const t = heap[i];
      heap[i] = heap[w];
      heap[w] = t;
      i = w;
    }
  };
  for (let id = 0; id < logits.length; id++) {
    if (size < k) {
      let i = size++;
      heap[i] = id;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(heap[i], heap[p])) break;
        const t = heap[i];
        heap[i] = heap[p];
        heap[p] = t;
        i = p;
      }
    } else if (worse(heap[0], id)) {
      heap[0] = id;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => logits[b] - logits[a] || a - b);
}

/**
 * A binary min-heap of merge candidates on typed arrays, ordered by `(priority, left)`: the
 * priority queue of llama.cpp's SPM and BPE sessions (`llm_bigram_spm::comparator`,
 * `llm_bigram_bpe::comparator` in `src/llama-vocab.cpp`), where ties go to the leftmost pair.
 * Merging through it keeps a long word O(n log n) instead of O(n²).
 *
 * @module
 */

/**
 * Merge candidates: `priority` (lower pops first), `left` (tie-break, lower first) and two
 * payload ints.
 *
 * @example
 * ```ts
 * import { PairHeap } from "./heap.ts";
 * const h = new PairHeap();
 * h.push(5, 0, 1, 0);
 * h.push(2, 3, 4, 0);
 * h.pop(); // true
 * h.topLeft; // 3
 * ```
 */
export class PairHeap {
  #pri = new Float64Array(64);
  #left = new Int32Array(64);
  #a = new Int32Array(64);
  #b = new Int32Array(64);
  #size = 0;
  /** Fields of the entry the last {@link PairHeap.pop} removed. */
  topPriority = 0;
  /** Left index of the popped entry. */
  topLeft = 0;
  /** First payload of the popped entry. */
  topA = 0;
  /** Second payload of the popped entry. */
  topB = 0;

  /** Number of entries. */
  get size(): number {
    return this.#size;
  }

  /**
   * Empties the heap (keeps its storage).
   *
   * @example
   * ```ts
   * import { PairHeap } from "./heap.ts";
   * new PairHeap().clear();
   * ```
   */
  clear(): void {
    this.#size = 0;
  }

  #less(i: number, j: number): boolean {
    const p = this.#pri[i] - this.#pri[j];
    return p < 0 || (p === 0 && this.#left[i] < this.#left[j]);
  }

  #grow(): void {
    const n = this.#pri.length * 2;
    const pri = new Float64Array(n);
    pri.set(this.#pri);
    this.#pri = pri;
    for (const k of ["left", "a", "b"] as const) {
      const old = k === "left" ? this.#left : k === "a" ? this.#a : this.#b;
      const arr = new Int32Array(n);
      arr.set(old);
      if (k === "left") this.#left = arr;
      else if (k === "a") this.#a = arr;
      else this.#b = arr;
    }
  }

  /**
   * Adds an entry.
   *
   * @example
   * ```ts
   * import { PairHeap } from "./heap.ts";
   * new PairHeap().push(1, 0, 1, 0);
   * ```
   */
  push(priority: number, left: number, a: number, b: number): void {
    if (this.#size === this.#pri.length) this.#grow();
    let i = this.#size++;
    const pri = this.#pri, L = this.#left, A = this.#a, B = this.#b;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const d = pri[parent] - priority;
      if (d < 0 || (d === 0 && L[parent] < left)) break;
      pri[i] = pri[parent];
      L[i] = L[parent];
      A[i] = A[parent];
      B[i] = B[parent];
      i = parent;
    }
    pri[i] = priority;
    L[i] = left;
    A[i] = a;
    B[i] = b;
  }

  /**
   * Removes the smallest entry into `top*`; false when empty.
   *
   * @example
   * ```ts
   * import { PairHeap } from "./heap.ts";
   * new PairHeap().pop(); // false
   * ```
   */
  pop(): boolean {
    if (this.#size === 0) return false;
    const pri = this.#pri, L = this.#left, A = this.#a, B = this.#b;
    this.topPriority = pri[0];
    this.topLeft = L[0];
    this.topA = A[0];
    this.topB = B[0];
    const n = --this.#size;
    if (n === 0) return true;
    // sift the last element down from the root
    const p = pri[n], l = L[n], a = A[n], b = B[n];
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.#less(c + 1, c)) c++;
      const d = pri[c] - p;
      if (d > 0 || (d === 0 && L[c] > l)) break;
      pri[i] = pri[c];
      L[i] = L[c];
      A[i] = A[c];
      B[i] = B[c];
      i = c;
    }
    pri[i] = p;
    L[i] = l;
    A[i] = a;
    B[i] = b;
    return true;
  }
}

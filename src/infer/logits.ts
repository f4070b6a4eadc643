/**
 * Teacher-forced logits of every position and their comparison: what `bitload logits` prints and
 * `bitload compare-logits` compares, in the file format the reference engines' drivers write
 * (bitnet.cpp's `bitnet_logits`, ik_llama.cpp's `ik_logits`): int32 rows, int32 vocab, then
 * rows × vocab f32, all little-endian, row-major.
 *
 * @module
 */

import { checkMappedFiles } from "../gguf/mapped_files.ts";
import { InferError } from "./errors.ts";
import type { InferenceModel } from "./model.ts";

/** Logits of `rows` positions over a vocabulary of `vocab` ids, row-major. */
export interface LogitsTable {
  /** Positions (rows). */
  rows: number;
  /** Vocabulary size (columns). */
  vocab: number;
  /** `rows × vocab` logits; row `i` predicts the token after input `i`. */
  data: Float32Array;
}

/**
 * The logits of every position of `tokens` run through `model` from position 0 (teacher forcing:
 * each position sees the given tokens before it), in batches of the model's `maxBatch`. The KV
 * cache is reset before and holds the tokens after.
 *
 * @throws {RangeError} When the tokens do not fit the KV cache or an id is out of range.
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./model.ts";
 * import { teacherForcedLogits } from "./logits.ts";
 * using model = await loadModel("model.gguf", { kvType: "f16" });
 * const { rows, vocab, data } = teacherForcedLogits(model, [1, 2, 3]);
 * ```
 */
export function teacherForcedLogits(
  model: InferenceModel,
  tokens: readonly number[],
): LogitsTable {
  const vocab = model.config.nVocab;
  const data = new Float32Array(tokens.length * vocab);
  model.reset();
  for (let start = 0; start < tokens.length; start += model.maxBatch) {
    const chunk = tokens.slice(start, start + model.maxBatch);
    data.set(model.forward(chunk, true).subarray(0, chunk.length * vocab), start * vocab);
    checkMappedFiles(); // weights from a model file that shrank read as zeros: FILE_CHANGED
  }
  return { rows: tokens.length, vocab, data };
}

/**
 * The binary form of `table`: int32 rows, int32 vocab, then the f32 logits (little-endian).
 *
 * @example
 * ```ts
 * import { encodeLogits } from "./logits.ts";
 * encodeLogits({ rows: 1, vocab: 2, data: Float32Array.of(1, 2) }).length; // 16
 * ```
 */
export function encodeLogits(table: LogitsTable): Uint8Array {
  const out = new Uint8Array(8 + table.rows * table.vocab * 4);
  const view = new DataView(out.buffer);
  view.setInt32(0, table.rows, true);
  view.setInt32(4, table.vocab, true);
  for (let i = 0; i < table.rows * table.vocab; i++) {
    view.setFloat32(8 + i * 4, table.data[i], true);
  }
  return out;
}

/** Largest table {@link decodeLogits} accepts: 2^31 floats (8 GiB). */
export const MAX_LOGITS = 2 ** 31;

/**
 * Reads a logits file: the binary form of {@link encodeLogits}, or the JSON `bitload logits
 * --json` prints (`{tokens, vocab, logits: [[…]]}`; bitnet_logits' `--json` has `n_vocab` and
 * `logits` and is read too).
 *
 * @throws {RangeError} When the bytes are neither (a header that does not match the size, rows
 * of different lengths, non-numbers).
 *
 * @example
 * ```ts
 * import { decodeLogits, encodeLogits } from "./logits.ts";
 * decodeLogits(encodeLogits({ rows: 1, vocab: 2, data: Float32Array.of(1, 2) })).data; // [1, 2]
 * ```
 */
export function decodeLogits(bytes: Uint8Array): LogitsTable {
  let first = 0;
  while (first < bytes.length && /\s/.test(String.fromCharCode(bytes[first]))) first++;
  if (bytes[first] === 0x7b /* { */) return decodeJson(new TextDecoder().decode(bytes));
  if (bytes.length < 8) {
    throw new InferError("BAD_LOGITS", `${bytes.length} bytes: too short for a logits file`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rows = view.getInt32(0, true), vocab = view.getInt32(4, true);
  if (rows < 0 || vocab < 1 || rows * vocab > MAX_LOGITS) {
    throw new InferError("BAD_LOGITS", `bad logits header: ${rows} rows × ${vocab} vocab`);
  }
  const want = 8 + rows * vocab * 4;
  if (bytes.length !== want) {
    throw new InferError(
      "BAD_LOGITS",
      `logits header says ${rows} rows × ${vocab} (${want} bytes) but the file has ${bytes.length}`,
    );
  }
  const data = new Float32Array(rows * vocab);
  for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(8 + i * 4, true);
  return { rows, vocab, data };
}

function decodeJson(text: string): LogitsTable {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new InferError("BAD_LOGITS", `not a logits file: ${(e as Error).message}`);
  }
  const o = parsed as { logits?: unknown; vocab?: unknown; n_vocab?: unknown };
  if (!Array.isArray(o.logits)) {
    throw new InferError("BAD_LOGITS", "JSON logits file without a logits array");
  }
  const rows = o.logits.length;
  const vocab = Number(o.vocab ?? o.n_vocab ?? (rows > 0 ? (o.logits[0] as unknown[]).length : 0));
  if (!Number.isInteger(vocab) || vocab < 1) {
    throw new InferError("BAD_LOGITS", `bad vocab ${String(vocab)}`);
  }
  const data = new Float32Array(rows * vocab);
  o.logits.forEach((row: unknown, i: number) => {
    if (!Array.isArray(row) || row.length !== vocab) {
      throw new InferError("BAD_LOGITS", `logits row ${i} does not hold ${vocab} values`);
    }
    row.forEach((v: unknown, j: number) => {
      // bitnet_logits prints non-finite values as null
      if (v !== null && typeof v !== "number") {
        throw new InferError("BAD_LOGITS", `logits row ${i} column ${j} is not a number`);
      }
      data[i * vocab + j] = v === null ? NaN : v;
    });
  });
  return { rows, vocab, data };
}

/** How two engines' logits of one position agree. */
export interface PositionAgreement {
  /** Row index. */
  position: number;
  /** Cosine similarity of the two rows (f64 sums). */
  cosine: number;
  /** Largest absolute difference. */
  maxAbsDiff: number;
  /** Argmax of A's row (lowest id on ties). */
  argmaxA: number;
  /** Argmax of B's row. */
  argmaxB: number;
}

/** The comparison of two logits tables over their common rows. */
export interface LogitsComparison {
  /** Rows compared: the smaller row count. */
  rows: number;
  /** Rows of A. */
  rowsA: number;
  /** Rows of B. */
  rowsB: number;
  /** Vocabulary size. */
  vocab: number;
  /** Per-position figures. */
  positions: PositionAgreement[];
  /** Smallest cosine over the positions. */
  minCosine: number;
  /** Largest absolute difference over all logits. */
  maxAbsDiff: number;
  /** Largest |logit| of A, the scale `maxAbsDiff` is measured against. */
  largestLogit: number;
  /** Positions whose argmax agrees. */
  argmaxAgree: number;
  /** Whether every logit is bit-identical. */
  identical: boolean;
}

function argmaxOf(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/**
 * Compares two logits tables position by position (cosine, largest absolute difference, argmax).
 *
 * @throws {RangeError} When the vocabularies differ.
 *
 * @example
 * ```ts
 * import { compareLogits } from "./logits.ts";
 * const a = { rows: 1, vocab: 2, data: Float32Array.of(1, 2) };
 * compareLogits(a, a).identical; // true
 * ```
 */
export function compareLogits(a: LogitsTable, b: LogitsTable): LogitsComparison {
  if (a.vocab !== b.vocab) {
    throw new InferError(
      "BAD_LOGITS",
      `the vocabularies differ: ${a.vocab} vs ${b.vocab} logits per row`,
    );
  }
  const rows = Math.min(a.rows, b.rows), V = a.vocab;
  const positions: PositionAgreement[] = [];
  let minCosine = 1, maxAbsDiff = 0, largestLogit = 0, argmaxAgree = 0, identical = true;
  for (let p = 0; p < rows; p++) {
    const x = a.data.subarray(p * V, (p + 1) * V), y = b.data.subarray(p * V, (p + 1) * V);
    let ab = 0, aa = 0, bb = 0, diff = 0;
    for (let i = 0; i < V; i++) {
      ab += x[i] * y[i];
      aa += x[i] * x[i];
      bb += y[i] * y[i];
      const d = Math.abs(x[i] - y[i]);
      if (!(d <= diff)) diff = d; // NaN wins
      if (!Object.is(x[i], y[i])) identical = false;
      largestLogit = Math.max(largestLogit, Math.abs(x[i]));
    }
    const cosine = aa === 0 && bb === 0 ? 1 : ab / Math.sqrt(aa * bb);
    const argmaxA = argmaxOf(x), argmaxB = argmaxOf(y);
    if (argmaxA === argmaxB) argmaxAgree++;
    if (!(cosine >= minCosine)) minCosine = cosine;
    if (!(diff <= maxAbsDiff)) maxAbsDiff = diff;
    positions.push({ position: p, cosine, maxAbsDiff: diff, argmaxA, argmaxB });
  }
  if (a.rows !== b.rows) identical = false;
  return {
    rows,
    rowsA: a.rows,
    rowsB: b.rows,
    vocab: V,
    positions,
    minCosine,
    maxAbsDiff,
    largestLogit,
    argmaxAgree,
    identical,
  };
}

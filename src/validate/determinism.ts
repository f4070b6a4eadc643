/**
 * Determinism: the same work gives the same bits, run after run and for any thread count.
 *
 * - `BITNET_DETERMINISTIC=1` asks for bit-identical results: {@link checkDeterminism} then fails
 *   on any difference at all, and everything random uses a fixed seed.
 * - `BITNET_SEED` (default 42 when deterministic) seeds everything random in validation, such as
 *   which tensors `--sample N` picks. Without either variable the seed is drawn at random and
 *   reported, so a run can be repeated with `BITNET_SEED=<seed>`.
 *
 * bitload's kernels split work by whole blocks and every sum in the validators is accumulated in
 * index order in double, so results do not depend on the thread count; the check measures it: it
 * dequantizes each tensor `runs` times with each of 1, 2 and 4 threads (and once with the
 * TypeScript kernels) and reports the largest per-element variance across all outputs (goal 0;
 * the seed's limit 1e-8 applies outside deterministic mode).
 *
 * @module
 */

import { ValidateError } from "./errors.ts";
import { readEnv } from "../../ffi/env.ts";
import type { GgufTensorInfo } from "../gguf/model.ts";
import { dequantize, type DequantizeBackend } from "../quant/dequantize.ts";
import type { TensorResult } from "./report.ts";

/** The seed's limit on the variance across runs outside deterministic mode. */
export const DETERMINISM_VARIANCE_LIMIT = 1e-8;

/** The default seed (`BITNET_SEED`). */
export const DEFAULT_SEED = 42;

/** Deterministic-mode settings read from the environment. */
export interface DeterminismSettings {
  /** `BITNET_DETERMINISTIC=1`. */
  deterministic: boolean;
  /** The seed for anything random. */
  seed: number;
  /** Where the seed came from. */
  seedSource: "BITNET_SEED" | "default" | "random";
}

/**
 * Reads `BITNET_DETERMINISTIC` and `BITNET_SEED`.
 *
 * @throws {ValidateError} `BAD_ENV` when `BITNET_SEED` is not a non-negative integer.
 *
 * @example
 * ```ts
 * import { determinismSettings } from "./determinism.ts";
 * determinismSettings({ BITNET_DETERMINISTIC: "1" }); // { deterministic: true, seed: 42, seedSource: "default" }
 * ```
 */
export function determinismSettings(
  env: Record<string, string | undefined> | ((name: string) => string | undefined) = readEnv,
): DeterminismSettings {
  const get = typeof env === "function" ? env : (k: string) => env[k];
  const deterministic = get("BITNET_DETERMINISTIC") === "1";
  const raw = get("BITNET_SEED");
  if (raw !== undefined && raw !== "") {
    const seed = Number(raw);
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new ValidateError(
        "BAD_ENV",
        `BITNET_SEED must be a non-negative integer, got "${raw}"`,
      );
    }
    return { deterministic, seed: seed >>> 0, seedSource: "BITNET_SEED" };
  }
  if (deterministic) return { deterministic, seed: DEFAULT_SEED, seedSource: "default" };
  return {
    deterministic,
    seed: crypto.getRandomValues(new Uint32Array(1))[0],
    seedSource: "random",
  };
}

/** Options of {@link checkDeterminism}. */
export interface DeterminismOptions {
  /** Runs per thread count. Default 3. */
  runs?: number;
  /** Thread counts to try. Default [1, 2, 4]. */
  threads?: number[];
  /** Require bit-identical outputs (deterministic mode). Default true. */
  requireIdentical?: boolean;
  /** Variance limit when identity is not required. Default {@link DETERMINISM_VARIANCE_LIMIT}. */
  varianceLimit?: number;
}

/**
 * Dequantizes a tensor repeatedly (each thread count, `runs` times, plus the TypeScript kernels
 * once) and measures how much the outputs vary. Row `check: "determinism"`.
 *
 * @example
 * ```ts
 * import { ggmlTypeByName } from "../gguf/types.ts";
 * import { checkDeterminism } from "./determinism.ts";
 * const t = { name: "w", dims: [32], type: ggmlTypeByName("Q8_0")!, offset: 0, fileOffset: 0,
 *   byteSize: 34, elementCount: 32, part: 0 };
 * checkDeterminism(t, new Uint8Array(34), { runs: 1 }).figures.identical; // true
 * ```
 */
export function checkDeterminism(
  tensor: GgufTensorInfo,
  data: Uint8Array,
  options: DeterminismOptions = {},
): TensorResult {
  const runs = options.runs ?? 3;
  const threads = options.threads ?? [1, 2, 4];
  const requireIdentical = options.requireIdentical ?? true;
  const limit = options.varianceLimit ?? DETERMINISM_VARIANCE_LIMIT;
  const n = tensor.elementCount;
  if (!tensor.type.dequantizable) {
    return {
      check: "determinism",
      name: tensor.name,
      type: tensor.type.name,
      status: "skip",
      detail: `${tensor.type.name} cannot be dequantized`,
      figures: {},
    };
  }
  const first = new Float32Array(n);
  const firstBits = new Uint32Array(first.buffer);
  const mean = new Float64Array(n);
  const m2 = new Float64Array(n);
  const out = new Float32Array(n);
  const outBits = new Uint32Array(out.buffer);
  let count = 0;
  let differing = 0;
  const plan: { backend: DequantizeBackend; threads: number }[] = [];
  for (const t of threads) {
    for (let r = 0; r < runs; r++) plan.push({ backend: "auto", threads: t });
  }
  plan.push({ backend: "ts", threads: 1 });
  for (const step of plan) {
    const target = count === 0 ? first : out;
    dequantize(tensor.type, data, target, { ...step, dims: tensor.dims });
    count++;
    let differs = false;
    for (let i = 0; i < n; i++) {
      const v = target[i];
      if (count > 1 && outBits[i] !== firstBits[i]) differs = true;
      // Welford: identical values leave m2 exactly 0.
      const delta = v - mean[i];
      mean[i] += delta / count;
      m2[i] += delta * (v - mean[i]);
    }
    if (differs) differing++;
  }
  let maxVariance = 0;
  for (let i = 0; i < n; i++) {
    const v = m2[i] / count;
    if (v > maxVariance || Number.isNaN(v)) maxVariance = v;
  }
  // NaN outputs make the variance NaN even when the bits agree; the bits decide then.
  if (Number.isNaN(maxVariance) && differing === 0) maxVariance = 0;
  const identical = differing === 0;
  const ok = requireIdentical ? identical : maxVariance <= limit;
  return {
    check: "determinism",
    name: tensor.name,
    type: tensor.type.name,
    status: ok ? "pass" : "fail",
    ...(ok ? {} : {
      detail: requireIdentical
        ? `${differing} of ${count - 1} repeated outputs differ from the first`
        : `variance ${maxVariance} > ${limit}`,
    }),
    figures: { runs: count, threads: threads.join("/"), maxVariance, identical },
  };
}

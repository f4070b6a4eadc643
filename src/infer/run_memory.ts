/**
 * Where a `run`'s memory goes, planned before anything is allocated: the model's mapped tensor
 * data, the KV cache, the forward pass's arena (activations, attention scores, logits, quantized
 * activations, RoPE tables), weight copies the engine makes (an int8 head for `--lm-head q8`,
 * TL1/TL2 transcoded to I2_S, f32 copies of types without a native kernel), and the runtime's own
 * baseline and what building the engine added besides its arrays (tokenizer, kernels' library),
 * both measured. `bitload run --json` prints this plan next to the measured peak; `run` commits
 * the KV cache and the arena up front (`InferenceModel.commitMemory`), so the peak is the plan
 * whatever the number of tokens generated.
 *
 * @module
 */

import type { ModelConfig } from "./config.ts";

/** The planned resident memory of a run, bytes, by where it goes. */
export interface RunMemoryPlan {
  /** Tensor data of the model (mapped pages, or the read buffers without mmap). */
  weights: number;
  /** KV cache: layers × 2 × context × KV heads × head width × KV element size, per slot. */
  kvCache: number;
  /** Activations for `maxBatch` tokens, attention scores, RoPE tables, quantized activations. */
  arena: number;
  /** The logits of `maxBatch` tokens (part of the arena, shown apart: it scales with the vocabulary). */
  logits: number;
  /** Copies of weights the engine owns (int8 head, TL → I2_S, f32 dequantized tensors). */
  weightCopies: number;
  /** The runtime once the load settled (measured: Deno, V8, the CLI, the parsed header). */
  runtime: number;
  /**
   * What building the engine added besides its arrays (measured: the tokenizer's tables, the
   * kernels' library and its threads).
   */
  engineOther: number;
  /** Everything above. */
  total: number;
}

/** The shape of a run, as the engine will allocate it. */
export interface RunShape {
  /** The model's configuration. */
  config: ModelConfig;
  /** KV cache length in tokens. */
  contextLength: number;
  /** Largest prompt batch (arena rows). */
  maxBatch: number;
  /** KV element type. */
  kvType: "f32" | "f16";
  /** Sequence slots (KV caches). Default 1. */
  slots?: number;
}

/**
 * Bytes of the KV cache of `shape` (every slot).
 *
 * @example
 * ```ts ignore
 * import { kvCacheBytesOf } from "./run_memory.ts";
 * kvCacheBytesOf({ config, contextLength: 2048, maxBatch: 64, kvType: "f16" });
 * ```
 */
export function kvCacheBytesOf(shape: RunShape): number {
  const c = shape.config;
  const per = shape.kvType === "f16" ? 2 : 4;
  return (shape.slots ?? 1) * c.nLayer * 2 * shape.contextLength * c.nHeadKv * c.headDim * per;
}

/** Bytes of the quantized-activation buffers for `rows` × `width` (linear.ts allocQuantizedActs). */
function quantizedActsBytes(rows: number, width: number): number {
  return rows * width + (rows * width / 32) * 4 + rows * 4 +
    rows * Math.ceil(width / 32) * 34 + rows * Math.ceil(width / 32) * 36 +
    rows * Math.ceil(width / 256) * 292;
}

/**
 * Bytes of the forward pass's arena for `shape` (the logits apart), the same arrays the engine
 * allocates (`allocArena` in model.ts; `InferenceModel.allocatedBytes()` counts the real ones).
 *
 * @example
 * ```ts ignore
 * import { arenaBytesOf } from "./run_memory.ts";
 * arenaBytesOf({ config, contextLength: 2048, maxBatch: 64, kvType: "f32" });
 * ```
 */
export function arenaBytesOf(shape: RunShape): { arena: number; logits: number } {
  const c = shape.config;
  const B = shape.maxBatch;
  const qDim = c.nHead * c.headDim;
  const kvDim = c.nHeadKv * c.headDim;
  const f32 = B * c.nEmbd * 2 + // x, o
    B * Math.max(c.nEmbd, qDim) + // h
    B * qDim * 2 + // q, att
    B * kvDim * 2 + // k, v
    B * c.nFf * 2 + // g, u
    B * c.nHead * shape.contextLength + // scores
    B * (c.nRot / 2) * 2 + // cos, sin
    c.nEmbd; // embRow
  const acts = quantizedActsBytes(B, Math.max(c.nEmbd, qDim)) + quantizedActsBytes(B, c.nFf);
  return { arena: f32 * 4 + acts, logits: B * c.nVocab * 4 };
}

/**
 * The whole plan: `weights` (tensor bytes made resident), `weightCopies` (what the engine copies)
 * and `runtime` (the resident set measured before the model was opened) are given; the KV cache
 * and the arena follow from the shape.
 *
 * @example
 * ```ts ignore
 * import { planRunMemory } from "./run_memory.ts";
 * const plan = planRunMemory(
 *   { config, contextLength: 2048, maxBatch: 64, kvType: "f32" },
 *   { weights: 1.2e9, weightCopies: 0, runtime: 60e6 },
 * );
 * plan.total;
 * ```
 */
export function planRunMemory(
  shape: RunShape,
  given: { weights: number; weightCopies: number; runtime: number; engineOther?: number },
): RunMemoryPlan {
  const kvCache = kvCacheBytesOf(shape);
  const { arena, logits } = arenaBytesOf(shape);
  const engineOther = given.engineOther ?? 0;
  const total = given.weights + kvCache + arena + logits + given.weightCopies + given.runtime +
    engineOther;
  return { ...given, engineOther, kvCache, arena, logits, total };
}

/** The default context a run starts from: the training context, at most this many tokens. */
export const DEFAULT_RUN_CONTEXT = 2048;
/** The smallest context {@link fitRunShape} shrinks a default to (a usable prompt + reply). */
export const MIN_FITTED_CONTEXT = 512;

/** What {@link fitRunShape} chose. */
export interface FittedRunShape {
  /** KV cache length. */
  contextLength: number;
  /** KV element type. */
  kvType: "f32" | "f16";
  /** The plan at that shape. */
  planned: RunMemoryPlan;
  /** The peak allowed for this model: the project's limit × the file size. */
  limitBytes: number;
  /** Whether the plan fits the limit. */
  fits: boolean;
  /** What was changed from the defaults, and why (empty when nothing was). */
  notes: string[];
}

/**
 * Chooses the run's context and KV type where the caller left them open, so the planned peak
 * stays within the project's memory target (`limit` × the file: 1.5, 1.3 above 4 GiB, 1.2 above
 * 10 GiB): the defaults (training context up to {@link DEFAULT_RUN_CONTEXT} tokens, f32 KV)
 * when they fit; else f16 KV; else the context halved down to {@link MIN_FITTED_CONTEXT}, only
 * when that makes the plan fit (else the defaults stay and `fits` is false). What the caller gave is
 * never changed; a model too small to judge (`judged` false) keeps the defaults.
 *
 * @example
 * ```ts ignore
 * import { fitRunShape } from "./run_memory.ts";
 * const fit = fitRunShape(config, { fileBytes, limit: 1.5, judged: true, maxBatch: 64,
 *   given: { weights, weightCopies: 0, runtime } });
 * fit.contextLength; fit.kvType; fit.notes;
 * ```
 */
export function fitRunShape(
  config: ModelConfig,
  options: {
    fileBytes: number;
    limit: number;
    judged: boolean;
    maxBatch: number;
    given: { weights: number; weightCopies: number; runtime: number };
    contextLength?: number;
    kvType?: "f32" | "f16";
  },
): FittedRunShape {
  const limitBytes = options.limit * options.fileBytes;
  const start = Math.max(1, Math.min(config.nCtxTrain || DEFAULT_RUN_CONTEXT, DEFAULT_RUN_CONTEXT));
  let contextLength = options.contextLength ?? start;
  let kvType = options.kvType ?? "f32";
  const plan = () =>
    planRunMemory({ config, contextLength, maxBatch: options.maxBatch, kvType }, options.given);
  let planned = plan();
  const notes: string[] = [];
  if (options.judged && planned.total > limitBytes) {
    const before = planned.total;
    if (options.kvType === undefined && kvType === "f32") {
      kvType = "f16";
      planned = plan();
    }
    while (
      options.contextLength === undefined && planned.total > limitBytes &&
      contextLength / 2 >= MIN_FITTED_CONTEXT
    ) {
      contextLength = contextLength / 2;
      planned = plan();
    }
    if (planned.total > limitBytes) {
      // Shrinking cannot make it fit (the weights and the runtime alone pass the target): keep
      // the defaults rather than give up context for nothing.
      kvType = options.kvType ?? "f32";
      contextLength = options.contextLength ?? start;
      planned = plan();
    } else if (
      kvType !== (options.kvType ?? "f32") || contextLength !== (options.contextLength ?? start)
    ) {
      notes.push(
        `KV cache ${kvType}, ${contextLength} tokens: the defaults (f32, ${start} tokens) plan ${
          (before / options.fileBytes).toFixed(2)
        }× the model file, above the ${options.limit}× target`,
      );
    }
  }
  return { contextLength, kvType, planned, limitBytes, fits: planned.total <= limitBytes, notes };
}

/**
 * The progressive load plan: critical tensors first (token embedding, output head, output norm),
 * then transformer layers in batches (`blk.N.*`, default 4 layers a batch), then the rest. Plain
 * data: printable, serialisable, and the input of the loader.
 *
 * @module
 */

import { LoadError } from "./errors.ts";
import type { GgufModel, GgufTensorInfo } from "../gguf/model.ts";

/** One batch of a load plan. */
export interface LoadBatch {
  /** Position in the plan (0-based). */
  index: number;
  /** What the batch holds. */
  kind: "critical" | "layers" | "rest";
  /** First and last layer of a `layers` batch. */
  layers?: [number, number];
  /** Tensor names in load order. */
  tensors: string[];
  /** Bytes of tensor data in the batch. */
  bytes: number;
  /** Bytes loaded once this batch is done (running total). */
  bytesAfter: number;
}

/** A whole load plan. */
export interface LoadPlan {
  /** Layers per `layers` batch. */
  batchLayers: number;
  /** Batches in load order. */
  batches: LoadBatch[];
  /** Tensors in all batches. */
  tensorCount: number;
  /** Bytes of all tensor data. */
  totalBytes: number;
}

/** Tensors the first forward pass needs before any layer: embeddings, output head and norm. */
const CRITICAL =
  /^(token_embd|output|output_norm|rope_freqs|token_embd_norm|position_embd)\.(weight|bias|scale)$/;
const LAYER = /^blk\.(\d+)\./;

/**
 * Builds the plan for a model.
 *
 * @example
 * ```ts ignore
 * import { buildLoadPlan } from "./plan.ts";
 * const plan = buildLoadPlan(model, { batchLayers: 4 });
 * for (const b of plan.batches) console.log(b.kind, b.layers, b.bytes);
 * ```
 */
export function buildLoadPlan(model: GgufModel, options: { batchLayers?: number } = {}): LoadPlan {
  const batchLayers = options.batchLayers ?? 4;
  if (!Number.isInteger(batchLayers) || batchLayers < 1) {
    throw new LoadError("BAD_OPTION", `batchLayers must be a positive integer, got ${batchLayers}`);
  }
  const critical: GgufTensorInfo[] = [];
  const layers = new Map<number, GgufTensorInfo[]>();
  const rest: GgufTensorInfo[] = [];
  for (const t of model.tensors) {
    const m = LAYER.exec(t.name);
    if (CRITICAL.test(t.name)) critical.push(t);
    else if (m) {
      const n = Number(m[1]);
      if (!layers.has(n)) layers.set(n, []);
      layers.get(n)!.push(t);
    } else rest.push(t);
  }
  const batches: LoadBatch[] = [];
  let total = 0;
  const push = (kind: LoadBatch["kind"], tensors: GgufTensorInfo[], range?: [number, number]) => {
    if (tensors.length === 0) return;
    const bytes = tensors.reduce((a, t) => a + t.byteSize, 0);
    total += bytes;
    batches.push({
      index: batches.length,
      kind,
      ...(range ? { layers: range } : {}),
      tensors: tensors.map((t) => t.name),
      bytes,
      bytesAfter: total,
    });
  };
  push("critical", critical);
  const layerIds = [...layers.keys()].sort((a, b) => a - b);
  for (let i = 0; i < layerIds.length; i += batchLayers) {
    const ids = layerIds.slice(i, i + batchLayers);
    push("layers", ids.flatMap((id) => layers.get(id)!), [ids[0], ids[ids.length - 1]]);
  }
  push("rest", rest);
  return { batchLayers, batches, tensorCount: model.tensors.length, totalBytes: total };
}

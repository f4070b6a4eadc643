/**
 * A fit table across context sizes and offloaded layer counts (like node-llama-cpp's
 * `inspect measure` and gguf-parser-go's estimate table): one hybrid plan per cell, so every
 * cell carries the same exact accounting as `bitload plan`.
 *
 * @module
 */

import type { GgufModel } from "../gguf/model.ts";
import type { Device } from "./devices.ts";
import { type PlacementPlan, type PlanOptions, planPlacement } from "./strategies.ts";

/** One cell of a sweep: a context size and a layer count. */
export interface SweepCell {
  /** Context length. */
  ctx: number;
  /** Offloaded layers (llama.cpp `-ngl`, output layer counted). */
  gpuLayers: number;
  /** Whether every device fits with its margins. */
  fits: boolean;
  /** The plan's status. */
  status: PlacementPlan["status"];
  /** Reserved bytes per device (weights, KV, scratch, overhead and margin). */
  bytes: Record<string, number>;
  /** The largest shortfall of any device, 0 when it fits. */
  shortBy: number;
}

/** A sweep: the axes and one cell per pair. */
export interface Sweep {
  /** The model's training context (`{arch}.context_length`), null when missing. */
  trainedCtx: number | null;
  /** Context sizes, ascending. */
  ctxSizes: number[];
  /** Offloaded layer counts, ascending; `[0]` when no accelerator can take a layer. */
  gpuLayers: number[];
  /** The devices the plans use (after leaving out those that cannot run the weights). */
  devices: string[];
  /** Row-major: every layer count for the first context size, then the next. */
  cells: SweepCell[];
}

/** Context sizes a sweep covers by default: powers of two from 512 up to this many tokens. */
export const SWEEP_MAX_CTX = 131072;

/**
 * The default context axis: powers of two from 512 to the training context (at least 4096, at
 * most {@link SWEEP_MAX_CTX}), plus `extra` sizes (a `--ctx-size` the user asked for).
 *
 * @example
 * ```ts
 * import { sweepContextSizes } from "./sweep.ts";
 * sweepContextSizes(4096); // [512, 1024, 2048, 4096]
 * ```
 */
export function sweepContextSizes(trained: number, extra: readonly number[] = []): number[] {
  const top = Math.min(SWEEP_MAX_CTX, Math.max(4096, trained));
  const sizes = new Set<number>(extra);
  for (let c = 512; c <= top; c *= 2) sizes.add(c);
  if (trained > 0 && trained <= SWEEP_MAX_CTX) sizes.add(trained);
  return [...sizes].sort((a, b) => a - b);
}

/**
 * The default layer axis for `layers` blocks: 0, a quarter, half, three quarters, all blocks,
 * and all with the output layer (`layers + 1`); every count when there are at most 8 blocks.
 *
 * @example
 * ```ts
 * import { sweepLayerCounts } from "./sweep.ts";
 * sweepLayerCounts(30); // [0, 8, 15, 23, 30, 31]
 * ```
 */
export function sweepLayerCounts(layers: number): number[] {
  if (layers <= 8) return Array.from({ length: layers + 2 }, (_, i) => i);
  const q = [0, layers / 4, layers / 2, (3 * layers) / 4, layers, layers + 1];
  return [...new Set(q.map((x) => Math.round(x)))];
}

/**
 * Plans the model at every context size × offloaded layer count (strategy hybrid, `-ngl N`
 * exact; the rest of `options` as for {@link planPlacement}).
 *
 * @example
 * ```ts ignore
 * import { sweepPlacement } from "./sweep.ts";
 * const s = sweepPlacement(model, parseDeviceSpec("cpu:16GiB,cuda0:8GiB"));
 * s.cells.filter((c) => c.fits).at(-1); // the largest context and layer count that fit
 * ```
 */
export function sweepPlacement(
  model: Pick<GgufModel, "tensors" | "metadata">,
  devices: readonly Device[],
  options: Omit<PlanOptions, "ctx" | "gpuLayers" | "strategy"> & {
    /** The context axis (default {@link sweepContextSizes}). */
    ctxSizes?: readonly number[];
    /** Sizes added to the default context axis. */
    extraCtx?: readonly number[];
  } = {},
): Sweep {
  const { ctxSizes: askedCtx, extraCtx, ...planOptions } = options;
  const probe = planPlacement(model, devices, { ...planOptions, strategy: "cpu", ctx: 512 });
  const trained = probe.model.shape.contextLength || 0;
  const ctxSizes = askedCtx
    ? [...new Set(askedCtx)].sort((a, b) => a - b)
    : sweepContextSizes(trained, extraCtx);
  const usable = planPlacement(model, devices, { ...planOptions, strategy: "auto", ctx: 512 });
  const hasAccelerator = usable.devices.some((d) => d.kind !== "cpu");
  const gpuLayers = hasAccelerator ? sweepLayerCounts(probe.model.layers) : [0];
  const cells: SweepCell[] = [];
  for (const ctx of ctxSizes) {
    for (const n of gpuLayers) {
      const plan = planPlacement(model, devices, {
        ...planOptions,
        strategy: n === 0 ? "cpu" : "hybrid",
        gpuLayers: n === 0 ? undefined : n,
        ctx,
        minCtx: ctx,
        suggestPrecision: false,
      });
      cells.push({
        ctx,
        gpuLayers: n,
        fits: plan.status === "ok",
        status: plan.status,
        bytes: Object.fromEntries(plan.devices.map((d) => [d.device, d.reserved])),
        shortBy: Math.max(0, ...plan.devices.map((d) => d.shortBy)),
      });
    }
  }
  return {
    trainedCtx: trained > 0 ? trained : null,
    ctxSizes,
    gpuLayers,
    devices: usable.devices.map((d) => d.device),
    cells,
  };
}

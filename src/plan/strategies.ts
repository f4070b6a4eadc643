/**
 * Device placement: which device holds each tensor, the KV cache and the compute buffers, for
 * the strategies `cpu`, `gpu`, `hybrid`, `split` and `auto`, plus tensor-name overrides and a
 * mixed-precision suggestion. The planner reads tensor infos and metadata only, never tensor
 * data, and returns plain data ({@link PlacementPlan}) that prints as a table and serialises as
 * JSON.
 *
 * Placement follows llama.cpp v0.5.0 (`src/llama-model.cpp` `load_tensors`): the input layer
 * (token embeddings) stays on the CPU; repeating layers `blk.N` and the output layer (index
 * `n_layer`) are offloaded as a suffix `[n_layer + 1 − ngl, n_layer]`, so the *last* layers go
 * first; the offloaded range is split across accelerators in proportion to free memory or a
 * user ratio with the same `upper_bound` rule; the KV cache of layer N lives with layer N; RPC
 * devices come before local GPUs in the device order.
 *
 * @module
 */

import { PlanError } from "./errors.ts";
import type { GgufModel, GgufTensorInfo } from "../gguf/model.ts";
import { BITNET_ARCHITECTURES } from "../gguf/types.ts";
import {
  accountWeights,
  applyMargins,
  DEFAULT_MARGINS,
  isKvType,
  type KvCacheBytes,
  kvCacheBytes,
  type KvType,
  layerIndex,
  type Margins,
  type ModelShape,
  modelShape,
  scratchBytes,
  type TensorRole,
  tensorRole,
} from "./accounting.ts";
import type { Device, DeviceKind } from "./devices.ts";
import { formatBytes as fmt } from "../common/format.ts";
import { unsupportedWeightTypes } from "./backends.ts";

/** Placement strategies. */
export type Strategy = "auto" | "cpu" | "gpu" | "hybrid" | "split";

/** The strategies, in the order the CLI lists them. */
export const STRATEGIES: readonly Strategy[] = ["auto", "cpu", "gpu", "hybrid", "split"];

/** Pin tensors whose name matches `pattern` to `device` (llama.cpp `-ot pattern=buft`). */
export interface TensorOverride {
  /** A regular expression searched in the tensor name (not anchored, like llama.cpp). */
  pattern: string | RegExp;
  /** Device name, e.g. `cpu` or `cuda1`. */
  device: string;
}

/** Options of {@link planPlacement}. */
export interface PlanOptions extends Margins {
  /** Strategy. Default `auto`. */
  strategy?: Strategy;
  /** Context length. Default: the model's `context_length`, at most 4096. */
  ctx?: number;
  /** KV cache type. Default `f16`. */
  kvType?: KvType;
  /** Micro-batch for the scratch estimate (`n_ubatch`). Default 512. */
  batch?: number;
  /** Flash attention (no KQ matrix in the scratch estimate). Default false. */
  flashAttention?: boolean;
  /** Tensor-name overrides, first match wins. */
  overrides?: readonly TensorOverride[];
  /**
   * Split ratio per accelerator (llama.cpp `--tensor-split`), in the plan's accelerator order:
   * RPC devices first, then CUDA devices, each in the order given. Default: free memory.
   */
  tensorSplit?: readonly number[];
  /** `hybrid`: exactly this many offloaded layers (llama.cpp `-ngl`, output layer counted). */
  gpuLayers?: number;
  /** `auto`: smallest context the fallback chain may shrink to. Default 512. */
  minCtx?: number;
  /** Whether to compute mixed-precision suggestions. Default true. */
  suggestPrecision?: boolean;
  /**
   * Leave out accelerators whose backend cannot run the layers' weight types (CUDA and BitNet's
   * I2_S, see `backends.ts`), with a warning. Default true; false plans bytes only, as for an
   * engine with its own kernels for every type.
   */
  checkWeightTypes?: boolean;
}

/** One tensor's placement. */
export interface PlanTensor {
  /** Tensor name. */
  name: string;
  /** Device name. */
  device: string;
  /** Exact bytes (`byteSize`). */
  bytes: number;
  /** Tensor type name. */
  type: string;
  /** Layer index for `blk.N.` tensors, else null. */
  layer: number | null;
  /** Input, layer, output or other. */
  role: TensorRole;
  /** Set when an override placed it. */
  pinned?: true;
  /** Set on the copy of a tied embedding that llama.cpp duplicates onto the output device. */
  duplicate?: true;
}

/** Memory of one device under a plan. All sizes in bytes. */
export interface DeviceUsage {
  /** Device name. */
  device: string;
  /** Device kind. */
  kind: DeviceKind;
  /** Weights placed here. */
  weights: number;
  /** KV cache here. */
  kv: number;
  /** Compute/scratch estimate here. */
  scratch: number;
  /** Parsing/loading overhead (`overhead × weights`). */
  overhead: number;
  /** `weights + kv + scratch + overhead`. */
  needed: number;
  /** Safety margin (`safety × needed`). */
  margin: number;
  /** `needed + margin`. */
  reserved: number;
  /** The device's free memory (the budget). */
  available: number;
  /** The device's total memory. */
  total: number;
  /** `available − reserved` (negative when it does not fit). */
  freeAfter: number;
  /** Whether `reserved ≤ available`. */
  fits: boolean;
  /** Whether it fits when the safety margin is ignored. */
  fitsWithoutMargin: boolean;
  /** `max(0, reserved − available)`. */
  shortBy: number;
  /** Repeating layers whose home (KV, compute) is this device. */
  layers: number[];
  /** Whether the output layer's home is this device. */
  output: boolean;
  /** Number of tensors placed here. */
  tensors: number;
}

/** One step of the strategy or its fallback chain. */
export interface PlanStep {
  /** What was tried. */
  action: string;
  /** Context at this step. */
  ctx: number;
  /** Offloaded layers at this step (llama.cpp `-ngl` count, output included). */
  gpuLayers: number;
  /** Whether every device fits. */
  fits: boolean;
  /** Why it was tried and what happened, with numbers. */
  detail: string;
}

/** A suggestion to keep a small critical tensor in f16 on an accelerator. */
export interface PrecisionSuggestion {
  /** Tensor name. */
  name: string;
  /** Device it is on. */
  device: string;
  /** Current type. */
  from: string;
  /** Suggested type. */
  to: "F16";
  /** Current bytes. */
  bytes: number;
  /** Bytes as f16. */
  f16Bytes: number;
  /** Extra bytes including overhead and margin. */
  extraBytes: number;
}

/** The result of {@link planPlacement}: plain data, JSON-serialisable. */
export interface PlacementPlan {
  /** `ok`: every device fits; `does-not-fit`: an explicit strategy that does not; `refused`. */
  status: "ok" | "does-not-fit" | "refused";
  /** The strategy asked for. */
  strategy: Strategy;
  /** The strategy the plan uses (auto resolves to one of the others). */
  resolved: Exclude<Strategy, "auto">;
  /** The model as the planner saw it. */
  model: {
    architecture: string;
    layers: number;
    tensorCount: number;
    weightBytes: number;
    shape: Omit<ModelShape, "warnings" | "headsKv"> & { headsKv: number };
  };
  /** Context length of the plan (padded to 256 like llama.cpp). */
  ctx: number;
  /** Context length asked for. */
  requestedCtx: number;
  /** KV cache type. */
  kvType: KvType;
  /** Micro-batch of the scratch estimate. */
  batch: number;
  /** Flash attention assumed. */
  flashAttention: boolean;
  /** Margins used. */
  margins: Required<Margins>;
  /** Offloaded layers in llama.cpp `-ngl` terms (repeating layers + output layer). */
  gpuLayers: number;
  /** Offloaded layers per accelerator, in device order (llama.cpp `--tensor-split` counts). */
  layerSplit: { device: string; layers: number }[];
  /** KV cache totals. */
  kv: { totalBytes: number; kBytes: number; vBytes: number; perLayerBytes: number[] };
  /** Placement of every tensor, in file order (plus duplicated tied embeddings). */
  tensors: PlanTensor[];
  /** Per-device memory, device order (cpu first, then rpc, then cuda). */
  devices: DeviceUsage[];
  /** Overrides with how many tensors each matched. */
  overrides: { pattern: string; device: string; matched: number }[];
  /** Mixed-precision suggestions (not applied). */
  suggestions: PrecisionSuggestion[];
  /** Steps taken, in order, each with why. */
  steps: PlanStep[];
  /** Things to know. */
  warnings: string[];
  /** Why the plan was refused, with numbers. */
  refusal?: string;
}

/** Per-device verdict of {@link validateMemoryRequirements}. */
export interface MemoryVerdict {
  /** Device name. */
  device: string;
  /** Bytes needed (weights, KV, scratch, overhead). */
  needed: number;
  /** Free bytes on the device. */
  available: number;
  /** Safety margin bytes. */
  margin: number;
  /** `needed + margin ≤ available`. */
  fits: boolean;
  /** `max(0, needed + margin − available)`. */
  shortBy: number;
}

// ---------------------------------------------------------------------------------------------
// Preparation: everything that does not change between candidate placements.

interface Prepared {
  shape: ModelShape;
  tensors: readonly GgufTensorInfo[];
  layer: Int32Array;
  role: TensorRole[];
  /** Device index an override pins the tensor to, or −1. */
  pin: Int32Array;
  /** Unpinned weight bytes per repeating layer. */
  layerBytes: number[];
  outputBytes: number;
  /** Unpinned input + other bytes (always CPU unless pinned). */
  cpuOnlyBytes: number;
  /** Pinned bytes per device. */
  pinnedBytes: number[];
  /** Bytes duplicated on the output device for tied embeddings (llama.cpp TENSOR_DUPLICATED). */
  tiedBytes: number;
  devices: Device[];
  cpu: number;
  /** Accelerator indices in llama.cpp order. */
  accel: number[];
  overrides: { pattern: string; device: string; matched: number }[];
  weightBytes: number;
  warnings: string[];
}

interface Ctx {
  ctx: number;
  kv: KvCacheBytes;
}

interface Candidate {
  /** Home device per repeating layer (KV and compute). */
  layerHome: Int32Array;
  /** Home device of the output layer. */
  outputHome: number;
  /** Per tensor device (only for the gpu strategy; otherwise derived from homes). */
  tensorDevice?: Int32Array;
}

function orderDevices(devices: readonly Device[]): Device[] {
  const rank = (d: Device) => (d.kind === "cpu" ? 0 : d.kind === "rpc" ? 1 : 2);
  return devices.map((d, i) => ({ d, i })).sort((a, b) => rank(a.d) - rank(b.d) || a.i - b.i)
    .map((x) => x.d);
}

function prepare(
  model: Pick<GgufModel, "tensors" | "metadata">,
  devices: Device[],
  o: PlanOptions,
): Prepared {
  const shape = modelShape(model as GgufModel);
  const warnings = [...shape.warnings];
  const tensors = model.tensors;
  const cpu = devices.findIndex((d) => d.kind === "cpu");
  const accel = devices.map((_, i) => i).filter((i) => i !== cpu);
  const overrides = (o.overrides ?? []).map((ov) => {
    const index = devices.findIndex((d) => d.name === ov.device);
    if (index < 0) {
      throw new PlanError(
        "BAD_OPTION",
        `Override "${
          String(ov.pattern)
        }" names device "${ov.device}", which is not in the device list (${
          devices.map((d) => d.name).join(", ")
        })`,
      );
    }
    const re = typeof ov.pattern === "string" ? new RegExp(ov.pattern) : ov.pattern;
    return {
      re,
      index,
      pattern: typeof ov.pattern === "string" ? ov.pattern : ov.pattern.source,
      device: ov.device,
      matched: 0,
    };
  });
  const layer = new Int32Array(tensors.length);
  const role: TensorRole[] = new Array(tensors.length);
  const pin = new Int32Array(tensors.length).fill(-1);
  const layerBytes: number[] = new Array(shape.layers).fill(0);
  const pinnedBytes: number[] = new Array(devices.length).fill(0);
  let outputBytes = 0, cpuOnlyBytes = 0;
  let hasOutputWeight = false;
  let embdBytes = 0;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    const b = layerIndex(t.name);
    layer[i] = b ?? -1;
    const r = tensorRole(t.name);
    role[i] = r;
    if (t.name === "output.weight") hasOutputWeight = true;
    if (t.name === "token_embd.weight") embdBytes = t.byteSize;
    for (const ov of overrides) {
      ov.re.lastIndex = 0;
      if (ov.re.test(t.name)) {
        pin[i] = ov.index;
        ov.matched++;
        break;
      }
    }
    if (pin[i] >= 0) {
      pinnedBytes[pin[i]] += t.byteSize;
    } else if (b !== null) {
      while (layerBytes.length <= b) layerBytes.push(0);
      layerBytes[b] += t.byteSize;
    } else if (r === "output") outputBytes += t.byteSize;
    else cpuOnlyBytes += t.byteSize;
  }
  if (layerBytes.length > shape.layers) {
    warnings.push(
      `Tensors name layers up to blk.${layerBytes.length - 1} but block_count is ${shape.layers}`,
    );
    shape.layers = layerBytes.length;
    while (shape.headsKv.length < shape.layers) shape.headsKv.push(0);
  }
  for (const ov of overrides) {
    if (ov.matched === 0) warnings.push(`Override "${ov.pattern}" matched no tensor`);
  }
  // llama.cpp duplicates a tied token_embd as the output head on the output device
  // (TENSOR_DUPLICATED); the BitNet graph reads token_embd directly instead (src/models/bitnet.cpp).
  const tied = !hasOutputWeight && embdBytes > 0 &&
    !BITNET_ARCHITECTURES.includes(shape.architecture);
  return {
    shape,
    tensors,
    layer,
    role,
    pin,
    layerBytes,
    outputBytes,
    cpuOnlyBytes,
    pinnedBytes,
    tiedBytes: tied ? embdBytes : 0,
    devices,
    cpu,
    accel,
    overrides: overrides.map(({ pattern, device, matched }) => ({ pattern, device, matched })),
    weightBytes: accountWeights(tensors).totalBytes,
    warnings,
  };
}

// ---------------------------------------------------------------------------------------------
// Evaluation: bytes per device for a candidate.

interface Evaluated {
  usage: DeviceUsage[];
  fits: boolean;
}

function evaluate(
  p: Prepared,
  c: Candidate,
  k: Ctx,
  o: Required<Pick<PlanOptions, "batch" | "flashAttention">> & Required<Margins>,
): Evaluated {
  const n = p.devices.length;
  const weights = p.pinnedBytes.slice();
  const kv = new Array(n).fill(0);
  const layers: number[][] = Array.from({ length: n }, () => []);
  const hosts = new Array(n).fill(false);
  const count = new Array(n).fill(0);
  if (c.tensorDevice) {
    weights.fill(0);
    for (let i = 0; i < p.tensors.length; i++) {
      weights[c.tensorDevice[i]] += p.tensors[i].byteSize;
      count[c.tensorDevice[i]]++;
    }
  } else {
    weights[p.cpu] += p.cpuOnlyBytes;
    weights[c.outputHome] += p.outputBytes;
  }
  for (let il = 0; il < p.shape.layers; il++) {
    const d = c.layerHome[il];
    if (!c.tensorDevice) weights[d] += p.layerBytes[il];
    kv[d] += k.kv.perLayer[il] ?? 0;
    layers[d].push(il);
    hosts[d] = true;
  }
  if (c.outputHome !== p.cpu) weights[c.outputHome] += p.tiedBytes;
  const usage: DeviceUsage[] = p.devices.map((dev, d) => {
    const computes = hosts[d] || c.outputHome === d || d === p.cpu;
    const scratch = computes
      ? scratchBytes(p.shape, {
        ctx: k.ctx,
        batch: o.batch,
        flashAttention: o.flashAttention,
        layers: hosts[d],
        output: c.outputHome === d,
      })
      : 0;
    const need = applyMargins({ weights: weights[d], kv: kv[d], scratch }, o);
    const reserved = need.needed + need.margin;
    return {
      device: dev.name,
      kind: dev.kind,
      ...need,
      reserved,
      available: dev.freeBytes,
      total: dev.totalBytes,
      freeAfter: dev.freeBytes - reserved,
      fits: reserved <= dev.freeBytes,
      fitsWithoutMargin: need.needed <= dev.freeBytes,
      shortBy: Math.max(0, reserved - dev.freeBytes),
      layers: layers[d],
      output: c.outputHome === d,
      tensors: count[d],
    };
  });
  return { usage, fits: usage.every((u) => u.fits) };
}

// ---------------------------------------------------------------------------------------------
// Layer assignment, llama.cpp style.

/**
 * Layer counts per accelerator that llama.cpp derives for `ngl` offloaded layers and split
 * weights (`std::upper_bound(splits, float(il − i_gpu_start) / act_gpu_layers)`), float maths
 * included.
 *
 * @example
 * ```ts
 * import { llamaCppLayerSplit } from "./strategies.ts";
 * llamaCppLayerSplit(31, [24, 8]); // [24, 7]: 31 layers split 3:1
 * ```
 */
export function llamaCppLayerSplit(ngl: number, weights: readonly number[]): number[] {
  const counts = new Array(weights.length).fill(0);
  if (ngl <= 0 || weights.length === 0) return counts;
  const f = Math.fround;
  const sum = weights.reduce((a, b) => f(a + f(b)), 0);
  if (!(sum > 0)) {
    counts[0] = ngl;
    return counts;
  }
  const cumulative: number[] = [];
  let acc = 0;
  for (const w of weights) {
    acc = f(acc + f(w));
    cumulative.push(f(acc / sum));
  }
  for (let i = 0; i < ngl; i++) {
    const x = f(f(i) / f(ngl));
    let g = cumulative.findIndex((s) => s > x);
    if (g < 0) g = weights.length - 1;
    counts[g]++;
  }
  return counts;
}

/** A candidate with the last `ngl` layers (output counted) on accelerators, `counts` each. */
function layerCandidate(p: Prepared, ngl: number, counts: readonly number[]): Candidate {
  const L = p.shape.layers;
  const start = L + 1 - ngl;
  const home = new Int32Array(L).fill(p.cpu);
  let outputHome = p.cpu;
  let il = start;
  for (let a = 0; a < p.accel.length; a++) {
    for (let j = 0; j < counts[a]; j++, il++) {
      if (il < L) home[il] = p.accel[a];
      else if (il === L) outputHome = p.accel[a];
    }
  }
  return { layerHome: home, outputHome };
}

function splitWeights(p: Prepared, o: PlanOptions): number[] {
  if (o.tensorSplit && o.tensorSplit.length > 0) {
    return p.accel.map((_, a) => o.tensorSplit![a] ?? 0);
  }
  return p.accel.map((a) => p.devices[a].freeBytes);
}

/**
 * The greedy per-device fill (llama.cpp `--fit` fills layers back to front per device): give
 * each accelerator, in order, as many of the offloaded layers as fit on it.
 */
function fittedCounts(
  p: Prepared,
  ngl: number,
  k: Ctx,
  o: Required<Pick<PlanOptions, "batch" | "flashAttention">> & Required<Margins>,
): number[] | undefined {
  const counts = new Array(p.accel.length).fill(0);
  let remaining = ngl;
  for (let a = 0; a < p.accel.length && remaining > 0; a++) {
    // Largest count for accelerator a that fits (monotone: more layers, more bytes).
    const fitsWith = (n: number) => {
      const trial = counts.slice();
      trial[a] = n;
      // Layers not yet given to an accelerator stay on the CPU in the trial.
      const e = evaluate(p, layerCandidate(p, ngl, trial), k, o);
      return e.usage[p.accel[a]].fits;
    };
    let lo = 0, hi = remaining;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fitsWith(mid)) lo = mid;
      else hi = mid - 1;
    }
    const best = lo;
    counts[a] = best;
    remaining -= best;
  }
  return remaining === 0 ? counts : undefined;
}

// ---------------------------------------------------------------------------------------------
// The gpu strategy: critical tensors first.

/** Priority of a tensor for the accelerator (lower first), or Infinity when it stays on CPU. */
function gpuPriority(name: string, role: TensorRole, layer: number, layers: number): number {
  if (role === "input" || role === "other") return Infinity;
  if (role === "output") return name.includes("norm") ? 0 : 1;
  const back = layers - 1 - layer; // last layers first
  if (name.includes("norm")) return 2 + back * 1e-6;
  if (/\.attn_/.test(name)) return 3 + back * 1e-6;
  return 4 + back * 1e-6;
}

function gpuCandidate(
  p: Prepared,
  k: Ctx,
  o: Required<Pick<PlanOptions, "batch" | "flashAttention">> & Required<Margins>,
  split: number[],
): { candidate: Candidate; spilled: number } {
  const L = p.shape.layers;
  const ngl = L + 1;
  const base = layerCandidate(p, ngl, llamaCppLayerSplit(ngl, split));
  const dev = new Int32Array(p.tensors.length);
  const order: number[] = [];
  for (let i = 0; i < p.tensors.length; i++) {
    if (p.pin[i] >= 0) dev[i] = p.pin[i];
    else {
      dev[i] = p.cpu;
      const pr = gpuPriority(p.tensors[i].name, p.role[i], p.layer[i], L);
      if (pr !== Infinity) order.push(i);
    }
  }
  const prio = order.map((i) => gpuPriority(p.tensors[i].name, p.role[i], p.layer[i], L));
  const idx = order.map((_, j) => j).sort((a, b) => prio[a] - prio[b]);
  const candidate: Candidate = { ...base, tensorDevice: dev };
  // Running usage per device, with KV and scratch of the homes already reserved.
  const start = evaluate(p, candidate, k, o).usage;
  const room = start.map((u) => u.available - u.reserved);
  const factor = (1 + o.overhead) * (1 + o.safety);
  let spilled = 0;
  for (const j of idx) {
    const i = order[j];
    const home = p.layer[i] >= 0 ? base.layerHome[p.layer[i]] : base.outputHome;
    const cost = p.tensors[i].byteSize * factor;
    if (home !== p.cpu && room[home] >= cost) {
      room[home] -= cost;
      dev[i] = home;
    } else spilled += p.tensors[i].byteSize;
  }
  return { candidate, spilled };
}

// ---------------------------------------------------------------------------------------------
// Mixed precision.

const TERNARY = new Set(["I2_S", "TL1", "TL2", "TQ1_0", "TQ2_0"]);

/**
 * Small critical tensors (output layer, norms, the K and V projections, which llama.cpp's own
 * quantization mixes keep at higher precision) that are quantized, sit on an accelerator and
 * would fit there as f16 (at most 64 MiB each, within the device's free memory after margins).
 */
function suggestions(
  p: Prepared,
  c: Candidate,
  usage: DeviceUsage[],
  o: Required<Margins>,
): PrecisionSuggestion[] {
  const out: PrecisionSuggestion[] = [];
  const room = usage.map((u) => u.freeAfter);
  const factor = (1 + o.overhead) * (1 + o.safety);
  for (let i = 0; i < p.tensors.length; i++) {
    const t = p.tensors[i];
    const d = deviceOf(p, c, i);
    // Ternary types are the model's native weights: f16 would add bytes, not accuracy.
    if (p.devices[d].kind === "cpu" || !t.type.quantized || TERNARY.has(t.type.name)) continue;
    const critical = p.role[i] === "output" || /norm|attn_(k|v)\./.test(t.name);
    const f16Bytes = t.elementCount * 2;
    if (!critical || f16Bytes > 64 * 1024 * 1024) continue;
    const extra = Math.ceil(Math.max(0, f16Bytes - t.byteSize) * factor);
    if (extra > room[d]) continue;
    room[d] -= extra;
    out.push({
      name: t.name,
      device: p.devices[d].name,
      from: t.type.name,
      to: "F16",
      bytes: t.byteSize,
      f16Bytes,
      extraBytes: extra,
    });
  }
  return out;
}

function deviceOf(p: Prepared, c: Candidate, i: number): number {
  if (c.tensorDevice) return c.tensorDevice[i];
  if (p.pin[i] >= 0) return p.pin[i];
  if (p.layer[i] >= 0) return c.layerHome[p.layer[i]];
  return p.role[i] === "output" ? c.outputHome : p.cpu;
}

// ---------------------------------------------------------------------------------------------
// The public planner.

function shortText(e: Evaluated): string {
  const short = e.usage.filter((u) => !u.fits);
  if (short.length === 0) return "every device fits";
  return short.map((u) =>
    `${u.device} short by ${fmt(u.shortBy)} (needs ${fmt(u.reserved)} with margin, has ${
      fmt(u.available)
    })`
  ).join("; ");
}

/**
 * Plans where every tensor, the KV cache and the compute buffers go.
 *
 * - `cpu`: everything on the CPU.
 * - `gpu`: every layer's home (KV cache, compute) on the accelerators, then tensors in order of
 *   importance (output norm and head, norms, attention, then the rest, last layers first) onto
 *   their home accelerator while they fit; the token embeddings stay on the CPU.
 * - `hybrid`: as many whole layers as fit, last layers first (`-ngl`); `gpuLayers` fixes it.
 * - `split`: all layers on the accelerators, in proportion to free memory or `tensorSplit`.
 * - `auto`: the fallback chain — everything offloaded (proportional, then fitted split), fewer
 *   offloaded layers with the rest on the CPU, CPU only, then halving the context down to
 *   `minCtx` — and a refusal with numbers when nothing fits. Never throws for lack of memory.
 *
 * Throws `PlanError` `BAD_OPTION` only for invalid options (unknown override device, bad context or KV
 * type for the model).
 *
 * @example
 * ```ts ignore
 * import { openGgufModel } from "../gguf/split.ts";
 * import { parseDeviceSpec } from "./devices.ts";
 * import { planPlacement } from "./strategies.ts";
 * const model = await openGgufModel("ggml-model-i2_s.gguf");
 * const plan = planPlacement(model, parseDeviceSpec("cpu:16GiB,cuda0:8GiB"), { ctx: 4096 });
 * console.log(plan.status, plan.gpuLayers, plan.devices.map((d) => [d.device, d.reserved]));
 * ```
 */
export function planPlacement(
  model: Pick<GgufModel, "tensors" | "metadata">,
  devices: readonly Device[],
  options: PlanOptions = {},
): PlacementPlan {
  const strategy = options.strategy ?? "auto";
  const o = {
    batch: options.batch ?? 512,
    flashAttention: options.flashAttention ?? false,
    overhead: options.overhead ?? DEFAULT_MARGINS.overhead,
    safety: options.safety ?? DEFAULT_MARGINS.safety,
  };
  if (!(o.overhead >= 0) || !(o.safety >= 0)) {
    throw new PlanError(
      "BAD_OPTION",
      `Margins must be ≥ 0, got overhead ${o.overhead}, safety ${o.safety}`,
    );
  }
  if (!Number.isInteger(o.batch) || o.batch <= 0) {
    throw new PlanError("BAD_OPTION", `The batch must be a positive integer, got ${o.batch}`);
  }
  const kvType = options.kvType ?? "f16";
  if (!isKvType(kvType)) {
    throw new PlanError("BAD_OPTION", `Unknown KV type "${kvType}": use f16, q8_0, q4_0 or f32`);
  }
  const { usable, dropped } = options.checkWeightTypes === false
    ? { usable: [...devices], dropped: [] }
    : devicesThatRun(model, devices);
  const p = prepare(model, orderDevices(usable), options);
  if (p.cpu < 0) return refuseWithoutCpu(model, devices, options, strategy);
  p.warnings.push(...dropped);
  const requestedCtx = options.ctx ?? Math.min(p.shape.contextLength || 4096, 4096);
  const trained = p.shape.contextLength;
  if (options.ctx !== undefined && trained > 0 && options.ctx > trained) {
    p.warnings.push(
      `ctx ${options.ctx} is beyond the ${trained} tokens the model was trained on: past them ` +
        `the output degrades unless RoPE scaling is set (llama.cpp --rope-scaling, --yarn-*)`,
    );
  }
  const s: Planning = {
    p,
    o,
    options,
    strategy,
    kvType,
    requestedCtx,
    minCtx: Math.min(options.minCtx ?? 512, requestedCtx),
    first: contextOf(p, requestedCtx, kvType),
    split: splitWeights(p, options),
    steps: [],
  };
  if (strategy !== "auto" && strategy !== "cpu" && p.accel.length === 0) {
    p.warnings.push(`Strategy ${strategy} needs an accelerator; none given, so CPU only`);
    return planExplicit(s, strategy, cpuOnly(p), "no accelerator, everything on the CPU");
  }
  switch (strategy) {
    case "cpu":
      return planExplicit(s, "cpu", cpuOnly(p), "everything on the CPU");
    case "split":
      return planSplit(s);
    case "gpu":
      return planGpu(s);
    case "hybrid":
      return planHybrid(s);
    default:
      return planAuto(s);
  }
}

/**
 * The devices that can run the model's layers: an accelerator whose backend lacks one of the
 * layers' weight types (CUDA and BitNet's CPU-only I2_S, for one) would hold the bytes and run
 * nothing, so it is left out of the plan, with a warning saying why.
 */
function devicesThatRun(
  model: Pick<GgufModel, "tensors">,
  devices: readonly Device[],
): { usable: Device[]; dropped: string[] } {
  const types = model.tensors.filter((t) => layerIndex(t.name) !== null).map((t) => t.type.name);
  const usable: Device[] = [];
  const dropped: string[] = [];
  for (const d of devices) {
    const missing = unsupportedWeightTypes(d.kind, types);
    if (missing.length === 0) usable.push(d);
    else {
      dropped.push(
        `${d.name} is not used: its ${d.kind} backend cannot run the layers' ${
          missing.join("/")
        } weights (${
          missing.some((t) => t === "I2_S" || t === "TL1" || t === "TL2")
            ? "BitNet's ternary kernels are CPU-only"
            : "no GPU kernel for them"
        }), so every layer stays on the CPU side`,
      );
    }
  }
  return { usable, dropped };
}

// ---------------------------------------------------------------------------------------------
// The strategies: each takes the prepared model and returns the plan.

/** Margins, batch and attention settings, all resolved. */
type ResolvedOptions = Required<Pick<PlanOptions, "batch" | "flashAttention">> & Required<Margins>;

/** What every strategy works from, and the steps it records. */
interface Planning {
  p: Prepared;
  o: ResolvedOptions;
  options: PlanOptions;
  /** The strategy asked for (reported as `strategy`). */
  strategy: Strategy;
  kvType: KvType;
  requestedCtx: number;
  minCtx: number;
  /** The requested context and its KV cache. */
  first: Ctx;
  /** Accelerator weights of the layer split (`tensorSplit` or free memory). */
  split: number[];
  steps: PlanStep[];
}

/** The context rounded as llama.cpp does (to 256) and its KV cache. */
function contextOf(p: Prepared, ctx: number, kvType: KvType): Ctx {
  return { ctx: Math.ceil(ctx / 256) * 256, kv: kvCacheBytes(p.shape, { ctx, kvType }) };
}

function cpuOnly(p: Prepared): Candidate {
  return layerCandidate(p, 0, []);
}

/** llama.cpp -ngl of a candidate: layers from the first offloaded one to the output. */
function offloaded(p: Prepared, c: Candidate): number {
  const L = p.shape.layers;
  let first = L + 1;
  for (let il = 0; il < L; il++) {
    if (c.layerHome[il] !== p.cpu) {
      first = il;
      break;
    }
  }
  if (first === L + 1 && c.outputHome !== p.cpu) first = L;
  return L + 1 - first;
}

/** Records one step of the search. */
function record(s: Planning, action: string, k: Ctx, c: Candidate, e: Evaluated, why: string) {
  s.steps.push({
    action,
    ctx: k.ctx,
    gpuLayers: offloaded(s.p, c),
    fits: e.fits,
    detail: `${why}: ${shortText(e)}`,
  });
}

/** One fixed candidate at the requested context. */
function planExplicit(
  s: Planning,
  resolved: Exclude<Strategy, "auto">,
  c: Candidate,
  why: string,
): PlacementPlan {
  const e = evaluate(s.p, c, s.first, s.o);
  record(s, resolved, s.first, c, e, why);
  return toPlan(s, resolved, c, s.first, e, e.fits ? "ok" : "does-not-fit");
}

/** `split`: all layers on the accelerators, in proportion to the split weights. */
function planSplit(s: Planning): PlacementPlan {
  const { p, split } = s;
  const L = p.shape.layers;
  const counts = llamaCppLayerSplit(L + 1, split);
  return planExplicit(
    s,
    "split",
    layerCandidate(p, L + 1, counts),
    `all ${L + 1} layers across ${p.accel.length} accelerator(s), ratio ${
      split.map((x) => Math.round(x / Math.max(...split) * 100) / 100).join(":")
    }`,
  );
}

/** `gpu`: every layer's home on the accelerators, tensors by importance while they fit. */
function planGpu(s: Planning): PlacementPlan {
  const { candidate, spilled } = gpuCandidate(s.p, s.first, s.o, s.split);
  const e = evaluate(s.p, candidate, s.first, s.o);
  record(
    s,
    "gpu",
    s.first,
    candidate,
    e,
    `KV and compute of all layers on the accelerators, critical tensors first; ${
      fmt(spilled)
    } of layer weights left on the CPU`,
  );
  return toPlan(s, "gpu", candidate, s.first, e, e.fits ? "ok" : "does-not-fit");
}

/** `hybrid`: `gpuLayers` whole layers, or the most that fit, last layers first. */
function planHybrid(s: Planning): PlacementPlan {
  const { p, split } = s;
  const L = p.shape.layers;
  if (s.options.gpuLayers !== undefined) {
    const ngl = Math.max(0, Math.min(L + 1, Math.floor(s.options.gpuLayers)));
    return planExplicit(
      s,
      "hybrid",
      layerCandidate(p, ngl, llamaCppLayerSplit(ngl, split)),
      `-ngl ${ngl}: the last ${ngl} layers (output included) on the accelerators`,
    );
  }
  for (let ngl = L + 1;; ngl--) {
    const c = layerCandidate(p, ngl, llamaCppLayerSplit(ngl, split));
    const e = evaluate(p, c, s.first, s.o);
    if (e.fits || ngl === 0) {
      record(
        s,
        "hybrid",
        s.first,
        c,
        e,
        `most whole layers that fit, last first: ${ngl} of ${L + 1} offloaded`,
      );
      return toPlan(s, "hybrid", c, s.first, e, e.fits ? "ok" : "does-not-fit");
    }
  }
}

/** A candidate that was evaluated, kept as the best effort should nothing fit. */
interface Attempt {
  c: Candidate;
  e: Evaluated;
  k: Ctx;
  resolved: Exclude<Strategy, "auto">;
}

/**
 * `auto` at one context: everything offloaded (proportional, then fitted split), then fewer
 * offloaded layers, then the CPU alone. Returns the plan when one fits, else the best attempt.
 */
function autoAtContext(s: Planning, k: Ctx): PlacementPlan | Attempt {
  const { p, o, split } = s;
  const L = p.shape.layers;
  let attempt: Attempt | undefined;
  if (p.accel.length > 0) {
    const resolved = p.accel.length > 1 ? "split" : "hybrid";
    const full = layerCandidate(p, L + 1, llamaCppLayerSplit(L + 1, split));
    const ef = evaluate(p, full, k, o);
    record(
      s,
      resolved,
      k,
      full,
      ef,
      `all ${L + 1} layers on the accelerator${
        p.accel.length > 1
          ? "s, split by " + (s.options.tensorSplit ? "the given ratio" : "free memory")
          : ""
      }`,
    );
    if (ef.fits) return toPlan(s, resolved, full, k, ef, "ok");
    if (p.accel.length > 1) {
      const counts = fittedCounts(p, L + 1, k, o);
      if (counts) {
        const c = layerCandidate(p, L + 1, counts);
        const e = evaluate(p, c, k, o);
        record(
          s,
          "split",
          k,
          c,
          e,
          `the proportional split does not fit, so fill each accelerator in turn (${
            counts.join(",")
          })`,
        );
        if (e.fits) return toPlan(s, "split", c, k, e, "ok");
      }
    }
    // Fewer offloaded layers: the largest count whose accelerators fit.
    for (let ngl = L; ngl >= 1; ngl--) {
      const counts = p.accel.length > 1
        ? fittedCounts(p, ngl, k, o) ?? llamaCppLayerSplit(ngl, split)
        : [ngl];
      const c = layerCandidate(p, ngl, counts);
      const e = evaluate(p, c, k, o);
      if (!p.accel.every((a) => e.usage[a].fits)) continue;
      record(
        s,
        "hybrid",
        k,
        c,
        e,
        `fewer GPU layers: ${ngl} of ${L + 1} fit on the accelerators, the other ${
          L + 1 - ngl
        } go to the CPU`,
      );
      if (e.fits) return toPlan(s, "hybrid", c, k, e, "ok");
      attempt = { c, e, k, resolved: "hybrid" };
      break;
    }
  }
  const c = cpuOnly(p);
  const e = evaluate(p, c, k, o);
  record(
    s,
    "cpu",
    k,
    c,
    e,
    p.accel.length > 0
      ? "no offload fits, so everything on the CPU"
      : "no accelerator, everything on the CPU",
  );
  if (e.fits) return toPlan(s, "cpu", c, k, e, "ok");
  return attempt ?? { c, e, k, resolved: "cpu" };
}

/** `auto`: the fallback chain at the requested context, then halving it down to `minCtx`. */
function planAuto(s: Planning): PlacementPlan {
  let k = s.first;
  for (;;) {
    const result = autoAtContext(s, k);
    if (!("c" in result)) return result;
    if (k.ctx <= s.minCtx || k.ctx <= 256) {
      const refusal =
        `Does not fit even at ctx ${k.ctx} (the smallest allowed): ${shortText(result.e)}` +
        `; weights alone are ${fmt(s.p.weightBytes)}`;
      s.steps.push({ action: "refuse", ctx: k.ctx, gpuLayers: 0, fits: false, detail: refusal });
      return toPlan(s, result.resolved, result.c, result.k, result.e, "refused", refusal);
    }
    const next = contextOf(s.p, Math.max(s.minCtx, Math.floor(k.ctx / 2)), s.kvType);
    s.steps.push({
      action: "smaller context",
      ctx: next.ctx,
      gpuLayers: 0,
      fits: false,
      detail: `nothing fits at ctx ${k.ctx}: halve the context to ${next.ctx} (KV ${
        fmt(k.kv.totalBytes)
      } → ${fmt(next.kv.totalBytes)})`,
    });
    k = next;
  }
}

/** The refusal when the device list has no CPU: the CPU-only plan on an empty CPU, refused. */
function refuseWithoutCpu(
  model: Pick<GgufModel, "tensors" | "metadata">,
  devices: readonly Device[],
  options: PlanOptions,
  strategy: Strategy,
): PlacementPlan {
  const refusal = "No CPU device in the device list: the input layer always needs host memory " +
    "(add e.g. cpu:16GiB)";
  const missing: Device = { name: "cpu", kind: "cpu", totalBytes: 0, freeBytes: 0 };
  const plan = planPlacement(model, [missing, ...devices], { ...options, strategy: "cpu" });
  plan.steps.push({ action: "refuse", ctx: plan.ctx, gpuLayers: 0, fits: false, detail: refusal });
  return { ...plan, strategy, status: "refused", refusal };
}

/** The plan of a chosen candidate: per-tensor devices, per-device usage, warnings, suggestions. */
function toPlan(
  s: Planning,
  resolved: Exclude<Strategy, "auto">,
  c: Candidate,
  k: Ctx,
  e: Evaluated,
  status: PlacementPlan["status"],
  refusal?: string,
): PlacementPlan {
  const { p, o } = s;
  const ordered = p.devices;
  const warnings = p.warnings;
  const tensors: PlanTensor[] = [];
  for (let i = 0; i < p.tensors.length; i++) {
    const t = p.tensors[i];
    const entry: PlanTensor = {
      name: t.name,
      device: ordered[deviceOf(p, c, i)].name,
      bytes: t.byteSize,
      type: t.type.name,
      layer: p.layer[i] >= 0 ? p.layer[i] : null,
      role: p.role[i],
    };
    if (p.pin[i] >= 0) entry.pinned = true;
    tensors.push(entry);
  }
  if (p.tiedBytes > 0 && c.outputHome !== p.cpu) {
    tensors.push({
      name: "token_embd.weight",
      device: ordered[c.outputHome].name,
      bytes: p.tiedBytes,
      type: p.tensors.find((t) => t.name === "token_embd.weight")!.type.name,
      layer: null,
      role: "output",
      duplicate: true,
    });
    warnings.push(
      `The output head is tied to token_embd.weight: llama.cpp keeps a copy (${
        fmt(p.tiedBytes)
      }) on ${ordered[c.outputHome].name}`,
    );
  }
  const perDevice = new Map<string, number>();
  for (const t of tensors) perDevice.set(t.device, (perDevice.get(t.device) ?? 0) + 1);
  for (const u of e.usage) u.tensors = perDevice.get(u.device) ?? 0;
  const layerSplit = p.accel.map((a) => ({
    device: ordered[a].name,
    layers: e.usage[a].layers.length + (e.usage[a].output ? 1 : 0),
  }));
  const { warnings: _w, headsKv, ...shapeRest } = p.shape;
  for (const u of e.usage) {
    if (u.fits || !u.fitsWithoutMargin) continue;
    warnings.push(
      `${u.device} fits only without the ${Math.round(o.safety * 100)} % safety margin (${
        fmt(u.freeAfter + u.margin)
      } left before the margin)`,
    );
  }
  if (p.cpu >= 0 && ordered[p.cpu].numaNodes && ordered[p.cpu].numaNodes!.length > 1) {
    warnings.push(
      `${
        ordered[p.cpu].numaNodes!.length
      } NUMA nodes: CPU weights may span nodes (llama.cpp --numa distribute)`,
    );
  }
  return {
    status,
    strategy: s.strategy,
    resolved,
    model: {
      architecture: p.shape.architecture,
      layers: p.shape.layers,
      tensorCount: p.tensors.length,
      weightBytes: p.weightBytes,
      shape: { ...shapeRest, headsKv: headsKv[0] ?? 0 },
    },
    ctx: k.ctx,
    requestedCtx: s.requestedCtx,
    kvType: s.kvType,
    batch: o.batch,
    flashAttention: o.flashAttention,
    margins: { overhead: o.overhead, safety: o.safety },
    gpuLayers: offloaded(p, c),
    layerSplit,
    kv: {
      totalBytes: e.usage.reduce((a, u) => a + u.kv, 0),
      kBytes: k.kv.kBytes,
      vBytes: k.kv.vBytes,
      perLayerBytes: k.kv.perLayer,
    },
    tensors,
    devices: e.usage,
    overrides: p.overrides,
    suggestions: s.options.suggestPrecision === false ? [] : suggestions(p, c, e.usage, o),
    steps: s.steps,
    warnings,
    ...(refusal ? { refusal } : {}),
  };
}

/**
 * A precise verdict per device for a plan against a device list (for example free memory
 * measured again just before loading). Never throws for "does not fit": it says by how much.
 * A device in the plan but missing from `devices` counts as having 0 bytes free.
 *
 * @example
 * ```ts ignore
 * import { validateMemoryRequirements } from "./strategies.ts";
 * for (const v of validateMemoryRequirements(plan, devices)) {
 *   if (!v.fits) console.log(`${v.device} is short by ${v.shortBy} bytes`);
 * }
 * ```
 */
export function validateMemoryRequirements(
  plan: Pick<PlacementPlan, "devices">,
  devices: readonly Device[],
): MemoryVerdict[] {
  return plan.devices.map((u) => {
    const available = devices.find((d) => d.name === u.device)?.freeBytes ?? 0;
    const reserved = u.needed + u.margin;
    return {
      device: u.device,
      needed: u.needed,
      available,
      margin: u.margin,
      fits: u.needed === 0 ? true : reserved <= available,
      shortBy: Math.max(0, reserved - available),
    };
  });
}

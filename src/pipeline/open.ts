/**
 * `openGguf`: the way in. One object per stage, the file opened once:
 *
 * ```
 * openGguf(path | url)    header parsed once, split parts found; local files mapped lazily
 *   .tensorData(name)     zero-copy view (maps the file the first time)
 *   .plan({devices, ctx}) PlacementPlan (bytes per device, KV cache, margins)
 *   .load({plan, …})      LoadedModel: batches made resident, the plan honoured, a report
 *      .validate({…})     the checks, on the loaded data (no reopen)
 *      .engine({threads}) inference on the loaded tensors (no reopen, no copy)
 * ```
 *
 * @module
 */

import type { GgufFile, GgufModel, GgufTensorInfo } from "../gguf/model.ts";
import type { GgufSource } from "../gguf/reader.ts";
import type { CudaPlacement } from "../gpu/place.ts";
import { LoadError } from "../load/errors.ts";
import { type LoadOptions, ProgressiveLoader } from "../load/loader.ts";
import { type ModelFile, openModelFile, type TensorAccessOptions } from "../load/open.ts";
import { detectDevices, type Device, parseDeviceSpec } from "../plan/devices.ts";
import { type PlacementPlan, type PlanOptions, planPlacement } from "../plan/strategies.ts";
import { LoadedModel, type PlacementResult } from "./loaded.ts";

/** Options of {@link GgufHandle.plan}: the planner's options and the devices to plan for. */
export interface ModelPlanOptions extends PlanOptions {
  /**
   * Devices: a spec such as `"cpu:16GiB,cuda0:8GiB"` (a spec without `cpu` gets this machine's
   * CPU), a device list, or — by default — this machine's devices.
   */
  devices?: string | readonly Device[];
}

/** Options of {@link GgufHandle.load}. */
export interface ModelLoadOptions extends Omit<LoadOptions, "resident"> {
  /**
   * A placement plan from {@link GgufHandle.plan}: the tensors it puts on a GPU are uploaded
   * there when that GPU exists (else they stay mapped, with a warning); the tensors it keeps on
   * the CPU are made resident in the mapping.
   */
  plan?: PlacementPlan;
  /** What the GPU gets: the stored bytes (`"quantized"`, default) or `"f16"` / `"f32"`. */
  gpuAs?: "quantized" | "f16" | "f32";
}

/**
 * An opened model: the metadata and tensor directory of every part (a {@link GgufModel}),
 * tensor data for a local file, and the next stages (`plan`, `load`). `await using` (or
 * `using`, or `close()`) releases the mapping and the files.
 *
 * @example
 * ```ts ignore
 * import { openGguf } from "./open.ts";
 * await using model = await openGguf("model.gguf");
 * const plan = model.plan({ devices: "cpu:16GiB,cuda0:8GiB", ctx: 4096 });
 * using loaded = await model.load({ plan, batchLayers: 4 });
 * ```
 */
export class GgufHandle implements GgufModel, AsyncDisposable, Disposable {
  /** The opened file(s) and their lazily created mapping. */
  readonly file: ModelFile;

  /** Wraps an opened model; use {@link openGguf}. */
  constructor(file: ModelFile) {
    this.file = file;
  }

  /** The parts (one for a plain file). */
  get parts(): readonly GgufFile[] {
    return this.file.parts;
  }

  /** The model's metadata (of the first part). */
  get metadata(): GgufModel["metadata"] {
    return this.file.metadata;
  }

  /** Every tensor of every part, in file order. */
  get tensors(): readonly GgufTensorInfo[] {
    return this.file.tensors;
  }

  /** The type dialect the file was read in. */
  get dialect(): GgufModel["dialect"] {
    return this.file.dialect;
  }

  /** Reader warnings. */
  get warnings(): readonly string[] {
    return this.file.warnings;
  }

  /** What was opened. */
  get source(): string {
    return this.file.source;
  }

  /** Whether tensor data is zero-copy views of a mapping rather than a copy. */
  get mapped(): boolean {
    return this.file.mapped;
  }

  /**
   * The bytes of a tensor as stored: a zero-copy view of the mapping (created on first use).
   *
   * @throws {LoadError} `NO_TENSOR`, `NOT_LOCAL` (a remote model), `CLOSED`.
   */
  tensorData(name: string): Uint8Array {
    return this.file.tensorData(name);
  }

  /**
   * Plans where every tensor, the KV cache and the compute buffers go, from the header alone.
   *
   * @example
   * ```ts ignore
   * const plan = model.plan({ devices: "cpu:16GiB,cuda0:8GiB", ctx: 4096 });
   * console.log(plan.status, plan.devices.map((d) => [d.device, d.weights]));
   * ```
   */
  plan(options: ModelPlanOptions = {}): PlacementPlan {
    const { devices, ...planOptions } = options;
    return planPlacement(this.file, resolveDevices(devices), planOptions);
  }

  /**
   * Loads the model progressively (critical tensors, layer batches, the rest) over the shared
   * mapping, honouring `plan` when given, and resolves to the {@link LoadedModel}.
   *
   * @throws {LoadError} `NOT_LOCAL`, `BAD_OPTION` (a plan of another model),
   * `INSUFFICIENT_MEMORY`; an `AbortSignal`'s reason when cancelled.
   */
  async load(options: ModelLoadOptions = {}): Promise<LoadedModel> {
    const { plan, gpuAs, ...loadOptions } = options;
    if (!this.file.local) {
      throw new LoadError("NOT_LOCAL", `Loading "${this.source}" needs a local file`, {
        path: this.source,
      });
    }
    // the CUDA modules are imported only for a plan (start-up time of a plain load)
    const gpu = plan ? gpuTargets(this.file, plan, await import("../../ffi/cuda.ts")) : undefined;
    const result = await new ProgressiveLoader(this.file, {
      ...loadOptions,
      resident: gpu?.uploading.size ? (t) => !gpu.uploading.has(t.name) : undefined,
    }).load();
    if (!plan || !gpu) return new LoadedModel(result);
    const placed = new Map<string, CudaPlacement>();
    try {
      const { uploadTensorsToCuda } = await import("../gpu/place.ts");
      for (const [device, names] of gpu.byDevice) {
        placed.set(
          device,
          uploadTensorsToCuda(this.file, names, { device: Number(device.slice(4)), as: gpuAs }),
        );
      }
    } catch (e) {
      for (const p of placed.values()) p.free();
      result.close();
      throw new LoadError("PLACEMENT", `Uploading to the GPU failed: ${(e as Error).message}`, {
        path: this.source,
        cause: e,
      });
    }
    const uploads = new Map([...placed].map(([device, p]) => [device, {
      tensors: gpu.byDevice.get(device)!,
      bytes: p.bytes,
      seconds: p.seconds,
      gbPerSecond: p.gbPerSecond,
    }]));
    const placement: PlacementResult = {
      plan,
      gpu: uploads,
      cpuTensors: this.file.tensors.length - gpu.uploading.size,
    };
    return new LoadedModel(result, placement, gpu.warnings, [...placed.values()]);
  }

  /** Releases the mapping (or buffers) and the files; views handed out become empty. */
  close(): void {
    this.file.close();
  }

  /** `using model = …`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** `await using model = …`. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** The devices to plan for: a spec (plus this machine's CPU when it names none), a list, or this machine's. */
function resolveDevices(devices: string | readonly Device[] | undefined): Device[] {
  if (devices === undefined) return detectDevices();
  const list = typeof devices === "string" ? parseDeviceSpec(devices) : [...devices];
  if (list.some((d) => d.kind === "cpu")) return list;
  return [...detectDevices({ cuda: false }), ...list];
}

/** What a plan puts on GPUs, split into what can be uploaded here and what stays on the CPU. */
function gpuTargets(
  model: ModelFile,
  plan: PlacementPlan,
  { cudaRuntime, cudaUnavailableReason }: typeof import("../../ffi/cuda.ts"),
): {
  byDevice: Map<string, string[]>;
  uploading: Set<string>;
  warnings: string[];
} {
  if (plan.model.tensorCount !== model.tensors.length) {
    throw new LoadError(
      "BAD_OPTION",
      `The plan is for a model of ${plan.model.tensorCount} tensors; this one has ${model.tensors.length}`,
      { path: model.source },
    );
  }
  const kinds = new Map(plan.devices.map((d) => [d.device, d.kind]));
  const wanted = new Map<string, string[]>();
  for (const t of plan.tensors) {
    const kind = kinds.get(t.device);
    if (kind === "cpu" || t.duplicate) continue;
    if (!wanted.has(t.device)) wanted.set(t.device, []);
    wanted.get(t.device)!.push(t.name);
  }
  const byDevice = new Map<string, string[]>();
  const uploading = new Set<string>();
  const warnings: string[] = [];
  if (wanted.size === 0) return { byDevice, uploading, warnings };
  // Only touch the CUDA runtime when the plan has GPU tensors.
  const runtime = [...wanted.keys()].some((d) => kinds.get(d) === "cuda") ? cudaRuntime() : null;
  for (const [device, names] of wanted) {
    const m = /^cuda(\d+)$/.exec(device);
    const why = kinds.get(device) !== "cuda" || !m
      ? `${kinds.get(device)} devices are planned for, not loaded to, by bitload`
      : runtime === null
      ? (cudaUnavailableReason() ?? "no CUDA runtime")
      : Number(m[1]) >= runtime.deviceCount
      ? `this machine has ${runtime.deviceCount} CUDA device(s)`
      : "";
    if (why) {
      warnings.push(
        `the plan puts ${names.length} tensors on ${device}, which is not available here (${why}); they stay mapped on the CPU`,
      );
      continue;
    }
    byDevice.set(device, names);
    for (const n of names) uploading.add(n);
  }
  return { byDevice, uploading, warnings };
}

/**
 * Opens a model once — a local path (any part of a split model: the others are found next to
 * it), or an http(s) URL, bytes or a stream for metadata only — and returns the
 * {@link GgufHandle} every later stage works on. Each local file is opened one time: its header
 * is parsed through that descriptor and its data mapped from it when first needed.
 *
 * @example
 * ```ts ignore
 * import { openGguf } from "./open.ts";
 * await using model = await openGguf("model.gguf");
 * console.log(model.tensors.length, model.tensorData("token_embd.weight").byteLength);
 * const plan = model.plan({ devices: "cpu:16GiB,cuda0:8GiB", ctx: 4096 });
 * const loaded = await model.load({ plan, batchLayers: 4 });
 * const report = await loaded.validate({ checkTensors: true });
 * using engine = await loaded.engine({ threads: 2 });
 * const out = await engine.complete("Hello", { maxTokens: 16, temperature: 0 });
 * ```
 */
export async function openGguf(
  source: GgufSource,
  options: TensorAccessOptions = {},
): Promise<GgufHandle> {
  return new GgufHandle(await openModelFile(source, options));
}

/**
 * The progressive loader: executes a {@link LoadPlan} batch by batch — maps every part of the
 * model (or reads it into one buffer per part), makes each batch resident, optionally
 * dequantizes it, reports progress (callback and `AsyncIterable`), honours an `AbortSignal`,
 * watches memory pressure, and ends with a memory-efficiency report.
 *
 * @module
 */

import type { GgufModel, GgufTensorInfo } from "../gguf/model.ts";
import { openGgufModel } from "../gguf/split.ts";
import { dequantize, dequantizeToNew } from "../quant/dequantize.ts";
import type { TlConfigFile } from "../quant/tl_config.ts";
import { evaluateMemory, type MemoryReport } from "./memory_report.ts";
import {
  type FileBytes,
  FileMapping,
  mapFile,
  mappingUnavailableReason,
  type PrefetchAdvice,
  ReadBuffer,
} from "./mapping.ts";
import { mappedResidentBytes, memoryBudget, processMemory, resetPeakRss } from "./memory.ts";
import { buildLoadPlan, type LoadPlan } from "./plan.ts";
import type { PerfMonitor } from "../common/perf_monitor.ts";
import { formatBytes as fmt } from "../common/format.ts";

/** Options of {@link loadModel} and {@link ProgressiveLoader}. */
export interface LoadOptions {
  /** Map the file (zero-copy). Default true; without libc/FFI the read path is used instead. */
  mmap?: boolean;
  /** Lock mapped pages in memory. Default false. */
  mlock?: boolean;
  /** Prefault the whole mapping at map time (`MAP_POPULATE`). Default false. */
  populate?: boolean;
  /** `madvise` hint for each batch before it is touched. Default "willneed". */
  prefetch?: PrefetchAdvice;
  /** Layers per batch. Default 4. */
  batchLayers?: number;
  /**
   * Load progressively (batches) rather than as one batch. Default: progressive for models over
   * 4 GiB (the seed rule), one batch otherwise.
   */
  progressive?: boolean;
  /** Also dequantize every tensor into a new array (or into {@link LoadOptions.dequantInto}). Default "none". */
  dequant?: "none" | "f32" | "f16";
  /**
   * The caller's destination for each dequantized tensor: return an array of
   * `tensor.elementCount` values (Float32Array for `dequant: "f32"`, Float16Array for `"f16"`),
   * or `undefined` to let the loader allocate one. Lets a caller fill its own buffers (e.g. a
   * pinned staging area) without an extra copy.
   */
  dequantInto?: (tensor: GgufTensorInfo) => Float32Array | Float16Array | undefined;
  /** Cancels the load; everything mapped or allocated is released. */
  signal?: AbortSignal;
  /** Called for every progress event. */
  onProgress?: (event: LoadProgress) => void;
  /** Share of the memory budget at which prefetching stops (mmap) or the load fails early (copy). Default 0.8. */
  pressureThreshold?: number;
  /** Records spans (`parse`, `map`, `batch N`, `dequant`) for profiling. */
  monitor?: PerfMonitor;
  /** Memory budget in bytes instead of MemAvailable / the cgroup limit (for tests and tight machines). */
  memoryBudgetBytes?: number;
  /** bitnet.cpp `kernel_config.ini` for dequantizing TL1/TL2 tensors (before the built-in presets). */
  tlConfig?: TlConfigFile;
}

/** One progress event. */
export interface LoadProgress {
  /** What is happening. */
  phase: "open" | "batch" | "tensor" | "done";
  /** Current batch (0-based). */
  batch: number;
  /** Number of batches. */
  batches: number;
  /** Bytes of tensor data made resident so far. */
  bytesDone: number;
  /** Bytes of tensor data in all. */
  bytesTotal: number;
  /** The tensor just loaded, for `tensor` events. */
  tensor?: string;
}

/** A loaded model. Close it (or `using`) to release the mapping or buffers. */
export interface LoadedModel extends Disposable {
  /** Metadata and tensor infos. */
  readonly model: GgufModel;
  /** The plan that was executed. */
  readonly plan: LoadPlan;
  /** Whether the data is mapped (zero-copy) rather than read into buffers. */
  readonly mapped: boolean;
  /** The tensor's bytes as stored (zero-copy view when mapped); throws after close. */
  tensorData(name: string): Uint8Array;
  /** Dequantized values, when `dequant` was requested. */
  readonly dequantized: ReadonlyMap<string, Float32Array | Float16Array>;
  /** The memory-efficiency report of the load. */
  readonly report: MemoryReport;
  /** Things worth knowing (fallbacks, pressure). */
  readonly warnings: readonly string[];
  /** Information that needs no action (e.g. tensors not aligned to 4 KiB pages). */
  readonly info: readonly string[];
  /** Releases everything; tensor views become empty. */
  close(): void;
}

/** The load would not fit in memory; `needed` and `available` say by how much. */
export class InsufficientMemoryError extends Error {
  /** Always "InsufficientMemoryError". */
  override name = "InsufficientMemoryError";
  /** Creates the error with the numbers. */
  constructor(readonly needed: number, readonly available: number, message: string) {
    super(message);
  }
}

const GIB = 1024 ** 3;
/** Models above this size load progressively by default (seed rule). */
export const PROGRESSIVE_THRESHOLD_BYTES = 4 * GIB;
const PAGE = 4096;
/** Bytes processed between yields to the event loop (so signals and timers run). */
const YIELD_EVERY = 64 * 1024 * 1024;

function touchPages(view: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < view.length; i += PAGE) sum += view[i];
  if (view.length > 0) sum += view[view.length - 1];
  return sum;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Loads a model progressively. Use `load()` for the result, and `events()` (before or while
 * loading) to observe progress as an async iterable.
 *
 * @example
 * ```ts ignore
 * import { ProgressiveLoader } from "./loader.ts";
 * const loader = new ProgressiveLoader("model.gguf", { batchLayers: 4 });
 * const done = loader.load();
 * for await (const e of loader.events()) console.log(e.phase, e.bytesDone, e.bytesTotal);
 * using loaded = await done;
 * console.log(loaded.report.multiplier);
 * ```
 */
export class ProgressiveLoader {
  /** The model file (any part of a split model). */
  readonly path: string;
  /** The options the load runs with. */
  readonly options: LoadOptions;
  #result: Promise<LoadedModel> | undefined;
  #queue: LoadProgress[] = [];
  #wake: (() => void) | undefined;
  #finished = false;
  #failure: unknown;

  /** Prepares a load of `path`; nothing happens until `load()` or `events()`. */
  constructor(path: string, options: LoadOptions = {}) {
    this.path = path;
    this.options = options;
  }

  /** Starts the load (once) and returns its result. */
  load(): Promise<LoadedModel> {
    this.#result ??= this.#run().then(
      (r) => {
        this.#finish();
        return r;
      },
      (e) => {
        this.#failure = e;
        this.#finish();
        throw e;
      },
    );
    return this.#result;
  }

  /** Progress events until the load ends; starts the load if needed. Rethrows a failure. */
  async *events(): AsyncIterable<LoadProgress> {
    this.load().catch(() => {});
    for (;;) {
      while (this.#queue.length > 0) yield this.#queue.shift()!;
      if (this.#finished) break;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    if (this.#failure !== undefined) throw this.#failure;
  }

  #emit(event: LoadProgress): void {
    this.options.onProgress?.(event);
    this.#queue.push(event);
    this.#wake?.();
    this.#wake = undefined;
  }

  #finish(): void {
    this.#finished = true;
    this.#wake?.();
    this.#wake = undefined;
  }

  async #run(): Promise<LoadedModel> {
    const o = this.options;
    const signal = o.signal;
    signal?.throwIfAborted();
    const started = performance.now();
    const atStart = processMemory();
    const monitor = o.monitor;
    const endParse = monitor?.start("parse");
    const model = await openGgufModel(this.path);
    endParse?.(model.parts.reduce((a, p) => a + p.dataOffset, 0));
    // Measure the tensor load from here: the parse's own cost is reported separately.
    const before = processMemory();
    resetPeakRss();
    const fileBytes = model.parts.reduce((a, p) => a + (p.fileSize ?? 0), 0);
    const tensorBytes = model.tensors.reduce((a, t) => a + t.byteSize, 0);
    const progressive = o.progressive ?? fileBytes > PROGRESSIVE_THRESHOLD_BYTES;
    const plan = buildLoadPlan(model, {
      batchLayers: progressive ? (o.batchLayers ?? 4) : Number.MAX_SAFE_INTEGER,
    });
    const warnings = [...model.warnings];
    const threshold = o.pressureThreshold ?? 0.8;
    const budget = memoryBudget(o.memoryBudgetBytes);
    const dequantBytes = o.dequant === "f32"
      ? model.tensors.reduce((a, t) => a + t.elementCount * 4, 0)
      : o.dequant === "f16"
      ? model.tensors.reduce((a, t) => a + t.elementCount * 2, 0)
      : 0;

    let useMmap = o.mmap ?? true;
    if (useMmap && mappingUnavailableReason()) {
      warnings.push(
        `memory mapping unavailable (${mappingUnavailableReason()}); reading into memory instead`,
      );
      useMmap = false;
    }
    // Anonymous memory this load will allocate: the copy path holds every file, dequant its output.
    const anonNeeded = (useMmap ? 0 : fileBytes) + dequantBytes;
    if (anonNeeded > threshold * budget.bytes) {
      throw new InsufficientMemoryError(
        anonNeeded,
        budget.bytes,
        `Loading "${this.path}" ${useMmap ? "" : "without mmap "}${
          o.dequant && o.dequant !== "none" ? `with ${o.dequant} dequantization ` : ""
        }needs ${fmt(anonNeeded)} of memory, but only ${
          fmt(budget.bytes)
        } is available (${budget.source}) ` +
          `and the pressure threshold is ${Math.round(threshold * 100)} %: short by ${
            fmt(anonNeeded - threshold * budget.bytes)
          }${useMmap ? "" : "; loading with mmap needs no anonymous memory for the weights"}`,
      );
    }

    const files: FileBytes[] = [];
    const dequantized = new Map<string, Float32Array | Float16Array>();
    const release = () => {
      for (const f of files) f.close();
      dequantized.clear();
    };
    try {
      const endMap = monitor?.start(useMmap ? "map" : "allocate");
      for (const part of model.parts) {
        signal?.throwIfAborted();
        files.push(
          useMmap
            ? mapFile(part.source, { populate: o.populate, mlock: o.mlock })
            : new ReadBuffer(part.source),
        );
      }
      endMap?.(fileBytes);
      const byName = new Map<string, GgufTensorInfo>(model.tensors.map((t) => [t.name, t]));
      let bytesDone = 0;
      let sinceYield = 0;
      let prefetching = true;
      const total = plan.totalBytes;
      this.#emit({
        phase: "open",
        batch: 0,
        batches: plan.batches.length,
        bytesDone,
        bytesTotal: total,
      });
      for (const batch of plan.batches) {
        signal?.throwIfAborted();
        this.#emit({
          phase: "batch",
          batch: batch.index,
          batches: plan.batches.length,
          bytesDone,
          bytesTotal: total,
        });
        if (useMmap && prefetching && batch.bytesAfter > threshold * budget.bytes) {
          prefetching = false;
          warnings.push(
            `memory pressure: making batch ${batch.index} resident would pass ${
              Math.round(threshold * 100)
            } % of the ${
              fmt(budget.bytes)
            } budget; prefetching stopped, the remaining tensors are paged in on demand`,
          );
        }
        const endBatch = monitor?.start(`batch ${batch.index}`, batch.bytes);
        for (const name of batch.tensors) {
          const t = byName.get(name)!;
          const file = files[t.part];
          if (file instanceof ReadBuffer) file.readRange(t.fileOffset, t.byteSize);
          else if (file instanceof FileMapping && prefetching) {
            file.advise(t.fileOffset, t.byteSize, o.prefetch ?? "willneed");
            touchPages(file.view(t.fileOffset, t.byteSize));
          }
          if (o.dequant === "f32" || o.dequant === "f16") {
            if (!t.type.dequantizable) {
              warnings.push(
                `tensor "${t.name}" (${t.type.name}) cannot be dequantized: ${t.type.refusal}`,
              );
            } else {
              const endDequant = monitor?.start("dequant", t.elementCount * 4);
              const src = file.view(t.fileOffset, t.byteSize);
              const out = dequantizeTensor(t, src, o.dequant, o.dequantInto?.(t), o.tlConfig);
              dequantized.set(name, out);
              endDequant?.();
            }
          }
          bytesDone += t.byteSize;
          sinceYield += t.byteSize;
          this.#emit({
            phase: "tensor",
            batch: batch.index,
            batches: plan.batches.length,
            bytesDone,
            bytesTotal: total,
            tensor: name,
          });
          if (sinceYield >= YIELD_EVERY) {
            sinceYield = 0;
            await yieldToEventLoop();
            signal?.throwIfAborted();
          }
        }
        endBatch?.();
        await yieldToEventLoop();
      }
      const seconds = (performance.now() - started) / 1000;
      const after = processMemory();
      const report = evaluateMemory({
        fileBytes: tensorBytes,
        before,
        after,
        mapped: useMmap,
        zeroCopyTensors: useMmap ? model.tensors.length : 0,
        copiedTensors: (useMmap ? 0 : model.tensors.length) + dequantized.size,
        seconds,
        parseOverheadBytes: atStart && before ? Math.max(0, before.rss - atStart.rss) : 0,
        outputBytes: [...dequantized.values()].reduce((a, v) => a + v.byteLength, 0),
        mappedResidentBytes: useMmap
          ? mappedResidentBytes(files.map((f) => (f as FileMapping).address))
          : undefined,
      });
      monitor?.checkMemory("resident memory added by the load", report.peakRssBytes);
      this.#emit({
        phase: "done",
        batch: plan.batches.length - 1,
        batches: plan.batches.length,
        bytesDone,
        bytesTotal: total,
      });
      let closed = false;
      const info: string[] = [];
      const offPage = model.tensors.filter((t) => t.fileOffset % PAGE !== 0).length;
      if (offPage > 0) {
        info.push(
          `${offPage} of ${model.tensors.length} tensors do not start on a 4 KiB page boundary ` +
            `(GGUF aligns tensors to ${model.parts[0].alignment} bytes); views work the same, ` +
            `only page-granular operations (madvise, mlock) round to whole pages`,
        );
      }
      const loaded: LoadedModel = {
        info,
        model,
        plan,
        mapped: useMmap,
        dequantized,
        report,
        warnings: [...warnings, ...report.warnings],
        tensorData(name) {
          const t = byName.get(name);
          if (!t) throw new RangeError(`No tensor named "${name}"`);
          if (closed) {
            throw new Error(
              `The model "${
                model.parts[0].source
              }" was closed; tensor "${name}" is no longer available`,
            );
          }
          return files[t.part].view(t.fileOffset, t.byteSize);
        },
        close() {
          closed = true;
          release();
        },
        [Symbol.dispose]() {
          this.close();
        },
      };
      return loaded;
    } catch (e) {
      release();
      throw e;
    }
  }
}

/**
 * Loads a model (all parts of a split model), returning zero-copy tensor views and the memory
 * report.
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./loader.ts";
 * using loaded = await loadModel("model.gguf", { onProgress: (e) => console.log(e.bytesDone) });
 * const q = loaded.tensorData("blk.0.attn_q.weight");
 * ```
 */
export function loadModel(path: string, options: LoadOptions = {}): Promise<LoadedModel> {
  return new ProgressiveLoader(path, options).load();
}

/**
 * Dequantizes one tensor into `target` (the caller's array from `dequantInto`, checked for type
 * and length) or, when there is none, into a new array of the `kind` asked for.
 */
function dequantizeTensor(
  t: GgufTensorInfo,
  src: Uint8Array,
  kind: "f32" | "f16",
  target: Float32Array | Float16Array | undefined,
  tlConfig?: TlConfigFile,
): Float32Array | Float16Array {
  const wanted = kind === "f16" ? Float16Array : Float32Array;
  if (target !== undefined && (!(target instanceof wanted) || target.length !== t.elementCount)) {
    throw new RangeError(
      `dequantInto for "${t.name}" must return a ${wanted.name} of ${t.elementCount} values`,
    );
  }
  if (target instanceof Float32Array) {
    dequantize(t.type, src, target, { dims: t.dims, tlConfig, name: t.name });
    return target;
  }
  const values = dequantizeToNew(t.type, src, t.elementCount, {
    dims: t.dims,
    tlConfig,
    name: t.name,
  });
  if (kind === "f32") return values;
  if (target === undefined) return Float16Array.from(values);
  target.set(values);
  return target;
}

/**
 * The progressive loader: executes a {@link LoadPlan} batch by batch over a model opened once
 * ({@link ModelFile}: its mapping, or its read buffers, shared with everything else that uses
 * the model), optionally dequantizes each batch, reports progress (callback and
 * `AsyncIterable`), honours an `AbortSignal`, watches memory pressure, and ends with a
 * memory-efficiency report. One load is four steps: budget → map → batches → report.
 *
 * @module
 */

import type { GgufTensorInfo } from "../gguf/model.ts";
import { dequantize, dequantizeToNew } from "../quant/dequantize.ts";
import type { TlConfigFile } from "../quant/tl_config.ts";
import { evaluateMemory, type MemoryReport } from "./memory_report.ts";
import { InsufficientMemoryError, LoadError } from "./errors.ts";
import {
  type FileBytes,
  FileMapping,
  mappingUnavailableReason,
  type PrefetchAdvice,
  ReadBuffer,
} from "./mapping.ts";
import {
  mappedPmdBytes,
  mappedResidentBytes,
  type MemoryBudget,
  memoryBudget,
  type ProcessMemory,
  processMemory,
  resetPeakRss,
} from "./memory.ts";
import { type ModelFile, openModelFile } from "./open.ts";
import { buildLoadPlan, type LoadPlan } from "./plan.ts";
import type { PerfMonitor } from "../common/perf_monitor.ts";
import { formatBytes as fmt } from "../common/format.ts";
import { checkMappedFiles } from "../gguf/mapped_files.ts";
import { faultGuard } from "../../ffi/fault_guard.ts";

export { InsufficientMemoryError } from "./errors.ts";

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
   * Load progressively (batches) rather than as one batch. Default: progressive when
   * `batchLayers` is given or the model is over 4 GiB (the seed rule), one batch otherwise.
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
  /**
   * Only these tensors are made resident (prefetched and touched); the others stay mapped and
   * are paged in on demand. The pipeline passes the tensors a placement plan keeps on the CPU.
   */
  resident?: (tensor: GgufTensorInfo) => boolean;
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

/** What a load gives: the model's tensors made resident, and the report. */
export interface LoadResult extends Disposable {
  /** The opened model (metadata, tensor infos, the shared mapping). */
  readonly model: ModelFile;
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
  /**
   * The share of the model's mappings (every part, header included) that the kernel maps with
   * 2 MiB page-table entries now (`FilePmdMapped` in `/proc/self/smaps`): near the resident share
   * when the page cache holds the files in 2 MiB folios (a warm populate then costs little), 0
   * when it holds them in 4 KiB pages. `null` off Linux, on the read path, or after close. Reads
   * smaps each call (tens of ms): for reports, not for loops.
   */
  pmdMappedShare(): number | null;
  /** Things worth knowing (fallbacks, pressure). */
  readonly warnings: readonly string[];
  /** Information that needs no action (e.g. tensors not aligned to 4 KiB pages). */
  readonly info: readonly string[];
  /** Releases what the load allocated (and the model, when the load opened it itself). */
  close(): void;
}

const GIB = 1024 ** 3;
/** Models above this size load progressively by default (seed rule). */
export const PROGRESSIVE_THRESHOLD_BYTES = 4 * GIB;
const PAGE = 4096;
/** Bytes processed between yields to the event loop (so signals and timers run). */
const YIELD_EVERY = 64 * 1024 * 1024;
/**
 * …and at least this much time: a `setTimeout(0)` costs 1–5 ms on a busy machine, while 64 MiB
 * now becomes resident in a few ms (MADV_POPULATE_READ), so yielding on bytes alone would cost
 * more than the work; 50 ms keeps Ctrl-C and progress prompt.
 */
const YIELD_AFTER_MS = 50;

function touchPages(view: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < view.length; i += PAGE) sum += view[i];
  if (view.length > 0) sum += view[view.length - 1];
  return sum;
}

/** `pending`, or a rejection with the signal's reason as soon as `signal` aborts. */
function untilAborted<T>(pending: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return pending;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** What the budget step decides: the plan, whether to map, the budget and its threshold. */
interface LoadBudget {
  plan: LoadPlan;
  mmap: boolean;
  budget: MemoryBudget;
  threshold: number;
}

/** Memory measured around a load. */
interface LoadClock {
  started: number;
  atStart: ProcessMemory | null;
  before: ProcessMemory | null;
  /** Whether VmHWM was reset after `before` (else it holds the process's all-time peak). */
  peakReset?: boolean;
}

/**
 * Loads a model progressively. Use `load()` for the result, and `events()` (before or while
 * loading) to observe progress as an async iterable. Given a path it opens the model itself
 * (and closes it with the result); given an opened {@link ModelFile} it loads that one and
 * leaves closing it to its owner.
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
  readonly #source: string | ModelFile;
  #result: Promise<LoadResult> | undefined;
  #queue: LoadProgress[] = [];
  #wake: (() => void) | undefined;
  #finished = false;
  #failure: unknown;

  /** Prepares a load of `source`; nothing happens until `load()` or `events()`. */
  constructor(source: string | ModelFile, options: LoadOptions = {}) {
    this.#source = source;
    this.path = typeof source === "string" ? source : source.source;
    this.options = options;
  }

  /** Starts the load (once) and returns its result. */
  load(): Promise<LoadResult> {
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

  /** budget → map → batches → report, releasing everything on failure or cancellation. */
  async #run(): Promise<LoadResult> {
    this.options.signal?.throwIfAborted();
    faultGuard(); // the SIGBUS guard (native library) is process set-up, not part of loading
    const clock: LoadClock = { started: performance.now(), atStart: processMemory(), before: null };
    const owned = typeof this.#source === "string";
    const model = await this.#open();
    // Measure the tensor load from here: the parse's own cost is reported separately.
    clock.before = processMemory();
    clock.peakReset = resetPeakRss();
    const dequantized = new Map<string, Float32Array | Float16Array>();
    try {
      const budget = this.#budget(model);
      const files = this.#map(model, budget);
      const warnings = await this.#batches(model, files, budget, dequantized);
      return this.#report(model, budget, files, dequantized, warnings, clock, owned);
    } catch (e) {
      dequantized.clear();
      if (owned) model.close();
      throw e;
    }
  }

  /** The model: the one given, or the path opened once; its header parse is the `parse` span. */
  async #open(): Promise<ModelFile> {
    const o = this.options;
    // Given a path, and every tensor to be made resident: a cold file is read into the page
    // cache while its header is parsed (the batches then populate a warm file).
    const readAhead = o.mmap !== false && o.resident === undefined;
    const model = typeof this.#source === "string"
      ? await openModelFile(this.#source, {
        mmap: o.mmap,
        mlock: o.mlock,
        populate: o.populate,
        readAhead,
      })
      : this.#source;
    const s = model.openStats;
    if (s) o.monitor?.record("parse", s.startMs, s.endMs, s.headerBytes);
    return model;
  }

  /** The batch plan, and whether the anonymous memory this load allocates fits the budget. */
  #budget(model: ModelFile): LoadBudget {
    const o = this.options;
    const fileBytes = model.parts.reduce((a, p) => a + (p.fileSize ?? 0), 0);
    const progressive = o.progressive ??
      (o.batchLayers !== undefined || fileBytes > PROGRESSIVE_THRESHOLD_BYTES);
    const batchLayers = o.batchLayers ?? 4;
    if (!Number.isInteger(batchLayers) || batchLayers < 1) {
      throw new LoadError(
        "BAD_OPTION",
        `batchLayers must be a positive integer, got ${batchLayers}`,
      );
    }
    const plan = buildLoadPlan(model, {
      batchLayers: progressive ? batchLayers : Number.MAX_SAFE_INTEGER,
    });
    const threshold = o.pressureThreshold ?? 0.8;
    const budget = memoryBudget(o.memoryBudgetBytes);
    const mmap = model.dataOpened
      ? model.mapped
      : (o.mmap ?? model.access.mmap ?? true) && mappingUnavailableReason() === "";
    const perValue = o.dequant === "f32" ? 4 : o.dequant === "f16" ? 2 : 0;
    const dequantBytes = model.tensors.reduce((a, t) => a + t.elementCount * perValue, 0);
    // Anonymous memory this load will allocate: the copy path holds every file, dequant its output.
    const needed = (mmap ? 0 : fileBytes) + dequantBytes;
    if (needed > threshold * budget.bytes) {
      throw new InsufficientMemoryError(
        needed,
        budget.bytes,
        `Loading "${this.path}" ${mmap ? "" : "without mmap "}${
          perValue ? `with ${o.dequant} dequantization ` : ""
        }needs ${fmt(needed)} of memory, but only ${
          fmt(budget.bytes)
        } is available (${budget.source}) ` +
          `and the pressure threshold is ${Math.round(threshold * 100)} %: short by ${
            fmt(needed - threshold * budget.bytes)
          }${mmap ? "" : "; loading with mmap needs no anonymous memory for the weights"}`,
      );
    }
    return { plan, mmap, budget, threshold };
  }

  /** The model's data: its shared mappings (or read buffers), created now if needed (`map` span). */
  #map(model: ModelFile, budget: LoadBudget): FileBytes[] {
    const o = this.options;
    this.options.signal?.throwIfAborted();
    const fileBytes = model.parts.reduce((a, p) => a + (p.fileSize ?? 0), 0);
    const end = model.dataOpened ? undefined : o.monitor?.start(budget.mmap ? "map" : "allocate");
    const files = model.data({ mmap: o.mmap, mlock: o.mlock, populate: o.populate });
    end?.(fileBytes);
    return files;
  }

  /** Makes each batch resident in plan order (and dequantizes it); returns the warnings. */
  async #batches(
    model: ModelFile,
    files: FileBytes[],
    budget: LoadBudget,
    dequantized: Map<string, Float32Array | Float16Array>,
  ): Promise<string[]> {
    const o = this.options;
    const { plan, threshold } = budget;
    const warnings: string[] = [];
    const progress = (phase: LoadProgress["phase"], batch: number, tensor?: string) =>
      this.#emit({
        phase,
        batch,
        batches: plan.batches.length,
        bytesDone,
        bytesTotal: plan.totalBytes,
        ...(tensor === undefined ? {} : { tensor }),
      });
    let bytesDone = 0;
    let sinceYield = 0;
    let lastYield = performance.now();
    let prefetching = true;
    for (const pending of model.readAhead) {
      // the cold read the open started (before the parse): the batches then map warm pages.
      // A cancel does not wait for it: it unmaps its own mapping when the kernel is done.
      const r = await untilAborted(pending, o.signal);
      o.monitor?.record("read-ahead", r.startMs, r.endMs, r.bytes);
    }
    progress("open", 0);
    for (const batch of plan.batches) {
      o.signal?.throwIfAborted();
      progress("batch", batch.index);
      if (budget.mmap && prefetching && batch.bytesAfter > threshold * budget.budget.bytes) {
        prefetching = false;
        warnings.push(
          `memory pressure: making batch ${batch.index} resident would pass ${
            Math.round(threshold * 100)
          } % of the ${
            fmt(budget.budget.bytes)
          } budget; prefetching stopped, the remaining tensors are paged in on demand`,
        );
      }
      const endBatch = o.monitor?.start(`batch ${batch.index}`, batch.bytes);
      for (const name of batch.tensors) {
        const t = model.tensor(name);
        this.#residentTensor(model, files[t.part], t, prefetching);
        if (o.dequant === "f32" || o.dequant === "f16") {
          const out = this.#dequantTensor(files[t.part], t, o.dequant, warnings);
          if (out) dequantized.set(name, out);
        }
        bytesDone += t.byteSize;
        sinceYield += t.byteSize;
        progress("tensor", batch.index, name);
        if (sinceYield >= YIELD_EVERY && performance.now() - lastYield >= YIELD_AFTER_MS) {
          sinceYield = 0;
          lastYield = performance.now();
          await yieldToEventLoop();
          o.signal?.throwIfAborted();
        }
      }
      endBatch?.();
      checkMappedFiles(); // a page that vanished while the batch was touched: FILE_CHANGED
      await yieldToEventLoop();
    }
    progress("done", plan.batches.length - 1);
    return warnings;
  }

  /** Reads a tensor into its buffer (copy path) or prefetches and touches its pages (mapped). */
  #residentTensor(model: ModelFile, file: FileBytes, t: GgufTensorInfo, prefetching: boolean) {
    const o = this.options;
    if (file instanceof ReadBuffer) {
      file.readRange(t.fileOffset, t.byteSize);
      model.markRead(t.name);
    } else if (file instanceof FileMapping && prefetching && (o.resident?.(t) ?? true)) {
      const advice = o.prefetch ?? "willneed";
      // MADV_POPULATE_READ maps the whole range in one system call (page-cache speed: no
      // JavaScript loop, no fault per page); it reads ahead like WILLNEED, so the default needs
      // no separate hint. Kernels before 5.14 refuse it: hint, then touch a byte per page.
      if (advice !== "willneed") file.advise(t.fileOffset, t.byteSize, advice);
      if (!file.advise(t.fileOffset, t.byteSize, "populate")) {
        if (advice === "willneed") file.advise(t.fileOffset, t.byteSize, advice);
        touchPages(file.view(t.fileOffset, t.byteSize));
      }
    }
  }

  /** Dequantizes one tensor (a `dequant` span), or notes why it cannot be. */
  #dequantTensor(
    file: FileBytes,
    t: GgufTensorInfo,
    kind: "f32" | "f16",
    warnings: string[],
  ): Float32Array | Float16Array | undefined {
    if (!t.type.dequantizable) {
      warnings.push(`tensor "${t.name}" (${t.type.name}) cannot be dequantized: ${t.type.refusal}`);
      return undefined;
    }
    const end = this.options.monitor?.start("dequant", t.elementCount * 4);
    const out = dequantizeTensor(
      t,
      file.view(t.fileOffset, t.byteSize),
      kind,
      this.options.dequantInto?.(t),
      this.options.tlConfig,
    );
    end?.();
    return out;
  }

  /** The memory report, and the result object over the shared data. */
  #report(
    model: ModelFile,
    budget: LoadBudget,
    files: FileBytes[],
    dequantized: Map<string, Float32Array | Float16Array>,
    warnings: string[],
    clock: LoadClock,
    owned: boolean,
  ): LoadResult {
    const mapped = files.every((f) => f.mapped);
    const tensorBytes = model.tensors.reduce((a, t) => a + t.byteSize, 0);
    const report = evaluateMemory({
      fileBytes: tensorBytes,
      before: clock.before,
      after: processMemory(),
      peakReset: clock.peakReset,
      mapped,
      zeroCopyTensors: mapped ? model.tensors.length : 0,
      copiedTensors: (mapped ? 0 : model.tensors.length) + dequantized.size,
      seconds: (performance.now() - clock.started) / 1000,
      parseOverheadBytes: owned && clock.atStart && clock.before
        ? Math.max(0, clock.before.rss - clock.atStart.rss)
        : model.openStats?.rssAddedBytes ?? 0,
      outputBytes: [...dequantized.values()].reduce((a, v) => a + v.byteLength, 0),
      mappedResidentBytes: mapped
        ? residentOf(files as FileMapping[], model.parts.map((p) => p.dataOffset))
        : undefined,
    });
    this.options.monitor?.checkMemory("resident memory added by the load", report.peakRssBytes);
    const info: string[] = [];
    const offPage = model.tensors.filter((t) => t.fileOffset % PAGE !== 0).length;
    if (offPage > 0) {
      info.push(
        `${offPage} of ${model.tensors.length} tensors do not start on a 4 KiB page boundary ` +
          `(GGUF aligns tensors to ${model.parts[0].alignment} bytes); views work the same, ` +
          `only page-granular operations (madvise, mlock) round to whole pages`,
      );
    }
    let closed = false;
    return {
      pmdMappedShare() {
        if (closed || !mapped) return null;
        const size = files.reduce((a, f) => a + f.size, 0);
        const pmd = mappedPmdBytes((files as FileMapping[]).map((f) => f.address));
        return pmd === null ? null : size > 0 ? Math.min(1, pmd / size) : 0;
      },
      info,
      model,
      plan: budget.plan,
      mapped,
      dequantized,
      report,
      warnings: [...model.warnings, ...model.accessWarnings, ...warnings, ...report.warnings],
      tensorData(name) {
        if (closed) {
          throw new LoadError(
            "CLOSED",
            `The model "${model.source}" was closed; tensor "${name}" is no longer available`,
            { path: model.source },
          );
        }
        return model.tensorData(name);
      },
      close() {
        closed = true;
        dequantized.clear();
        if (owned) model.close();
      },
      [Symbol.dispose]() {
        this.close();
      },
    };
  }
}

/**
 * Resident bytes of the model's mappings past each header (`mincore`: cheap, no `/proc` text), else the
 * `Rss:` of their `/proc/self/smaps` entries (tens of ms on a runtime with many mappings).
 */
function residentOf(mappings: FileMapping[], dataOffsets: number[]): number | null {
  let total = 0;
  for (const [i, m] of mappings.entries()) {
    const r = m.residentBytes(dataOffsets[i] ?? 0);
    if (r === null) return mappedResidentBytes(mappings.map((f) => f.address));
    total += r;
  }
  return total;
}

/**
 * Loads a model (all parts of a split model) from a path, returning zero-copy tensor views and
 * the memory report: shorthand for `new ProgressiveLoader(path, options).load()`. The pipeline's
 * `openGguf(path)` → `model.load()` is the documented way in (it shares the opened file with
 * planning, validation and inference).
 *
 * @example
 * ```ts ignore
 * import { loadModel } from "./loader.ts";
 * using loaded = await loadModel("model.gguf", { onProgress: (e) => console.log(e.bytesDone) });
 * const q = loaded.tensorData("blk.0.attn_q.weight");
 * ```
 */
export function loadModel(path: string, options: LoadOptions = {}): Promise<LoadResult> {
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
    throw new LoadError(
      "BAD_OPTION",
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

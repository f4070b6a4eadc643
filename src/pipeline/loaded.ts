/**
 * {@link LoadedModel}: the load stage's result, and the door to the two stages after it —
 * `validate()` observes the loaded data (the shared mapping; the file is not reopened) and
 * `engine()` runs inference on the loaded tensors in place (no reopen, no copy).
 *
 * @module
 */

import type { GgufMetadata } from "../gguf/metadata.ts";
import type { GgufTensorInfo } from "../gguf/model.ts";
import type { CudaPlacement } from "../gpu/place.ts";
import type { Engine, EngineOptions } from "../infer/engine.ts";
import type { LoadResult } from "../load/loader.ts";
import { LoadError } from "../load/errors.ts";
import type { ModelFile } from "../load/open.ts";
import type { LoadPlan } from "../load/plan.ts";
import type { PlacementPlan } from "../plan/strategies.ts";
import type { ValidationReport } from "../validate/report.ts";
import type { ValidateOptions } from "../validate/validate.ts";
import type { MemoryReport } from "../load/memory_report.ts";

/** The tensors uploaded to one GPU. */
export interface GpuUpload {
  /** Tensor names, as the plan placed them. */
  readonly tensors: readonly string[];
  /** Host bytes uploaded. */
  readonly bytes: number;
  /** Seconds the upload took. */
  readonly seconds: number;
  /** bytes / seconds / 1e9. */
  readonly gbPerSecond: number;
}

/** Where a placement plan's tensors went when the model was loaded. */
export interface PlacementResult {
  /** The plan that was honoured. */
  readonly plan: PlacementPlan;
  /** Tensors uploaded to each GPU, by device name (empty without a GPU). */
  readonly gpu: ReadonlyMap<string, GpuUpload>;
  /** Tensors kept mapped on the CPU (the plan's CPU tensors, and GPU tensors without a GPU). */
  readonly cpuTensors: number;
}

/**
 * A loaded model: its tensors resident (zero-copy views of the shared mapping, or read buffers
 * on the copy path), the load report, and where a placement plan put them. Closing it releases
 * what the load allocated (dequantized copies, GPU buffers); the mapping belongs to the opened
 * model and is released when that is closed.
 *
 * @example
 * ```ts ignore
 * import { openGguf } from "./open.ts";
 * await using model = await openGguf("model.gguf");
 * using loaded = await model.load({ batchLayers: 4 });
 * const report = await loaded.validate({ checkTensors: true });
 * using engine = await loaded.engine({ threads: 2 });
 * console.log(report.ok, (await engine.complete("Hello", { maxTokens: 8 })).text);
 * ```
 */
export class LoadedModel implements LoadResult {
  readonly #result: LoadResult;
  readonly #placement: PlacementResult | undefined;
  readonly #buffers: readonly CudaPlacement[];
  readonly #warnings: readonly string[];
  #closed = false;

  /** Wraps a load's result; made by `model.load()`. */
  constructor(
    result: LoadResult,
    placement?: PlacementResult,
    warnings: readonly string[] = [],
    buffers: readonly CudaPlacement[] = [],
  ) {
    this.#result = result;
    this.#buffers = buffers;
    this.#placement = placement;
    this.#warnings = [...result.warnings, ...warnings];
  }

  /** The opened model (metadata, tensor infos, the shared mapping). */
  get model(): ModelFile {
    return this.#result.model;
  }

  /** Model metadata. */
  get metadata(): GgufMetadata {
    return this.#result.model.metadata;
  }

  /** Every tensor's directory entry. */
  get tensors(): readonly GgufTensorInfo[] {
    return this.#result.model.tensors;
  }

  /** The batch plan the load executed. */
  get plan(): LoadPlan {
    return this.#result.plan;
  }

  /** Where the placement plan put the tensors, when the load was given one. */
  get placement(): PlacementResult | undefined {
    return this.#placement;
  }

  /** Whether the data is mapped (zero-copy) rather than read into buffers. */
  get mapped(): boolean {
    return this.#result.mapped;
  }

  /** Dequantized values, when `dequant` was asked for. */
  get dequantized(): ReadonlyMap<string, Float32Array | Float16Array> {
    return this.#result.dequantized;
  }

  /** The memory-efficiency report of the load. */
  get report(): MemoryReport {
    return this.#result.report;
  }

  /**
   * The share of the model's mappings in 2 MiB page-table entries now (`FilePmdMapped`); `null`
   * off Linux, on the read path, or after close. See {@link LoadResult.pmdMappedShare}.
   */
  pmdMappedShare(): number | null {
    return this.#closed ? null : this.#result.pmdMappedShare();
  }

  /** Things worth knowing (fallbacks, pressure, a plan's GPU without a GPU). */
  get warnings(): readonly string[] {
    return this.#warnings;
  }

  /** Information that needs no action. */
  get info(): readonly string[] {
    return this.#result.info;
  }

  /**
   * The tensor's bytes as stored (a zero-copy view when mapped).
   *
   * @throws {LoadError} `CLOSED`, `NO_TENSOR`.
   */
  tensorData(name: string): Uint8Array {
    this.#checkOpen();
    return this.#result.tensorData(name);
  }

  /**
   * Validates the loaded model: the checks of `bitload validate` (structure always; crossval,
   * tensor data, accuracy, determinism on request) on the loaded data, without reopening the
   * file. Resolves to `{ ok, checks, tensors }`.
   *
   * @example
   * ```ts ignore
   * const report = await loaded.validate({ checkTensors: true });
   * if (!report.ok) console.log(report.checks.filter((c) => c.status !== "pass"));
   * ```
   */
  async validate(options: ValidateOptions = {}): Promise<ValidationReport> {
    this.#checkOpen();
    // imported here, not at the top: `bitload load` and `inspect` never validate (start-up time)
    const { validateModel } = await import("../validate/validate.ts");
    return await validateModel(this.#result.model, options);
  }

  /**
   * An inference engine on the loaded tensors (used in place: no reopen, no copy). Close the
   * engine before the model.
   *
   * @example
   * ```ts ignore
   * using engine = await loaded.engine({ threads: 2 });
   * const out = await engine.complete("Hello", { maxTokens: 16, temperature: 0 });
   * ```
   */
  async engine(options: EngineOptions = {}): Promise<Engine> {
    this.#checkOpen();
    // imported here, not at the top: the engine pulls in the tokenizer and every inference
    // module, which a load alone never needs (start-up time)
    const { Engine } = await import("../infer/engine.ts");
    return Engine.create({
      metadata: this.metadata,
      tensors: this.tensors,
      tensorData: (name) => this.tensorData(name),
    }, options);
  }

  /** Releases what the load allocated: dequantized copies, GPU buffers. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const b of this.#buffers) b.free();
    this.#result.close();
  }

  /** Same as {@link LoadedModel.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#closed || this.#result.model.closed) {
      throw new LoadError("CLOSED", `The loaded model "${this.model.source}" was closed`, {
        path: this.model.source,
      });
    }
  }
}

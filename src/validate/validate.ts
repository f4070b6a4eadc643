/**
 * `validateModel`: runs the chosen validators on a model and gathers one
 * {@link ValidationReport}. Structural validation (the reader's own checks: header, directory,
 * offsets and sizes in bounds) always runs; cross-validation against ggml, tensor-data checks,
 * accuracy against an original and determinism run when asked. Given an opened or loaded model
 * it observes that model's data (the shared mapping) and never reopens the file; given a path it
 * opens the model once.
 *
 * @module
 */

import { ValidateError } from "./errors.ts";
import { GgufError } from "../gguf/errors.ts";
import type { GgufModel } from "../gguf/model.ts";
import { openModelFile } from "../load/open.ts";
import { dequantize } from "../quant/dequantize.ts";
import type { TlConfigFile } from "../quant/tl_config.ts";
import { byteSwapTensor, canByteSwap } from "../quant/endian.ts";
import type { GgufTensorInfo } from "../gguf/model.ts";
import { ACCURACY_DEFAULTS, accuracyRow, type AccuracyThresholds } from "./accuracy.ts";
import { checkTensorData } from "./check_tensors.ts";
import {
  CROSSVAL_DEFAULTS,
  crossValidateTensor,
  type CrossvalTolerances,
  sampleIndices,
} from "./crossval.ts";
import {
  checkDeterminism,
  DETERMINISM_VARIANCE_LIMIT,
  type DeterminismSettings,
  determinismSettings,
} from "./determinism.ts";
import { type GgmlReferenceLibrary, openGgmlReferenceLibrary } from "./ggml_reference.ts";
import {
  type CheckResult,
  makeReport,
  statusOf,
  type TensorResult,
  type ValidationReport,
} from "./report.ts";

/** What {@link validateModel} runs. */
export interface ValidateOptions {
  /** Cross-validate against this reference (only `"ggml"`). */
  reference?: "ggml";
  /** Run the tensor-data checks. */
  checkTensors?: boolean;
  /** Path of the original (f32/f16/bf16) model to measure quantization accuracy against. */
  accuracy?: string;
  /** Run the determinism check. */
  determinism?: boolean;
  /** Limit crossval, accuracy and determinism to this many tensors, picked with the seed. */
  sample?: number;
  /** Worker threads for the native kernels. Default: all cores. */
  threads?: number;
  /** Determinism settings; default {@link determinismSettings} from the environment. */
  settings?: DeterminismSettings;
  /** Crossval tolerances; default {@link CROSSVAL_DEFAULTS}. */
  tolerances?: CrossvalTolerances;
  /** Accuracy thresholds; default {@link ACCURACY_DEFAULTS}. */
  thresholds?: AccuracyThresholds;
  /** An already opened reference (tests); otherwise it is opened and closed here. */
  referenceLibrary?: GgmlReferenceLibrary;
  /** bitnet.cpp `kernel_config.ini` for TL1/TL2 tensors (before the built-in presets). */
  tlConfig?: TlConfigFile;
  /**
   * Called after each tensor of each check with the bytes done and to do in that check and the
   * check's name (`crossval`, `tensors`, `accuracy`, `determinism`): a progress bar's feed.
   */
  onProgress?: (done: number, total: number, check: string) => void;
}

/** `f` over `list` (one check's tensors), reporting the bytes done after each tensor. */
function eachTensor<T>(
  ctx: CheckContext,
  check: string,
  list: readonly GgufTensorInfo[],
  f: (t: GgufTensorInfo) => T,
): T[] {
  const report = ctx.options.onProgress;
  if (!report) return list.map(f);
  const total = list.reduce((s, t) => s + t.byteSize, 0);
  let done = 0;
  return list.map((t) => {
    const result = f(t);
    done += t.byteSize;
    report(done, total, check);
    return result;
  });
}

function summarize(rows: TensorResult[], what: string): string {
  const count = (s: string) => rows.filter((r) => r.status === s).length;
  const parts = [`${count("pass")} of ${rows.length} ${what} passed`];
  if (count("fail")) parts.push(`${count("fail")} failed`);
  if (count("skip")) parts.push(`${count("skip")} skipped`);
  return parts.join(", ");
}

function check(
  name: string,
  rows: TensorResult[],
  what: string,
  figures: CheckResult["figures"],
): CheckResult {
  return {
    name,
    status: statusOf(rows),
    summary: summarize(rows, what),
    figures: {
      ...figures,
      tensors: rows.length,
      passed: rows.filter((r) => r.status === "pass").length,
      failed: rows.filter((r) => r.status === "fail").length,
      skipped: rows.filter((r) => r.status === "skip").length,
    },
  };
}

/** What validation observes: a model's directory and its tensor bytes (an opened or loaded model). */
export interface ValidationSubject extends GgufModel {
  /** The bytes of a tensor as stored. */
  tensorData(name: string): Uint8Array;
}

/**
 * A tensor's bytes in little-endian order: the mapped view itself, or for a big-endian file a
 * byte-swapped copy; a string saying why when the type has no defined big-endian layout.
 */
function tensorBytes(model: ValidationSubject, t: GgufTensorInfo): Uint8Array | string {
  const data = model.tensorData(t.name);
  if (model.parts[t.part].littleEndian) return data;
  if (!canByteSwap(t.type)) return `big-endian ${t.type.name} has no defined byte order`;
  const copy = data.slice();
  byteSwapTensor(t.type, copy);
  return copy;
}

function skipRow(check: string, t: GgufTensorInfo, detail: string): TensorResult {
  return { check, name: t.name, type: t.type.name, status: "skip", detail, figures: {} };
}

function floatValues(
  model: ValidationSubject,
  t: GgufTensorInfo,
  threads: number,
  tlConfig?: TlConfigFile,
): Float32Array | string {
  const data = tensorBytes(model, t);
  if (typeof data === "string") return data;
  const out = new Float32Array(t.elementCount);
  dequantize(t.type, data, out, { threads, dims: t.dims, tlConfig, name: t.name });
  return out;
}

/** What every check step gets: the model, the options, the sample and the seed figures. */
interface CheckContext {
  model: ValidationSubject;
  options: ValidateOptions;
  threads: number;
  settings: DeterminismSettings;
  sample: GgufTensorInfo[];
  seedFigures: CheckResult["figures"];
}

/** The `structure` check of a model the reader accepted. */
function structureCheck(model: ValidationSubject): CheckResult {
  const undecodable = model.tensors.filter((t) => !t.type.dequantizable).length;
  return {
    name: "structure",
    status: "pass",
    summary: `${model.tensors.length} tensors in ${model.parts.length} part(s), ${
      model.warnings.length === 0 ? "no warnings" : model.warnings.join("; ")
    }`,
    figures: {
      tensors: model.tensors.length,
      parts: model.parts.length,
      warnings: model.warnings.length,
      dialect: model.dialect,
      undecodableTensors: undecodable,
    },
  };
}

/** The failing `structure` check of a file the reader refused. */
function refusedCheck(error: GgufError): CheckResult {
  return {
    name: "structure",
    status: "fail",
    summary: `${error.reason} (${error.code})`,
    figures: { code: error.code, offset: error.offset },
  };
}

/** `crossval`: every sampled tensor against ggml's own dequantizer (NOT RUN without ggml). */
function crossvalCheck(ctx: CheckContext, tensors: TensorResult[]): CheckResult {
  const { model, options, threads } = ctx;
  if (options.reference !== "ggml") {
    throw new ValidateError(
      "BAD_OPTION",
      `Unknown reference "${options.reference}": only "ggml" is supported`,
    );
  }
  let ref = options.referenceLibrary;
  let owned = false;
  if (!ref) {
    const opened = openGgmlReferenceLibrary();
    if ("reason" in opened) {
      return {
        name: "crossval",
        status: "not-run",
        summary: opened.reason,
        figures: { reference: null },
      };
    }
    ref = opened.reference;
    owned = true;
  }
  try {
    const lib = ref;
    const rows = eachTensor(ctx, "crossval", ctx.sample, (t) => {
      const data = tensorBytes(model, t);
      return typeof data === "string"
        ? skipRow("crossval", t, data)
        : crossValidateTensor(t, data, lib, {
          ...options.tolerances,
          threads,
          tlConfig: options.tlConfig,
        });
    });
    tensors.push(...rows);
    return check("crossval", rows, "tensors", {
      ...CROSSVAL_DEFAULTS,
      ...options.tolerances,
      ...ctx.seedFigures,
      reference: lib.path,
    });
  } finally {
    if (owned) ref.close();
  }
}

/** `tensors`: a scan of every tensor's data (non-finite values, bad scales, I2_S code 3). */
function tensorDataCheck(ctx: CheckContext, tensors: TensorResult[]): CheckResult {
  const { model } = ctx;
  const started = performance.now();
  const rows = eachTensor(ctx, "tensors", model.tensors, (t) => {
    const data = tensorBytes(model, t);
    return typeof data === "string"
      ? skipRow("tensors", t, data)
      : checkTensorData(t, data, ctx.options.tlConfig);
  });
  tensors.push(...rows);
  return check("tensors", rows, "tensors", {
    bytes: model.tensors.reduce((s, t) => s + t.byteSize, 0),
    milliseconds: Math.round(performance.now() - started),
  });
}

/** One `accuracy` row: a sampled tensor against its f32/f16/bf16 original, or why it is skipped. */
function accuracyOf(
  ctx: CheckContext,
  original: ValidationSubject,
  o: GgufTensorInfo | undefined,
  t: GgufTensorInfo,
): TensorResult {
  const skip = (detail: string) => skipRow("accuracy", t, detail);
  if (!o) return skip("not in the original");
  if (!["F32", "F16", "BF16"].includes(o.type.name)) {
    return skip(`original is ${o.type.name}, not f32/f16/bf16`);
  }
  if (o.elementCount !== t.elementCount) return skip("element counts differ");
  if (!t.type.dequantizable) return skip(`${t.type.name} cannot be dequantized`);
  const x = floatValues(original, o, ctx.threads);
  if (typeof x === "string") return skip(`original: ${x}`);
  const y = floatValues(ctx.model, t, ctx.threads, ctx.options.tlConfig);
  if (typeof y === "string") return skip(y);
  return accuracyRow(
    t.name,
    t.type.name,
    x,
    y,
    o.dims[0] ?? o.elementCount,
    ctx.options.thresholds,
  );
}

/** `accuracy`: the sampled tensors against the original model (opened here, once). */
async function accuracyCheck(ctx: CheckContext, tensors: TensorResult[]): Promise<CheckResult> {
  const path = ctx.options.accuracy!;
  using original = await openModelFile(path);
  const byName = new Map(original.tensors.map((t) => [t.name, t]));
  const rows = eachTensor(
    ctx,
    "accuracy",
    ctx.sample,
    (t) => accuracyOf(ctx, original, byName.get(t.name), t),
  );
  tensors.push(...rows);
  return check("accuracy", rows, "tensors", {
    ...ACCURACY_DEFAULTS,
    ...ctx.options.thresholds,
    ...ctx.seedFigures,
    original: path,
  });
}

/** `determinism`: the sampled tensors dequantized repeatedly with 1, 2 and 4 threads. */
function determinismCheck(ctx: CheckContext, tensors: TensorResult[]): CheckResult {
  const { settings } = ctx;
  const rows = eachTensor(ctx, "determinism", ctx.sample, (t) => {
    const data = tensorBytes(ctx.model, t);
    return typeof data === "string"
      ? skipRow("determinism", t, data)
      : checkDeterminism(t, data, { requireIdentical: settings.deterministic });
  });
  tensors.push(...rows);
  return check("determinism", rows, "tensors", {
    ...ctx.seedFigures,
    varianceLimit: settings.deterministic ? 0 : DETERMINISM_VARIANCE_LIMIT,
    maxVariance: rows.reduce((m, r) => Math.max(m, Number(r.figures.maxVariance ?? 0)), 0),
  });
}

/**
 * Runs the asked checks on a model whose data is reachable, in order: structure, crossval,
 * tensors, accuracy, determinism.
 */
async function runChecks(
  model: ValidationSubject,
  options: ValidateOptions,
): Promise<{ checks: CheckResult[]; tensors: TensorResult[] }> {
  const settings = options.settings ?? determinismSettings();
  const ctx: CheckContext = {
    model,
    options,
    threads: options.threads ?? navigator.hardwareConcurrency ?? 1,
    settings,
    sample: sampleIndices(model.tensors.length, options.sample, settings.seed)
      .map((i) => model.tensors[i]),
    seedFigures: {
      seed: settings.seed,
      seedSource: settings.seedSource,
      deterministic: settings.deterministic,
      sample: options.sample ?? null,
    },
  };
  const tensors: TensorResult[] = [];
  const checks = [structureCheck(model)];
  if (options.reference !== undefined) checks.push(crossvalCheck(ctx, tensors));
  if (options.checkTensors) checks.push(tensorDataCheck(ctx, tensors));
  if (options.accuracy !== undefined) checks.push(await accuracyCheck(ctx, tensors));
  if (options.determinism) checks.push(determinismCheck(ctx, tensors));
  return { checks, tensors };
}

/**
 * Validates a model and returns the report. Given a path, the model is opened once here (a
 * file the reader rejects gives a failing `structure` check, never a throw); given an opened or
 * loaded model, its data is observed where it is (the shared mapping) and the file is not
 * reopened.
 *
 * @example
 * ```ts ignore
 * import { validateModel } from "./validate.ts";
 * import { renderValidationReport } from "./report.ts";
 * const report = await validateModel("m.gguf", { reference: "ggml", checkTensors: true });
 * console.log(renderValidationReport(report));
 * ```
 */
export async function validateModel(
  model: string | (ValidationSubject & { readonly source?: string }),
  options: ValidateOptions = {},
): Promise<ValidationReport> {
  if (typeof model !== "string") {
    const { checks, tensors } = await runChecks(model, options);
    return makeReport(model.source ?? model.parts[0]?.source ?? "model", checks, tensors);
  }
  let opened;
  try {
    opened = await openModelFile(model);
  } catch (error) {
    if (!(error instanceof GgufError)) throw error;
    return makeReport(model, [refusedCheck(error)], []);
  }
  try {
    const { checks, tensors } = await runChecks(opened, options);
    return makeReport(model, checks, tensors);
  } finally {
    opened.close();
  }
}

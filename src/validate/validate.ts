/**
 * `validateModel`: runs the chosen validators on a GGUF file and gathers one
 * {@link ValidationReport}. Structural validation (the reader's own checks: header, directory,
 * offsets and sizes in bounds) always runs; cross-validation against ggml, tensor-data checks,
 * accuracy against an original and determinism run when asked.
 *
 * @module
 */

import { GgufError } from "../gguf/errors.ts";
import { type GgufModelWithData, openGguf } from "../load/open.ts";
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

/**
 * A tensor's bytes in little-endian order: the mapped view itself, or for a big-endian file a
 * byte-swapped copy; a string saying why when the type has no defined big-endian layout.
 */
function tensorBytes(model: GgufModelWithData, t: GgufTensorInfo): Uint8Array | string {
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
  model: GgufModelWithData,
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

/**
 * Validates a model file and returns the report (never throws for a bad file: a file the reader
 * rejects gives a failing `structure` check).
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
  path: string,
  options: ValidateOptions = {},
): Promise<ValidationReport> {
  const checks: CheckResult[] = [];
  const tensors: TensorResult[] = [];
  const threads = options.threads ?? navigator.hardwareConcurrency ?? 1;
  const settings = options.settings ?? determinismSettings();
  let model: GgufModelWithData;
  try {
    model = await openGguf(path, { mmap: true });
  } catch (error) {
    if (!(error instanceof GgufError)) throw error;
    checks.push({
      name: "structure",
      status: "fail",
      summary: `${error.reason} (${error.code})`,
      figures: { code: error.code, offset: error.offset },
    });
    return makeReport(path, checks, tensors);
  }
  try {
    const undecodable = model.tensors.filter((t) => !t.type.dequantizable).length;
    checks.push({
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
    });
    const sample = sampleIndices(model.tensors.length, options.sample, settings.seed)
      .map((i) => model.tensors[i]);
    const seedFigures = {
      seed: settings.seed,
      seedSource: settings.seedSource,
      deterministic: settings.deterministic,
      sample: options.sample ?? null,
    };

    if (options.reference !== undefined) {
      if (options.reference !== "ggml") {
        throw new RangeError(`Unknown reference "${options.reference}": only "ggml" is supported`);
      }
      let ref = options.referenceLibrary;
      let reason = "";
      let owned = false;
      if (!ref) {
        const opened = openGgmlReferenceLibrary();
        if ("reason" in opened) reason = opened.reason;
        else {
          ref = opened.reference;
          owned = true;
        }
      }
      if (!ref) {
        checks.push({
          name: "crossval",
          status: "not-run",
          summary: reason,
          figures: { reference: null },
        });
      } else {
        try {
          const rows = sample.map((t) => {
            const data = tensorBytes(model, t);
            return typeof data === "string"
              ? skipRow("crossval", t, data)
              : crossValidateTensor(t, data, ref, { ...options.tolerances, threads });
          });
          tensors.push(...rows);
          checks.push(check("crossval", rows, "tensors", {
            ...CROSSVAL_DEFAULTS,
            ...options.tolerances,
            ...seedFigures,
            reference: ref.path,
          }));
        } finally {
          if (owned) ref.close();
        }
      }
    }

    if (options.checkTensors) {
      const started = performance.now();
      const rows = model.tensors.map((t) => {
        const data = tensorBytes(model, t);
        return typeof data === "string"
          ? skipRow("tensors", t, data)
          : checkTensorData(t, data, options.tlConfig);
      });
      tensors.push(...rows);
      const bytes = model.tensors.reduce((s, t) => s + t.byteSize, 0);
      checks.push(check("tensors", rows, "tensors", {
        bytes,
        milliseconds: Math.round(performance.now() - started),
      }));
    }

    if (options.accuracy !== undefined) {
      using original = await openGguf(options.accuracy, { mmap: true });
      const byName = new Map(original.tensors.map((t) => [t.name, t]));
      const rows: TensorResult[] = [];
      for (const t of sample) {
        const o = byName.get(t.name);
        const skip = (detail: string) =>
          rows.push({
            check: "accuracy",
            name: t.name,
            type: t.type.name,
            status: "skip",
            detail,
            figures: {},
          });
        if (!o) skip("not in the original");
        else if (!["F32", "F16", "BF16"].includes(o.type.name)) {
          skip(`original is ${o.type.name}, not f32/f16/bf16`);
        } else if (o.elementCount !== t.elementCount) skip("element counts differ");
        else if (!t.type.dequantizable) skip(`${t.type.name} cannot be dequantized`);
        else {
          const x = floatValues(original, o, threads);
          const y = floatValues(model, t, threads, options.tlConfig);
          if (typeof x === "string") skip(`original: ${x}`);
          else if (typeof y === "string") skip(y);
          else {
            rows.push(
              accuracyRow(
                t.name,
                t.type.name,
                x,
                y,
                o.dims[0] ?? o.elementCount,
                options.thresholds,
              ),
            );
          }
        }
      }
      tensors.push(...rows);
      checks.push(check("accuracy", rows, "tensors", {
        ...ACCURACY_DEFAULTS,
        ...options.thresholds,
        ...seedFigures,
        original: options.accuracy,
      }));
    }

    if (options.determinism) {
      const rows = sample.map((t) => {
        const data = tensorBytes(model, t);
        return typeof data === "string"
          ? skipRow("determinism", t, data)
          : checkDeterminism(t, data, { requireIdentical: settings.deterministic });
      });
      tensors.push(...rows);
      checks.push(check("determinism", rows, "tensors", {
        ...seedFigures,
        varianceLimit: settings.deterministic ? 0 : DETERMINISM_VARIANCE_LIMIT,
        maxVariance: rows.reduce((m, r) => Math.max(m, Number(r.figures.maxVariance ?? 0)), 0),
      }));
    }
    return makeReport(path, checks, tensors);
  } finally {
    model.close();
  }
}

/**
 * Cross-validation against the C++ reference: every tensor (or a seeded sample) is dequantized by
 * bitload and by ggml's own `to_float` (`libggml-base.so`, see ggml_reference.ts), and the two are
 * compared with {@link compareArrays}.
 *
 * Tolerances and pass criteria are the seed's, as named defaults ({@link CROSSVAL_DEFAULTS}): an
 * element is within budget when `|a − b| ≤ atol + rtol·|b|` with atol 1e-5 for float types and
 * 1e-3 for quantized ones and rtol 1e-4; a tensor passes when no element breaks the budget, the
 * cosine similarity is ≥ 0.99, the L2 norm of the difference is < 1e-5 and more than 99.9 % of the
 * elements agree within 1e-6. bitload's kernels are bit-exact with ggml, so every figure is 0 (or
 * 1) for them; the tolerances exist for other implementations and are reported.
 *
 * References per type:
 * - types with a ggml `to_float`: that function;
 * - F32: the stored values themselves (ggml keeps F32 as is; it has no `to_float` for it);
 * - I2_S, which ggml lacks: ggml's TQ2_0 `to_float` on the equivalent repacked blocks (two I2_S
 *   blocks of 128 → one TQ2_0 block of 256, each byte's four 2-bit fields reversed, `d =
 *   f16(scale)`; gguf-and-quant-formats.md §3.2). The f16 rounding of the scale makes the
 *   reference differ from the exact I2_S values by up to 2^-11 relative (4.9e-4), so I2_S tensors
 *   are judged on the ternary codes: bitload's values divided by the f32 scale must equal ggml's
 *   divided by the f16 `d` element for element, with the criteria above, and the raw relative
 *   error must stay within the f16 rounding bound, which is reported as `scaleRounding`;
 * - anything else (Q8_1, Q8_K, F64, I8–I64, TL1, TL2, removed ids): skipped, with the reason.
 *
 * @module
 */

import { ValidateError } from "./errors.ts";
import type { GgufTensorInfo } from "../gguf/model.ts";
import { dequantize } from "../quant/dequantize.ts";
import type { TlConfigFile } from "../quant/tl_config.ts";
import { transcodeTlTensor } from "../quant/tl_tensor.ts";
import { fp32ToFp16Bits } from "../quant/quantize.ts";
import { F16_TO_F32 } from "../quant/float.ts";
import { seededRandom } from "../common/random.ts";
import { compareArrays, type DiffStats } from "./compare.ts";
import type { GgmlReferenceLibrary } from "./ggml_reference.ts";
import type { Figures, TensorResult } from "./report.ts";

/** The seed's tolerances and pass criteria. */
export const CROSSVAL_DEFAULTS = {
  /** Per-element absolute tolerance for float types (F16, BF16, F32). */
  absoluteTolerance: 1e-5,
  /** Per-element relative tolerance (of the reference value). */
  relativeTolerance: 1e-4,
  /** Per-element absolute tolerance for quantized types. */
  quantizedTolerance: 1e-3,
  /** Minimum cosine similarity. */
  minCosine: 0.99,
  /** The L2 norm of the difference must be below this. */
  maxL2: 1e-5,
  /** Element tolerance of the "within" share. */
  elementTolerance: 1e-6,
  /** More than this share of elements must be within `elementTolerance`. */
  minWithinFraction: 0.999,
} as const;

/** Settings of {@link crossValidateTensor}; every field defaults to {@link CROSSVAL_DEFAULTS}. */
export type CrossvalTolerances = { -readonly [K in keyof typeof CROSSVAL_DEFAULTS]?: number };

/** Options of {@link crossValidateTensor}. */
export interface CrossvalOptions extends CrossvalTolerances {
  /** Worker threads for bitload's native kernels. Default 1. */
  threads?: number;
  /** bitload's decoder, replaceable to validate another implementation. Default {@link dequantize}. */
  decode?: (tensor: GgufTensorInfo, data: Uint8Array) => Float32Array;
  /** bitnet.cpp `kernel_config.ini` for TL1/TL2 tensors (before the built-in presets). */
  tlConfig?: TlConfigFile;
}

/** Reverses the four 2-bit fields of each byte (I2_S group g at 6−2g ↔ TQ2_0 group g at 2g). */
const REVERSE_PAIRS = new Uint8Array(256).map((_, b) =>
  ((b & 3) << 6) | (((b >> 2) & 3) << 4) | (((b >> 4) & 3) << 2) | ((b >> 6) & 3)
);

/**
 * Repacks a whole I2_S tensor of `n` elements as TQ2_0 blocks (the last one padded with zero
 * codes when `n` is not a multiple of 256), with `d = f16(scale)`.
 *
 * @example
 * ```ts
 * import { quantizeI2S } from "../quant/quantize.ts";
 * import { i2sToTq2 } from "./crossval.ts";
 * const { blocks, scale, d } = i2sToTq2(quantizeI2S(new Float32Array(256).fill(0.3)), 256);
 * blocks.length; // 66
 * [scale, d]; // [0.30000001192092896, 0.300048828125]: d is f16(scale)
 * ```
 */
export function i2sToTq2(
  data: Uint8Array,
  n: number,
): { blocks: Uint8Array; scale: number; d: number; elements: number } {
  if (n % 128 !== 0 || data.length < n / 4 + 4) {
    throw new ValidateError(
      "BAD_LENGTH",
      `Cannot repack ${data.length} bytes as an I2_S tensor of ${n} elements`,
    );
  }
  const scale = new DataView(data.buffer, data.byteOffset + n / 4, 4).getFloat32(0, true);
  const h = fp32ToFp16Bits(scale);
  const nb = Math.ceil(n / 256);
  const blocks = new Uint8Array(nb * 66).fill(0b01010101);
  for (let i = 0; i < n / 4; i++) {
    const block = Math.floor(i / 64);
    blocks[block * 66 + (i % 64)] = REVERSE_PAIRS[data[i]];
  }
  for (let b = 0; b < nb; b++) {
    blocks[b * 66 + 64] = h & 0xff;
    blocks[b * 66 + 65] = h >>> 8;
  }
  return { blocks, scale, d: F16_TO_F32[h], elements: nb * 256 };
}

function figuresOf(s: DiffStats): Figures {
  return {
    elements: s.elements,
    mismatched: s.mismatched,
    firstMismatch: s.firstMismatch,
    nonFiniteMismatches: s.nonFiniteMismatches,
    maxAbsError: s.maxAbsError,
    maxRelError: s.maxRelError,
    l2: s.l2,
    cosine: s.cosine,
    withinFraction: s.withinFraction,
    toleranceViolations: s.toleranceViolations,
  };
}

/** Why the figures break the criteria, or `""` when they meet them. */
function verdict(s: DiffStats, t: Required<CrossvalTolerances>): string {
  const why: string[] = [];
  if (s.nonFiniteMismatches > 0) why.push(`${s.nonFiniteMismatches} non-finite mismatches`);
  if (s.toleranceViolations > 0) why.push(`${s.toleranceViolations} elements out of tolerance`);
  if (!(s.cosine >= t.minCosine)) why.push(`cosine ${s.cosine.toPrecision(6)} < ${t.minCosine}`);
  if (!(s.l2 < t.maxL2)) why.push(`L2 ${s.l2.toExponential(2)} ≥ ${t.maxL2}`);
  if (!(s.withinFraction > t.minWithinFraction)) {
    why.push(
      `${(100 * s.withinFraction).toFixed(3)} % within ${t.elementTolerance} (need > ${
        100 * t.minWithinFraction
      } %)`,
    );
  }
  return why.join("; ");
}

/** Relative bound of f16 rounding of a normal number (half an ulp: 2^-11). */
export const F16_ROUNDING_BOUND = 2 ** -11;

/**
 * Cross-validates one tensor's bytes: bitload's values against ggml's.
 *
 * @example
 * ```ts ignore
 * import { openModelFile as openGguf } from "../load/open.ts";
 * import { openGgmlReferenceLibrary } from "./ggml_reference.ts";
 * import { crossValidateTensor } from "./crossval.ts";
 * using model = await openGguf("m.gguf");
 * const opened = openGgmlReferenceLibrary();
 * if ("reference" in opened) {
 *   const t = model.tensors[0];
 *   console.log(crossValidateTensor(t, model.tensorData(t.name), opened.reference).status);
 * }
 * ```
 */
export function crossValidateTensor(
  tensor: GgufTensorInfo,
  data: Uint8Array,
  reference: GgmlReferenceLibrary,
  options: CrossvalOptions = {},
): TensorResult {
  const tol: Required<CrossvalTolerances> = { ...CROSSVAL_DEFAULTS, ...stripUndefined(options) };
  const type = tensor.type;
  const row = (
    status: TensorResult["status"],
    figures: Figures,
    detail?: string,
  ): TensorResult => ({
    check: "crossval",
    name: tensor.name,
    type: type.name,
    status,
    ...(detail ? { detail } : {}),
    figures,
  });
  const n = tensor.elementCount;
  const atol = type.quantized ? tol.quantizedTolerance : tol.absoluteTolerance;
  const budget = { within: tol.elementTolerance, atol, rtol: tol.relativeTolerance };
  const decode = options.decode ??
    ((t: GgufTensorInfo, bytes: Uint8Array) => {
      const out = new Float32Array(t.elementCount);
      dequantize(t.type, bytes, out, {
        threads: options.threads ?? 1,
        dims: t.dims,
        tlConfig: options.tlConfig,
        name: t.name,
      });
      return out;
    });

  // TL1/TL2: bitload's TL decoder against ggml's TQ2_0 decode of the same values, by way of the
  // I2_S transcode (same ternary values and scale) and the I2_S repacking below.
  let i2sBytes = data;
  let via = "";
  if (type.name === "TL1" || type.name === "TL2") {
    try {
      i2sBytes = transcodeTlTensor(type.name, data, tensor.dims, {
        tlConfig: options.tlConfig,
        name: tensor.name,
      }).data;
      via = `${type.name} → I2_S transcode, `;
    } catch (error) {
      return row("skip", { reference: "none" }, (error as Error).message);
    }
  }

  if (type.name === "I2_S" || via) {
    const tq2 = ggmlId(reference, "tq2_0");
    if (tq2 < 0) return row("skip", { reference: "none" }, "ggml has no TQ2_0 to_float");
    const ours = decode(tensor, data);
    const { blocks, scale, d, elements } = i2sToTq2(i2sBytes, n);
    const theirs = reference.dequantize(tq2, blocks, elements).subarray(0, n);
    const raw = compareArrays(ours, theirs, budget);
    const scaleRounding = scale === 0 ? 0 : Math.abs(d - scale) / Math.abs(scale);
    let stats = raw;
    if (scale !== 0 && d !== 0 && Number.isFinite(scale) && Number.isFinite(d)) {
      const a = new Float32Array(n);
      const b = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        a[i] = ours[i] / scale;
        b[i] = theirs[i] / d;
      }
      stats = compareArrays(a, b, budget);
    }
    const why = [verdict(stats, tol)];
    if (raw.maxRelError > F16_ROUNDING_BOUND * (1 + 1e-6)) {
      why.push(`relative error ${raw.maxRelError.toExponential(2)} beyond the f16 scale rounding`);
    }
    const detail = why.filter((x) => x).join("; ");
    return row(
      detail ? "fail" : "pass",
      {
        ...figuresOf(raw),
        codeMismatches: stats.mismatched,
        firstCodeMismatch: stats.firstMismatch,
        codeCosine: stats.cosine,
        scale,
        f16Scale: d,
        scaleRounding,
        reference: `ggml TQ2_0 (${via}repacked, f16 scale)`,
      },
      detail || undefined,
    );
  }

  let theirs: Float32Array;
  let reference_ = "ggml to_float";
  if (type.name === "F32") {
    theirs = new Float32Array(n);
    new Uint8Array(theirs.buffer).set(data.subarray(0, n * 4));
    reference_ = "stored f32 (identity)";
  } else if (type.id < 43 && type.dialect !== "bitnet" && reference.hasToFloat(type.id)) {
    theirs = reference.dequantize(type.id, data, n);
  } else {
    return row("skip", { reference: "none" }, `ggml has no to_float for ${type.name}`);
  }
  const ours = decode(tensor, data);
  const stats = compareArrays(ours, theirs, budget);
  const detail = verdict(stats, tol);
  return row(
    detail ? "fail" : "pass",
    { ...figuresOf(stats), reference: reference_ },
    detail || undefined,
  );
}

function stripUndefined(o: CrossvalOptions): CrossvalTolerances {
  const out: Record<string, number> = {};
  for (const key of Object.keys(CROSSVAL_DEFAULTS)) {
    const v = (o as Record<string, unknown>)[key];
    if (typeof v === "number") out[key] = v;
  }
  return out;
}

function ggmlId(reference: GgmlReferenceLibrary, name: string): number {
  for (let id = 0; id < 43; id++) if (reference.typeName(id) === name) return id;
  return -1;
}

/**
 * Picks `count` tensor indices out of `total` with a seeded generator (all of them when `count`
 * is absent or not smaller), returned in ascending order; the same seed gives the same sample.
 *
 * @example
 * ```ts
 * import { sampleIndices } from "./crossval.ts";
 * sampleIndices(10, 3, 42).length; // 3
 * sampleIndices(3, undefined, 42); // [0, 1, 2]
 * ```
 */
export function sampleIndices(total: number, count: number | undefined, seed: number): number[] {
  const all = Array.from({ length: total }, (_, i) => i);
  if (count === undefined || count >= total) return all;
  const rng = seededRandom(seed);
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(total - i);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, count).sort((a, b) => a - b);
}

/**
 * Projections (`y = W x` for a batch of activation rows) over GGUF weights, with two backends:
 *
 * - `"ref"`: the f32 reference. Weights are dequantized once with bitload's bit-exact
 *   dequantizers; products are summed in f64 and stored as f32. Slow, used to check the kernels.
 * - `"native"`: the C kernels of `kernels/infer/`. I2_S, TQ2_0 and TQ1_0 multiply packed codes by
 *   int8 activations quantized per row with an absmax scale (BitLinear). Q8_0, Q4_0, Q5_0 and IQ4_NL
 *   multiply their blocks by activations quantized to Q8_0, Q4_1 and Q5_1 by Q8_1, and Q2_K…Q6_K and
 *   IQ4_XS by activations quantized to Q8_K, bit-exact with ggml's `ggml_vec_dot_*`. F16/F32 multiply f32 activations.
 *   Every other type is dequantized one row at a time inside the product (by the dequant library's
 *   bit-exact kernels; memory stays the file's size) or, on request, to f32 at load.
 *
 * @module
 */

import {
  type ActivationBlocks,
  BLOCK_KERNEL_ACTIVATIONS,
  type BlockKernel,
  type InferNative,
} from "../../ffi/infer_native.ts";
import type { GgmlTypeInfo } from "../gguf/types.ts";
import { dequantizeToNew } from "../quant/dequantize.ts";
import { readI2sScale } from "../quant/ternary.ts";

/** Which kernels compute the projections. */
export type LinearBackend = "ref" | "native";

/** A weight matrix of `rows` outputs by `cols` inputs (ggml ne1 × ne0). */
export interface Linear {
  name: string;
  type: GgmlTypeInfo;
  rows: number;
  cols: number;
  /** The stored bytes (zero-copy view of the model file when mapped). */
  data: Uint8Array;
  /** Output multiplier from an optional `<name>.scale` tensor (upstream `bitnet`); 1 otherwise. */
  outScale: number;
  /** Dequantized weights (ref backend, or types the native kernels lack). */
  f32?: Float32Array;
  /**
   * Native kernel used: `"i2s"`, `"tq2"`, `"tq1"`, `"q8_0"`, `"q4_0"`, `"q5_0"`, `"iq4_nl"`,
   * `"q4_1"`, `"q5_1"`, `"q2_k"`…`"q6_k"`,
   * `"iq4_xs"`, `"f16"`, `"f32"`,
   * `"rows"` (any other type, dequantized row by row during the product) or `"i8"` (requantized).
   */
  kernel:
    | "i2s"
    | "tq2"
    | "tq1"
    | "q8_0"
    | "q4_0"
    | "q5_0"
    | "iq4_nl"
    | "q4_1"
    | "q5_1"
    | "q2_k"
    | "q3_k"
    | "q4_k"
    | "q5_k"
    | "q6_k"
    | "iq4_xs"
    | "f16"
    | "f32"
    | "rows"
    | "i8";
  /** Requantized int8 weights with per-row scales and code sums (kernel `"i8"`). */
  i8?: { w: Int8Array; scale: Float32Array; sum: Int32Array };
  /** I2_S per-tensor scale. */
  i2sScale: number;
}

/**
 * The weight types with a native product of their own: the kernel and the column multiple it
 * needs (other widths fall back to the f32 path).
 */
const NATIVE_KERNELS: Readonly<Record<string, readonly [Linear["kernel"], number]>> = {
  I2_S: ["i2s", 128],
  TQ2_0: ["tq2", 256],
  TQ1_0: ["tq1", 256],
  Q8_0: ["q8_0", 32],
  Q4_0: ["q4_0", 32],
  Q5_0: ["q5_0", 32],
  IQ4_NL: ["iq4_nl", 32],
  Q4_1: ["q4_1", 32],
  Q5_1: ["q5_1", 32],
  Q2_K: ["q2_k", 256],
  Q3_K: ["q3_k", 256],
  Q4_K: ["q4_k", 256],
  Q5_K: ["q5_k", 256],
  Q6_K: ["q6_k", 256],
  IQ4_XS: ["iq4_xs", 256],
  F16: ["f16", 1],
};

/**
 * Makes a {@link Linear} for `backend`; dequantizes when the backend needs f32 weights. With
 * `rowDequant` (native backend), projections of a type without a native product of its own
 * dequantize row by row inside the product (`bl_matmul_dequant`) instead of holding an f32 copy.
 *
 * @example
 * ```ts
 * import { makeLinear } from "./linear.ts";
 * import { ggmlTypeByName } from "../gguf/types.ts";
 * const w = new Float32Array([1, 2, 3, 4]); // 2 rows of 2
 * const lin = makeLinear("w", ggmlTypeByName("F32")!, 2, 2, new Uint8Array(w.buffer), 1, "ref");
 * lin.kernel; // "f32"
 * ```
 */
export function makeLinear(
  name: string,
  type: GgmlTypeInfo,
  rows: number,
  cols: number,
  data: Uint8Array,
  outScale: number,
  backend: LinearBackend,
  rowDequant = false,
): Linear {
  const n = rows * cols;
  const own = NATIVE_KERNELS[type.name];
  const kernel: Linear["kernel"] = own && cols % own[1] === 0 ? own[0] : "f32";
  const i2sScale = kernel === "i2s" ? readI2sScale(data, n) : 1;
  const lin: Linear = { name, type, rows, cols, data, outScale, kernel, i2sScale };
  if (backend === "ref") {
    lin.f32 = dequantizeToNew(type, data, n);
  } else if (kernel === "f32" && type.name !== "F32" && type.name !== "I2_S" && rowDequant) {
    lin.kernel = "rows";
  } else if (kernel === "f32") {
    lin.f32 = type.name === "F32" && data.byteOffset % 4 === 0
      ? new Float32Array(data.buffer, data.byteOffset, n)
      : dequantizeToNew(type, data, n);
  }
  return lin;
}

/**
 * Requantizes an F16/F32 projection to int8 with one absmax scale per row (halves the memory
 * traffic of an f16 LM head; logits move by well under 1 %). Other kernels are left unchanged.
 *
 * @example
 * ```ts ignore
 * import { requantizeI8 } from "./linear.ts";
 * requantizeI8(native, head); // head.kernel === "i8"
 * ```
 */
export function requantizeI8(native: InferNative, lin: Linear): void {
  if (lin.kernel !== "f16" && lin.kernel !== "f32") return;
  const n = lin.rows * lin.cols;
  const w = new Int8Array(n);
  const scale = new Float32Array(lin.rows);
  const sum = new Int32Array(lin.rows);
  const src = lin.kernel === "f16" ? lin.data : lin.f32!;
  native.quantizeWeightI8(src, lin.kernel, lin.rows, lin.cols, { w, scale, sum });
  lin.i8 = { w, scale, sum };
  lin.kernel = "i8";
  lin.f32 = undefined;
}

/**
 * Quantized activations shared by every projection of the same input: per-row int8 codes (the
 * ternary and int8 kernels) and Q8_0 blocks (the Q8_0 kernel), each computed on first use.
 */
export interface QuantizedActs {
  q: Int8Array;
  gsum: Int32Array;
  factor: Float32Array;
  /** Rows quantized to `q` (0 = stale). */
  rows: number;
  /** The same rows as Q8_0 blocks (34 bytes per 32 values). */
  q8: Uint8Array;
  /** Rows quantized to `q8` (0 = stale). */
  q8Rows: number;
  /** The same rows as Q8_1 blocks (36 bytes per 32 values), for Q4_1 and Q5_1. */
  q81: Uint8Array;
  /** Rows quantized to `q81` (0 = stale). */
  q81Rows: number;
  /** The same rows as Q8_K blocks (292 bytes per 256 values), for the K-quant kernels. */
  q8k: Uint8Array;
  /** Rows quantized to `q8k` (0 = stale). */
  q8kRows: number;
}

/**
 * Allocates a {@link QuantizedActs} for up to `maxRows` rows of `width`.
 *
 * @example
 * ```ts
 * import { allocQuantizedActs } from "./linear.ts";
 * allocQuantizedActs(4, 256).q.length; // 1024
 * ```
 */
export function allocQuantizedActs(maxRows: number, width: number): QuantizedActs {
  return {
    q: new Int8Array(maxRows * width),
    gsum: new Int32Array(maxRows * width / 32),
    factor: new Float32Array(maxRows),
    rows: 0,
    q8: new Uint8Array(maxRows * Math.ceil(width / 32) * 34),
    q8Rows: 0,
    q81: new Uint8Array(maxRows * Math.ceil(width / 32) * 36),
    q81Rows: 0,
    q8k: new Uint8Array(maxRows * Math.ceil(width / 256) * 292),
    q8kRows: 0,
  };
}

/**
 * Marks `acts` stale: the next projection quantizes its input again.
 *
 * @example
 * ```ts
 * import { allocQuantizedActs, staleActs } from "./linear.ts";
 * const acts = allocQuantizedActs(1, 32);
 * staleActs(acts); // acts.rows, q8Rows, q81Rows and q8kRows are 0
 * ```
 */
export function staleActs(acts: QuantizedActs): void {
  acts.rows = 0;
  acts.q8Rows = 0;
  acts.q81Rows = 0;
  acts.q8kRows = 0;
}

/**
 * Quantizes `rows` rows of `x` (each `width` long) into `acts` with the native kernel.
 *
 * @example
 * ```ts ignore
 * import { allocQuantizedActs, quantizeActs } from "./linear.ts";
 * import { inferNative } from "../../ffi/infer_native.ts";
 * const acts = allocQuantizedActs(1, 256);
 * quantizeActs(inferNative()!, new Float32Array(256).fill(1), 1, 256, acts);
 * ```
 */
export function quantizeActs(
  native: InferNative,
  x: Float32Array,
  rows: number,
  width: number,
  acts: QuantizedActs,
): void {
  native.quantizeRows(x, rows, width, acts);
  acts.rows = rows;
}

/**
 * `y[t*rows + r] = outScale * W[r,:] · x[t,:]` for `ntok` rows of `x`, in f64 sums (reference).
 *
 * @example
 * ```ts
 * import { linearRef, makeLinear } from "./linear.ts";
 * import { ggmlTypeByName } from "../gguf/types.ts";
 * const w = new Float32Array([1, 2, 3, 4]);
 * const lin = makeLinear("w", ggmlTypeByName("F32")!, 2, 2, new Uint8Array(w.buffer), 1, "ref");
 * const y = new Float32Array(2);
 * linearRef(lin, Float32Array.of(1, 1), 1, y); // y = [3, 7]
 * ```
 */
export function linearRef(lin: Linear, x: Float32Array, ntok: number, y: Float32Array): void {
  const w = lin.f32!;
  const { rows, cols } = lin;
  for (let t = 0; t < ntok; t++) {
    const xo = t * cols;
    for (let r = 0; r < rows; r++) {
      let s = 0;
      const wo = r * cols;
      for (let c = 0; c < cols; c++) s += w[wo + c] * x[xo + c];
      y[t * rows + r] = s * lin.outScale;
    }
  }
}

/** The kernels on per-row int8 activations (`acts.q`). */
const INT8_KERNELS: ReadonlySet<Linear["kernel"]> = new Set(["i2s", "tq2", "tq1", "i8"]);

/** Where each kind of activation blocks is kept in {@link QuantizedActs}. */
const ACTS_FIELD = { q8_0: "q8", q8_1: "q81", q8_k: "q8k" } as const;

/** `x` as Q8_0, Q8_1 or Q8_K blocks, quantized once per input. */
function activationBlocks(
  native: InferNative,
  x: Float32Array,
  ntok: number,
  width: number,
  acts: QuantizedActs,
  kind: ActivationBlocks,
): Uint8Array {
  const field = ACTS_FIELD[kind];
  const rowsKey = `${field}Rows` as const;
  if (acts[rowsKey] !== ntok) {
    native.quantizeBlocks(kind, x, ntok, width, acts[field]);
    acts[rowsKey] = ntok;
  }
  return acts[field];
}

/**
 * Native product; ternary weights use `acts` (quantized from `x` by the caller when stale).
 *
 * @example
 * ```ts ignore
 * import { linearNative } from "./linear.ts";
 * linearNative(native, lin, x, 1, y, acts);
 * ```
 */
export function linearNative(
  native: InferNative,
  lin: Linear,
  x: Float32Array,
  ntok: number,
  y: Float32Array,
  acts: QuantizedActs,
): void {
  const { rows, cols, data, name } = lin;
  const blocks = lin.kernel in BLOCK_KERNEL_ACTIVATIONS
    ? BLOCK_KERNEL_ACTIVATIONS[lin.kernel as BlockKernel]
    : undefined;
  if (blocks) {
    const xq = activationBlocks(native, x, ntok, cols, acts, blocks);
    native.matmulBlocks(lin.kernel as BlockKernel, data, rows, cols, xq, ntok, y, name);
  } else {
    if (INT8_KERNELS.has(lin.kernel) && acts.rows !== ntok) {
      quantizeActs(native, x, ntok, cols, acts);
    }
    switch (lin.kernel) {
      case "i2s":
      case "tq2":
      case "tq1":
        native.matmulTernary(lin.kernel, data, rows, cols, lin.i2sScale, acts, ntok, y, name);
        break;
      case "f16":
        native.matmulF16(data, rows, cols, x, ntok, y);
        break;
      case "rows": {
        const rowBytes = cols / lin.type.blockSize * lin.type.typeSize;
        native.matmulDequant(lin.type.id, data, rows, cols, rowBytes, x, ntok, y, name);
        break;
      }
      case "i8":
        native.matmulI8(lin.i8!, rows, cols, acts, ntok, y);
        break;
      default:
        native.matmulF32(lin.f32!, rows, cols, x, ntok, y);
    }
  }
  if (lin.outScale !== 1) {
    const n = ntok * lin.rows;
    for (let i = 0; i < n; i++) y[i] *= lin.outScale;
  }
}

/**
 * Several products of the same input `x`: one native pool job when every projection is I2_S of
 * the same width (decode's q/k/v and gate/up: fewer barriers per token), else one
 * {@link linearNative} each. The outputs are bit for bit those of separate calls.
 *
 * @example
 * ```ts ignore
 * import { linearNativeFused } from "./linear.ts";
 * linearNativeFused(native, [wq, wk, wv], h, 1, [q, k, v], acts);
 * ```
 */
export function linearNativeFused(
  native: InferNative,
  lins: readonly Linear[],
  x: Float32Array,
  ntok: number,
  ys: readonly Float32Array[],
  acts: QuantizedActs,
): void {
  const cols = lins[0].cols;
  const fused = lins.length >= 2 && lins.length <= 3 &&
    lins.every((l) => l.kernel === "i2s" && l.cols === cols);
  if (!fused) {
    lins.forEach((lin, i) => linearNative(native, lin, x, ntok, ys[i], acts));
    return;
  }
  if (acts.rows !== ntok) quantizeActs(native, x, ntok, cols, acts);
  native.matmulI2sFused(
    lins.map((l, i) => ({ w: l.data, rows: l.rows, wscale: l.i2sScale, y: ys[i] })),
    cols,
    acts,
    ntok,
    lins.map((l) => l.name).join("+"),
  );
  lins.forEach((lin, i) => {
    if (lin.outScale !== 1) {
      const y = ys[i], n = ntok * lin.rows;
      for (let j = 0; j < n; j++) y[j] *= lin.outScale;
    }
  });
}

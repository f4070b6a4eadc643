/**
 * Tensor-data checks, in the spirit of llama.cpp's `ggml_validate_row_data`
 * (ggml-org/llama.cpp v0.5.0 `ggml/src/ggml-quants.c`), extended to BitNet's I2_S:
 *
 * - float tensors (F32, F16, BF16, F64): no NaN or infinity;
 * - block types: every block scale finite — the f16 `d` (and `m`/`dmin`/`s` where the block has
 *   one) at the offsets of `ggml-common.h`, Q8_K's f32 `d`, IQ1_M's scale assembled from its
 *   `scales`, MXFP4's E8M0 exponent not 0xFF; NVFP4's UE4M3 scales have no invalid byte;
 * - negative where impossible: the scales that every known quantizer computes from `amax`
 *   (`d = amax/127` in Q8_0, `d = amax` in TQ1_0/TQ2_0: `quantize_row_*_ref`) must not be
 *   negative — ggml itself does not check this, so it is reported separately;
 * - I2_S: no 2-bit code 3 (no writer produces it; decoders disagree on its value, §3.2 of
 *   gguf-and-quant-formats.md), and a finite, non-negative tensor scale (`max|x|`);
 * - TL1: no 4-bit pair index above 8 (`3·w0 + w1 + 4`), and the tensor scale at `M·K/4` as for
 *   I2_S; TL2: the tensor scale at `pad32` of the fork's size formula (`src/quant/tl_config.ts`;
 *   with a tile configuration (`--tl-config` or a preset), every code is checked by decoding).
 *
 * Each tensor reports the number of bad blocks and the index of the first (for plain float
 * tensors a "block" is one element). The checks read the block fields directly as integers
 * (`(bits & 0x7c00) === 0x7c00` is a non-finite f16), one pass over the bytes without
 * dequantizing, which scans a 1 GiB model in well under a second on one core; tensors are
 * independent, so callers may spread them over workers.
 *
 * @module
 */

import type { GgufTensorInfo } from "../gguf/model.ts";
import type { TensorResult } from "./report.ts";
import { findTlConfig, tl2PaddedBytes, type TlConfigFile } from "../quant/tl_config.ts";
import { transcodeTlTensor } from "../quant/tl_tensor.ts";

/** Where a block type keeps its scales. */
export interface ScaleLayout {
  /** Bytes per block. */
  size: number;
  /** Offsets of f16 scales that must be finite. */
  f16: number[];
  /** Offset of the f16 scale that must also be non-negative, if any. */
  nonNegative?: number;
  /** Offset of an f32 scale that must be finite (Q8_K). */
  f32?: number;
  /** Offset of an E8M0 exponent that must not be 0xFF (MXFP4). */
  e8m0?: number;
  /** IQ1_M: the f16 scale is assembled from the top nibbles of four u16 at byte 48. */
  iq1m?: boolean;
}

/** Scale layouts by type name (`ggml/src/ggml-common.h`, gguf-and-quant-formats.md §2.3). */
export const SCALE_LAYOUTS: Readonly<Record<string, ScaleLayout>> = {
  Q4_0: { size: 18, f16: [0] },
  Q4_1: { size: 20, f16: [0, 2] },
  Q5_0: { size: 22, f16: [0] },
  Q5_1: { size: 24, f16: [0, 2] },
  Q8_0: { size: 34, f16: [0], nonNegative: 0 },
  Q8_1: { size: 36, f16: [0, 2] },
  Q2_K: { size: 84, f16: [80, 82] },
  Q3_K: { size: 110, f16: [108] },
  Q4_K: { size: 144, f16: [0, 2] },
  Q5_K: { size: 176, f16: [0, 2] },
  Q6_K: { size: 210, f16: [208] },
  Q8_K: { size: 292, f16: [], f32: 0 },
  IQ2_XXS: { size: 66, f16: [0] },
  IQ2_XS: { size: 74, f16: [0] },
  IQ3_XXS: { size: 98, f16: [0] },
  IQ1_S: { size: 50, f16: [0] },
  IQ4_NL: { size: 18, f16: [0] },
  IQ3_S: { size: 110, f16: [0] },
  IQ2_S: { size: 82, f16: [0] },
  IQ4_XS: { size: 136, f16: [0] },
  IQ1_M: { size: 56, f16: [], iq1m: true },
  TQ1_0: { size: 54, f16: [52], nonNegative: 52 },
  TQ2_0: { size: 66, f16: [64], nonNegative: 64 },
  MXFP4: { size: 17, f16: [], e8m0: 0 },
  NVFP4: { size: 36, f16: [] },
  Q1_0: { size: 18, f16: [0] },
  Q2_0: { size: 18, f16: [0] },
};

/** What the scan of one tensor found. */
export interface TensorDataFinding {
  /** Blocks (elements, for float tensors) with a problem. */
  badBlocks: number;
  /** Index of the first bad block, or −1. */
  firstBadBlock: number;
  /** What is wrong with the first bad block, or `""`. */
  problem: string;
  /** Whether the type was checked at all (`false`: nothing to check, e.g. I8). */
  checked: boolean;
}

const NONE: TensorDataFinding = { badBlocks: 0, firstBadBlock: -1, problem: "", checked: true };

function u16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

/**
 * Scans one tensor's bytes (as stored, little-endian).
 *
 * @example
 * ```ts
 * import { ggmlTypeByName } from "../gguf/types.ts";
 * import { scanTensorData } from "./check_tensors.ts";
 * const block = new Uint8Array(34);
 * block[1] = 0x7c; // d = +Inf
 * scanTensorData(ggmlTypeByName("Q8_0")!.name, block, 32).problem; // "non-finite scale d"
 * ```
 */
export function scanTensorData(
  typeName: string,
  data: Uint8Array,
  elements: number,
  dims: readonly number[] = [elements],
): TensorDataFinding {
  let bad = 0;
  let first = -1;
  let problem = "";
  const flag = (index: number, what: string) => {
    bad++;
    if (first < 0) {
      first = index;
      problem = what;
    }
  };
  switch (typeName) {
    case "F32": {
      const n = Math.min(elements, data.length >> 2);
      const words = data.byteOffset % 4 === 0
        ? new Uint32Array(data.buffer, data.byteOffset, n)
        : new Uint32Array(data.slice(0, n * 4).buffer);
      for (let i = 0; i < n; i++) {
        if ((words[i] & 0x7f800000) === 0x7f800000) {
          flag(i, (words[i] & 0x7fffff) ? "NaN" : "infinity");
        }
      }
      return { badBlocks: bad, firstBadBlock: first, problem, checked: true };
    }
    case "F16":
    case "BF16": {
      // Exponent all ones: 0x7c00 in f16, 0x7f80 in bf16; a non-zero mantissa makes it a NaN.
      const [exp, man] = typeName === "F16" ? [0x7c00, 0x03ff] : [0x7f80, 0x007f];
      const n = Math.min(elements, data.length >> 1);
      const halves = data.byteOffset % 2 === 0
        ? new Uint16Array(data.buffer, data.byteOffset, n)
        : new Uint16Array(data.slice(0, n * 2).buffer);
      for (let i = 0; i < n; i++) {
        const h = halves[i];
        if ((h & exp) === exp) flag(i, (h & man) ? "NaN" : "infinity");
      }
      return { badBlocks: bad, firstBadBlock: first, problem, checked: true };
    }
    case "F64": {
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      for (let i = 0; i < elements; i++) {
        const v = view.getFloat64(8 * i, true);
        if (!Number.isFinite(v)) flag(i, Number.isNaN(v) ? "NaN" : "infinity");
      }
      return { badBlocks: bad, firstBadBlock: first, problem, checked: true };
    }
    case "TL2":
    case "I2_S":
    case "TL1": {
      const K = dims[0] ?? 1;
      const codeBytes = typeName === "TL2"
        ? (K >= 256 ? tl2PaddedBytes(elements / K, K) : 0)
        : elements >> 2;
      if (typeName === "TL1") {
        // Two pair indices per byte, each 3·w0 + w1 + 4 ∈ 0..8; count 32-byte blocks.
        for (let blk = 0; blk < codeBytes; blk += 32) {
          for (let i = blk; i < blk + 32 && i < codeBytes; i++) {
            if ((data[i] >> 4) > 8 || (data[i] & 15) > 8) {
              flag(blk >> 5, "TL1 pair index above 8");
              break;
            }
          }
        }
      }
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      if (typeName === "I2_S") {
        // A byte holds a code 3 when some pair has both bits set: b & (b >> 1) & 0x55.
        const aligned = data.byteOffset % 4 === 0 && codeBytes % 4 === 0;
        if (aligned) {
          const words = new Uint32Array(data.buffer, data.byteOffset, codeBytes >> 2);
          for (let w = 0; w < words.length; w++) {
            const x = words[w];
            if ((x & (x >>> 1) & 0x55555555) !== 0) {
              for (let k = 0; k < 4; k++) {
                const b = data[4 * w + k];
                if ((b & (b >> 1) & 0x55) !== 0) {
                  flag((4 * w + k) >> 5, "I2_S code 3");
                  break;
                }
              }
            }
          }
        } else {
          for (let i = 0; i < codeBytes; i++) {
            const b = data[i];
            if ((b & (b >> 1) & 0x55) !== 0) flag(i >> 5, "I2_S code 3");
          }
        }
        // Blocks are 32 bytes: count each bad block once.
        if (bad > 0) bad = countBadI2sBlocks(data, codeBytes);
      }
      const scale = view.getFloat32(codeBytes, true);
      const blocks = codeBytes >> 5;
      if (!Number.isFinite(scale) || scale < 0) {
        const what = Number.isFinite(scale) ? "negative tensor scale" : "non-finite tensor scale";
        // The tensor scale belongs to every block: report it against block 0.
        return { badBlocks: blocks, firstBadBlock: 0, problem: what, checked: true };
      }
      return { badBlocks: bad, firstBadBlock: first, problem, checked: true };
    }
  }
  const layout = SCALE_LAYOUTS[typeName];
  if (!layout) return { ...NONE, checked: false };
  const nb = Math.floor(data.length / layout.size);
  const names = (o: number) =>
    layout.f16.length === 2 && o === layout.f16[1]
      ? (typeName === "Q8_1" ? "s" : typeName.endsWith("_K") ? "dmin" : "m")
      : "d";
  for (let i = 0, o = 0; i < nb; i++, o += layout.size) {
    let what = "";
    for (const off of layout.f16) {
      if ((u16(data, o + off) & 0x7c00) === 0x7c00) {
        what = `non-finite scale ${names(off)}`;
        break;
      }
    }
    if (!what && layout.nonNegative !== undefined) {
      const h = u16(data, o + layout.nonNegative);
      if ((h & 0x8000) !== 0 && (h & 0x7fff) !== 0) what = "negative scale d";
    }
    if (!what && layout.f32 !== undefined) {
      const bits = (data[o] | (data[o + 1] << 8) | (data[o + 2] << 16) | (data[o + 3] << 24)) >>> 0;
      if ((bits & 0x7f800000) === 0x7f800000) what = "non-finite scale d";
    }
    if (!what && layout.e8m0 !== undefined && data[o + layout.e8m0] === 0xff) {
      what = "invalid E8M0 exponent 0xFF";
    }
    if (!what && layout.iq1m) {
      const sc = (k: number) => u16(data, o + 48 + 2 * k);
      const h = (sc(0) >> 12) | ((sc(1) >> 8) & 0x00f0) | ((sc(2) >> 4) & 0x0f00) |
        (sc(3) & 0xf000);
      if ((h & 0x7c00) === 0x7c00) what = "non-finite scale d";
    }
    if (what) flag(i, what);
  }
  return { badBlocks: bad, firstBadBlock: first, problem, checked: true };
}

function countBadI2sBlocks(data: Uint8Array, codeBytes: number): number {
  let bad = 0;
  for (let blk = 0; blk < codeBytes; blk += 32) {
    for (let i = blk; i < blk + 32 && i < codeBytes; i++) {
      const b = data[i];
      if ((b & (b >> 1) & 0x55) !== 0) {
        bad++;
        break;
      }
    }
  }
  return bad;
}

/**
 * Checks one tensor and returns its report row (`check: "tensors"`).
 *
 * @example
 * ```ts
 * import { ggmlTypeByName } from "../gguf/types.ts";
 * import { checkTensorData } from "./check_tensors.ts";
 * const t = { name: "w", dims: [4], type: ggmlTypeByName("F32")!, offset: 0, fileOffset: 0,
 *   byteSize: 16, elementCount: 4, part: 0 };
 * checkTensorData(t, new Uint8Array(new Float32Array([1, 2, NaN, 4]).buffer)).status; // "fail"
 * ```
 */
export function checkTensorData(
  tensor: GgufTensorInfo,
  data: Uint8Array,
  tlConfig?: TlConfigFile,
): TensorResult {
  let f = scanTensorData(tensor.type.name, data, tensor.elementCount, tensor.dims);
  const type = tensor.type.name;
  if ((type === "TL1" || type === "TL2") && f.badBlocks === 0) {
    // With a tile configuration, every code is checked by decoding (a code the converter never
    // writes is reported with its byte); without one only the scale (and TL1's nibbles) are.
    if (findTlConfig(type, tensor.dims, { tlConfig }) !== null) {
      try {
        transcodeTlTensor(type, data, tensor.dims, { tlConfig, name: tensor.name });
      } catch (error) {
        const at = /at byte (\d+)/.exec((error as Error).message);
        f = {
          badBlocks: 1,
          firstBadBlock: at ? Math.floor(Number(at[1]) / 32) : 0,
          problem: (error as Error).message,
          checked: true,
        };
      }
    }
  }
  const status = !f.checked ? "skip" : f.badBlocks > 0 ? "fail" : "pass";
  return {
    check: "tensors",
    name: tensor.name,
    type: tensor.type.name,
    status,
    ...(status === "fail"
      ? { detail: `${f.problem} in block ${f.firstBadBlock}` }
      : status === "skip"
      ? { detail: `nothing to check in ${tensor.type.name}` }
      : {}),
    figures: { badBlocks: f.badBlocks, firstBadBlock: f.firstBadBlock, problem: f.problem || "-" },
  };
}

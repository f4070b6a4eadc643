/**
 * Rewrites a synthetic `bitnet-b1.58` model (I2_S projections) as upstream llama.cpp arch
 * `bitnet` with F16, TQ2_0 or I2_S projections holding the same ternary weights, so that llama.cpp
 * (which cannot run `bitnet-b1.58` or I2_S) and bitload can run the same model for the logits
 * cross-validation. Upstream `bitnet` differs in one computation: SiLU instead of relu² in the FFN.
 *
 * Includes a TQ2_0 quantizer (`quantize_row_tq2_0_ref` of ggml-quants.c: per 256 block
 * d = max|x| as f16, codes lround(x/d) + 1, byte m of 32-byte chunk j holding elements
 * j·128 + m + 32·l in bits 2l+1:2l); for ternary weights it is lossless up to the f16 scale.
 *
 * @module
 */

import type { GgufMetadataInput, GgufTensorInput } from "../gguf/writer.ts";
import { kv } from "../gguf/writer.ts";
import { dequantizeToNew } from "../quant/dequantize.ts";

/** Weight type of the projections in the upstream file. */
export type UpstreamWeightType = "F16" | "TQ2_0" | "TQ1_0" | "I2_S";

const f16 = new Float16Array(1);
const f16Bits = new Uint16Array(f16.buffer);

/**
 * Quantizes `x` (length a multiple of 256) to TQ2_0 exactly as ggml's reference quantizer does.
 *
 * @example
 * ```ts
 * import { quantizeTq2 } from "./convert.ts";
 * const block = quantizeTq2(new Float32Array(256).fill(0.5));
 * block.length; // 66
 * block[0]; // 0b10101010: four +1 codes
 * ```
 */
export function quantizeTq2(x: Float32Array): Uint8Array {
  if (x.length % 256 !== 0) throw new RangeError(`TQ2_0 needs a multiple of 256 values`);
  const nb = x.length / 256;
  const out = new Uint8Array(nb * 66);
  for (let i = 0; i < nb; i++) {
    const xb = x.subarray(i * 256, (i + 1) * 256);
    let amax = 0;
    for (let j = 0; j < 256; j++) amax = Math.max(amax, Math.abs(xb[j]));
    const d = Math.fround(amax);
    const id = d ? Math.fround(1 / d) : 0;
    f16[0] = d;
    const o = i * 66;
    out[o + 64] = f16Bits[0] & 0xff;
    out[o + 65] = f16Bits[0] >> 8;
    for (let j = 0; j < 2; j++) {
      for (let m = 0; m < 32; m++) {
        let q = 0;
        for (let l = 0; l < 4; l++) {
          const v = Math.fround(xb[j * 128 + m + l * 32] * id);
          // lroundf rounds half away from zero
          const r = v < 0 ? -Math.round(-v) : Math.round(v);
          q += ((r + 1) & 3) << (2 * l);
        }
        out[o + j * 32 + m] = q;
      }
    }
  }
  return out;
}

/** lroundf: rounds half away from zero. */
function lround(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/**
 * Quantizes `x` (length a multiple of 256) to TQ1_0 exactly as ggml's reference quantizer does
 * (`quantize_row_tq1_0_ref` in ggml-org/llama.cpp `ggml/src/ggml-quants.c`): five trits per byte
 * along 32 bytes, then along 16 bytes, four per byte in `qh`, each byte stored as
 * ceil(value · 256 / 243), then the f16 scale max|x|.
 *
 * @example
 * ```ts
 * import { quantizeTq1 } from "./convert.ts";
 * quantizeTq1(new Float32Array(256).fill(0.5)).length; // 54
 * ```
 */
export function quantizeTq1(x: Float32Array): Uint8Array {
  if (x.length % 256 !== 0) throw new RangeError(`TQ1_0 needs a multiple of 256 values`);
  const nb = x.length / 256;
  const out = new Uint8Array(nb * 54);
  for (let i = 0; i < nb; i++) {
    const xb = x.subarray(i * 256, (i + 1) * 256);
    let amax = 0;
    for (let j = 0; j < 256; j++) amax = Math.max(amax, Math.abs(xb[j]));
    const d = Math.fround(amax);
    const id = d ? Math.fround(1 / d) : 0;
    const o = i * 54;
    const trit = (k: number) => lround(Math.fround(xb[k] * id)) + 1;
    const pack = (q: number) => Math.floor((q * 256 + 242) / 243) & 0xff;
    for (let m = 0; m < 32; m++) {
      let q = 0;
      for (let n = 0; n < 5; n++) q = q * 3 + trit(m + n * 32);
      out[o + m] = pack(q);
    }
    for (let m = 0; m < 16; m++) {
      let q = 0;
      for (let n = 0; n < 5; n++) q = q * 3 + trit(160 + m + n * 16);
      out[o + 32 + m] = pack(q);
    }
    for (let j = 0; j < 4; j++) {
      let q = 0;
      for (let n = 0; n < 4; n++) q = q * 3 + trit(240 + j + n * 4);
      out[o + 48 + j] = pack(q * 3); // the first value goes to the most significant trit
    }
    f16[0] = d;
    out[o + 52] = f16Bits[0] & 0xff;
    out[o + 53] = f16Bits[0] >> 8;
  }
  return out;
}

/**
 * Multiplies the per-tensor scale of every I2_S tensor by `factor`. Random ternary weights with
 * scales near 1 make a chaotic model (peaky attention, logits that flip on tiny activation
 * rounding); cross-validation uses small scales (≈ 0.02–0.06) so that greedy continuations are
 * stable under llama.cpp's and bitload's different activation quantizations.
 *
 * @example
 * ```ts
 * import { bitnetModelParts } from "../synth/bitnet_model.ts";
 * import { rescaleTernary } from "./convert.ts";
 * const parts = rescaleTernary(bitnetModelParts({ layers: 1 }), 0.05);
 * parts.tensors.length; // 13
 * ```
 */
export function rescaleTernary(
  parts: { metadata: GgufMetadataInput[]; tensors: GgufTensorInput[] },
  factor: number,
): { metadata: GgufMetadataInput[]; tensors: GgufTensorInput[] } {
  const tensors = parts.tensors.map((t): GgufTensorInput => {
    const typeName = typeof t.type === "string" ? t.type : t.type.name;
    if (typeName !== "I2_S") return t;
    const n = t.dims.reduce((a, b) => a * b, 1);
    const data = () => {
      const raw = (typeof t.data === "function" ? t.data() : t.data).slice();
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      view.setFloat32(n / 4, Math.fround(view.getFloat32(n / 4, true) * factor), true);
      return raw;
    };
    return { ...t, data };
  });
  return { metadata: parts.metadata, tensors };
}

function toF16Bytes(x: Float32Array): Uint8Array {
  const h = new Float16Array(x.length);
  h.set(x);
  return new Uint8Array(h.buffer);
}

/**
 * Converts the parts of a `bitnet-b1.58` model (from `bitnetModelParts`) to upstream arch
 * `bitnet` with `weightType` projections; token embedding and norms are kept as they are. With
 * `arch = "llama"` the same weights become a plain llama model (sub-norms dropped, tied head).
 *
 * @example
 * ```ts
 * import { bitnetModelParts } from "../synth/bitnet_model.ts";
 * import { bitnetToUpstream } from "./convert.ts";
 * const parts = bitnetToUpstream(bitnetModelParts({ layers: 1 }), "TQ2_0");
 * parts.metadata.find((e) => e.key === "general.architecture")?.value; // "bitnet"
 * ```
 */
export function bitnetToUpstream(
  parts: { metadata: GgufMetadataInput[]; tensors: GgufTensorInput[] },
  weightType: UpstreamWeightType,
  arch: "bitnet" | "llama" = "bitnet",
): { metadata: GgufMetadataInput[]; tensors: GgufTensorInput[] } {
  const from = "bitnet-b1.58.";
  const metadata: GgufMetadataInput[] = [];
  for (const e of parts.metadata) {
    if (e.key === "general.architecture") metadata.push(kv.string(e.key, arch));
    else if (e.key === "general.file_type") {
      const ftype = { F16: 1, TQ1_0: 36, TQ2_0: 37, I2_S: 40 }[weightType];
      metadata.push(kv.u32(e.key, ftype));
    } else if (e.key.startsWith(from)) {
      metadata.push({ ...e, key: `${arch}.${e.key.slice(from.length)}` });
    } else metadata.push(e);
  }
  // llama has no sub-norms
  const kept = arch === "llama"
    ? parts.tensors.filter((t) => !/_sub_norm\.weight$/.test(t.name))
    : parts.tensors;
  const tensors = kept.map((t): GgufTensorInput => {
    const typeName = typeof t.type === "string" ? t.type : t.type.name;
    if (typeName !== "I2_S" || weightType === "I2_S") return t;
    const n = t.dims.reduce((a, b) => a * b, 1);
    const data = () => {
      const raw = typeof t.data === "function" ? t.data() : t.data;
      const values = dequantizeToNew("I2_S", raw, n);
      return weightType === "F16"
        ? toF16Bytes(values)
        : weightType === "TQ1_0"
        ? quantizeTq1(values)
        : quantizeTq2(values);
    };
    return { name: t.name, type: weightType, dims: t.dims, data };
  });
  return { metadata, tensors };
}

/**
 * Rewrites a synthetic `bitnet-b1.58` model (I2_S projections) as upstream llama.cpp arch
 * `bitnet` with F16, TQ2_0 or I2_S projections holding the same ternary weights, so that llama.cpp
 * (which cannot run `bitnet-b1.58` or I2_S) and bitload can run the same model for the logits
 * cross-validation. Upstream `bitnet` differs in one computation: SiLU instead of relu² in the FFN.
 *
 * The projections are re-encoded with the quantizers of `src/quant/quantize.ts`, which write
 * ggml's reference bytes; for ternary weights TQ2_0 and TQ1_0 are lossless up to the f16 scale.
 *
 * @module
 */

import type { GgufMetadataInput, GgufTensorInput } from "../gguf/writer.ts";
import { kv } from "../gguf/writer.ts";
import { dequantizeToNew } from "../quant/dequantize.ts";
import { quantizeF16, quantizeQ8_0, quantizeTQ1_0, quantizeTQ2_0 } from "../quant/quantize.ts";

/** Weight type of the projections in the upstream file. */
export type UpstreamWeightType = "F16" | "Q8_0" | "TQ2_0" | "TQ1_0" | "I2_S";

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
      const ftype = { F16: 1, Q8_0: 7, TQ1_0: 36, TQ2_0: 37, I2_S: 40 }[weightType];
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
        ? quantizeF16(values)
        : weightType === "Q8_0"
        ? quantizeQ8_0(values)
        : weightType === "TQ1_0"
        ? quantizeTQ1_0(values)
        : quantizeTQ2_0(values);
    };
    return { name: t.name, type: weightType, dims: t.dims, data };
  });
  return { metadata, tensors };
}

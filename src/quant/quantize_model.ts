/**
 * Converting a whole model: every weight matrix (a tensor with at least two dimensions whose rows
 * are a whole number of blocks) is dequantized to f32 and quantized to the target type; everything
 * else (norms, biases, 1-D tensors, tensors whose rows do not fit the block) is copied unchanged,
 * as llama.cpp's `llama-quantize` keeps 1-D tensors in f32. For the ternary targets (TQ2_0, I2_S)
 * the embedding and output matrices (`token_embd.weight`, `output.weight`) become F16, as in
 * microsoft/BitNet's published I2_S file: they are not ternary, and a sign code would destroy them
 * (llama.cpp's `llama-quantize` gives them Q4_K for TQ2_0, `src/llama-quant.cpp`, which bitload
 * cannot write yet). I2_S is accepted only for BitNet architectures (the id 36 means I2_S only in
 * their dialect). TL1/TL2 (bitnet.cpp's lookup-table layouts of the same ternary values and scale,
 * ids 38/39 of the BitNet dialect) likewise, and each matrix needs a tile configuration for its
 * shape: the `tlConfig` option's `kernel_config.ini`, else the official presets
 * (`tl_config.ts`); a shape with neither is refused, naming it. Big-endian sources are converted
 * to a little-endian file.
 * `general.file_type` is set to the matching `llama_ftype`; the file is written atomically.
 *
 * @module
 */

import { QuantError } from "./errors.ts";
import type { GgufModel } from "../gguf/model.ts";
import { type GgufMetadataInput, type GgufTensorInput, kv, writeGguf } from "../gguf/writer.ts";
import { BITNET_ARCHITECTURES, ggmlTypeByName, tensorByteSize } from "../gguf/types.ts";
import { dequantize } from "./dequantize.ts";
import { byteSwapTensor, canByteSwap } from "./endian.ts";
import { quantize, QUANTIZE_BLOCK_SIZE, type QuantizeType } from "./quantize.ts";
import { resolveTlConfig, type TlConfigFile } from "./tl_config.ts";
import { quantizeTl, tlShape } from "./tl.ts";

/** `general.file_type` written for each target (`llama_ftype`; I2_S is the BitNet fork's 40). */
export const FILE_TYPE_FOR: Readonly<Record<ModelTargetType, number>> = {
  F32: 0,
  F16: 1,
  BF16: 32,
  Q8_0: 7,
  Q4_0: 2,
  TQ2_0: 37,
  I2_S: 40,
  TL1: 38,
  TL2: 39,
};

/** A target of {@link quantizeModel}: a quantizer type, or F32 (dequantize the matrices). */
export type ModelTargetType = QuantizeType | "F32" | "TL1" | "TL2";

/** What happened to one tensor. */
export interface QuantizedTensor {
  /** Tensor name. */
  name: string;
  /** Type before. */
  from: string;
  /** Type after. */
  to: string;
  /** Bytes before. */
  bytesIn: number;
  /** Bytes after. */
  bytesOut: number;
}

/**
 * The model to convert: its header and a view of each tensor's bytes. Whatever opened the file
 * supplies it (`openGguf(path)` of the pipeline, or `openModelFile(path)` in `src/load/open.ts`), so converting stays below
 * the loading layer and the file is opened once by its owner.
 */
export interface QuantizeSource extends GgufModel {
  /** The raw bytes of a tensor (a view is enough: it is read, never written). */
  tensorData(name: string): Uint8Array;
}

/** Options of {@link quantizeModel}. */
export interface QuantizeModelOptions {
  /** Worker threads for dequantizing the source. Default 1. */
  threads?: number;
  /** Called after each tensor is written. */
  onProgress?: (done: number, total: number) => void;
  /** bitnet.cpp `kernel_config.ini` for TL1/TL2 targets (searched before the official presets). */
  tlConfig?: TlConfigFile;
}

/** Whether a tensor is a weight matrix that `type` applies to. */
function targetFor(
  name: string,
  dims: readonly number[],
  type: ModelTargetType,
): ModelTargetType | null {
  const ne0 = dims[0] ?? 1;
  if (dims.filter((d) => d > 1).length < 2) return null;
  const ternary = type === "I2_S" || type === "TQ2_0" || type === "TL1" || type === "TL2";
  if (ternary && (name === "token_embd.weight" || name === "output.weight")) return "F16";
  const n = dims.reduce((a, b) => a * b, 1);
  if (type === "I2_S") return n % 128 === 0 ? type : null;
  if (type === "TL1" || type === "TL2") return type;
  return type === "F32" || ne0 % QUANTIZE_BLOCK_SIZE[type] === 0 ? type : null;
}

/**
 * Converts an opened model to `type` and writes it to `outPath` (atomically).
 *
 * @throws {QuantError} `ARCHITECTURE_MISMATCH` for I2_S…TL2 on a non-BitNet architecture,
 * `BYTE_ORDER` for a big-endian tensor whose type has no defined byte order.
 *
 * @example
 * ```ts ignore
 * import { openModelFile as openGguf } from "../load/open.ts";
 * import { quantizeModel } from "./quantize_model.ts";
 * using model = await openGguf("model-f32.gguf");
 * const tensors = await quantizeModel(model, "model-q8_0.gguf", "Q8_0");
 * console.log(tensors.filter((t) => t.to === "Q8_0").length);
 * ```
 */
export async function quantizeModel(
  model: QuantizeSource,
  outPath: string,
  type: ModelTargetType,
  options: QuantizeModelOptions = {},
): Promise<QuantizedTensor[]> {
  const arch = model.metadata.get("general.architecture")?.value;
  if (
    (type === "I2_S" || type === "TL1" || type === "TL2") &&
    !BITNET_ARCHITECTURES.includes(String(arch))
  ) {
    throw new QuantError(
      "ARCHITECTURE_MISMATCH",
      `Cannot write ${type} for architecture "${arch}": type ids 36–39 mean I2_S…TL2 only in BitNet files (${
        BITNET_ARCHITECTURES.join(", ")
      })`,
    );
  }
  const stuck = model.tensors.find((t) =>
    !model.parts[t.part].littleEndian && !canByteSwap(t.type)
  );
  if (stuck) {
    throw new QuantError(
      "BYTE_ORDER",
      `Cannot convert big-endian tensor "${stuck.name}": ${stuck.type.name} has no defined byte order`,
    );
  }
  const metadata: GgufMetadataInput[] = [...model.metadata.values()]
    .filter((e) =>
      e.key !== "general.file_type" && e.key !== "general.quantization_version" &&
      !e.key.startsWith("split.")
    );
  metadata.push(kv.u32("general.file_type", FILE_TYPE_FOR[type]));
  metadata.push(kv.u32("general.quantization_version", 2));
  const report: QuantizedTensor[] = [];
  const tensors: GgufTensorInput[] = model.tensors.map((t) => {
    let target = t.type.dequantizable ? targetFor(t.name, t.dims, type) : null;
    if (target === t.type.name) target = null; // already the target type: copied as is
    const outType = target === null ? t.type : ggmlTypeByName(target)!;
    // TL targets: the tile configuration of this shape, or a refusal naming it, before writing.
    const tl = target === "TL1" || target === "TL2"
      ? resolveTlConfig(target, t.dims, { tlConfig: options.tlConfig }, t.name).config
      : null;
    report.push({
      name: t.name,
      from: t.type.name,
      to: outType.name,
      bytesIn: t.byteSize,
      bytesOut: tensorByteSize(outType, t.dims) ?? t.byteSize,
    });
    return {
      name: t.name,
      type: outType,
      dims: t.dims,
      data: () => {
        let src = model.tensorData(t.name);
        if (!model.parts[t.part].littleEndian) {
          src = src.slice(); // big-endian source: the output is little-endian
          byteSwapTensor(t.type, src);
        } else if (target === null) return src.slice();
        if (target === null) return src;
        const values = new Float32Array(t.elementCount);
        dequantize(t.type, src, values, {
          threads: options.threads ?? 1,
          dims: t.dims,
          tlConfig: options.tlConfig,
          name: t.name,
        });
        if (tl !== null && (target === "TL1" || target === "TL2")) {
          const { M, K } = tlShape(t.dims);
          return quantizeTl(target, values, M, K, tl);
        }
        return quantize(target, values);
      },
    };
  });
  await writeGguf(outPath, metadata, tensors, {
    alignment: model.parts[0].alignment,
    onProgress: options.onProgress,
  });
  return report;
}

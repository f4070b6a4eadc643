/**
 * `@bitload/bitload/quant`: every ggml type's dequantizer (native kernels or their bit-exact
 * TypeScript twins), the quantizers bitload writes (F16, BF16, Q8_0, Q4_0, TQ2_0, I2_S, TL1/TL2),
 * byte swapping, I2_S packing and whole-model conversion.
 *
 * @example
 * ```ts
 * import { dequantizeToNew, quantize } from "@bitload/bitload/quant";
 * const q8 = quantize("Q8_0", new Float32Array(32).fill(0.5));
 * dequantizeToNew("Q8_0", q8, 32)[0]; // 0.5
 * ```
 *
 * @module
 */

export {
  dequantize,
  type DequantizeBackend,
  type DequantizeOptions,
  dequantizeToNew,
  resolveGgmlType,
} from "./dequantize.ts";
export {
  checkTlConfig,
  findTlConfig,
  parseKernelConfigIni,
  readKernelConfigIni,
  resolveTlConfig,
  type TlConfigChoice,
  TlConfigError,
  type TlConfigErrorCode,
  type TlConfigFile,
  type TlConfigOptions,
  type TlPreset,
  tlPresets,
  type TlTileConfig,
  type TlType,
} from "./tl_config.ts";
export { decodeTl, encodeTl, quantizeTl, tlToI2S } from "./tl.ts";
export { dequantizeTlTensor, type TlTranscode, transcodeTlTensor } from "./tl_tensor.ts";
export { byteSwapTensor, canByteSwap } from "./endian.ts";
export { type KernelInfo, kernelInfo, type SimdLevel } from "../../ffi/native.ts";
export { packI2S } from "./i2s_pack.ts";
export {
  fp32ToBf16Bits,
  fp32ToFp16Bits,
  I2S_ZERO_THRESHOLD,
  i2sScale,
  quantize,
  QUANTIZE_BLOCK_SIZE,
  QUANTIZE_TYPES,
  quantizeBF16,
  quantizeF16,
  quantizeI2S,
  quantizeQ4_0,
  quantizeQ8_0,
  quantizeTQ2_0,
  type QuantizeType,
} from "./quantize.ts";
export {
  FILE_TYPE_FOR,
  type ModelTargetType,
  type QuantizedTensor,
  quantizeModel,
  type QuantizeModelOptions,
  type QuantizeSource,
} from "./quantize_model.ts";
export { QuantError, type QuantErrorCode } from "./errors.ts";
export {
  dequantizeI2_S,
  dequantizeI2SCodes,
  I2S_BLOCK_BYTES,
  I2S_BLOCK_ELEMENTS,
  I2S_SCALE_SLOT_BYTES,
  readI2sScale,
} from "./ternary.ts";
export { F16_TO_F32, fp16ToFp32 } from "./float.ts";

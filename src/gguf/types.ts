/**
 * The ggml tensor-type registry: every type id 0–42 of upstream ggml (llama.cpp v0.5.0,
 * `ggml/include/ggml.h` `enum ggml_type`, sizes from `ggml/src/ggml.c` `type_traits` and the
 * `static_assert`s in `ggml/src/ggml-common.h`), plus the BitNet dialect of the microsoft/BitNet
 * fork (Eddie-Wang1120/llama.cpp `merge-dev`), where ids 36–39 mean I2_S / I8_S / TL1 / TL2.
 *
 * @module
 */

import { GgufError } from "./errors.ts";

/** Which numbering a file uses for ids 36–39. */
export type TypeDialect = "ggml" | "bitnet";

/** What the registry knows about one tensor type. */
export interface GgmlTypeInfo {
  /** The type id stored in the file. */
  readonly id: number;
  /** Upper-case name as llama.cpp prints it (`F32`, `Q4_K`, `I2_S`). */
  readonly name: string;
  /** Elements per block (1 for plain arrays). */
  readonly blockSize: number;
  /** Bytes per block. For I2_S/TL1/TL2 this is a placeholder; see {@link tensorByteSize}. */
  readonly typeSize: number;
  /** Whether the type is a block-quantized format. */
  readonly quantized: boolean;
  /** Whether bitload can turn it into f32 values. */
  readonly dequantizable: boolean;
  /** Which dialect defines this meaning of the id. */
  readonly dialect: "any" | "ggml" | "bitnet";
  /** Why the type cannot be read, when it cannot. */
  readonly refusal?: string;
}

/** Number of type ids upstream ggml defines (`GGML_TYPE_COUNT`). */
export const GGML_TYPE_COUNT = 43;

/** `QK_K`, the super-block size of the k-quants and i-quants. */
export const QK_K = 256;

function t(
  id: number,
  name: string,
  blockSize: number,
  typeSize: number,
  quantized: boolean,
  dialect: GgmlTypeInfo["dialect"] = "any",
): GgmlTypeInfo {
  return { id, name, blockSize, typeSize, quantized, dequantizable: true, dialect };
}

function tombstone(id: number, name: string, why: string): GgmlTypeInfo {
  return {
    id,
    name,
    blockSize: 0,
    typeSize: 0,
    quantized: true,
    dequantizable: false,
    dialect: "ggml",
    refusal: why,
  };
}

const REPACKED = "was removed from GGUF files; llama.cpp repacks Q4_0/IQ4_NL at run time instead";

/** Types whose meaning does not depend on the dialect (ids 0–35, 40–42). */
const COMMON: readonly GgmlTypeInfo[] = [
  t(0, "F32", 1, 4, false),
  t(1, "F16", 1, 2, false),
  t(2, "Q4_0", 32, 18, true),
  t(3, "Q4_1", 32, 20, true),
  tombstone(4, "Q4_2", "was removed from ggml in 2023"),
  tombstone(5, "Q4_3", "was removed from ggml in 2023"),
  t(6, "Q5_0", 32, 22, true),
  t(7, "Q5_1", 32, 24, true),
  t(8, "Q8_0", 32, 34, true),
  t(9, "Q8_1", 32, 36, true),
  t(10, "Q2_K", QK_K, 84, true),
  t(11, "Q3_K", QK_K, 110, true),
  t(12, "Q4_K", QK_K, 144, true),
  t(13, "Q5_K", QK_K, 176, true),
  t(14, "Q6_K", QK_K, 210, true),
  t(15, "Q8_K", QK_K, 292, true),
  t(16, "IQ2_XXS", QK_K, 66, true),
  t(17, "IQ2_XS", QK_K, 74, true),
  t(18, "IQ3_XXS", QK_K, 98, true),
  t(19, "IQ1_S", QK_K, 50, true),
  t(20, "IQ4_NL", 32, 18, true),
  t(21, "IQ3_S", QK_K, 110, true),
  t(22, "IQ2_S", QK_K, 82, true),
  t(23, "IQ4_XS", QK_K, 136, true),
  t(24, "I8", 1, 1, false),
  t(25, "I16", 1, 2, false),
  t(26, "I32", 1, 4, false),
  t(27, "I64", 1, 8, false),
  t(28, "F64", 1, 8, false),
  t(29, "IQ1_M", QK_K, 56, true),
  t(30, "BF16", 1, 2, false),
  tombstone(31, "Q4_0_4_4", REPACKED),
  tombstone(32, "Q4_0_4_8", REPACKED),
  tombstone(33, "Q4_0_8_8", REPACKED),
  t(34, "TQ1_0", QK_K, 54, true),
  t(35, "TQ2_0", QK_K, 66, true),
  // 36–39 depend on the dialect.
  t(40, "NVFP4", 64, 36, true),
  t(41, "Q1_0", 128, 18, true),
  t(42, "Q2_0", 64, 18, true),
];

const GGML_36_39: readonly GgmlTypeInfo[] = [
  tombstone(36, "IQ4_NL_4_4", REPACKED),
  tombstone(37, "IQ4_NL_4_8", REPACKED),
  tombstone(38, "IQ4_NL_8_8", REPACKED),
  t(39, "MXFP4", 32, 17, true, "ggml"),
];

/**
 * The BitNet fork's ids. Its `type_traits` declare `blck_size = 1, type_size = 1` as
 * placeholders; the real sizes are special cases in the fork's `ggml_nbytes`.
 */
const BITNET_36_39: readonly GgmlTypeInfo[] = [
  t(36, "I2_S", 1, 1, true, "bitnet"),
  { ...t(37, "I8_S", 1, 1, false, "bitnet"), dequantizable: false, refusal: undefined },
  // TL1/TL2 decode only with a tile configuration per weight shape, which the file does not
  // carry: the caller's kernel_config.ini or the official presets (src/quant/tl_config.ts).
  // Without one, decoding refuses there, naming the shape and what to pass.
  t(38, "TL1", 1, 1, true, "bitnet"),
  t(39, "TL2", 1, 1, true, "bitnet"),
];

const BY_ID_GGML: readonly GgmlTypeInfo[] = buildTable(GGML_36_39);
const BY_ID_BITNET: readonly GgmlTypeInfo[] = buildTable(BITNET_36_39);

function buildTable(middle: readonly GgmlTypeInfo[]): GgmlTypeInfo[] {
  const table: GgmlTypeInfo[] = [];
  for (const info of [...COMMON, ...middle]) table[info.id] = Object.freeze(info);
  return table;
}

/** `general.architecture` values whose files use the BitNet dialect. */
export const BITNET_ARCHITECTURES: readonly string[] = ["bitnet-b1.58", "bitnet-25", "bitnet"];

/**
 * The dialect a file's type ids are written in, decided by its architecture.
 *
 * @example
 * ```ts
 * import { dialectForArchitecture } from "./types.ts";
 * dialectForArchitecture("bitnet-b1.58"); // "bitnet"
 * dialectForArchitecture("llama"); // "ggml"
 * ```
 */
export function dialectForArchitecture(arch: string | undefined): TypeDialect {
  return arch !== undefined && BITNET_ARCHITECTURES.includes(arch) ? "bitnet" : "ggml";
}

/**
 * Looks a type id up in a dialect; `undefined` for ids no dialect defines.
 *
 * @example
 * ```ts
 * import { ggmlType } from "./types.ts";
 * ggmlType(36, "bitnet")?.name; // "I2_S"
 * ggmlType(39, "ggml")?.name; // "MXFP4"
 * ```
 */
export function ggmlType(id: number, dialect: TypeDialect = "ggml"): GgmlTypeInfo | undefined {
  return (dialect === "bitnet" ? BY_ID_BITNET : BY_ID_GGML)[id];
}

/**
 * Looks a type up by its upper-case name (`"Q4_K"`, `"I2_S"`); names are unique across
 * dialects.
 *
 * @example
 * ```ts
 * import { ggmlTypeByName } from "./types.ts";
 * ggmlTypeByName("I2_S")?.id; // 36
 * ```
 */
export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  const upper = name.toUpperCase();
  return BY_NAME.get(upper);
}

const BY_NAME = new Map<string, GgmlTypeInfo>(
  [...BY_ID_GGML, ...BY_ID_BITNET].filter((x) => x !== undefined).map((x) => [x.name, x]),
);

/** Every type the registry knows, both dialects, in id order (upstream first on a clash). */
export function allGgmlTypes(): GgmlTypeInfo[] {
  const seen = new Set<string>();
  const out: GgmlTypeInfo[] = [];
  for (const info of [...BY_ID_GGML, ...BY_ID_BITNET]) {
    if (info && !seen.has(info.name)) {
      seen.add(info.name);
      out.push(info);
    }
  }
  return out.sort((a, b) => a.id - b.id || a.name.localeCompare(b.name));
}

/** Number of elements of a tensor with these dims; throws past 2^53. */
export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) {
    n *= d;
    if (!Number.isSafeInteger(n)) {
      throw new GgufError("TENSOR_TOO_LARGE", 0, `Element count of [${dims}] exceeds 2^53`);
    }
  }
  return n;
}

/**
 * Bytes a tensor of this type and shape occupies in the file (ggml's `ggml_nbytes`), with the
 * BitNet fork's special cases: I2_S and TL1 take `n/4 + 32` bytes (packed 2-bit codes, then one
 * f32 scale in a 32-byte slot), TL2 `pad32((K−256)·M/3·5/8 + 256·M/2·4/8) + 32`
 * (Eddie-Wang1120/llama.cpp `ggml/src/ggml.c` `ggml_nbytes`).
 *
 * Returns `null` when `ne[0]` is not a multiple of the block size.
 *
 * @example
 * ```ts
 * import { ggmlType, tensorByteSize } from "./types.ts";
 * tensorByteSize(ggmlType(12)!, [4096, 4096]); // 9437184
 * tensorByteSize(ggmlType(36, "bitnet")!, [2560, 640]); // 409632
 * ```
 */
export function tensorByteSize(type: GgmlTypeInfo, dims: readonly number[]): number | null {
  const n = elementCount(dims);
  switch (type.name) {
    case "I2_S":
    case "TL1":
      return Math.floor(n / 4) + 32;
    case "TL2": {
      const k = dims[0] ?? 1;
      // The fork's formula assumes at least one 256-wide tile per row (and no empty rows).
      if (k < 256 || n === 0) return null;
      const m = n / k;
      // C integer arithmetic, left to right: (K−256)·M/3·5/8 + 256·M/2·4/8.
      const three = Math.floor(Math.floor(Math.floor((k - 256) * m / 3) * 5) / 8);
      const two = Math.floor(Math.floor(Math.floor(256 * m / 2) * 4) / 8);
      const nb = three + two;
      return Math.ceil(nb / 32) * 32 + 32;
    }
  }
  if (type.blockSize === 0) return null;
  const ne0 = dims[0] ?? 1;
  if (ne0 % type.blockSize !== 0) return null;
  const bytes = (n / type.blockSize) * type.typeSize;
  if (!Number.isSafeInteger(bytes)) {
    throw new GgufError("TENSOR_TOO_LARGE", 0, `Byte size of [${dims}] ${type.name} exceeds 2^53`);
  }
  return bytes;
}

/**
 * Bits per weight of a type (type size × 8 / block size); I2_S counts as 2.
 *
 * @example
 * ```ts
 * import { bitsPerWeight, ggmlType } from "./types.ts";
 * bitsPerWeight(ggmlType(12)!); // 4.5
 * ```
 */
export function bitsPerWeight(type: GgmlTypeInfo): number {
  if (type.name === "I2_S" || type.name === "TL1") return 2;
  if (type.name === "TL2") return 5 / 3;
  if (type.blockSize === 0) return 0;
  return (type.typeSize * 8) / type.blockSize;
}

const FILE_TYPES_UPSTREAM: Record<number, string> = {
  0: "ALL_F32",
  1: "MOSTLY_F16",
  2: "MOSTLY_Q4_0",
  3: "MOSTLY_Q4_1",
  7: "MOSTLY_Q8_0",
  8: "MOSTLY_Q5_0",
  9: "MOSTLY_Q5_1",
  10: "MOSTLY_Q2_K",
  11: "MOSTLY_Q3_K_S",
  12: "MOSTLY_Q3_K_M",
  13: "MOSTLY_Q3_K_L",
  14: "MOSTLY_Q4_K_S",
  15: "MOSTLY_Q4_K_M",
  16: "MOSTLY_Q5_K_S",
  17: "MOSTLY_Q5_K_M",
  18: "MOSTLY_Q6_K",
  19: "MOSTLY_IQ2_XXS",
  20: "MOSTLY_IQ2_XS",
  21: "MOSTLY_Q2_K_S",
  22: "MOSTLY_IQ3_XS",
  23: "MOSTLY_IQ3_XXS",
  24: "MOSTLY_IQ1_S",
  25: "MOSTLY_IQ4_NL",
  26: "MOSTLY_IQ3_S",
  27: "MOSTLY_IQ3_M",
  28: "MOSTLY_IQ2_S",
  29: "MOSTLY_IQ2_M",
  30: "MOSTLY_IQ4_XS",
  31: "MOSTLY_IQ1_M",
  32: "MOSTLY_BF16",
  36: "MOSTLY_TQ1_0",
  37: "MOSTLY_TQ2_0",
  38: "MOSTLY_MXFP4_MOE",
  39: "MOSTLY_NVFP4",
  40: "MOSTLY_Q1_0",
  41: "MOSTLY_Q2_0",
};

/**
 * Name of a `general.file_type` (`llama_ftype`) value in a dialect (llama.cpp `include/llama.h`;
 * in the BitNet fork 38 = TL1, 39 = TL2, 40 = I2_S).
 *
 * @example
 * ```ts
 * import { fileTypeName } from "./types.ts";
 * fileTypeName(15, "ggml"); // "MOSTLY_Q4_K_M"
 * fileTypeName(40, "bitnet"); // "MOSTLY_I2_S"
 * ```
 */
export function fileTypeName(fileType: number, dialect: TypeDialect): string {
  if (dialect === "bitnet") {
    if (fileType === 38) return "MOSTLY_TL1";
    if (fileType === 39) return "MOSTLY_TL2";
    if (fileType === 40) return "MOSTLY_I2_S";
  }
  return FILE_TYPES_UPSTREAM[fileType] ?? `UNKNOWN_${fileType}`;
}

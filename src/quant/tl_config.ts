/**
 * Tile configurations of bitnet.cpp's lookup-table formats TL1 and TL2, which the GGUF file does
 * not carry: the layout of a TL tensor is a permutation of ternary codes by `(BM, BK, bm)` chosen
 * per weight shape `(M, K)` in bitnet.cpp's `include/kernel_config.ini` (sections with keys
 * `m, k, bm, bk, bmm`; microsoft/BitNet `utils/convert-hf-to-gguf-bitnet.py`
 * `preprocess_weights_tl1`/`_tl2` read it with ConfigParser and take the first section whose
 * `(m, k)` equals the weight's `(M, K)`).
 *
 * Where a configuration comes from, in order: a `kernel_config.ini` the caller gives
 * (`--tl-config FILE`, or the `tlConfig` library option) → the built-in table of the official
 * presets (microsoft/BitNet `preset_kernels/<model>/kernel_config_tl{1,2}.ini`, keyed by type and
 * shape) → a {@link TlConfigError} naming the shape and what to pass.
 *
 * The rule a configuration must satisfy (what the converter can encode; `utils/codegen_tl1.py` /
 * `codegen_tl2.py` asserts and the reshapes of the converter):
 * - TL1: `bm ∈ {32, 64}` (codegen_tl1: "choose bm from [32, 64]"), `by = 256/bm`;
 *   `M % BM = 0`, `BM % bm = 0`, `K % BK = 0` (codegen_tl1: "K % BK should be 0"), `BK % by = 0`.
 * - TL2: `bm = 32` (codegen_tl2: "choose bm from [32]"; with bm = 64, `by = 192/64 = 3` leaves no
 *   second triple per byte and the converter fails with an IndexError), `by = 6`; `M % BM = 0`,
 *   `BM % 32 = 0`, `BK % 24 = 0` (the sign plane packs `4·by` columns), `(K % BK) % 32 = 0`
 *   (codegen_tl2: "K % BK % 32 should be 0"; the tail is encoded TL1-style with BK = 32, bm = 32,
 *   by = 4), `K ≥ 256` and the tail no longer than the fork's size formula allows (`K % BK ≤ 256`).
 *
 * @module
 */

import { BitloadError } from "../common/errors.ts";

/** A TL tensor type. */
export type TlType = "TL1" | "TL2";

/** One `kernel_config.ini` section: the tiles of one weight shape. */
export interface TlTileConfig {
  /** Rows of the weight (`m`; ggml `ne[1]`). */
  readonly m: number;
  /** Columns of the weight (`k`; ggml `ne[0]`). */
  readonly k: number;
  /** `BM`: rows per tile (`bm` in the ini). */
  readonly BM: number;
  /** `BK`: columns per tile (`bk` in the ini; the converter's `BY`). */
  readonly BK: number;
  /** `bm`: rows per SIMD block (`bmm` in the ini). */
  readonly bm: number;
}

/** Where a configuration came from. */
export interface TlConfigChoice {
  /** The tiles. */
  readonly config: TlTileConfig;
  /** `"file"` (given by the caller) or `"preset"` (built-in table). */
  readonly source: "file" | "preset";
  /** Human-readable origin: `kernel_config.ini [Kernels_1]` or `preset bitnet_b1_58-3B kernel_config_tl2.ini [Kernels_1]`. */
  readonly origin: string;
}

/** A parsed `kernel_config.ini`: its sections in file order, each with its name. */
export interface TlConfigFile {
  /** The file's name or path, for messages. */
  readonly path: string;
  /** Sections in file order (the converter takes the first match). */
  readonly sections: readonly (TlTileConfig & { readonly section: string })[];
}

/** Codes of {@link TlConfigError}. */
export type TlConfigErrorCode =
  | "TL_CONFIG_MISSING" // no configuration for the tensor's shape (neither --tl-config nor a preset)
  | "TL_CONFIG_INVALID" // a configuration that breaks the rule for the tensor's shape
  | "TL_BAD_INI"; // a kernel_config.ini that cannot be read

/**
 * Why a TL tensor cannot be decoded or encoded: a stable code and a one-line reason that names
 * the tensor's shape and what to pass.
 *
 * @example
 * ```ts
 * import { TlConfigError } from "./tl_config.ts";
 * new TlConfigError("TL_BAD_INI", "x").code; // "TL_BAD_INI"
 * ```
 */
export class TlConfigError extends BitloadError<TlConfigErrorCode> {}

type Preset = readonly [
  model: string,
  type: TlType,
  section: string,
  m: number,
  k: number,
  BM: number,
  BK: number,
  bm: number,
];

/**
 * The official presets, verbatim from microsoft/BitNet `preset_kernels/<model>/kernel_config_tl1.ini`
 * and `kernel_config_tl2.ini` (identical at c82b5e6 and at HEAD 16da220). No shape appears in two
 * models, so the table is keyed by type and shape. bitnet_b1_58-large's TL2 `[Kernels_2]`
 * (4096×1536, bmm = 64) breaks codegen_tl2's own `bm ∈ [32]` assert and the converter cannot
 * encode it; it is kept here as a fact and refused by {@link checkTlConfig}.
 */
const PRESETS: readonly Preset[] = [
  ["bitnet_b1_58-large", "TL1", "Kernels_0", 1536, 4096, 256, 128, 32],
  ["bitnet_b1_58-large", "TL1", "Kernels_1", 1536, 1536, 128, 64, 64],
  ["bitnet_b1_58-large", "TL1", "Kernels_2", 4096, 1536, 256, 128, 32],
  ["bitnet_b1_58-large", "TL2", "Kernels_0", 1536, 4096, 256, 96, 32],
  ["bitnet_b1_58-large", "TL2", "Kernels_1", 1536, 1536, 128, 192, 32],
  ["bitnet_b1_58-large", "TL2", "Kernels_2", 4096, 1536, 256, 96, 64],
  ["bitnet_b1_58-3B", "TL1", "Kernels_0", 3200, 8640, 160, 64, 32],
  ["bitnet_b1_58-3B", "TL1", "Kernels_1", 3200, 3200, 320, 128, 64],
  ["bitnet_b1_58-3B", "TL1", "Kernels_2", 8640, 3200, 320, 64, 32],
  ["bitnet_b1_58-3B", "TL2", "Kernels_0", 3200, 8640, 160, 96, 32],
  ["bitnet_b1_58-3B", "TL2", "Kernels_1", 3200, 3200, 320, 96, 32],
  ["bitnet_b1_58-3B", "TL2", "Kernels_2", 8640, 3200, 320, 96, 32],
  ["Llama3-8B-1.58-100B-tokens", "TL1", "Kernels_0", 14336, 4096, 256, 128, 64],
  ["Llama3-8B-1.58-100B-tokens", "TL1", "Kernels_1", 4096, 14336, 256, 128, 32],
  ["Llama3-8B-1.58-100B-tokens", "TL1", "Kernels_2", 1024, 4096, 128, 64, 64],
  ["Llama3-8B-1.58-100B-tokens", "TL1", "Kernels_3", 4096, 4096, 128, 64, 32],
  ["Llama3-8B-1.58-100B-tokens", "TL2", "Kernels_0", 14336, 4096, 256, 96, 32],
  ["Llama3-8B-1.58-100B-tokens", "TL2", "Kernels_1", 4096, 14336, 128, 96, 32],
  ["Llama3-8B-1.58-100B-tokens", "TL2", "Kernels_2", 1024, 4096, 256, 96, 32],
  ["Llama3-8B-1.58-100B-tokens", "TL2", "Kernels_3", 4096, 4096, 128, 96, 32],
];

/** One preset entry. */
export interface TlPreset extends TlTileConfig {
  /** The preset model folder (`bitnet_b1_58-3B`). */
  readonly model: string;
  /** TL1 or TL2. */
  readonly type: TlType;
  /** The ini section (`Kernels_1`). */
  readonly section: string;
}

/**
 * The built-in table of the official presets' configurations.
 *
 * @example
 * ```ts
 * import { tlPresets } from "./tl_config.ts";
 * tlPresets().filter((p) => p.type === "TL2").length; // 10
 * ```
 */
export function tlPresets(): TlPreset[] {
  return PRESETS.map(([model, type, section, m, k, BM, BK, bm]) => ({
    model,
    type,
    section,
    m,
    k,
    BM,
    BK,
    bm,
  }));
}

/**
 * Parses a bitnet.cpp `kernel_config.ini` (ConfigParser syntax: `[section]`, `key = value`,
 * `#`/`;` comments, keys case-insensitive, as codegen writes `M`, `K`, `BM`, `BK`, `bmm`).
 *
 * @throws {TlConfigError} `TL_BAD_INI` for a section without all five integer keys.
 *
 * @example
 * ```ts
 * import { parseKernelConfigIni } from "./tl_config.ts";
 * const file = parseKernelConfigIni("[Kernels_0]\nm = 3200\nk = 8640\nbm = 160\nbk = 96\nbmm = 32\n", "kernel_config.ini");
 * file.sections[0].BM; // 160
 * ```
 */
export function parseKernelConfigIni(text: string, path = "kernel_config.ini"): TlConfigFile {
  const sections: { section: string; values: Map<string, string>; line: number }[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      sections.push({ section: header[1].trim(), values: new Map(), line: i + 1 });
      continue;
    }
    const kv = /^([^=:]+)[=:](.*)$/.exec(line);
    if (!kv || sections.length === 0) {
      throw new TlConfigError(
        "TL_BAD_INI",
        `${path}:${i + 1}: expected [section] or key = value, got "${line}"`,
      );
    }
    sections[sections.length - 1].values.set(kv[1].trim().toLowerCase(), kv[2].trim());
  }
  return {
    path,
    sections: sections.map(({ section, values, line }) => {
      const get = (key: string): number => {
        const raw = values.get(key);
        const value = raw === undefined ? NaN : Number(raw);
        if (!Number.isSafeInteger(value) || value <= 0) {
          throw new TlConfigError(
            "TL_BAD_INI",
            `${path}:${line}: section [${section}] needs a positive integer "${key}", got ${
              raw === undefined ? "nothing" : `"${raw}"`
            }`,
          );
        }
        return value;
      };
      return { section, m: get("m"), k: get("k"), BM: get("bm"), BK: get("bk"), bm: get("bmm") };
    }),
  };
}

/**
 * Why `config` cannot describe a `type` tensor of `M` rows and `K` columns, or `null` when it
 * follows the rule in the module documentation.
 *
 * @example
 * ```ts
 * import { checkTlConfig } from "./tl_config.ts";
 * checkTlConfig("TL2", 3200, 8640, { m: 3200, k: 8640, BM: 160, BK: 96, bm: 32 }); // null
 * checkTlConfig("TL2", 4096, 1536, { m: 4096, k: 1536, BM: 256, BK: 96, bm: 64 }); // "bm must be 32 for TL2 …"
 * ```
 */
export function checkTlConfig(
  type: TlType,
  M: number,
  K: number,
  config: TlTileConfig,
): string | null {
  const { BM, BK, bm } = config;
  if (type === "TL1") {
    if (bm !== 32 && bm !== 64) return `bm must be 32 or 64 for TL1 (codegen_tl1.py), got ${bm}`;
    const by = 256 / bm;
    if (M % BM !== 0) return `M = ${M} is not a multiple of BM = ${BM}`;
    if (BM % bm !== 0) return `BM = ${BM} is not a multiple of bm = ${bm}`;
    if (K % BK !== 0) {
      return `K = ${K} is not a multiple of BK = ${BK} (codegen_tl1.py: K % BK should be 0)`;
    }
    if (BK % by !== 0) return `BK = ${BK} is not a multiple of by = 256/bm = ${by}`;
    return null;
  }
  if (bm !== 32) {
    return `bm must be 32 for TL2 (codegen_tl2.py asserts bm in [32]; with bm = ${bm} the converter's ` +
      `by = 192/bm = ${192 / bm} leaves no second triple per byte), got ${bm}`;
  }
  if (M % BM !== 0) return `M = ${M} is not a multiple of BM = ${BM}`;
  if (BM % 32 !== 0) return `BM = ${BM} is not a multiple of 32`;
  if (BK % 24 !== 0) return `BK = ${BK} is not a multiple of 24 (4·by columns per sign word)`;
  const tail = K % BK;
  if (tail % 32 !== 0) {
    return `K % BK = ${tail} is not a multiple of 32 (codegen_tl2.py: K % BK % 32 should be 0)`;
  }
  if (K < 256) return `K = ${K} is below 256, which the fork's TL2 size formula assumes`;
  if (tlDataBytes("TL2", M, K, config) > tl2PaddedBytes(M, K)) {
    return `K % BK = ${tail} is too long: the codes would overflow the fork's TL2 size formula`;
  }
  return null;
}

/** `(K−256)·M/3·5/8 + 256·M/2·4/8` in C integer arithmetic, left to right (the fork's `ggml_nbytes`). */
function tl2FormulaBytes(M: number, K: number): number {
  const three = Math.trunc(Math.trunc(Math.trunc((K - 256) * M / 3) * 5) / 8);
  const two = Math.trunc(Math.trunc(Math.trunc(256 * M / 2) * 4) / 8);
  return three + two;
}

/**
 * The TL2 bytes before the scale slot: the fork's formula rounded up to 32.
 *
 * @example
 * ```ts
 * import { tl2PaddedBytes } from "./tl_config.ts";
 * tl2PaddedBytes(2560, 2560); // 1392640
 * ```
 */
export function tl2PaddedBytes(M: number, K: number): number {
  return Math.ceil(tl2FormulaBytes(M, K) / 32) * 32;
}

/**
 * Bytes of codes a configuration produces (without the zero padding and the scale slot): TL1
 * `M·K/4`; TL2 `M·K3/6` index bytes + `M·K3/24` sign bytes + `M·(K−K3)/4` tail bytes, with
 * `K3 = K − K % BK`.
 *
 * @example
 * ```ts
 * import { tlDataBytes } from "./tl_config.ts";
 * tlDataBytes("TL2", 256, 256, { m: 256, k: 256, BM: 256, BK: 96, bm: 32 }); // 14336
 * ```
 */
export function tlDataBytes(type: TlType, M: number, K: number, config: TlTileConfig): number {
  if (type === "TL1") return M * K / 4;
  const k3 = K - K % config.BK;
  return M * k3 / 6 + M * k3 / 24 + M * (K - k3) / 4;
}

/**
 * Byte offset of the f32 scale in a TL tensor: TL1 at `M·K/4` (codegen_tl1.py's transform reads
 * `qweights + k*m/4`), TL2 at `pad32((K−256)·M/3·5/8 + 256·M/2·4/8)` (codegen_tl2.py's transform
 * and the oracle's `include/bitnet-lut-kernels.h`; the older preset TL2 headers read `k*m/4`, which
 * is not where the fork's gguf writer puts it). The tensor is that plus 32 bytes.
 *
 * @example
 * ```ts
 * import { tlScaleOffset } from "./tl_config.ts";
 * tlScaleOffset("TL1", 256, 256); // 16384
 * tlScaleOffset("TL2", 256, 256); // 16384
 * ```
 */
export function tlScaleOffset(type: TlType, M: number, K: number): number {
  return type === "TL1" ? M * K / 4 : tl2PaddedBytes(M, K);
}

/** Options that say where TL configurations come from. */
export interface TlConfigOptions {
  /** A parsed `kernel_config.ini` (`--tl-config`); searched before the built-in presets. */
  tlConfig?: TlConfigFile;
}

/**
 * Which configuration applies to a `type` tensor of ggml dims `[K, M]`, and where it came from:
 * the caller's `kernel_config.ini` first, then the built-in presets; `null` when neither has the
 * shape. The result is not checked against the rule; {@link resolveTlConfig} does that.
 *
 * @example
 * ```ts
 * import { findTlConfig } from "./tl_config.ts";
 * findTlConfig("TL2", [8640, 3200])?.origin; // "preset bitnet_b1_58-3B kernel_config_tl2.ini [Kernels_0]"
 * ```
 */
export function findTlConfig(
  type: TlType,
  dims: readonly number[],
  options: TlConfigOptions = {},
): TlConfigChoice | null {
  const K = dims[0] ?? 1;
  const M = dims.slice(1).reduce((a, b) => a * b, 1);
  const file = options.tlConfig?.sections.find((s) => s.m === M && s.k === K);
  if (file && options.tlConfig) {
    return { config: file, source: "file", origin: `${options.tlConfig.path} [${file.section}]` };
  }
  const preset = PRESETS.find((p) => p[1] === type && p[3] === M && p[4] === K);
  if (preset) {
    const [model, , section, m, k, BM, BK, bm] = preset;
    return {
      config: { m, k, BM, BK, bm },
      source: "preset",
      origin: `preset ${model} kernel_config_${type.toLowerCase()}.ini [${section}]`,
    };
  }
  return null;
}

/**
 * Like {@link findTlConfig}, but a missing or invalid configuration is a {@link TlConfigError}
 * that names the tensor's shape and what to pass.
 *
 * @example
 * ```ts
 * import { resolveTlConfig } from "./tl_config.ts";
 * resolveTlConfig("TL1", [1536, 1536]).config.BM; // 128
 * ```
 */
export function resolveTlConfig(
  type: TlType,
  dims: readonly number[],
  options: TlConfigOptions = {},
  name = "tensor",
): TlConfigChoice {
  const K = dims[0] ?? 1;
  const M = dims.slice(1).reduce((a, b) => a * b, 1);
  const choice = findTlConfig(type, dims, options);
  if (!choice) {
    throw new TlConfigError(
      "TL_CONFIG_MISSING",
      `${name} is ${type} with M = ${M}, K = ${K} (ggml dims [${dims}]), and no tile configuration is known for that shape: ` +
        `${
          options.tlConfig
            ? `${options.tlConfig.path} has no section with m = ${M}, k = ${K}, and `
            : ""
        }` +
        `the built-in presets (bitnet_b1_58-large, bitnet_b1_58-3B, Llama3-8B-1.58) do not have it; ` +
        `pass the kernel_config.ini the model was converted with (--tl-config FILE, or the tlConfig option)`,
    );
  }
  const why = checkTlConfig(type, M, K, choice.config);
  if (why) {
    throw new TlConfigError(
      "TL_CONFIG_INVALID",
      `${name} (${type}, M = ${M}, K = ${K}): the configuration from ${choice.origin} cannot describe it: ${why}`,
    );
  }
  return choice;
}

/**
 * Reads and parses a `kernel_config.ini` file (`--tl-config FILE`).
 *
 * @throws {TlConfigError} `TL_BAD_INI` for unreadable content; Deno's errors for a missing file.
 *
 * @example
 * ```ts ignore
 * import { readKernelConfigIni } from "./tl_config.ts";
 * const tlConfig = await readKernelConfigIni("BitNet/include/kernel_config.ini");
 * ```
 */
export async function readKernelConfigIni(path: string): Promise<TlConfigFile> {
  return parseKernelConfigIni(await Deno.readTextFile(path), path);
}

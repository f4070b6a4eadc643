/**
 * What `inspect` says about TL1/TL2 tensors: whether a type is TL, and which tile configuration
 * applies. Apart from `./tl_tensor.ts` (which decodes, with the native kernels) so that `inspect`
 * does not load the decoders and the native library's bindings (start-up time);
 * `./tl_tensor.ts` re-exports both.
 *
 * @module
 */

import { findTlConfig, resolveTlConfig, type TlConfigOptions, type TlType } from "./tl_config.ts";

/**
 * Whether a type name is TL1 or TL2.
 *
 * @example
 * ```ts
 * import { isTlType } from "./tl_describe.ts";
 * isTlType("TL2"); // true
 * ```
 */
export function isTlType(name: string): name is TlType {
  return name === "TL1" || name === "TL2";
}

/**
 * Which configuration applies to a TL tensor, where it came from, and whether it is usable — for
 * `inspect`. Never throws for a missing or bad configuration; it says so instead.
 *
 * @example
 * ```ts
 * import { describeTlTensor } from "./tl_describe.ts";
 * describeTlTensor("TL2", [8640, 3200]); // "BM=160 BK=96 bm=32 (preset bitnet_b1_58-3B kernel_config_tl2.ini [Kernels_0])"
 * ```
 */
export function describeTlTensor(
  type: TlType,
  dims: readonly number[],
  options: TlConfigOptions = {},
): string {
  const choice = findTlConfig(type, dims, options);
  if (!choice) return "none known: pass --tl-config kernel_config.ini";
  const { BM, BK, bm } = choice.config;
  // the ini's file name only: tables stay narrow (the JSON of inspect keeps the whole path)
  const origin = choice.source === "file" && options.tlConfig
    ? choice.origin.slice(options.tlConfig.path.lastIndexOf("/") + 1)
    : choice.origin;
  const text = `BM=${BM} BK=${BK} bm=${bm} (${origin})`;
  try {
    resolveTlConfig(type, dims, options);
    return text;
  } catch (error) {
    return `${text} unusable: ${(error as Error).message.replace(/^.*cannot describe it: /, "")}`;
  }
}

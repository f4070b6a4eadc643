/**
 * The `--tl-config kernel_config.ini` option shared by the commands that read TL1/TL2 tensors
 * (`inspect`, `dequant`, `validate`, `load`, `run`, `quantize`).
 *
 * @module
 */

import type { TlConfigFile } from "../quant/tl_config.ts";

/** The help line of `--tl-config`. */
export const TL_CONFIG_HELP =
  "  --tl-config FILE     bitnet.cpp kernel_config.ini for TL1/TL2 tensors (else the official presets)";

/**
 * Reads the `--tl-config` file, or `undefined` when the option is absent.
 *
 * @example
 * ```ts ignore
 * import { tlConfigOption } from "./tl_option.ts";
 * const tlConfig = await tlConfigOption(values["tl-config"]);
 * ```
 */
export async function tlConfigOption(path: string | undefined): Promise<TlConfigFile | undefined> {
  if (path === undefined) return undefined;
  // imported only when the flag is given (start-up time of every command that offers it)
  const { readKernelConfigIni } = await import("../quant/tl_config.ts");
  try {
    return await readKernelConfigIni(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`--tl-config: ${path} does not exist`);
    }
    throw error;
  }
}

/** The `--tl-config` flag for `parseCommand`'s option table. */
export const TL_CONFIG_FLAG = { "tl-config": { type: "string" } } as const;

/**
 * `bitload quantize IN.gguf OUT.gguf --type Q8_0|Q4_0|TQ2_0|I2_S|F16|BF16|F32`: converts a model's
 * weight matrices (bit for bit as ggml's reference quantizers; I2_S by microsoft/BitNet's rule)
 * and writes OUT atomically.
 *
 * @module
 */

import { QuantError } from "../quant/errors.ts";
import { QUANTIZE_TYPES } from "../quant/quantize.ts";
import type { ModelTargetType } from "../quant/quantize_model.ts";

const TARGETS: readonly ModelTargetType[] = [...QUANTIZE_TYPES, "TL1", "TL2", "F32"];
import { formatBytes, table, UsageError } from "./output.ts";
import { TL_CONFIG_FLAG, tlConfigOption } from "./tl_option.ts";
import { progressBar } from "./progress.ts";
import {
  COMMON_FLAGS,
  FULL_FLAG,
  maxThreads,
  parseCommand,
  pick,
  threadsOption,
} from "./options.ts";

/** Help text of `bitload quantize`. */
export const QUANTIZE_HELP = `Usage: bitload quantize IN.gguf OUT.gguf --type TYPE [options]

Converts every weight matrix (2-D tensors whose rows are whole blocks) to TYPE; 1-D tensors
(norms, biases) are copied. Q8_0, Q4_0, TQ2_0, F16 and BF16 are bit for bit ggml's reference
quantizers; I2_S follows microsoft/BitNet (scale = max|x|, sign codes) and needs a BitNet
architecture. TL1/TL2 are bitnet.cpp's lookup-table layouts of the same ternary values and scale
(byte for byte its converter's), tiled per weight shape by the kernel_config.ini given with
--tl-config, else by the official presets (bitnet_b1_58-large, bitnet_b1_58-3B, Llama3-8B-1.58);
a shape with neither is refused. For TQ2_0, I2_S, TL1 and TL2, token_embd/output become F16 (they
are not ternary). OUT is written through a temporary file and a rename.

Options:
  --type TYPE     ${QUANTIZE_TYPES.join(", ")}, TL1, TL2, or F32 (dequantize the matrices)
  -m, --model IN  the input model (then only OUT.gguf is positional)
  -t, --threads N threads for dequantizing the source (default: all cores)
  --quiet         print only the summary line
  --tl-config F   bitnet.cpp kernel_config.ini for TL1/TL2 targets (else the official presets)
  --full          never cut a table cell with … (default: fit 100 columns)
  --json          print {in, out, type, converted, bytesIn, bytesOut, tensors} as JSON
  -h, --help      show this help`;

/**
 * Runs `quantize`; returns the exit code.
 *
 * @example
 * ```ts ignore
 * import { runQuantize } from "./quantize.ts";
 * await runQuantize(["in.gguf", "out.gguf", "--type", "Q8_0"], console.log);
 * ```
 */
export async function runQuantize(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals: given } = parseCommand("quantize", args, {
    ...pick("model", "threads"),
    type: { type: "string" },
    quiet: { type: "boolean" },
    ...TL_CONFIG_FLAG,
    ...FULL_FLAG,
    ...COMMON_FLAGS,
  });
  const positionals = values.model !== undefined ? [values.model, ...given] : given;
  if (values.help) {
    out(QUANTIZE_HELP);
    return 0;
  }
  if (positionals.length !== 2) {
    throw new UsageError("quantize needs IN.gguf and OUT.gguf (see bitload quantize --help)");
  }
  const type = (values.type ?? "").toUpperCase() as ModelTargetType;
  if (!TARGETS.includes(type)) {
    throw new UsageError(
      `--type must be one of ${TARGETS.join(", ")}, got "${values.type ?? ""}"`,
    );
  }
  const threads = threadsOption(values.threads) ?? maxThreads();
  const [inPath, outPath] = positionals;
  // the loader and the quantizers are imported past --help and the usage checks (start-up time)
  const { openGguf } = await import("../pipeline/open.ts");
  const { quantizeModel } = await import("../quant/quantize_model.ts");
  let report;
  const bar = progressBar("quantize");
  try {
    using model = await openGguf(inPath);
    report = await quantizeModel(model, outPath, type, {
      threads,
      tlConfig: await tlConfigOption(values["tl-config"]),
      onProgress: bar.update,
    });
  } catch (error) {
    if (error instanceof QuantError) throw error.withPath(inPath);
    throw error;
  } finally {
    bar.done();
  }
  const before = report.reduce((s, t) => s + t.bytesIn, 0);
  const after = report.reduce((s, t) => s + t.bytesOut, 0);
  const converted = report.filter((t) => t.from !== t.to).length;
  if (values.json) {
    out(JSON.stringify({
      in: inPath,
      out: outPath,
      type,
      converted,
      bytesIn: before,
      bytesOut: after,
      tensors: report.map((t) => ({ name: t.name, from: t.from, to: t.to, bytes: t.bytesOut })),
    }));
    return 0;
  }
  if (!values.quiet) {
    out(table([
      ["tensor", "from", "to", "bytes"],
      ...report.map((t) => [t.name, t.from, t.to, formatBytes(t.bytesOut)]),
    ], { full: values.full }));
  }
  out(
    `${inPath} → ${outPath}: ${converted} of ${report.length} tensors converted to ${type}, ${
      formatBytes(before)
    } → ${formatBytes(after)} of tensor data`,
  );
  return 0;
}

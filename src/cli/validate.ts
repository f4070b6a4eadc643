/**
 * `bitload validate FILE [--reference ggml] [--check-tensors] [--accuracy ORIGINAL.gguf]
 * [--determinism] [--sample N] [--json]`: structural validation always, the other checks on
 * request; a table per check (or the JSON report `{ok, checks, tensors}`); exit code 0 only when
 * every check passed.
 *
 * @module
 */

import { renderValidationReport, reportToJson } from "../validate/report.ts";
import { progressBar } from "./progress.ts";
import { UsageError } from "./output.ts";
import { TL_CONFIG_FLAG, tlConfigOption } from "./tl_option.ts";
import {
  COMMON_FLAGS,
  FULL_FLAG,
  integerOption,
  modelArgument,
  noMorePositionals,
  parseCommand,
  pick,
  threadsOption,
} from "./options.ts";

export { renderValidationReport } from "../validate/report.ts";

/** Help text of `bitload validate`. */
export const VALIDATE_HELP = `Usage: bitload validate FILE [options]

Validates a GGUF model. The reader's structural checks always run; the others on request.
Exit code 0 only when every check passed (a check whose reference is missing is NOT RUN and
fails the run).

Options:
  --reference ggml      cross-validate every tensor against ggml's own dequantizers
                        (libggml-base.so named by BITLOAD_GGML_LIB)
  --check-tensors       scan tensor data: non-finite floats and block scales, negative
                        scales where no quantizer writes one, I2_S code 3
  --accuracy ORIGINAL   compare with the original f32/f16/bf16 model: cosine, SNR, SNR loss,
                        KL of row softmaxes, dynamic range
  --determinism         dequantize repeatedly with 1, 2 and 4 threads and report the variance
  --sample N            limit crossval, accuracy and determinism to N tensors chosen with the
                        seed (BITNET_SEED, default 42 under BITNET_DETERMINISTIC=1)
  -m, --model FILE      the model (instead of the positional FILE)
  -t, --threads N       native worker threads (default: all cores)
  --tl-config FILE      bitnet.cpp kernel_config.ini for TL1/TL2 tensors (else the official presets)
  --all                 every tensor row (default: the first 20 of each check, failures first)
  --full                never cut a table cell with … (default: tables fit 100 columns)
  --json                print the JSON report {ok, checks, tensors}
  -h, --help            show this help

Environment: BITNET_DETERMINISTIC=1 requires bit-identical results; BITNET_SEED=N seeds sampling.`;

/**
 * Runs `validate` with `args`, writing to `out`; returns the exit code (0 all passed, 1 not).
 *
 * @example
 * ```ts ignore
 * import { runValidate } from "./validate.ts";
 * const code = await runValidate(["m.gguf", "--check-tensors"], console.log);
 * ```
 */
export async function runValidate(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("validate", args, {
    ...pick("model", "check-tensors", "threads"),
    reference: { type: "string" },
    accuracy: { type: "string" },
    determinism: { type: "boolean" },
    sample: { type: "string" },
    ...TL_CONFIG_FLAG,
    all: { type: "boolean" },
    ...FULL_FLAG,
    ...COMMON_FLAGS,
  });
  if (values.help) {
    out(VALIDATE_HELP);
    return 0;
  }
  const { file, rest } = modelArgument("validate", values, positionals);
  noMorePositionals("validate", rest);
  if (values.reference !== undefined && values.reference !== "ggml") {
    throw new UsageError(`--reference must be "ggml", got "${values.reference}"`);
  }
  // the checks (the loader, the dequantizers, ggml's library) are imported past --help
  const { determinismSettings } = await import("../validate/determinism.ts");
  const { validateModel } = await import("../validate/validate.ts");
  // with a cached kernel library open, the header's vocabulary is scanned natively (faster);
  // nothing is built or printed for it
  (await import("../../ffi/native.ts")).openCachedNativeLibrary();
  let settings;
  try {
    settings = determinismSettings();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const bar = progressBar("validate");
  const report = await validateModel(file, {
    onProgress: (done, total, check) => bar.update(done, total, check),
    tlConfig: await tlConfigOption(values["tl-config"]),
    reference: values.reference as "ggml" | undefined,
    checkTensors: values["check-tensors"] ?? false,
    accuracy: values.accuracy,
    determinism: values.determinism ?? false,
    sample: integerOption("sample", values.sample, 1),
    threads: threadsOption(values.threads),
    settings,
  }).finally(() => bar.done());
  out(
    values.json ? reportToJson(report) : renderValidationReport(report, {
      maxRows: values.all ? Infinity : undefined,
      full: values.full,
    }),
  );
  return report.ok ? 0 : 1;
}

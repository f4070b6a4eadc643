/**
 * `bitload validate FILE [--reference ggml] [--check-tensors] [--accuracy ORIGINAL.gguf]
 * [--determinism] [--sample N] [--json]`: structural validation always, the other checks on
 * request; a table per check (or the JSON report `{ok, checks, tensors}`); exit code 0 only when
 * every check passed.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { renderValidationReport, reportToJson } from "../validate/report.ts";
import { validateModel } from "../validate/validate.ts";
import { determinismSettings } from "../validate/determinism.ts";
import { integerOption, UsageError } from "./output.ts";

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
  --threads N           native worker threads (default: all cores)
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
  const { values, positionals } = parseArgs({
    args,
    options: {
      reference: { type: "string" },
      "check-tensors": { type: "boolean" },
      accuracy: { type: "string" },
      determinism: { type: "boolean" },
      sample: { type: "string" },
      threads: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  if (values.help) {
    out(VALIDATE_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError("validate needs one FILE (see bitload validate --help)");
  }
  if (values.reference !== undefined && values.reference !== "ggml") {
    throw new UsageError(`--reference must be "ggml", got "${values.reference}"`);
  }
  let settings;
  try {
    settings = determinismSettings();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const report = await validateModel(positionals[0], {
    reference: values.reference as "ggml" | undefined,
    checkTensors: values["check-tensors"] ?? false,
    accuracy: values.accuracy,
    determinism: values.determinism ?? false,
    sample: integerOption("sample", values.sample, 1),
    threads: integerOption("threads", values.threads, 1),
    settings,
  });
  out(values.json ? reportToJson(report) : renderValidationReport(report));
  return report.ok ? 0 : 1;
}

/**
 * `bitload demo [FILE]`: shows what bitload does with a model. With no FILE (and no
 * `BITNET_GGUF`), it first writes the built-in default, a synthetic BitNet b1.58 model, to a
 * temporary directory.
 *
 * @module
 */

import { join } from "node:path";
import { summarizeModel } from "../gguf/summary.ts";
import { synthesizeBitnetModel } from "../synth/bitnet_model.ts";
import { openGguf } from "../pipeline/open.ts";
import { renderSummary, renderTensors } from "./inspect.ts";
import { renderMemoryReport } from "./load.ts";
import { renderPlan } from "./plan.ts";
import { detectDevices, parseDeviceSpec } from "../plan/devices.ts";
import { renderValidationReport } from "../validate/report.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { progressBar } from "./progress.ts";
import { bold, dim, envVar, formatBytes } from "./output.ts";
import { parseSynthOptions, SYNTH_FLAGS } from "./synth.ts";
import { COMMON_FLAGS, modelArgument, noMorePositionals, parseCommand, pick } from "./options.ts";

/** Help text of `bitload demo`. */
export const DEMO_HELP = `Usage: bitload demo [FILE] [--keep] [synth options]

Runs bitload's main job on a model: the inspection summary and tensor table, the placement
plan (this machine, and a simulated two-GPU one), a progressive zero-copy load with its
memory report, a few generated tokens, and a validation against ggml.
FILE defaults to $BITNET_GGUF; without either, a synthetic BitNet b1.58 model is written
to a temporary directory first (see bitload synth --help for its options).

Options:
  --keep        keep the synthetic model instead of deleting it afterwards
  -h, --help    show this help

Permissions: --allow-read, --allow-write (temporary directory), --allow-env.`;

/** Runs `demo`; returns the exit code. */
export async function runDemo(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("demo", args, {
    ...SYNTH_FLAGS,
    ...pick("model"),
    keep: { type: "boolean" },
    ...COMMON_FLAGS,
  });
  if (values.help) {
    out(DEMO_HELP);
    return 0;
  }
  let file: string | undefined;
  if (values.model !== undefined || positionals.length > 0 || envVar("BITNET_GGUF")) {
    const named = modelArgument("demo", values, positionals, envVar("BITNET_GGUF"));
    noMorePositionals("demo", named.rest);
    file = named.file;
  }
  let tempDir: string | undefined;
  if (!file) {
    tempDir = await Deno.makeTempDir({ prefix: "bitload-demo-" });
    file = join(tempDir, "synthetic-bitnet-b1.58.gguf");
    const started = performance.now();
    await synthesizeBitnetModel(file, parseSynthOptions(values));
    const size = (await Deno.stat(file)).size;
    out(
      bold("bitload demo") +
        dim(` — no model given, so bitload wrote a synthetic BitNet b1.58 model first`),
    );
    out(`wrote ${file} (${formatBytes(size)}) in ${(performance.now() - started).toFixed(0)} ms\n`);
  } else {
    out(bold("bitload demo") + dim(` — ${file}\n`));
  }
  try {
    // the one open of the file: every stage below works on this object and its one mapping
    const started = performance.now();
    await using model = await openGguf(file);
    const parsedMs = performance.now() - started;
    out(renderSummary(file, summarizeModel(model)));
    out(dim(`\n  header parsed in ${parsedMs.toFixed(1)} ms (tensor data not read)\n`));
    out(renderTensors(model));
    out("");
    const notes: string[] = [];
    const prompt = "The quick brown fox jumps over the lazy dog.";
    let tokenizer: Tokenizer | undefined;
    let ids: Int32Array | undefined;
    try {
      tokenizer = Tokenizer.fromMetadata(model.metadata, { warn: (m) => notes.push(m) });
      ids = tokenizer.encode(prompt, { addSpecial: true });
      out(
        bold("  tokenizer") + dim(` (${tokenizer.vocabSize} tokens, from the file's own metadata)`),
      );
      out(`  ${JSON.stringify(prompt)} → ${ids.length} ids [${[...ids].join(", ")}]`);
      out(`  decoded back: ${JSON.stringify(tokenizer.decode(ids, { skipSpecial: true }))}`);
      for (const n of notes) out(dim(`  note: ${n}`));
    } catch (e) {
      out(dim(`  tokenizer skipped: ${(e as Error).message}`));
    }
    out("");
    const real = detectDevices();
    out(renderPlan(model.plan({ devices: real }), { file, devices: real }));
    out("");
    const simulated = parseDeviceSpec("cpu:16GiB,cuda0:8GiB,cuda1:4GiB");
    out(
      dim(
        "  the same model on a simulated machine with two GPUs (--devices cpu:16GiB,cuda0:8GiB,cuda1:4GiB):",
      ),
    );
    out(
      renderPlan(model.plan({ devices: simulated, strategy: "split" }), {
        file,
        devices: simulated,
      }),
    );
    out("");
    out(
      bold("  progressive load") +
        dim(" (critical tensors, then layers in batches of 2, then the rest)"),
    );
    const bar = progressBar("load");
    using loaded = await model.load({
      batchLayers: 2,
      progressive: true,
      onProgress: (e) =>
        bar.update(e.bytesDone, e.bytesTotal, `load [batch ${e.batch + 1}/${e.batches}]`),
    });
    bar.done();
    for (const b of loaded.plan.batches) {
      out(
        `  batch ${b.index}: ${b.kind}${
          b.layers ? ` ${b.layers[0]}–${b.layers[1]}` : ""
        }, ${b.tensors.length} tensors, ${formatBytes(b.bytes)}`,
      );
    }
    out(renderMemoryReport({ ...loaded.report, warnings: [...loaded.warnings] }));
    out("");
    out(
      bold("  generation") +
        dim(tempDir ? " (greedy; the weights are random, so the text is too)" : " (greedy)"),
    );
    try {
      if (!tokenizer || !ids) throw new Error("no tokenizer for the prompt");
      using engine = await loaded.engine();
      const { text, tokens, stats: result } = await engine.complete([...ids], {
        maxTokens: 8,
        temperature: 0,
      });
      out(`  ${JSON.stringify(prompt)} → ${JSON.stringify(text)}`);
      out(
        `  ${tokens.length} tokens with ${engine.model.kernelInfo}; prompt ${
          result.promptTokensPerSecond.toFixed(0)
        } tok/s, generation ${
          result.generationTokensPerSecond.toFixed(0)
        } tok/s, first token after ${result.timeToFirstTokenMs.toFixed(1)} ms`,
      );
    } catch (e) {
      out(dim(`  generation skipped: ${(e as Error).message}`));
    }
    out("");
    out(bold("  validation") + dim(" (cross-validation against ggml, tensor-data checks)"));
    out(
      renderValidationReport(await loaded.validate({ reference: "ggml", checkTensors: true })),
    );
  } finally {
    if (tempDir && !values.keep) await Deno.remove(tempDir, { recursive: true });
    else if (tempDir) out(dim(`\nkept ${file}`));
  }
  return 0;
}

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
import { renderTensors } from "./inspect.ts";
import { renderMemoryReport } from "./load.ts";
import { renderPlan } from "./plan.ts";
import { renderValidationReport } from "../validate/report.ts";
import { progressBar } from "./progress.ts";
import { bold, cyan, dim, envVar, formatBytes, formatCount, wrap, yellow } from "./output.ts";
import { parseSynthOptions, SYNTH_FLAGS } from "./synth.ts";
import {
  COMMON_FLAGS,
  FULL_FLAG,
  modelArgument,
  noMorePositionals,
  parseCommand,
  pick,
} from "./options.ts";

/** Help text of `bitload demo`. */
export const DEMO_HELP = `Usage: bitload demo [FILE] [options] [synth options]

Runs bitload's main job on a model and tells it in one screen: what the file holds, where it
fits on this machine, how fast it loads (progressively, zero-copy), a generated sentence, and
whether it validates (tensor data; against ggml too when BITLOAD_GGML_LIB names libggml-base).
FILE defaults to $BITNET_GGUF; without either, a synthetic BitNet b1.58 model is written
to a temporary directory first (see bitload synth --help for its options).

Options:
  -m, --model FILE  the model (instead of the positional FILE)
  --tensors     also the tensor table
  --plan        also the full placement plans (this machine and a simulated two-GPU one)
  --load        also the load batches and the memory report
  --validate    also the full validation report
  --details     all of the above
  --full        never cut a table cell with … (default: tables fit 100 columns)
  --json        print the story as one JSON object
  --keep        keep the synthetic model instead of deleting it afterwards
  -h, --help    show this help

Permissions: --allow-read, --allow-write (temporary directory), --allow-env, --allow-ffi.`;

/** The sentence the demo tokenizes and continues. */
const PROMPT = "The quick brown fox jumps over the lazy dog.";

/** Runs `demo`; returns the exit code (0 when the model validated). */
export async function runDemo(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("demo", args, {
    ...SYNTH_FLAGS,
    ...pick("model"),
    keep: { type: "boolean" },
    tensors: { type: "boolean" },
    plan: { type: "boolean" },
    load: { type: "boolean" },
    validate: { type: "boolean" },
    details: { type: "boolean" },
    ...FULL_FLAG,
    ...COMMON_FLAGS,
  });
  if (values.help) {
    out(DEMO_HELP);
    return 0;
  }
  // the stages' modules (loader, planner, tokenizer, validation) are imported past --help
  const { openGguf } = await import("../pipeline/open.ts");
  const { detectDevices, parseDeviceSpec } = await import("../plan/devices.ts");
  const { Tokenizer } = await import("../tokenizer/tokenizer.ts");
  const { findGgmlReferenceLibrary } = await import("../validate/ggml_reference.ts");
  const all = values.details === true;
  const show = {
    tensors: all || values.tensors === true,
    plan: all || values.plan === true,
    load: all || values.load === true,
    validate: all || values.validate === true,
  };
  const fit = { full: values.full };
  const json = values.json === true;
  const say = json ? () => {} : out;
  let file: string | undefined;
  if (values.model !== undefined || positionals.length > 0 || envVar("BITNET_GGUF")) {
    const named = modelArgument("demo", values, positionals, envVar("BITNET_GGUF"));
    noMorePositionals("demo", named.rest);
    file = named.file;
  }
  let tempDir: string | undefined;
  const row = (label: string, text: string) => say(`  ${cyan(label.padEnd(9))}${text}`);
  const more = (text: string, style: (s: string) => string = dim) =>
    say(wrap(text, 100, " ".repeat(11)).split("\n").map((l) => style(l)).join("\n"));
  if (!file) {
    tempDir = await Deno.makeTempDir({ prefix: "bitload-demo-" });
    file = join(tempDir, "synthetic-bitnet-b1.58.gguf");
    const started = performance.now();
    await synthesizeBitnetModel(file, parseSynthOptions(values));
    const size = (await Deno.stat(file)).size;
    say(
      bold("bitload demo") +
        dim(
          ` — no model given, so bitload wrote a synthetic BitNet b1.58 model (${
            formatBytes(size)
          }, ${(performance.now() - started).toFixed(0)} ms)`,
        ),
    );
  } else say(bold("bitload demo") + dim(` — ${file}`));
  say("");
  try {
    // What the file holds. The one open of the file: every stage below works on this object
    // and its one mapping.
    const started = performance.now();
    await using model = await openGguf(file);
    const parsedMs = performance.now() - started;
    const summary = summarizeModel(model);
    row("file", file);
    const mix = summary.quantMix.map((q) =>
      `${q.type} ${Math.round(100 * q.bytes / Math.max(1, summary.tensorBytes))} %`
    ).join(", ");
    row(
      "holds",
      `${summary.architecture ?? "unknown architecture"}, ${
        formatCount(summary.parameters)
      } parameters in ${model.tensors.length} tensors (${
        formatBytes(summary.tensorBytes)
      }): ${mix}`,
    );
    more(
      `context ${summary.contextLength ?? "-"}, ${summary.blockCount ?? "-"} layers, ${
        summary.vocabSize ?? "-"
      }-token ${summary.tokenizerModel ?? "no"} vocabulary; header read in ${
        parsedMs.toFixed(1)
      } ms, no tensor data`,
    );
    for (const w of summary.warnings) more(`warning: ${w}`, yellow);

    // Where it fits.
    const real = detectDevices();
    const plan = model.plan({ devices: real });
    const cpu = plan.devices.find((d) => d.kind === "cpu");
    row(
      "fits",
      `this machine (${real.map((d) => d.name).join(", ")}): ${
        plan.status === "ok" ? "fits" : yellow(plan.status)
      }, ctx ${plan.ctx}, ${
        formatBytes(plan.devices.reduce((a, d) => a + d.reserved, 0))
      } reserved${
        cpu ? ` of ${formatBytes(cpu.available)} available` : ""
      }, -ngl ${plan.gpuLayers}`,
    );
    const simulatedSpec = "cpu:16GiB,cuda0:8GiB,cuda1:4GiB";
    const simulated = parseDeviceSpec(simulatedSpec);
    const split = model.plan({ devices: simulated, strategy: "split" });
    const leftOut = split.warnings.filter((w) => / is not used: /.test(w));
    more(
      `with two simulated GPUs (${simulatedSpec}): ${
        leftOut.length > 0
          ? "they stay unused, " + leftOut[0].replace(/^.*?weights \((.*)\).*$/, "$1")
          : `${split.resolved}, -ngl ${split.gpuLayers}, ${
            split.status === "ok" ? "fits" : split.status
          }`
      }`,
    );
    if (show.plan) {
      say("");
      say(renderPlan(plan, { file, devices: real, full: values.full }));
      say("");
      say(renderPlan(split, { file, devices: simulated, full: values.full }));
      say("");
    }

    // How fast it loads.
    const bar = progressBar("load");
    using loaded = await model.load({
      batchLayers: 2,
      progressive: true,
      onProgress: (e) =>
        bar.update(e.bytesDone, e.bytesTotal, `load [batch ${e.batch + 1}/${e.batches}]`),
    });
    bar.done();
    const r = loaded.report;
    row(
      "loaded",
      `${formatBytes(r.fileBytes)} in ${loaded.plan.batches.length} batches, ${
        r.mapped ? "zero-copy (mmap)" : "read"
      }, ${(r.seconds * 1000).toFixed(1)} ms, +${
        formatBytes(Math.max(0, r.peakRssBytes))
      } resident${r.measured ? ` (multiplier ${r.multiplier.toFixed(2)})` : ""}`,
    );
    if (show.load) {
      say("");
      for (const b of loaded.plan.batches) {
        say(
          `  batch ${b.index}: ${b.kind}${
            b.layers ? ` ${b.layers[0]}–${b.layers[1]}` : ""
          }, ${b.tensors.length} tensors, ${formatBytes(b.bytes)}`,
        );
      }
      say(renderMemoryReport({ ...r, warnings: [...loaded.warnings] }));
      say("");
    }

    // A generated sentence.
    let generation: Record<string, unknown> | null = null;
    try {
      const tokenizer = Tokenizer.fromMetadata(model.metadata, { warn: () => {} });
      const ids = tokenizer.encode(PROMPT, { addSpecial: true });
      using engine = await loaded.engine();
      const { text, tokens, stats: result } = await engine.complete([...ids], {
        maxTokens: 8,
        temperature: 0,
      });
      const infer = engine.model;
      generation = {
        prompt: PROMPT,
        text,
        promptTokens: ids.length,
        tokens: tokens.length,
        kernels: infer.kernelInfo,
        promptTokensPerSecond: Math.round(result.promptTokensPerSecond),
        generationTokensPerSecond: Math.round(result.generationTokensPerSecond),
      };
      row("says", `${JSON.stringify(PROMPT)} → ${JSON.stringify(text)}`);
      more(
        `${tokens.length} tokens, greedy, ${
          result.generationTokensPerSecond.toFixed(0)
        } tok/s with ${infer.kernelInfo}${
          tempDir ? "; the weights are random, so the text is too" : ""
        }`,
      );
    } catch (e) {
      row("says", dim(`(generation skipped: ${(e as Error).message.split("\n")[0]})`));
    }

    // Whether it validates.
    const reference = findGgmlReferenceLibrary() !== null;
    const report = await loaded.validate({
      reference: reference ? "ggml" : undefined,
      checkTensors: true,
    });
    const checks = report.checks.map((c) =>
      `${c.name} ${c.status === "pass" ? "pass" : yellow(c.status.toUpperCase())}`
    ).join(", ");
    row("valid", `${report.ok ? "validated" : yellow("validation FAILED")}: ${checks}`);
    if (!reference) {
      more("crossval against ggml: set BITLOAD_GGML_LIB to a libggml-base.so to add it");
    }
    if (show.validate) {
      say("");
      say(renderValidationReport(report, { full: values.full }));
    }
    if (show.tensors) {
      say("");
      say(renderTensors(model, undefined, fit));
    }
    if (!show.plan || !show.load || !show.validate || !show.tensors) {
      say("");
      say(dim("details: --tensors, --plan, --load, --validate, or --details for all"));
    }
    if (json) {
      out(JSON.stringify({
        file,
        synthetic: tempDir !== undefined,
        architecture: summary.architecture ?? null,
        parameters: summary.parameters,
        tensorBytes: summary.tensorBytes,
        plan: {
          status: plan.status,
          resolved: plan.resolved,
          gpuLayers: plan.gpuLayers,
          ctx: plan.ctx,
          reservedBytes: plan.devices.reduce((a, d) => a + d.reserved, 0),
        },
        load: {
          seconds: r.seconds,
          peakRssBytes: r.peakRssBytes,
          ok: r.ok,
          batches: loaded.plan.batches.length,
          mapped: r.mapped,
        },
        generation,
        validation: {
          ok: report.ok,
          checks: report.checks.map((c) => ({ name: c.name, status: c.status })),
        },
      }));
    }
    return report.ok ? 0 : 1;
  } finally {
    if (tempDir && !values.keep) await Deno.remove(tempDir, { recursive: true });
    else if (tempDir) say(dim(`\nkept ${file}`));
  }
}

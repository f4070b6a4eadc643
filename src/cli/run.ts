/**
 * `bitload run FILE -p PROMPT [-n N] [--temp T] [--seed S] [--threads N] [--json]`: generates
 * text with a GGUF model (bitnet-b1.58, bitnet, llama), streaming tokens as they come, then
 * prints prompt tok/s, generation tok/s, time to first token and peak memory, and (native
 * kernels) the decode roofline: bytes read per token × tok/s against the read bandwidth at the
 * same thread count (the "decode" object of --json; the probe is stored per machine, so only the
 * first run on a machine spends about 0.3 s on it) and the hypervisor's steal during generation.
 *
 * @module
 */

import { processMemory } from "../load/memory.ts";
import { cpuShareMeter, stealMeter, stealNote } from "../common/cpu_steal.ts";
import { type DecodeRoofline, decodeRoofline } from "../infer/decode_roofline.ts";
import { fitRunShape, type FittedRunShape, planRunMemory } from "../infer/run_memory.ts";
import { readModelConfig } from "../infer/config.ts";
import { memoryLimitFor, MIN_JUDGED_BYTES } from "../load/memory_report.ts";
import type { GgufMetadata } from "../gguf/metadata.ts";
import type { GgufTensorInfo } from "../gguf/model.ts";
import { progressBar } from "./progress.ts";
import { envVar, formatBytes, UsageError } from "./output.ts";
import { TL_CONFIG_FLAG, tlConfigOption } from "./tl_option.ts";
import {
  COMMON_FLAGS,
  integerOption,
  kvTypeOption,
  modelArgument,
  noMorePositionals,
  numberOption,
  parseCommand,
  pick,
  threadsOption,
} from "./options.ts";

/** Help text of `bitload run`. */
export const RUN_HELP =
  `Usage: bitload run FILE -p PROMPT [options]   (or -m FILE; FILE defaults to $BITNET_GGUF)

Generates text with the model: the prompt is tokenized with the model's own vocabulary, run as
one batch, then tokens are sampled one by one and printed as they come. At the end: prompt
tok/s, generation tok/s, time to first token and peak memory.

Options (llama.cpp's names):
  -m, --model FILE   the model (instead of the positional FILE)
  -p, --prompt TEXT  the prompt
  -f, --file PATH    read the prompt from a file
  --tokens IDS       the prompt as token ids (comma-separated) instead of text
  -n, --n-predict N  tokens to generate (default 32)
  --temp T           temperature; 0 = greedy (default 0)
  --top-k K          top-k sampling (default 40)
  --top-p P          top-p sampling, 0 to 1 (default 0.95)
  --seed S           sampling seed (default $BITNET_SEED, else 42)
  -t, --threads N    kernel threads (default: all hardware threads; more are clamped)
  -c, --ctx-size N   KV cache length (default min(training context, 2048); also --ctx)
  -ngl N             accepted for llama.cpp habits; the engine runs on the CPU (a notice if N > 0)
  --no-mmap          read the weights into memory instead of mapping them
  --mlock            lock the weights in memory
  --check-tensors    check the tensor data first (non-finite values, bad scales); exit 1 if bad
  --kv-type T        KV cache element type: f32 (default) or f16 (half the memory); the same
                     set as plan --kv-type (q8_0/q4_0 are llama.cpp-only)
  --backend B        native (C kernels) or ref (f32 reference, slow); default auto
  --lm-head q8       requantize the LM head to int8 at load (faster decoding, logits move <1%)
  --dequant M        types without an integer kernel (K-quants, IQ…): rows (default: dequantize
                     row by row in each product, memory = file size) or load (f32 copy at load)
  --no-eos           keep generating after the end-of-sequence token
  --pre NAME         the tokenizer's pre-tokenizer (as tokenizer.ggml.pre: llama-bpe, default,
                     …); without it a file with no pre but a well-known vocabulary (Llama-3's,
                     as in BitNet b1.58 2B-4T) uses that vocabulary's, with a notice
  --decode A         arithmetic of decode steps: batch (default: a token gives the same bits alone
                     or in a batch) or ggml (llama.cpp's / bitnet.cpp's one-token path: greedy
                     tokens identical to theirs, see docs/exactness.md)
  --tl-config FILE   bitnet.cpp kernel_config.ini for TL1/TL2 weights (else the official presets);
                     TL weights are transcoded to I2_S at load (same values and scale)
  --json             print one JSON object (token ids, text, timings) instead of streaming
  -h, --help         show this help

Kernel level: BITLOAD_SIMD=scalar|avx2|avx512 caps the SIMD level.
Permissions: --allow-read, --allow-ffi, --allow-env, --allow-run (first build of the kernels).`;

/** Parses `--decode batch|ggml`. */
function decodeOption(text: string | undefined): "batch" | "ggml" | undefined {
  if (text === undefined || text === "batch" || text === "ggml") return text;
  throw new UsageError(`--decode must be batch or ggml, got "${text}"`);
}

/** Peak resident set size in bytes (VmHWM), or the current RSS where /proc is unavailable. */
function peakRss(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(status);
    if (m) return Number(m[1]) * 1024;
  } catch { /* not Linux */ }
  return Deno.memoryUsage().rss;
}

/** {@link fitRunShape} for a file whose configuration can be read; undefined otherwise. */
function fitDefaults(
  metadata: GgufMetadata,
  tensors: readonly GgufTensorInfo[],
  options: Parameters<typeof fitRunShape>[1],
): FittedRunShape | undefined {
  try {
    const embd = tensors.find((t) => t.name === "token_embd.weight");
    return fitRunShape(readModelConfig(metadata, embd?.dims[1]), options);
  } catch {
    return undefined; // the engine reports what is wrong with the file
  }
}

/**
 * Runs `bitload run`; returns the exit code.
 *
 * @example
 * ```ts ignore
 * import { runRun } from "./run.ts";
 * await runRun(["model.gguf", "-p", "Hello", "-n", "16"], console.log);
 * ```
 */
export async function runRun(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("run", args, {
    ...pick("model", "prompt", "file", "n-predict", "temp", "top-k", "top-p", "seed", "threads"),
    ...pick("ctx-size"),
    tokens: { type: "string" },
    backend: { type: "string" },
    "lm-head": { type: "string" },
    dequant: { type: "string" },
    "kv-type": { type: "string" },
    "no-eos": { type: "boolean" },
    pre: { type: "string" },
    decode: { type: "string" },
    ...pick("mlock", "no-mmap", "check-tensors", "n-gpu-layers"),
    ...TL_CONFIG_FLAG,
    ...COMMON_FLAGS,
  });
  if (values.help) {
    out(RUN_HELP);
    return 0;
  }
  const { file, rest } = modelArgument("run", values, positionals, envVar("BITNET_GGUF"));
  noMorePositionals("run", rest);
  if (values.prompt !== undefined && values.file !== undefined) {
    throw new UsageError("give the prompt as -p TEXT or -f FILE, not both", { command: "run" });
  }
  const prompt = values.file !== undefined ? await Deno.readTextFile(values.file) : values.prompt;
  if (prompt === undefined && values.tokens === undefined) {
    throw new UsageError("bitload run needs a prompt: -p TEXT, -f FILE or --tokens 1,2,3");
  }
  const backend = values.backend ?? "auto";
  if (backend !== "auto" && backend !== "native" && backend !== "ref") {
    throw new UsageError(`--backend must be native, ref or auto, got "${backend}"`);
  }
  const kvType = values["kv-type"] === undefined
    ? undefined
    : kvTypeOption(values["kv-type"], "f32");
  const lmHead = values["lm-head"] ?? "stored";
  if (lmHead !== "stored" && lmHead !== "q8") {
    throw new UsageError(`--lm-head must be q8 or stored, got "${lmHead}"`);
  }
  const dequant = values.dequant ?? "rows";
  if (dequant !== "rows" && dequant !== "load") {
    throw new UsageError(`--dequant must be rows or load, got "${dequant}"`);
  }
  const threads = threadsOption(values.threads);
  const maxTokens = integerOption("n-predict", values["n-predict"], 0) ?? 32;
  const temperature = numberOption("temp", values.temp, { min: 0 }) ?? 0;
  const topK = integerOption("top-k", values["top-k"], 0) ?? 40;
  const topP = numberOption("top-p", values["top-p"], { min: 0, max: 1 }) ?? 0.95;
  const seed = integerOption("seed", values.seed ?? envVar("BITNET_SEED"), 0) ?? 42;
  const ctx = integerOption("ctx-size", values["ctx-size"], 1);

  const gpuLayers = integerOption("n-gpu-layers", values["n-gpu-layers"], 0);
  if (gpuLayers !== undefined && gpuLayers > 0) {
    console.error(
      `bitload run: the engine runs every layer on the CPU; -ngl ${gpuLayers} is ignored ` +
        `(bitload plan shows where llama.cpp would put them)`,
    );
  }
  // imported past --help (start-up time), before the load's clock starts
  const { faultGuard } = await import("../../ffi/fault_guard.ts");
  const { openGguf } = await import("../pipeline/open.ts");
  // the engine's modules too (the pipeline imports them lazily): compiled later, on top of a
  // mapped model, their transient compile memory raised the measured peak past the plan
  await import("../infer/engine.ts");
  const tLoad = performance.now();
  // the native library first (the mapping's fault guard needs it anyway): being open, it also
  // scans a large vocabulary's strings during the header parse
  faultGuard();
  // a cold model is read into the page cache while its header is parsed (load's read-ahead)
  await using opened = await openGguf(file, { readAhead: !values["no-mmap"] });
  const bar = progressBar("load");
  using loaded = await opened.load({
    mmap: !values["no-mmap"],
    mlock: values.mlock,
    onProgress: (e) => bar.update(e.bytesDone, e.bytesTotal),
  });
  bar.done();
  // The runtime's own resident set (Deno, V8, the parsed header and vocabulary) once the load
  // settled: what the process holds beyond the tensor data the load made resident.
  const afterLoad = processMemory()?.rss ?? 0;
  const runtimeBytes = Math.max(
    0,
    afterLoad - loaded.report.fileBackedBytes - loaded.report.anonBytes,
  );
  if (values["check-tensors"]) {
    const checked = await loaded.validate({ checkTensors: true });
    if (!checked.ok) {
      const bad = checked.checks.filter((c) => c.status !== "pass");
      throw new Error(`${file}: --check-tensors: ${bad.map((c) => c.summary).join("; ")}`);
    }
  }
  const fileBytes = opened.parts.reduce((n, p) => n + (p.fileSize ?? 0), 0);
  const weightBytes = opened.tensors.reduce((n, t) => n + t.byteSize, 0);
  const fit = fitDefaults(opened.metadata, opened.tensors, {
    fileBytes,
    limit: memoryLimitFor(fileBytes),
    judged: fileBytes >= MIN_JUDGED_BYTES,
    maxBatch: 64,
    given: { weights: weightBytes, weightCopies: 0, runtime: runtimeBytes },
    contextLength: ctx,
    kvType,
  });
  for (const note of fit?.notes ?? []) console.error(`bitload run: ${note}`);
  using engine = await loaded.engine({
    backend,
    threads,
    contextLength: fit?.contextLength ?? ctx,
    kvType: fit?.kvType ?? kvType ?? "f32",
    lmHead,
    dequantize: dequant,
    tlConfig: await tlConfigOption(values["tl-config"]),
    tokenizer: { pre: values.pre },
    decodeArithmetic: decodeOption(values.decode),
  });
  const model = engine.model;
  // Hold the KV cache and the arena now: the run's peak is then its plan, however many tokens.
  model.commitMemory();
  const allocated = model.allocatedBytes();
  const engineOther = Math.max(
    0,
    (processMemory()?.rss ?? 0) - afterLoad - allocated.kvCache - allocated.arena -
      allocated.logits - allocated.weightCopies,
  );
  const loadMs = performance.now() - tLoad;
  let promptIds: number[];
  if (values.tokens !== undefined) {
    promptIds = values.tokens.split(",").filter((s) => s.trim() !== "").map((s) => {
      const v = Number(s);
      if (!Number.isInteger(v) || v < 0) throw new UsageError(`--tokens: bad token id "${s}"`);
      return v;
    });
  } else {
    if (!engine.tokenizer) {
      throw new Error(
        `Cannot tokenize the prompt (${engine.tokenizerError}); pass --tokens 1,2,3 instead`,
      );
    }
    promptIds = engine.encode(prompt!);
  }
  if (promptIds.length === 0) throw new UsageError("The prompt has no tokens");

  const write = (s: string) => {
    if (!values.json && s) Deno.stdout.writeSync(new TextEncoder().encode(s));
  };
  let written = 0;
  // the hypervisor's share of the CPUs' time during generation (from the first token on, as
  // generation tok/s is timed)
  let steal: (() => number | null) | undefined;
  let cpuShare: (() => number | null) | undefined;
  const completion = await engine.complete(promptIds, {
    maxTokens,
    temperature,
    topK,
    topP,
    seed,
    stopOnEos: !values["no-eos"],
    onToken: (_id, piece) => {
      steal ??= stealMeter();
      cpuShare ??= cpuShareMeter(engine.model.threads);
      written += piece.length;
      write(piece);
    },
  });
  const stealFraction = steal?.() ?? null;
  const ranShare = cpuShare?.() ?? null;
  write(completion.text.slice(written)); // the decoder's tail (a split character at the end)
  write("\n");
  const result = { tokens: completion.tokens, ...completion.stats };
  const text = engine.tokenizer ? completion.text : null;
  const peak = peakRss();
  const c = model.config;
  const planned = planRunMemory(
    {
      config: c,
      contextLength: model.contextLength,
      maxBatch: model.maxBatch,
      kvType: model.kvType,
      slots: model.slotCount,
    },
    {
      weights: weightBytes,
      weightCopies: allocated.weightCopies,
      runtime: runtimeBytes,
      engineOther,
    },
  );
  const memory = {
    planned,
    allocated,
    limitBytes: Math.round(memoryLimitFor(fileBytes) * fileBytes),
    withinLimit: peak <= memoryLimitFor(fileBytes) * fileBytes,
    peakToFile: fileBytes > 0 ? Math.round(peak / fileBytes * 1000) / 1000 : 0,
    measuredPeakBytes: peak,
    plannedToMeasured: peak > 0 ? Math.round(planned.total / peak * 1000) / 1000 : 0,
  };
  // the decode step against the machine's read bandwidth (a stored probe, else probed after the run: ~0.3 s)
  const roofline = model.backend === "native" && result.tokens.length >= 2 &&
      result.generationTokensPerSecond > 0
    ? decodeRoofline(model, {
      tokensPerSecond: result.generationTokensPerSecond,
      contextTokens: promptIds.length + result.tokens.length / 2,
    })
    : undefined;
  if (values.json) {
    out(JSON.stringify({
      file,
      arch: c.arch,
      kernels: model.kernelInfo,
      projectionKernels: model.projectionKernels(),
      promptTokens: promptIds,
      tokens: result.tokens,
      text,
      stop: result.stop,
      loadMs: round(loadMs),
      ...(model.tlTranscode.tensors > 0
        ? {
          tlTranscode: {
            tensors: model.tlTranscode.tensors,
            ms: round(model.tlTranscode.ms),
            bytes: model.tlTranscode.bytes,
          },
        }
        : {}),
      promptMs: round(result.promptMs),
      timeToFirstTokenMs: round(result.timeToFirstTokenMs),
      promptTokensPerSecond: round(result.promptTokensPerSecond),
      generationTokensPerSecond: round(result.generationTokensPerSecond),
      peakRssBytes: peak,
      memory,
      ...(roofline ? { decode: decodeJson(roofline, stealFraction, ranShare) } : {}),
    }));
  } else {
    out(
      `${c.arch}, ${c.nLayer} layers, kernels ${model.kernelInfo} (${
        Object.entries(model.projectionKernels()).map(([type, k]) => `${type}: ${k}`).join(", ")
      }); load ${loadMs.toFixed(0)} ms${
        model.tlTranscode.tensors > 0
          ? ` (TL→I2_S transcode of ${model.tlTranscode.tensors} tensors: ${
            model.tlTranscode.ms.toFixed(0)
          } ms, ${formatBytes(model.tlTranscode.bytes)})`
          : ""
      }`,
    );
    out(
      `prompt: ${result.promptTokens} tokens, ${
        result.promptTokensPerSecond.toFixed(1)
      } tok/s; generation: ${result.tokens.length} tokens, ${
        result.generationTokensPerSecond.toFixed(1)
      } tok/s; first token ${result.timeToFirstTokenMs.toFixed(0)} ms; peak memory ${
        formatBytes(peak)
      } (stop: ${result.stop})`,
    );
    out(
      `memory planned ${formatBytes(planned.total)} = weights ${
        formatBytes(planned.weights)
      } + KV ${
        formatBytes(planned.kvCache)
      } (${model.contextLength} tokens, ${model.kvType}) + arena ${
        formatBytes(planned.arena + planned.logits)
      } + copies ${formatBytes(planned.weightCopies)} + runtime ${
        formatBytes(planned.runtime)
      } + tokenizer/library ${formatBytes(planned.engineOther)}; measured peak ${
        formatBytes(peak)
      } (planned ÷ measured ${memory.plannedToMeasured})`,
    );
    if (roofline) out(decodeLine(roofline, stealFraction, ranShare));
  }
  return 0;
}

/**
 * The `decode` object of `run --json` (`steal`: the hypervisor's share during generation; `ran`:
 * the share of threads × wall time the process ran).
 */
function decodeJson(r: DecodeRoofline, steal: number | null, ran: number | null) {
  const { kvCache, projections, head, norms, embeddingRow } = r.bytes;
  return {
    threads: r.threads,
    level: r.level,
    contextTokens: round(r.contextTokens),
    bytesPerToken: r.bytesPerToken,
    bytes: { projections, head, norms, embeddingRow, kvCache },
    bandwidthBytesPerSecond: Math.round(r.bandwidthBytesPerSecond),
    fractionOfBandwidth: Math.round(r.fractionOfBandwidth * 1000) / 1000,
    bandwidthBoundTokensPerSecond: round(r.bandwidthBoundTokensPerSecond),
    bandwidthSource: r.bandwidthSource,
    bandwidthMeasuredAt: r.bandwidthMeasuredAt,
    stealFraction: steal === null ? null : Math.round(steal * 1000) / 1000,
    cpuShare: ran === null ? null : Math.round(ran * 1000) / 1000,
    roofline: {
      int8MacsPerToken: r.ops.int8Macs,
      f32FmasPerToken: r.ops.f32Fmas,
      int8Instruction: r.int8Instruction,
      int8MacsPerSecond: Math.round(r.int8MacsPerSecond),
      f32FmasPerSecond: Math.round(r.f32FmasPerSecond),
      computeBoundTokensPerSecond: round(r.computeBoundTokensPerSecond),
      kernelBytesPerSecond: Math.round(r.kernelBytesPerSecond),
      kernelBoundTokensPerSecond: round(r.kernelBoundTokensPerSecond),
      bound: r.bound,
    },
  };
}

/**
 * One line: bytes per token × tok/s against the measured bandwidth, the ceilings, and the
 * hypervisor's steal during generation when it reached 1 %, and the share of the time the threads
 * ran when other processes took a tenth of it or more.
 */
function decodeLine(r: DecodeRoofline, steal: number | null, ran: number | null): string {
  const gb = (b: number) => (b / 1e9).toFixed(1);
  return `decode: ${(r.bytesPerToken / 1e6).toFixed(1)} MB/token × ${
    r.tokensPerSecond.toFixed(1)
  } tok/s = ${gb(r.bytesPerToken * r.tokensPerSecond)} GB/s of ${
    gb(r.bandwidthBytesPerSecond)
  } GB/s ${
    r.bandwidthSource === "cached" ? "stored" : "measured"
  } read bandwidth at ${r.threads} thread${r.threads === 1 ? "" : "s"} (${
    (r.fractionOfBandwidth * 100).toFixed(0)
  } %); ceilings: memory ${r.bandwidthBoundTokensPerSecond.toFixed(1)} tok/s, compute ${
    r.computeBoundTokensPerSecond.toFixed(1)
  } tok/s${
    r.kernelBoundTokensPerSecond > 0
      ? `, I2_S kernel ${r.kernelBoundTokensPerSecond.toFixed(1)} tok/s`
      : ""
  } (${r.bound}-bound)${stealNote(steal)}${
    ran !== null && ran < 0.9 ? `; threads ran ${(ran * 100).toFixed(0)} % of the time` : ""
  }`;
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

/**
 * The `bitload` command line: parses the command, runs it, and turns every failure into one
 * `bitload: …` line on stderr with a non-zero exit code (1 for bad input, 2 for bad usage).
 * `--debug` (or `BITLOAD_DEBUG=1`) also prints the stack.
 *
 * @module
 */

import {
  CancelledError,
  envVar,
  errorLine,
  EXIT_CANCELLED,
  EXIT_FAILURE,
  EXIT_USAGE,
  setColor,
  UsageError,
} from "./output.ts";
import denoConfig from "../../deno.json" with { type: "json" };

const HELP =
  `bitload ${denoConfig.version} — load GGUF models (BitNet b1.58 I2_S first, every ggml type after)

Usage: bitload <command> [options]

Commands:
  inspect FILE   show what a GGUF file holds (--json, --tensors, --kv KEY)
  load FILE      load a model progressively (mmap) and report memory use
  dequant FILE   write one tensor as f32 (--tensor NAME --out PATH)
  plan FILE      where the model fits: devices, KV cache, strategy, llama.cpp flags
  validate FILE  cross-validate against ggml, check tensor data, accuracy, determinism
  hash FILE      per-tensor sha256 manifest (--check MANIFEST verifies one)
  quantize IN OUT --type T   convert a model (Q8_0, Q4_0, TQ2_0, I2_S, F16, BF16, F32)
  tokenize       text → token ids with the model's own tokenizer (llama.cpp parity)
  detokenize     token ids → text
  run FILE       generate text: -p PROMPT [-n N] [--temp T] [--seed S] [--threads N] [--json]
  logits FILE    teacher-forced logits of every position (--tokens IDS [--json | --out F.bin])
  compare-logits A B   how two engines' logits agree (cosine, max |Δ|, argmax)
  serve FILE     OpenAI-compatible HTTP server with continuous batching (--port, --parallel)
  chat FILE      interactive chat with the model's chat template (--system TEXT, /reset, /exit)
  kernels        which dequantization kernels are in use
  bench          the benchmark suite with peers, targets and regression check
  synth OUT      write a synthetic BitNet b1.58 model
  demo [FILE]    run the main job on FILE, $BITNET_GGUF or a synthetic model

Every command takes --json (one JSON object; schemas in docs/schemas/) and -m FILE for its
model; llama.cpp's flags mean the same here (-p, -f, -n, -t, -c, -b, -ngl, -ts, --temp, --seed).
FILE may be a URL or hf://OWNER/REPO/FILE.gguf | hf://OWNER/REPO:QUANT for inspect and plan.

Global options:
  -h, --help     help (also: bitload <command> --help)
  -V, --version  print the version
  --no-color     no ANSI colours (also NO_COLOR=1)
  --debug        print stack traces on errors

Exit codes: 0 success, 1 failure (bad file, I/O), 2 usage error, 130 cancelled (Ctrl-C).`;

type Command = (args: string[], out: (s: string) => void) => Promise<number>;

/**
 * Each command's module and export, imported only when the command runs. The specifier is built
 * at run time on purpose: Deno loads every statically written `import("./x.ts")` of the graph at
 * start-up, so `bitload --help` would still parse all of bitload (the native library's bindings,
 * zod, the tokenizer, …). `deno task compile` names `src/cli/` with `--include` for that reason.
 */
const COMMANDS: Record<string, readonly [module: string, name: string]> = {
  inspect: ["./inspect.ts", "runInspect"],
  load: ["./load.ts", "runLoad"],
  dequant: ["./dequant.ts", "runDequant"],
  kernels: ["./dequant.ts", "runKernels"],
  plan: ["./plan.ts", "runPlan"],
  tokenize: ["./tokenize.ts", "runTokenize"],
  detokenize: ["./tokenize.ts", "runDetokenize"],
  validate: ["./validate.ts", "runValidate"],
  hash: ["./hash.ts", "runHash"],
  quantize: ["./quantize.ts", "runQuantize"],
  run: ["./run.ts", "runRun"],
  logits: ["./logits.ts", "runLogits"],
  "compare-logits": ["./logits.ts", "runCompareLogits"],
  serve: ["./serve.ts", "runServe"],
  chat: ["./chat.ts", "runChat"],
  bench: ["./bench.ts", "runBench"],
  synth: ["./synth.ts", "runSynth"],
  demo: ["./demo.ts", "runDemo"],
};

/** Every command's name, in the order of the help. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

async function loadCommand(name: string): Promise<Command> {
  const [module, exported] = COMMANDS[name];
  const m = await import(new URL(module, import.meta.url).href) as Record<string, Command>;
  return m[exported];
}

/** Runs the CLI with `args`; returns the exit code. Never throws. */
export async function main(args: string[]): Promise<number> {
  const out = (s: string) => console.log(s);
  let debug = envVar("BITLOAD_DEBUG") === "1";
  const rest: string[] = [];
  for (const a of args) {
    if (a === "--debug") debug = true;
    else if (a === "--no-color") setColor(false);
    else rest.push(a);
  }
  try {
    const [command, ...commandArgs] = rest;
    if (command === undefined || command === "-h" || command === "--help" || command === "help") {
      const topic = command === "help" ? commandArgs[0] : undefined;
      if (topic !== undefined && Object.hasOwn(COMMANDS, topic)) {
        return await (await loadCommand(topic))(["--help"], out);
      }
      out(HELP);
      return 0;
    }
    if (command === "-V" || command === "--version") {
      out(`bitload ${denoConfig.version}`);
      return 0;
    }
    if (!Object.hasOwn(COMMANDS, command)) {
      throw new UsageError(`unknown command "${command}" (see bitload --help)`);
    }
    return await (await loadCommand(command))(commandArgs, out);
  } catch (error) {
    const usage = error instanceof UsageError ||
      (error instanceof TypeError &&
        (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS"));
    console.error(errorLine(error));
    if (debug && error instanceof Error && error.stack) console.error(error.stack);
    return usage ? EXIT_USAGE : error instanceof CancelledError ? EXIT_CANCELLED : EXIT_FAILURE;
  }
}

if (import.meta.main) {
  Deno.exitCode = await main(Deno.args);
}

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
  kernels        which dequantization kernels are in use
  bench          the benchmark suite with peers, targets and regression check
  synth OUT      write a synthetic BitNet b1.58 model
  demo [FILE]    run the main job on FILE, $BITNET_GGUF or a synthetic model

Global options:
  -h, --help     help (also: bitload <command> --help)
  -V, --version  print the version
  --no-color     no ANSI colours (also NO_COLOR=1)
  --debug        print stack traces on errors

Exit codes: 0 success, 1 failure (bad file, I/O), 2 usage error, 130 cancelled (Ctrl-C).`;

type Command = (args: string[], out: (s: string) => void) => Promise<number>;

/**
 * Each command's module, imported only when the command runs: `bitload --help` and a command's
 * start-up pay for nothing they do not use (the native library, zod, the tokenizer, …).
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  inspect: () => import("./inspect.ts").then((m) => m.runInspect),
  load: () => import("./load.ts").then((m) => m.runLoad),
  dequant: () => import("./dequant.ts").then((m) => m.runDequant),
  kernels: () => import("./dequant.ts").then((m) => m.runKernels),
  plan: () => import("./plan.ts").then((m) => m.runPlan),
  tokenize: () => import("./tokenize.ts").then((m) => m.runTokenize),
  detokenize: () => import("./tokenize.ts").then((m) => m.runDetokenize),
  validate: () => import("./validate.ts").then((m) => m.runValidate),
  hash: () => import("./hash.ts").then((m) => m.runHash),
  quantize: () => import("./quantize.ts").then((m) => m.runQuantize),
  run: () => import("./run.ts").then((m) => m.runRun),
  bench: () => import("./bench.ts").then((m) => m.runBench),
  synth: () => import("./synth.ts").then((m) => m.runSynth),
  demo: () => import("./demo.ts").then((m) => m.runDemo),
};

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
      if (topic !== undefined && COMMANDS[topic]) {
        return await (await COMMANDS[topic]())(["--help"], out);
      }
      out(HELP);
      return 0;
    }
    if (command === "-V" || command === "--version") {
      out(`bitload ${denoConfig.version}`);
      return 0;
    }
    const load = COMMANDS[command];
    if (!load) throw new UsageError(`unknown command "${command}" (see bitload --help)`);
    return await (await load())(commandArgs, out);
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

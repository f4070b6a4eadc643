/**
 * `bitload serve FILE [--host H] [--port P] [--parallel N] [-c N] [-t N] [--api-key KEY]
 * [--max-queue N]`: an OpenAI-compatible HTTP server (chat and text completions, streaming or
 * not), llama-server's tokenize/detokenize, health and Prometheus metrics, with continuous
 * batching over N sequence slots. SIGINT/SIGTERM stop accepting, let in-flight requests finish
 * within `--shutdown-timeout` seconds, cancel the rest, and exit 0.
 *
 * @module
 */

import { basename } from "node:path";
import { envVar, UsageError } from "./output.ts";
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

/** Help text of `bitload serve`. */
export const SERVE_HELP =
  `Usage: bitload serve FILE [options]   (or -m FILE; FILE defaults to $BITNET_GGUF)

Serves the model over HTTP with OpenAI's API: POST /v1/chat/completions (the model's chat
template), POST /v1/completions, GET /v1/models, GET /health, GET /metrics (Prometheus), and
llama-server's POST /tokenize and POST /detokenize. Up to --parallel requests decode together:
each step advances every running sequence at once (continuous batching).

Options (llama-server's names):
  -m, --model FILE       the model (instead of the positional FILE)
  --host H               address to bind (default 127.0.0.1; nothing else listens)
  --port P               port (default 8080; 0 = any free port)
  -np, --parallel N      sequences decoded together (default 4)
  -c, --ctx-size N       KV cache length of each sequence (default min(training context, 2048))
  -b, --batch-size N     most tokens in one step, prompts included (default 64)
  -t, --threads N        kernel threads (default: tuned)
  --kv-type T            KV cache element type: f32 (default) or f16
  --lm-head q8           requantize the LM head to int8 at load (faster, batches better; logits
                         move <1%)
  --api-key KEY          require "Authorization: Bearer KEY" (401 otherwise; /health is open)
  --max-queue N          requests waiting for a slot at most; then 503 + Retry-After (default 64)
  --chat-template T      a built-in template (bitnet, llama3, chatml), a named template of the
                         file (tokenizer.chat_template.NAME) or a Jinja file
  -a, --alias NAME       model id in /v1/models (default: the file name)
  --shutdown-timeout S   seconds in-flight requests get after SIGINT/SIGTERM (default 10)
  --json                 print the listening address as one JSON line
  -h, --help             show this help

Permissions: --allow-net, --allow-read, --allow-ffi, --allow-env, --allow-run.`;

/**
 * Runs `bitload serve` until SIGINT/SIGTERM; returns the exit code.
 *
 * @example
 * ```ts ignore
 * import { runServe } from "./serve.ts";
 * await runServe(["model.gguf", "--port", "8080"], console.log);
 * ```
 */
export async function runServe(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("serve", args, {
    ...pick("model", "threads", "ctx-size", "batch-size"),
    host: { type: "string" },
    port: { type: "string" },
    parallel: { type: "string" },
    "api-key": { type: "string" },
    "max-queue": { type: "string" },
    "chat-template": { type: "string" },
    "kv-type": { type: "string" },
    "lm-head": { type: "string" },
    alias: { type: "string", short: "a" },
    "shutdown-timeout": { type: "string" },
    ...COMMON_FLAGS,
  });
  if (values.help) {
    out(SERVE_HELP);
    return 0;
  }
  const { file, rest } = modelArgument("serve", values, positionals, envVar("BITNET_GGUF"));
  noMorePositionals("serve", rest);
  const port = integerOption("port", values.port, 0) ?? 8080;
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const parallel = integerOption("parallel", values.parallel, 1) ?? 4;
  const ctx = integerOption("ctx-size", values["ctx-size"], 1);
  const maxBatch = integerOption("batch-size", values["batch-size"], 1) ?? 64;
  if (maxBatch < parallel) {
    throw new UsageError(`--batch-size (${maxBatch}) must be at least --parallel (${parallel})`);
  }
  const maxQueue = integerOption("max-queue", values["max-queue"], 0) ?? 64;
  const deadline = numberOption("shutdown-timeout", values["shutdown-timeout"], { min: 0 }) ?? 10;
  const threads = threadsOption(values.threads);
  const kvType = kvTypeOption(values["kv-type"], "f32");
  const lmHead = values["lm-head"] ?? "stored";
  if (lmHead !== "stored" && lmHead !== "q8") {
    throw new UsageError(`--lm-head must be q8 or stored, got "${lmHead}"`);
  }
  if (values["api-key"] === "") throw new UsageError("--api-key must not be empty");

  // the model, the engine and the server (zod schemas) are imported past --help (start-up time)
  const { openChatModel } = await import("../serve/open.ts");
  const { startServer } = await import("../serve/server.ts");
  using m = await openChatModel(file, {
    threads,
    contextLength: ctx,
    maxBatch,
    kvType,
    lmHead,
    parallel,
    chatTemplate: values["chat-template"],
  });
  if (m.chat.template.notice) console.error(`bitload: ${m.chat.template.notice}`);
  const id = values.alias ?? basename(file);
  const server = startServer({ id, engine: m.engine, tokenizer: m.tokenizer, chat: m.chat }, {
    host: values.host ?? "127.0.0.1",
    port,
    apiKey: values["api-key"],
    maxQueue,
  });
  const { hostname, port: bound } = server.addr;
  if (values.json) {
    out(JSON.stringify({
      url: `http://${hostname}:${bound}`,
      host: hostname,
      port: bound,
      model: id,
      parallel,
      contextLength: m.engine.contextLength,
      kernels: m.model.kernelInfo,
      chatTemplate: m.chat.template.name,
    }));
  } else {
    out(
      `bitload serve: ${id} on http://${hostname}:${bound} — ${parallel} sequences × ${m.engine.contextLength} tokens, kernels ${m.model.kernelInfo}, chat template ${m.chat.template.name}`,
    );
  }
  let stopping: Promise<void> | null = null;
  const stop = () => {
    if (stopping) return;
    console.error("bitload serve: stopping (in-flight requests finish, then exit)");
    stopping = server.shutdown(deadline * 1000);
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, stop);
  try {
    await server.finished;
    if (stopping) await stopping;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, stop);
  }
  return 0;
}

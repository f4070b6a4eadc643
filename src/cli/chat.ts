/**
 * `bitload chat FILE [--system TEXT]`: an interactive chat with the model's chat template.
 * Replies stream as they are generated; the conversation is kept within the context (the oldest
 * turns are dropped, with a notice, when it fills); `/reset` forgets it, `/exit` (or end of
 * input) leaves; Ctrl-C stops the current reply without leaving. After each reply: tokens,
 * tok/s and time to first token (on stderr, so a pipe's stdout holds only the replies).
 *
 * @module
 */

import type { ChatMessage } from "../chat/template.ts";
import { makeSampler } from "../infer/sample.ts";
import { type FinishReason, Scheduler } from "../serve/scheduler.ts";
import { StopTextStream } from "../serve/text.ts";
import { dim, envVar } from "./output.ts";
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

/** Help text of `bitload chat`. */
export const CHAT_HELP =
  `Usage: bitload chat FILE [options]   (or -m FILE; FILE defaults to $BITNET_GGUF)

Talks with the model through its chat template: type a message, the reply streams back.
Commands: /reset forgets the conversation, /exit leaves (so does end of input, Ctrl-D).
Ctrl-C stops the current reply and keeps the chat going. The conversation is kept within the
context: when it fills, the oldest turns are dropped (with a notice).

Options:
  -m, --model FILE     the model (instead of the positional FILE)
  --system TEXT        a system message at the start of the conversation
  -n, --n-predict N    tokens per reply at most (default -1: until the end of the turn)
  -c, --ctx-size N     context length (default min(training context, 2048))
  -t, --threads N      kernel threads (default: tuned)
  --temp T             temperature; 0 = greedy (default 0.8)
  --top-k K            top-k sampling (default 40)
  --top-p P            top-p sampling (default 0.95)
  --seed S             sampling seed (default 42)
  --kv-type T          KV cache element type: f32 (default) or f16
  --chat-template T    a built-in template (bitnet, llama3, chatml), a named template of the
                       file, or a Jinja file
  --json               for scripts: no prompt, no streaming; one JSON line per reply
                       ({reply, tokens, finishReason, promptTokens, droppedTurns,
                       tokensPerSecond, timeToFirstTokenMs})
  -h, --help           show this help

Permissions: --allow-read, --allow-ffi, --allow-env, --allow-run.`;

/** Lines of a byte stream (the last one may lack its newline). */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
    }
  }
  if (buf !== "") yield buf;
}

/**
 * Runs `bitload chat`; returns the exit code.
 *
 * @example
 * ```ts ignore
 * import { runChat } from "./chat.ts";
 * await runChat(["model.gguf", "--system", "Be brief."], console.log);
 * ```
 */
export async function runChat(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("chat", args, {
    ...pick("model", "n-predict", "ctx-size", "threads", "temp", "top-k", "top-p", "seed"),
    system: { type: "string" },
    "kv-type": { type: "string" },
    "chat-template": { type: "string" },
    ...COMMON_FLAGS,
  });
  if (values.help) {
    out(CHAT_HELP);
    return 0;
  }
  const { file, rest } = modelArgument("chat", values, positionals, envVar("BITNET_GGUF"));
  noMorePositionals("chat", rest);
  const nText = values["n-predict"];
  const maxReply = nText === "-1" ? undefined : integerOption("n-predict", nText, 1);
  const ctx = integerOption("ctx-size", values["ctx-size"], 1);
  const temperature = numberOption("temp", values.temp, { min: 0 }) ?? 0.8;
  const topK = integerOption("top-k", values["top-k"], 0) ?? 40;
  const topP = numberOption("top-p", values["top-p"], { min: 0, max: 1 }) ?? 0.95;
  const seed = integerOption("seed", values.seed, 0) ?? 42;

  // the model and the engine are imported past --help (start-up time)
  const { openChatModel } = await import("../serve/open.ts");
  using m = await openChatModel(file, {
    threads: threadsOption(values.threads),
    contextLength: ctx,
    kvType: kvTypeOption(values["kv-type"], "f32"),
    parallel: 1,
    chatTemplate: values["chat-template"],
  });
  const err = (s: string) => console.error(s);
  if (m.chat.template.notice) err(`bitload: ${m.chat.template.notice}`);
  const json = values.json === true;
  const tty = Deno.stdin.isTerminal() && !json;
  const context = m.engine.contextLength;
  const scheduler = new Scheduler(m.engine, { maxQueue: 0 });
  const sampler = makeSampler({ temperature, topK, topP, seed });
  const system: ChatMessage[] = values.system !== undefined
    ? [{ role: "system", content: values.system }]
    : [];
  let history: ChatMessage[] = [];
  const write = (s: string) => {
    if (s) Deno.stdout.writeSync(new TextEncoder().encode(s));
  };
  err(dim(
    `bitload chat: ${m.model.config.arch}, context ${context} tokens, template ${m.chat.template.name}; /reset, /exit, Ctrl-C stops a reply`,
  ));

  let cancelReply: (() => void) | null = null;
  const onInterrupt = () => {
    if (cancelReply) cancelReply();
    else err("\n(/exit or Ctrl-D to leave)");
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    if (tty) write("> ");
    for await (const line of lines(Deno.stdin.readable)) {
      const text = line.trim();
      if (text === "/exit" || text === "/quit") break;
      if (text === "/reset") {
        history = [];
        err(dim("(conversation forgotten)"));
        if (tty) write("> ");
        continue;
      }
      if (text === "") {
        if (tty) write("> ");
        continue;
      }
      history.push({ role: "user", content: line });
      // keep the conversation within the context, with room for a reply (a quarter of the
      // context, or -n): the oldest turns go first
      const reserve = Math.min(maxReply ?? Infinity, Math.floor(context / 4));
      let prompt = Array.from(m.chat.encode([...system, ...history]));
      let dropped = 0;
      while (prompt.length + reserve > context && history.length > 1) {
        history.shift();
        if (history[0]?.role === "assistant") history.shift();
        dropped++;
        prompt = Array.from(m.chat.encode([...system, ...history]));
      }
      if (dropped > 0) {
        err(dim(`(context full: dropped the ${dropped} oldest turn${dropped === 1 ? "" : "s"})`));
      }
      if (prompt.length >= context) {
        history.pop();
        err(`bitload: the message does not fit in the context of ${context} tokens`);
        if (tty) write("> ");
        continue;
      }
      const t0 = performance.now();
      let tFirst = 0;
      let count = 0;
      let reply = "";
      const ids: number[] = [];
      const textStream = new StopTextStream();
      const reason = await new Promise<FinishReason>((resolve) => {
        const handle = scheduler.submit({
          prompt,
          maxTokens: Math.min(maxReply ?? Infinity, context - prompt.length + 1),
          sampler,
          stopIds: m.chat.stopIds,
          onToken: (id) => {
            if (count++ === 0) tFirst = performance.now();
            ids.push(id);
            const piece = textStream.push(m.tokenizer.tokenToPieceBytes(id, false)).text;
            reply += piece;
            if (!json) write(piece);
          },
          onEnd: (r) => resolve(r),
        });
        if (handle === null) return resolve("error");
        cancelReply = () => handle.cancel();
      });
      cancelReply = null;
      const tail = textStream.flush();
      reply += tail;
      if (!json) write(tail + "\n");
      history.push({ role: "assistant", content: reply });
      const genMs = performance.now() - tFirst;
      const tps = count > 1 && genMs > 0 ? (count - 1) / (genMs / 1000) : 0;
      const note = reason === "cancelled"
        ? ", stopped"
        : reason === "length"
        ? ", length limit"
        : "";
      const firstMs = tFirst ? tFirst - t0 : 0;
      if (json) {
        out(JSON.stringify({
          reply,
          tokens: ids,
          finishReason: reason,
          promptTokens: prompt.length,
          droppedTurns: dropped,
          tokensPerSecond: Math.round(tps * 100) / 100,
          timeToFirstTokenMs: Math.round(firstMs * 100) / 100,
        }));
      } else {
        err(
          dim(
            `[${count} tokens, ${tps.toFixed(1)} tok/s, first token ${
              firstMs.toFixed(0)
            } ms${note}]`,
          ),
        );
      }
      if (tty) write("> ");
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
    await scheduler.close();
  }
  return 0;
}

/**
 * The OpenAI-compatible HTTP server: `GET /health`, `GET /v1/models`, `POST /v1/chat/completions`
 * and `POST /v1/completions` (SSE streaming ending in `data: [DONE]`, or one JSON answer),
 * llama-server's `POST /tokenize` / `POST /detokenize`, and `GET /metrics`. Generation runs on a
 * {@link Scheduler} (continuous batching over the model's slots).
 *
 * Errors are OpenAI-shaped, `{ error: { message, type, code } }`: 400 for bad JSON, wrong types,
 * `n` ≠ 1, an unknown model or a prompt plus `max_tokens` beyond the context; 401 without the
 * API key; 404 for unknown paths; 413 for a body over the cap; 503 with `Retry-After` when the
 * queue is full or the server is stopping.
 *
 * @module
 */

import type { z } from "npm:zod@^4";
import type { ChatFormat } from "../chat/format.ts";
import type { ChatMessage } from "../chat/template.ts";
import { makeSampler } from "../infer/sample.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { ServerMetrics } from "./metrics.ts";
import { type FinishReason, Scheduler, type SequenceHandle } from "./scheduler.ts";
import type { BatchEngine } from "./scheduler.ts";
import {
  type ChatRequest,
  chatRequestSchema,
  type CompletionRequest,
  completionRequestSchema,
  describeIssues,
  detokenizeRequestSchema,
  tokenizeRequestSchema,
} from "./schemas.ts";
import { StopTextStream } from "./text.ts";

/** Largest request body by default: 4 MiB (a full 128k-token context of text is about 0.5 MiB). */
export const MAX_BODY_BYTES = 4 << 20;
/** Seconds a client is asked to wait (`Retry-After`) when the queue is full. */
export const RETRY_AFTER_SECONDS = 1;

/** What the server runs. */
export interface ServeModel {
  /** Model id reported by `/v1/models` and accepted in `model`. */
  id: string;
  /** The batched engine (one slot per parallel sequence). */
  engine: BatchEngine;
  /** The model's tokenizer. */
  tokenizer: Tokenizer;
  /** The chat template bound to the tokenizer. */
  chat: ChatFormat;
}

/** Options of {@link startServer}. */
export interface ServeOptions {
  /** Address to bind. Default 127.0.0.1. */
  host?: string;
  /** Port (0: any free port). Default 8080. */
  port?: number;
  /** Require `Authorization: Bearer KEY`. */
  apiKey?: string;
  /** Requests waiting for a slot at most. Default 64. */
  maxQueue?: number;
  /** Body size cap in bytes. Default {@link MAX_BODY_BYTES}. */
  maxBodyBytes?: number;
  /** Called once listening. */
  onListen?: (addr: { hostname: string; port: number }) => void;
}

/** A running server. */
export interface RunningServer {
  /** The bound address. */
  readonly addr: { hostname: string; port: number };
  /** Metrics (also served at `/metrics`). */
  readonly metrics: ServerMetrics;
  /** The scheduler. */
  readonly scheduler: Scheduler;
  /**
   * Stops accepting connections, lets in-flight requests finish for `deadlineMs`, then cancels
   * the rest; resolves when every connection is closed.
   */
  shutdown(deadlineMs?: number): Promise<void>;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly type = "invalid_request_error",
  ) {
    super(message);
  }
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function errorResponse(e: HttpError): Response {
  const headers: Record<string, string> = {};
  if (e.status === 503) headers["retry-after"] = String(RETRY_AFTER_SECONDS);
  if (e.status === 401) headers["www-authenticate"] = "Bearer";
  return json({ error: { message: e.message, type: e.type, code: e.code } }, e.status, headers);
}

/** The OpenAI-style body of a failure met while a sequence runs. */
function internalError(error: unknown) {
  return { error: { message: String(error), type: "server_error", code: "internal_error" } };
}

/**
 * The body of an answer written as it is ready. A client that disconnects cancels it, which calls
 * `onCancel` (the sequence stops); nothing is written once it is closed or cancelled.
 */
function answerBody(onCancel: () => void): {
  body: ReadableStream<Uint8Array>;
  /** Enqueues `bytes`; a failed enqueue counts as a disconnect. */
  write(bytes: Uint8Array): void;
  /** Enqueues the last `bytes` (if any) and closes the body. */
  end(bytes?: Uint8Array): void;
} {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel() {
      closed = true;
      onCancel();
    },
  });
  return {
    body,
    write(bytes) {
      if (closed) return;
      try {
        controller.enqueue(bytes);
      } catch {
        closed = true;
        onCancel();
      }
    },
    end(bytes) {
      if (closed) return;
      closed = true;
      if (bytes) controller.enqueue(bytes);
      controller.close();
    },
  };
}

async function readJson(req: Request, cap: number): Promise<unknown> {
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (declared > cap) {
    throw new HttpError(413, "body_too_large", `the body exceeds ${cap} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (req.body) {
    const reader = req.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > cap) {
        await reader.cancel().catch(() => {});
        throw new HttpError(413, "body_too_large", `the body exceeds ${cap} bytes`);
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    bytes.set(c, o);
    o += c.length;
  }
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new HttpError(400, "invalid_json", `the body is not JSON: ${(error as Error).message}`);
  }
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (!r.success) throw new HttpError(400, "invalid_request", describeIssues(r.error));
  return r.data;
}

let idCounter = 0;
function newId(prefix: string): string {
  idCounter = (idCounter + 1) % 1e9;
  return `${prefix}-${Date.now().toString(36)}${idCounter.toString(36)}`;
}

interface GenParams {
  prompt: number[];
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  stops: string[];
  ignoreEos: boolean;
}

/**
 * Starts the server on `model`.
 *
 * @example
 * ```ts ignore
 * const server = startServer({ id: "tiny", engine, tokenizer, chat }, { port: 0 });
 * console.log(server.addr.port);
 * await server.shutdown();
 * ```
 */
export function startServer(model: ServeModel, options: ServeOptions = {}): RunningServer {
  const metrics = new ServerMetrics();
  const scheduler = new Scheduler(model.engine, {
    maxQueue: options.maxQueue,
    hooks: {
      firstToken: (ms) => metrics.ttft.observe(ms / 1000),
      nextToken: (ms) => metrics.perToken.observe(ms / 1000),
      promptTokens: (n) => metrics.promptTokens += n,
      ended: (_reason, generated) => metrics.generatedTokens += generated,
    },
  });
  const cap = options.maxBodyBytes ?? MAX_BODY_BYTES;
  const ctx = model.engine.contextLength;
  const tok = model.tokenizer;
  let stopping = false;
  const created = Math.floor(Date.now() / 1000);

  const checkModel = (name: string | undefined) => {
    if (name !== undefined && name !== "" && name !== model.id) {
      throw new HttpError(
        400,
        "model_not_found",
        `the model "${name}" does not exist; this server runs "${model.id}"`,
      );
    }
  };

  const genParams = (
    body: ChatRequest | CompletionRequest,
    prompt: number[],
  ): GenParams => {
    checkModel(body.model);
    if (body.n !== undefined && body.n !== null && body.n !== 1) {
      throw new HttpError(400, "invalid_request", "only n = 1 is supported");
    }
    if (prompt.length === 0) throw new HttpError(400, "invalid_request", "the prompt is empty");
    if (prompt.length > ctx) {
      throw new HttpError(
        400,
        "context_length_exceeded",
        `the prompt has ${prompt.length} tokens; the context of a sequence holds ${ctx}`,
      );
    }
    const asked = body.max_completion_tokens ?? body.max_tokens ?? undefined;
    if (asked !== undefined && prompt.length + asked > ctx + 1) {
      throw new HttpError(
        400,
        "context_length_exceeded",
        `max_tokens = ${asked} with a prompt of ${prompt.length} tokens exceeds the context of ${ctx} tokens`,
      );
    }
    const stop = body.stop ?? [];
    return {
      prompt,
      maxTokens: asked ?? ctx + 1 - prompt.length,
      temperature: body.temperature ?? 0.8,
      topK: body.top_k ?? 40,
      topP: body.top_p ?? 0.95,
      seed: body.seed ?? Math.floor(Math.random() * 2 ** 31),
      stops: typeof stop === "string" ? [stop] : stop,
      ignoreEos: body.ignore_eos ?? false,
    };
  };

  /** Runs one generation; `emit` gets text as it comes; `end` once. */
  const run = (
    p: GenParams,
    emit: (text: string) => void,
    end: (reason: "stop" | "length", generated: number) => void,
    fail: (error: unknown) => void,
  ): SequenceHandle => {
    const text = new StopTextStream(p.stops);
    let generated = 0;
    const handle = scheduler.submit({
      prompt: p.prompt,
      maxTokens: p.maxTokens,
      sampler: makeSampler({
        temperature: p.temperature,
        topK: p.topK,
        topP: p.topP,
        seed: p.seed,
      }),
      stopIds: p.ignoreEos ? new Set() : model.chat.stopIds,
      onToken: (id) => {
        generated++;
        const r = text.push(tok.tokenToPieceBytes(id, false));
        if (r.text) emit(r.text);
        return !r.stopped;
      },
      onEnd: (reason: FinishReason, error) => {
        if (reason === "error") return fail(error);
        if (reason === "stop" && !text.stopped) generated++; // the end-of-turn token
        const rest = text.flush();
        if (rest) emit(rest);
        end(reason === "length" ? "length" : "stop", generated);
      },
    });
    if (handle === null) {
      throw new HttpError(
        503,
        "server_busy",
        stopping ? "the server is shutting down" : "every slot is busy and the queue is full",
        "server_error",
      );
    }
    return handle;
  };

  const generateResponse = (
    p: GenParams,
    kind: "chat" | "text",
    stream: boolean,
    includeUsage: boolean,
  ): Response => {
    const id = newId(kind === "chat" ? "chatcmpl" : "cmpl");
    const object = kind === "chat" ? "chat.completion" : "text_completion";
    const usage = (generated: number) => ({
      prompt_tokens: p.prompt.length,
      completion_tokens: generated,
      total_tokens: p.prompt.length + generated,
    });
    const base = { id, created: Math.floor(Date.now() / 1000), model: model.id };
    if (!stream) {
      // The answer is the body of a stream opened at once: a client that disconnects before it
      // is ready cancels the stream, which cancels the sequence (no request.signal needed).
      let out = "";
      let handle: SequenceHandle | null = null;
      const answer = answerBody(() => handle?.cancel());
      const finish = (payload: unknown) =>
        answer.end(new TextEncoder().encode(JSON.stringify(payload)));
      handle = run(
        p,
        (t) => out += t,
        (reason, generated) => {
          const choice = kind === "chat"
            ? {
              index: 0,
              message: { role: "assistant", content: out },
              finish_reason: reason,
              logprobs: null,
            }
            : { index: 0, text: out, finish_reason: reason, logprobs: null };
          finish({ ...base, object, choices: [choice], usage: usage(generated) });
        },
        (error) => finish(internalError(error)),
      );
      return new Response(answer.body, { headers: { "content-type": "application/json" } });
    }
    const enc = new TextEncoder();
    let handle: SequenceHandle | null = null;
    const events = answerBody(() => handle?.cancel());
    const send = (data: unknown) => events.write(enc.encode(`data: ${JSON.stringify(data)}\n\n`));
    const chunkObject = kind === "chat" ? "chat.completion.chunk" : "text_completion";
    const chunk = (delta: string | null, finish: string | null, role = false) =>
      kind === "chat"
        ? {
          ...base,
          object: chunkObject,
          choices: [{
            index: 0,
            delta: finish !== null ? {} : role ? { role: "assistant", content: "" } : {
              content: delta,
            },
            finish_reason: finish,
            logprobs: null,
          }],
        }
        : {
          ...base,
          object: chunkObject,
          choices: [{ index: 0, text: delta ?? "", finish_reason: finish, logprobs: null }],
        };
    handle = run(
      p,
      (t) => send(chunk(t, null)),
      (reason, generated) => {
        send(chunk(null, reason));
        if (includeUsage) {
          send({ ...base, object: chunkObject, choices: [], usage: usage(generated) });
        }
        events.end(enc.encode("data: [DONE]\n\n"));
      },
      (error) => {
        send(internalError(error));
        events.end();
      },
    );
    if (kind === "chat") send(chunk(null, null, true));
    // a client that disconnects cancels the body stream (see cancel above)
    return new Response(events.body, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        "connection": "keep-alive",
      },
    });
  };

  const chatMessages = (body: ChatRequest): ChatMessage[] =>
    body.messages.map((m) => {
      const content = typeof m.content === "string"
        ? m.content
        : (m.content ?? []).map((part) => part.text).join("");
      const out: ChatMessage = { role: m.role === "developer" ? "system" : m.role, content };
      if (m.name !== undefined) out.name = m.name;
      if (m.tool_calls !== undefined) out.tool_calls = m.tool_calls;
      if (m.tool_call_id !== undefined) out.tool_call_id = m.tool_call_id;
      return out;
    });

  const route = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path === "/health" && req.method === "GET") {
      return json(stopping ? { status: "stopping" } : { status: "ok" }, stopping ? 503 : 200);
    }
    if (options.apiKey !== undefined) {
      const auth = req.headers.get("authorization") ?? "";
      if (auth !== `Bearer ${options.apiKey}`) {
        throw new HttpError(
          401,
          "invalid_api_key",
          "a valid API key is required",
          "authentication_error",
        );
      }
    }
    const post = req.method === "POST";
    if (path === "/v1/models" && req.method === "GET") {
      return json({
        object: "list",
        data: [{ id: model.id, object: "model", created, owned_by: "bitload" }],
      });
    }
    if (path === "/metrics" && req.method === "GET") {
      return new Response(
        metrics.render({ active: scheduler.active, queued: scheduler.queued }),
        { headers: { "content-type": "text/plain; version=0.0.4" } },
      );
    }
    if (path === "/tokenize" && post) {
      const body = parse(tokenizeRequestSchema, await readJson(req, cap));
      const tokens = tok.encode(body.content, {
        addSpecial: body.add_special ?? false,
        parseSpecial: body.parse_special ?? true,
      });
      return json({ tokens: Array.from(tokens) });
    }
    if (path === "/detokenize" && post) {
      const body = parse(detokenizeRequestSchema, await readJson(req, cap));
      const bad = body.tokens.find((t) => t >= tok.vocabSize);
      if (bad !== undefined) {
        throw new HttpError(400, "invalid_request", `token ${bad} is outside the vocabulary`);
      }
      return json({ content: tok.decode(body.tokens) });
    }
    if ((path === "/v1/chat/completions" || path === "/chat/completions") && post) {
      if (stopping) {
        throw new HttpError(503, "server_busy", "the server is shutting down", "server_error");
      }
      const body = parse(chatRequestSchema, await readJson(req, cap));
      checkModel(body.model);
      let prompt: number[];
      try {
        prompt = Array.from(
          model.chat.encode(chatMessages(body), { tools: body.tools ?? undefined }),
        );
      } catch (error) {
        throw new HttpError(400, "invalid_request", (error as Error).message);
      }
      const p = genParams(body, prompt);
      return generateResponse(
        p,
        "chat",
        body.stream ?? false,
        body.stream_options?.include_usage ?? false,
      );
    }
    if ((path === "/v1/completions" || path === "/completions") && post) {
      if (stopping) {
        throw new HttpError(503, "server_busy", "the server is shutting down", "server_error");
      }
      const body = parse(completionRequestSchema, await readJson(req, cap));
      checkModel(body.model);
      let prompt: number[];
      if (typeof body.prompt === "string") {
        prompt = Array.from(tok.encode(body.prompt, { addSpecial: true, parseSpecial: true }));
      } else {
        prompt = body.prompt;
        const bad = prompt.find((t) => t >= tok.vocabSize);
        if (bad !== undefined) {
          throw new HttpError(400, "invalid_request", `token ${bad} is outside the vocabulary`);
        }
      }
      const p = genParams(body, prompt);
      return generateResponse(
        p,
        "text",
        body.stream ?? false,
        body.stream_options?.include_usage ?? false,
      );
    }
    throw new HttpError(404, "not_found", `no endpoint ${req.method} ${path}`);
  };

  const handler = async (req: Request): Promise<Response> => {
    let res: Response;
    try {
      res = await route(req);
    } catch (error) {
      res = errorResponse(
        error instanceof HttpError ? error : new HttpError(
          500,
          "internal_error",
          (error as Error)?.message ?? String(error),
          "server_error",
        ),
      );
    }
    metrics.request(res.status);
    return res;
  };

  const host = options.host ?? "127.0.0.1";
  let listened: { hostname: string; port: number } = { hostname: host, port: options.port ?? 8080 };
  const server = Deno.serve({
    hostname: host,
    port: options.port ?? 8080,
    onListen: (addr) => {
      listened = { hostname: addr.hostname, port: addr.port };
      options.onListen?.(listened);
    },
  }, handler);
  const addr = server.addr as Deno.NetAddr;
  listened = { hostname: addr.hostname, port: addr.port };

  return {
    get addr() {
      return listened;
    },
    metrics,
    scheduler,
    finished: server.finished,
    async shutdown(deadlineMs = 10_000) {
      stopping = true;
      const done = server.shutdown();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, deadlineMs);
      });
      await Promise.race([scheduler.idle(), deadline]);
      clearTimeout(timer);
      await scheduler.close();
      await done;
    },
  };
}

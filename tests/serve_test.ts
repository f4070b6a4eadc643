/**
 * `bitload serve` against the official `openai` client on 127.0.0.1, on a small synthetic model:
 * chat and text completions (streaming and not), stop strings, eight concurrent streams that
 * give the tokens each gives alone, an aborted stream freeing its slot, every bad request
 * (400/401/404/413/503), tokenize/detokenize, metrics, 1,000 sequential requests with bounded RSS
 * growth, and the CLI's SIGTERM shutdown (exit 0, bound to --host only).
 */

import assert from "node:assert/strict";
import OpenAI from "npm:openai@^7";
import { synthesizeBitnetModel } from "../src/synth/bitnet_model.ts";
import { ServeJsonSchema } from "../src/cli/schemas.ts";
import { type ChatModel, openChatModel } from "../src/serve/open.ts";
import { type RunningServer, startServer } from "../src/serve/server.ts";

const KEY = "test-key";
/** RSS growth allowed over 1,000 sequential requests (after 50 warm-up requests). */
const RSS_BOUND = 48 << 20;

async function poll(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("serve", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-serve-" });
  const path = `${dir}/tiny.gguf`;
  await synthesizeBitnetModel(path, { layers: 2, dim: 256, ffn: 512, vocab: 1024, seed: 5 });
  const warn = () => {};
  const opened: ChatModel[] = [];
  const servers: RunningServer[] = [];
  try {
    const m = await openChatModel(path, {
      parallel: 8,
      contextLength: 256,
      maxBatch: 64,
      threads: 1,
      warn,
    });
    opened.push(m);
    const server = startServer({
      id: "tiny",
      engine: m.engine,
      tokenizer: m.tokenizer,
      chat: m.chat,
    }, {
      port: 0,
      apiKey: KEY,
      maxQueue: 16,
      maxBodyBytes: 64 << 10,
    });
    servers.push(server);
    const base = `http://127.0.0.1:${server.addr.port}`;
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: KEY, maxRetries: 0 });
    const post = (p: string, body: unknown, key: string | null = KEY) =>
      fetch(base + p, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(key ? { authorization: `Bearer ${key}` } : {}),
        },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });

    await t.step("health and models", async () => {
      const h = await fetch(`${base}/health`);
      assert.deepEqual(await h.json(), { status: "ok" });
      const models = await client.models.list();
      assert.deepEqual(models.data.map((x) => x.id), ["tiny"]);
    });

    const messages = [{ role: "user" as const, content: "Hello there" }];
    let reply = "";
    await t.step("chat, non-streaming: text, finish_reason and usage", async () => {
      const r = await client.chat.completions.create({
        model: "tiny",
        messages,
        max_tokens: 12,
        temperature: 0,
        ignore_eos: true,
      } as OpenAI.ChatCompletionCreateParamsNonStreaming);
      reply = r.choices[0].message.content ?? "";
      assert.equal(r.choices[0].finish_reason, "length");
      assert.equal(r.usage?.prompt_tokens, m.chat.encode(messages).length);
      assert.equal(r.usage?.completion_tokens, 12);
      assert.ok(reply.length > 0);
    });

    await t.step("chat, streaming: the same text in deltas, then [DONE]", async () => {
      const stream = await client.chat.completions.create({
        model: "tiny",
        messages,
        max_tokens: 12,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
        ignore_eos: true,
      } as OpenAI.ChatCompletionCreateParamsStreaming);
      let text = "";
      let finish: string | null = null;
      let usage: OpenAI.CompletionUsage | undefined;
      for await (const chunk of stream) {
        if (chunk.usage) usage = chunk.usage;
        for (const c of chunk.choices) {
          text += c.delta.content ?? "";
          finish = c.finish_reason ?? finish;
        }
      }
      assert.equal(text, reply);
      assert.equal(finish, "length");
      assert.equal(usage?.completion_tokens, 12);
    });

    await t.step("stop strings cut the reply with finish_reason stop", async () => {
      const stopAt = reply.slice(3, 6);
      assert.ok(stopAt.length > 0);
      const r = await client.chat.completions.create({
        model: "tiny",
        messages,
        max_tokens: 12,
        temperature: 0,
        stop: [stopAt],
        ignore_eos: true,
      } as OpenAI.ChatCompletionCreateParamsNonStreaming);
      assert.equal(r.choices[0].message.content, reply.slice(0, reply.indexOf(stopAt)));
      assert.equal(r.choices[0].finish_reason, "stop");
    });

    await t.step("completions: text and token prompts, streaming and not", async () => {
      const a = await client.completions.create({
        model: "tiny",
        prompt: "Once upon a time",
        max_tokens: 6,
        temperature: 0,
      });
      const prompt = Array.from(m.tokenizer.encode("Once upon a time", { parseSpecial: true }));
      const b = await client.completions.create({
        model: "tiny",
        prompt,
        max_tokens: 6,
        temperature: 0,
      });
      assert.equal(a.choices[0].text, b.choices[0].text);
      assert.equal(a.usage?.prompt_tokens, prompt.length);
      const s = await client.completions.create({
        model: "tiny",
        prompt: "Once upon a time",
        max_tokens: 6,
        temperature: 0,
        stream: true,
      });
      let text = "";
      for await (const chunk of s) text += chunk.choices[0]?.text ?? "";
      assert.equal(text, a.choices[0].text);
    });

    await t.step("8 concurrent streams give the tokens each gives alone", async () => {
      const prompts = Array.from({ length: 8 }, (_, i) => `Story ${i}: ${"la ".repeat(i * 3)}`);
      const one = async (prompt: string) => {
        const s = await client.completions.create({
          model: "tiny",
          prompt,
          max_tokens: 16,
          temperature: 0,
          stream: true,
          ignore_eos: true,
        } as OpenAI.CompletionCreateParamsStreaming);
        let text = "";
        for await (const chunk of s) {
          text += chunk.choices[0]?.text ?? "";
          peak = Math.max(peak, server.scheduler.active);
        }
        return text;
      };
      let peak = 0;
      const alone: string[] = [];
      for (const p of prompts) alone.push(await one(p));
      peak = 0;
      const together = await Promise.all(prompts.map(one));
      assert.deepEqual(together, alone);
      assert.ok(peak >= 2, `sequences ran together (peak ${peak})`);
    });

    await t.step("an aborted stream frees its slot", async () => {
      const ac = new AbortController();
      const s = await client.completions.create({
        model: "tiny",
        prompt: "Go on",
        max_tokens: 200,
        temperature: 0,
        stream: true,
        ignore_eos: true,
      } as OpenAI.CompletionCreateParamsStreaming, { signal: ac.signal });
      let chunks = 0;
      try {
        for await (const _ of s) {
          if (++chunks === 2) ac.abort();
        }
      } catch { /* the abort */ }
      await poll(() => server.scheduler.active === 0, "the slot to be freed");
      assert.equal(server.scheduler.queued, 0);
    });

    await t.step("bad requests: 400, 401, 404, 413 with OpenAI-style errors", async () => {
      const expectError = async (res: Response, status: number, code: string) => {
        assert.equal(res.status, status);
        const body = await res.json();
        assert.equal(body.error.code, code, JSON.stringify(body));
        assert.equal(typeof body.error.message, "string");
        assert.equal(typeof body.error.type, "string");
      };
      const chat = (extra: Record<string, unknown>) => ({ messages, max_tokens: 4, ...extra });
      await expectError(await post("/v1/chat/completions", "{not json"), 400, "invalid_json");
      await expectError(
        await post("/v1/chat/completions", chat({ temperature: "hot" })),
        400,
        "invalid_request",
      );
      await expectError(
        await post("/v1/chat/completions", { messages: "hi" }),
        400,
        "invalid_request",
      );
      await expectError(
        await post("/v1/chat/completions", chat({ max_tokens: 100_000 })),
        400,
        "context_length_exceeded",
      );
      await expectError(
        await post("/v1/completions", { prompt: "x".repeat(3000), max_tokens: 1 }),
        400,
        "context_length_exceeded",
      );
      await expectError(
        await post("/v1/chat/completions", chat({ model: "gpt-4" })),
        400,
        "model_not_found",
      );
      await expectError(await post("/v1/chat/completions", chat({ n: 2 })), 400, "invalid_request");
      await expectError(await post("/v1/chat/completions", chat({}), null), 401, "invalid_api_key");
      await expectError(
        await post("/v1/chat/completions", chat({}), "wrong"),
        401,
        "invalid_api_key",
      );
      await expectError(await post("/v1/nothing", {}), 404, "not_found");
      await expectError(
        await post("/v1/completions", { prompt: "x".repeat(70_000) }),
        413,
        "body_too_large",
      );
      await expectError(await post("/detokenize", { tokens: [1, 99999] }), 400, "invalid_request");
      // the official client surfaces the error
      await assert.rejects(
        client.chat.completions.create({ model: "nope", messages }),
        (e: unknown) => e instanceof OpenAI.BadRequestError,
      );
    });

    await t.step("tokenize / detokenize (llama-server shapes)", async () => {
      const r = await (await post("/tokenize", { content: "Hello world" })).json();
      assert.deepEqual(
        r.tokens,
        Array.from(m.tokenizer.encode("Hello world", { addSpecial: false })),
      );
      const d = await (await post("/detokenize", { tokens: r.tokens })).json();
      assert.equal(d.content, "Hello world");
    });

    await t.step("1,000 sequential short requests: RSS growth bounded", async () => {
      const ask = async () => {
        const res = await post("/v1/completions", { prompt: "Hi", max_tokens: 1, temperature: 0 });
        assert.equal(res.status, 200);
        await res.body?.cancel();
      };
      for (let i = 0; i < 50; i++) await ask();
      const before = Deno.memoryUsage().rss;
      for (let i = 0; i < 1000; i++) await ask();
      const growth = Deno.memoryUsage().rss - before;
      assert.ok(growth < RSS_BOUND, `RSS grew by ${(growth / 2 ** 20).toFixed(1)} MiB`);
    });

    await t.step("metrics: Prometheus text with requests, tokens, latencies, gauges", async () => {
      const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${KEY}` } });
      const text = await res.text();
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
      assert.ok(Number(/bitload_requests_total\{code="200"\} (\d+)/.exec(text)?.[1]) >= 1000);
      assert.ok(value("bitload_generated_tokens_total") >= 1000);
      assert.ok(value("bitload_prompt_tokens_total") > 0);
      assert.ok(value("bitload_time_to_first_token_seconds_count") >= 1000);
      assert.ok(value("bitload_time_per_output_token_seconds_count") > 0);
      assert.equal(value("bitload_sequences_active"), 0);
      assert.equal(value("bitload_sequences_queued"), 0);
    });

    await t.step("a full queue answers 503 with Retry-After", async () => {
      const m1 = await openChatModel(path, {
        parallel: 1,
        contextLength: 4096,
        maxBatch: 64,
        threads: 1,
        warn,
      });
      opened.push(m1);
      const small = startServer(
        { id: "tiny", engine: m1.engine, tokenizer: m1.tokenizer, chat: m1.chat },
        { port: 0, maxQueue: 1 },
      );
      servers.push(small);
      const url = `http://127.0.0.1:${small.addr.port}/v1/completions`;
      const long = { prompt: "Go", max_tokens: 4000, ignore_eos: true, stream: true };
      const ac = new AbortController();
      const first = await fetch(url, {
        method: "POST",
        body: JSON.stringify(long),
        signal: ac.signal,
      });
      const second = fetch(url, { method: "POST", body: JSON.stringify(long), signal: ac.signal });
      await poll(() => small.scheduler.queued === 1, "the second request to queue");
      const third = await fetch(url, { method: "POST", body: JSON.stringify(long) });
      assert.equal(third.status, 503);
      assert.equal(third.headers.get("retry-after"), "1");
      assert.equal((await third.json()).error.code, "server_busy");
      ac.abort();
      await first.body?.cancel().catch(() => {});
      await second.then((r) => r.body?.cancel()).catch(() => {});
      await poll(() => small.scheduler.active === 0 && small.scheduler.queued === 0, "cancel");
      // a non-streaming client that goes away also frees its slot before max_tokens
      const before = small.metrics.generatedTokens;
      const ac2 = new AbortController();
      const pending = fetch(url, {
        method: "POST",
        body: JSON.stringify({ ...long, stream: false }),
        signal: ac2.signal,
      }).then((r) => r.body?.cancel()).catch(() => {});
      await poll(() => small.scheduler.active === 1, "the request to start");
      ac2.abort();
      await pending;
      await poll(() => small.scheduler.active === 0, "the slot to be freed");
      assert.ok(small.metrics.generatedTokens - before < 4000);
    });
  } finally {
    for (const s of servers) await s.shutdown(1000);
    for (const m of opened) m[Symbol.dispose]();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bitload serve: SIGTERM finishes in-flight streams and exits 0; binds --host only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-serve-cli-" });
  try {
    const path = `${dir}/tiny.gguf`;
    await synthesizeBitnetModel(path, { layers: 1, dim: 256, ffn: 256, vocab: 512, seed: 2 });
    const main = new URL("../src/cli/main.ts", import.meta.url).pathname;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "serve", path, "--port", "0", "-c", "2048", "-t", "1", "--json"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let line = "";
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      line += value;
    }
    const info = ServeJsonSchema.parse(JSON.parse(line));
    assert.equal(info.host, "127.0.0.1");
    const res = await fetch(`${info.url}/v1/completions`, {
      method: "POST",
      body: JSON.stringify({ prompt: "Go", max_tokens: 200, ignore_eos: true, stream: true }),
    });
    const body = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const first = await body.read();
    assert.match(first.value ?? "", /^data: /);
    child.kill("SIGTERM");
    let text = first.value ?? "";
    for (;;) {
      const { value, done } = await body.read();
      if (done) break;
      text += value;
    }
    assert.ok(text.trimEnd().endsWith("data: [DONE]"), "the stream finished");
    // other interfaces of this machine were never listened on
    const others = Deno.networkInterfaces().filter((i) =>
      i.family === "IPv4" && !i.address.startsWith("127.")
    );
    for (const i of others) {
      await assert.rejects(Deno.connect({ hostname: i.address, port: info.port }));
    }
    const status = await child.status;
    await reader.cancel();
    const err = await new Response(child.stderr).text();
    assert.equal(status.code, 0, err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

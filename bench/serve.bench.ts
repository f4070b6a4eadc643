/**
 * Serving under concurrency: 1, 2, 4 and 8 clients streaming completions from `bitload serve`
 * (continuous batching, 8 slots) → aggregate generation tok/s, time to first token p50/p95 and
 * per-token latency p50/p95. When bitnet.cpp's `llama-server` is present
 * (`../shared/oracles/bitnet.cpp/bin/llama-server`, or `BITLOAD_PEER_SERVER`), it serves the
 * same file with the same slots and threads in the same run, and the report gives the ratio.
 *
 * The model is an upstream-`bitnet` file with random ternary weights stored as I2_S (the
 * architecture and type both engines load, bitnet.cpp's own kernel; `BITLOAD_BENCH_SERVE_TYPE=TQ2_0`
 * for TQ2_0; see `src/infer/convert.ts`), shape `125M` (12 × 768, vocab 32000) by default,
 * the 2B-4T shape (30 × 2560, FFN 6912, 20/5 heads, vocab 128256; ≈ 1 GB, a minute or two to
 * write) with `BITLOAD_BENCH_2B=1`. Each client sends `BITLOAD_BENCH_SERVE_REQUESTS` (default 2)
 * requests one after the other: a 32-token prompt (token ids), 32 tokens generated (`ignore_eos`),
 * greedy. Threads: `BITLOAD_BENCH_THREADS` (default 2). Both servers run as child processes and
 * are measured by the same client in this process.
 *
 * Run: `deno bench -A bench/serve.bench.ts` (the table is printed at the end). Figures taken while
 * other processes compete for the cores are not meaningful; llama.cpp's thread pool spin-waits,
 * so on a busy machine its multi-thread figures collapse (measured here: 1.1 s per token with 2
 * threads against 90 ms with 1): compare with `BITLOAD_BENCH_THREADS=1` there.
 */

import { bitnetModelParts, type BitnetSynthOptions } from "../src/synth/bitnet_model.ts";
import { writeGguf } from "../src/gguf/writer.ts";
import { bitnetToUpstream, rescaleTernary, type UpstreamWeightType } from "../src/infer/convert.ts";

const THREADS = Number(Deno.env.get("BITLOAD_BENCH_THREADS") ?? 2);
const REQUESTS = Number(Deno.env.get("BITLOAD_BENCH_SERVE_REQUESTS") ?? 2);
const PROMPT_TOKENS = 32;
const GEN_TOKENS = 32;
const SLOTS = 8;
const CTX = 256; // per sequence: prompt + generated fit
const CLIENTS = [1, 2, 4, 8];
const SHAPE: BitnetSynthOptions = Deno.env.get("BITLOAD_BENCH_2B") === "1"
  ? { layers: 30, dim: 2560, ffn: 6912, heads: 20, kvHeads: 5, vocab: 128256 }
  : { layers: 12, dim: 768, ffn: 2048, heads: 12, kvHeads: 4, vocab: 32000 };
const TYPE = (Deno.env.get("BITLOAD_BENCH_SERVE_TYPE") ?? "I2_S") as UpstreamWeightType;
const SHAPE_NAME = SHAPE.layers === 30 ? "2B-4T shape" : "125M shape";

const root = new URL("../", import.meta.url);
const PEER = Deno.env.get("BITLOAD_PEER_SERVER") ??
  new URL("../shared/oracles/bitnet.cpp/bin/llama-server", root).pathname;

interface Server {
  name: string;
  url: string;
  /** Request body and path for one streamed completion of `prompt`. */
  request(prompt: number[]): { path: string; body: unknown };
  stop(): Promise<void>;
}

interface LevelResult {
  server: string;
  clients: number;
  tokPerS: number;
  /** Tokens generated (as the server reports them). */
  tokens: number;
  ttft: number[];
  perToken: number[];
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function waitHealthy(url: string, child: Deno.ChildProcess, ms = 300_000): Promise<void> {
  const end = Date.now() + ms;
  let exited = false;
  child.status.then(() => exited = true);
  while (Date.now() < end && !exited) {
    try {
      const r = await fetch(`${url}/health`);
      await r.body?.cancel();
      if (r.ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not become healthy`);
}

/** Starts `program` with the args for a free port, waits for `/health`; `stop` ends it. */
async function spawnServer(
  program: string,
  args: (port: number) => string[],
): Promise<Pick<Server, "url" | "stop">> {
  const port = freePort();
  const child = new Deno.Command(program, {
    args: args(port),
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, child);
  return {
    url,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

async function startBitload(path: string): Promise<Server> {
  const main = new URL("src/cli/main.ts", root).pathname;
  const { url, stop } = await spawnServer(
    Deno.execPath(),
    (port) =>
      ["run", "-A", main, "serve", path, "--port", String(port), "-np", String(SLOTS)]
        .concat(["-c", String(CTX), "-t", String(THREADS)]),
  );
  return {
    name: "bitload serve",
    url,
    request: (prompt) => ({
      path: "/v1/completions",
      body: {
        prompt,
        max_tokens: GEN_TOKENS,
        temperature: 0,
        ignore_eos: true,
        stream: true,
        stream_options: { include_usage: true },
      },
    }),
    stop,
  };
}

async function startPeer(path: string): Promise<Server | null> {
  try {
    if (!Deno.statSync(PEER).isFile) return null;
  } catch {
    return null;
  }
  const { url, stop } = await spawnServer(
    PEER,
    (port) =>
      ["-m", path, "--host", "127.0.0.1", "--port", String(port), "-t", String(THREADS)]
        .concat(["-c", String(CTX * SLOTS), "-np", String(SLOTS), "--cont-batching"]),
  );
  return {
    name: "bitnet.cpp llama-server",
    url,
    request: (prompt) => ({
      path: "/completion",
      body: {
        prompt,
        n_predict: GEN_TOKENS,
        temperature: 0,
        top_k: 1,
        ignore_eos: true,
        cache_prompt: false,
        stream: true,
      },
    }),
    stop,
  };
}

/** One streamed request: time to first token and the gaps between later tokens (ms). */
async function oneRequest(server: Server, prompt: number[]) {
  const { path, body } = server.request(prompt);
  const t0 = performance.now();
  const res = await fetch(server.url + path, { method: "POST", body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${server.name}: HTTP ${res.status} ${await res.text()}`);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let first = 0;
  let last = 0;
  let events = 0;
  let tokens = 0; // as the server counts them (usage / tokens_predicted)
  const gaps: number[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let nl: number;
    while ((nl = buf.indexOf("\n\n")) >= 0) {
      const event = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const data = JSON.parse(event.slice(6));
      tokens = data.usage?.completion_tokens ?? data.tokens_predicted ?? tokens;
      const text: string | undefined = data.choices?.[0]?.text ?? data.content;
      const final = data.choices?.[0]?.finish_reason != null || data.stop === true;
      if (final && !text) continue;
      const now = performance.now();
      events++;
      if (first === 0) first = now;
      else gaps.push(now - last);
      last = now;
    }
  }
  return { ttft: first - t0, gaps, tokens: tokens || events };
}

async function level(server: Server, clients: number): Promise<LevelResult> {
  const ttft: number[] = [];
  const perToken: number[] = [];
  let tokens = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    for (let r = 0; r < REQUESTS; r++) {
      const prompt = Array.from(
        { length: PROMPT_TOKENS },
        (_, i) => (c * 7919 + r * 104729 + i * 37 + 11) % 1000 + 10,
      );
      const one = await oneRequest(server, prompt);
      ttft.push(one.ttft);
      tokens += one.tokens;
      perToken.push(...one.gaps);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  return {
    server: server.name,
    clients,
    tokPerS: tokens / seconds,
    tokens,
    ttft,
    perToken,
  };
}

const dir = await Deno.makeTempDir({ prefix: "bitload-serve-bench-" });
const path = `${dir}/model-${TYPE}.gguf`;
const up = bitnetToUpstream(rescaleTernary(bitnetModelParts(SHAPE), 0.01), TYPE);
await writeGguf(path, up.metadata, up.tensors);
const servers: Server[] = [await startBitload(path)];
const peer = await startPeer(path).catch((e) => {
  console.error(`peer server not used: ${(e as Error).message}`);
  return null;
});
if (peer) servers.push(peer);
/** The last run of each (server, clients): deno bench may call a benchmark more than once. */
const results: LevelResult[] = [];
const record = (r: LevelResult) => {
  const i = results.findIndex((x) => x.server === r.server && x.clients === r.clients);
  if (i >= 0) results[i] = r;
  else results.push(r);
};

for (const server of servers) {
  for (const clients of CLIENTS) {
    Deno.bench({
      name: `${server.name}: ${clients} client${clients === 1 ? "" : "s"}`,
      group: `serve ${clients}`,
      n: 1,
      warmup: 0,
      async fn() {
        record(await level(server, clients));
      },
    });
  }
}

globalThis.addEventListener("unload", () => {
  for (const s of servers) s.stop().catch(() => {});
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* already gone */ }
  if (results.length === 0) return;
  const f = (v: number) => v.toFixed(1);
  const lines = [
    `serve: ${SHAPE_NAME} ${TYPE}, ${THREADS} threads, ${SLOTS} slots, ${REQUESTS} requests per client, ` +
    `prompt ${PROMPT_TOKENS} → ${GEN_TOKENS} tokens`,
    "| server | clients | tokens | aggregate tok/s | TTFT p50 ms | TTFT p95 ms | per-token p50 ms | per-token p95 ms |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of results) {
    lines.push(
      `| ${r.server} | ${r.clients} | ${r.tokens} | ${f(r.tokPerS)} | ${
        f(percentile(r.ttft, 50))
      } | ${f(percentile(r.ttft, 95))} | ${f(percentile(r.perToken, 50))} | ${
        f(percentile(r.perToken, 95))
      } |`,
    );
  }
  for (const name of new Set(results.map((r) => r.server))) {
    const one = results.find((r) => r.server === name && r.clients === 1);
    const eight = results.find((r) => r.server === name && r.clients === 8);
    if (one && eight) {
      lines.push(`${name}: 8 clients give ${(eight.tokPerS / one.tokPerS).toFixed(2)}× one client`);
    }
  }
  if (peer) {
    for (const c of CLIENTS) {
      const a = results.find((r) => r.server === servers[0].name && r.clients === c);
      const b = results.find((r) => r.server === peer.name && r.clients === c);
      if (a && b) {
        lines.push(`${c} clients: bitload / llama-server = ${(a.tokPerS / b.tokPerS).toFixed(2)}×`);
      }
    }
  }
  console.log("\n" + lines.join("\n"));
});

/**
 * The HTTP range reader against real servers on 127.0.0.1 that misbehave on purpose: silent,
 * stalling, trickling, lying about ranges, sending endless bodies, ignoring ranges, refusing HEAD.
 */
import assert from "node:assert/strict";
import { HttpError } from "../src/common/http.ts";
import { readGguf } from "../src/gguf/reader.ts";
import { kv, serializeGguf } from "../src/gguf/writer.ts";
import { GgufValueType } from "../src/gguf/value_types.ts";

// A real header of ~450 KiB (a 30,000-token vocabulary; more than the first 256 KiB read), then
// 256 MiB of tensor data that is generated as it is served, never held in memory.
const tokens = Array.from({ length: 30_000 }, (_, i) => `token_${i}`);
const header = serializeGguf([
  kv.string("general.architecture", "llama"),
  kv.array("tokenizer.ggml.tokens", GgufValueType.STRING, tokens),
], [{ name: "t", type: "F32", dims: [8], data: new Uint8Array(32) }]);
const FILE_SIZE = header.length + 256 * 1024 * 1024;
const expected = await readGguf(header);

function slice(start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  if (start < header.length) out.set(header.subarray(start, Math.min(end, header.length)));
  return out;
}

type Mode =
  | "ranges"
  | "ignore-ranges"
  | "wrong-start"
  | "endless"
  | "silent"
  | "stall"
  | "trickle"
  | "404";

interface Misbehaving {
  url: string;
  /** Body bytes the server produced. */
  served: number;
  /** Bodies the client cancelled. */
  cancelled: number;
  close(): Promise<void>;
}

function serve(mode: Mode, options: { head405?: boolean } = {}): Misbehaving {
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  const state = { served: 0, cancelled: 0 };
  const body = (from: number, to: number, step = 64 * 1024, delayMs = 0) => {
    let at = from;
    return new ReadableStream<Uint8Array>({
      async pull(c) {
        if (mode === "stall") {
          await released;
          c.close();
          return;
        }
        if (delayMs) await Promise.race([released, new Promise((r) => setTimeout(r, delayMs))]);
        if (at >= to) return c.close();
        const n = Math.min(step, to - at);
        c.enqueue(slice(at, at + n));
        at += n;
        state.served += n;
      },
      cancel() {
        state.cancelled++;
      },
    }, { highWaterMark: 0 });
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    if (mode === "404") return new Response("no such model", { status: 404 });
    if (mode === "silent") {
      await released;
      return new Response(null, { status: 503 });
    }
    if (req.method === "HEAD") {
      return options.head405
        ? new Response(null, { status: 405 })
        : new Response(null, { headers: { "content-length": String(FILE_SIZE) } });
    }
    const m = /bytes=(\d+)-(\d+)/.exec(req.headers.get("range") ?? "");
    if (!m || mode === "ignore-ranges") {
      return new Response(body(0, FILE_SIZE), {
        headers: { "content-length": String(FILE_SIZE) },
      });
    }
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), FILE_SIZE - 1);
    const shown = mode === "wrong-start" ? start + 1 : start;
    const headers = { "content-range": `bytes ${shown}-${end}/${FILE_SIZE}` };
    if (mode === "endless") return new Response(body(start, Infinity), { status: 206, headers });
    if (mode === "trickle") {
      return new Response(body(start, end + 1, 1, 100), { status: 206, headers });
    }
    return new Response(body(start, end + 1), { status: 206, headers });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/m.gguf`,
    get served() {
      return state.served;
    },
    get cancelled() {
      return state.cancelled;
    },
    close: async () => {
      release();
      await server.shutdown();
    },
  };
}

const FAST = { http: { idleTimeoutMs: 300, connectTimeoutMs: 300 } };

function sameAsExpected(file: Awaited<ReturnType<typeof readGguf>>): void {
  assert.equal(file.metadata.size, expected.metadata.size);
  assert.deepEqual(file.tensors.map((t) => t.name), ["t"]);
  assert.equal(file.dataOffset, expected.dataOffset);
}

Deno.test("HTTP: a well-behaved range server, and one without HEAD, read only the header", async () => {
  for (const head405 of [false, true]) {
    const s = serve("ranges", { head405 });
    try {
      const file = await readGguf(s.url, FAST);
      sameAsExpected(file);
      assert.equal(file.fileSize, FILE_SIZE);
      assert.ok(s.served < 4 * header.length, `served ${s.served}`);
    } finally {
      await s.close();
    }
  }
});

Deno.test("HTTP: a server that ignores ranges (200) is read from the start and cancelled once the header is parsed", async () => {
  const s = serve("ignore-ranges", { head405: true });
  try {
    sameAsExpected(await readGguf(s.url, FAST));
    // What socket buffers hold on loopback (a few MiB) is served too; the file is 256 MiB.
    assert.ok(s.served < 32 * 1024 * 1024, `served ${s.served} of ${FILE_SIZE}`);
    // The server learns of the cancel at its next write: wait for it (bounded).
    for (let i = 0; i < 100 && s.cancelled === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(s.cancelled >= 1, "the body was cancelled");
    const after = s.served;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(s.served, after, "nothing more is served");
  } finally {
    await s.close();
  }
});

Deno.test("HTTP: a 206 body longer than asked (here endless) is cut at the requested length", async () => {
  const s = serve("endless");
  try {
    sameAsExpected(await readGguf(s.url, FAST));
    assert.ok(s.served < 64 * 1024 * 1024, `served ${s.served}`);
  } finally {
    await s.close();
  }
});

Deno.test("HTTP: a 206 whose Content-Range start is not the one asked is a protocol error naming the URL", async () => {
  const s = serve("wrong-start");
  try {
    await assert.rejects(readGguf(s.url, FAST), (e: unknown) => {
      assert.ok(e instanceof HttpError);
      assert.equal(e.code, "HTTP_PROTOCOL");
      assert.equal(e.path, s.url);
      assert.match(e.reason, /^asked for bytes 0-\d+, got Content-Range/);
      return true;
    });
  } finally {
    await s.close();
  }
});

Deno.test("HTTP: silent, stalling and trickling servers time out with the URL named", async (t) => {
  for (const mode of ["silent", "stall", "trickle"] as const) {
    await t.step(mode, async () => {
      const s = serve(mode);
      try {
        await assert.rejects(readGguf(s.url, FAST), (e: unknown) => {
          assert.ok(e instanceof HttpError, String(e));
          assert.equal(e.code, "HTTP_TIMEOUT");
          assert.equal(e.path, s.url, e.message);
          return true;
        });
      } finally {
        await s.close();
      }
    });
  }
});

Deno.test("HTTP: 404 is `URL: HTTP 404 (HTTP_STATUS)`, in the library and as the CLI's one line", async () => {
  const s = serve("404");
  try {
    await assert.rejects(readGguf(s.url, FAST), (e: unknown) => {
      assert.ok(e instanceof HttpError);
      assert.equal(`${e.path}: ${e.message}`, `${s.url}: HTTP 404 (HTTP_STATUS)`);
      assert.equal(e.status, 404);
      return true;
    });
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../src/cli/main.ts", import.meta.url).pathname,
        "inspect",
        s.url,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 1);
    assert.equal(
      new TextDecoder().decode(out.stderr).trim(),
      `bitload: ${s.url}: HTTP 404 (HTTP_STATUS)`,
    );
  } finally {
    await s.close();
  }
});

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { DownloadCache } from "../src/download/cache.ts";
import { DownloadError, downloadFile } from "../src/download/resumable.ts";

const body = new Uint8Array(3 * 1024 * 1024 + 17);
for (let i = 0; i < body.length; i++) body[i] = (i * 2654435761) >>> 24;
const bodySha = createHash("sha256").update(body).digest("hex");

interface Server {
  url: string;
  requests: { range: string | null }[];
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1 that serves `body` with byte ranges, and drops the connection
 * after `dropAfter` bytes for the first `drops` responses.
 */
function serve(
  options: { drops?: number; dropAfter?: number; ignoreRange?: boolean } = {},
): Server {
  const requests: { range: string | null }[] = [];
  let drops = options.drops ?? 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const range = req.headers.get("range");
    requests.push({ range });
    let start = 0;
    const m = range && !options.ignoreRange ? /bytes=(\d+)-/.exec(range) : null;
    if (m) start = Number(m[1]);
    if (start >= body.length) return new Response(null, { status: 416 });
    const slice = body.subarray(start);
    const headers = new Headers({ "content-length": String(slice.length) });
    if (m) headers.set("content-range", `bytes ${start}-${body.length - 1}/${body.length}`);
    const drop = drops > 0;
    if (drop) drops--;
    const limit = drop ? Math.min(options.dropAfter ?? 1 << 20, slice.length) : slice.length;
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= limit) {
          if (drop) c.error(new Error("connection dropped"));
          else c.close();
          return;
        }
        const n = Math.min(64 * 1024, limit - sent);
        c.enqueue(slice.slice(sent, sent + n));
        sent += n;
      },
    });
    return new Response(stream, { status: m ? 206 : 200, headers });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/models/tokenizer.json`,
    requests,
    close: () => server.shutdown(),
  };
}

Deno.test("a dropped connection resumes with a Range request and the bytes come out whole", async () => {
  const dir = await Deno.makeTempDir();
  const server = serve({ drops: 2, dropAfter: 1024 * 1024 });
  try {
    const dest = join(dir, "t.json");
    const progress: number[] = [];
    const r = await downloadFile(server.url, dest, {
      sha256: bodySha,
      backoffMs: 1,
      onProgress: (p) => progress.push(p.bytesDone),
    });
    assert.deepEqual(await Deno.readFile(dest), body);
    assert.equal(r.sha256, bodySha);
    assert.equal(r.attempts, 3);
    assert.equal(server.requests[0].range, null);
    assert.match(server.requests[1].range!, /^bytes=\d+-$/);
    assert.ok(Number(/\d+/.exec(server.requests[1].range!)![0]) >= 1024 * 1024 - 64 * 1024);
    assert.equal(r.resumedFrom.length, 2);
    assert.ok(r.resumedFrom[1] > r.resumedFrom[0], "each attempt continued where the last stopped");
    assert.equal(progress.at(-1), body.length);
    await assert.rejects(Deno.stat(`${dest}.part`), Deno.errors.NotFound);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a checksum mismatch leaves no file behind; exhausted attempts fail clearly", async () => {
  const dir = await Deno.makeTempDir();
  const ok = serve();
  const flaky = serve({ drops: 10, dropAfter: 1000 });
  try {
    const dest = join(dir, "t.json");
    await assert.rejects(
      downloadFile(ok.url, dest, { sha256: "00".repeat(32) }),
      /Checksum mismatch/,
    );
    await assert.rejects(Deno.stat(dest), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(`${dest}.part`), Deno.errors.NotFound);
    await assert.rejects(
      downloadFile(flaky.url, join(dir, "x"), { attempts: 3, backoffMs: 1 }),
      (e) => e instanceof DownloadError && /after 3 attempts/.test(e.message),
    );
  } finally {
    await ok.close();
    await flaky.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a server that ignores ranges restarts the file instead of corrupting it", async () => {
  const dir = await Deno.makeTempDir();
  const server = serve({ drops: 1, dropAfter: 512 * 1024, ignoreRange: true });
  try {
    const dest = join(dir, "t.json");
    await downloadFile(server.url, dest, { backoffMs: 1, sha256: bodySha });
    assert.deepEqual(await Deno.readFile(dest), body);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the cache answers from memory, then from its index on disk, and downloads only on a miss", async () => {
  const dir = await Deno.makeTempDir();
  const server = serve();
  try {
    const cache = new DownloadCache("tokenizers", dir);
    const first = await cache.fetch(server.url);
    assert.equal(server.requests.length, 1);
    assert.equal(first.sha256, bodySha);
    assert.deepEqual(await cache.fetch(server.url), first);
    assert.equal(server.requests.length, 1, "no second download");
    const fresh = new DownloadCache("tokenizers", dir);
    assert.deepEqual(fresh.lookup(server.url), first, "found through index.json");
    await Deno.remove(first.path);
    const again = new DownloadCache("tokenizers", dir);
    assert.equal(again.lookup(server.url), undefined, "a vanished file is a miss");
    await again.fetch(server.url);
    assert.equal(server.requests.length, 2);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

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
  requests: { range: string | null; ifRange: string | null }[];
  /** Bytes the server produced. */
  served: number;
  /** Replaces the file the server serves (a new version with a new ETag). */
  replace(bytes: Uint8Array): void;
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1 that serves a file (`body` unless replaced) with byte ranges,
 * a strong ETag and `If-Range` as RFC 9110 says (a stale validator gets the whole new file), and
 * drops the connection after `dropAfter` bytes for the first `drops` responses. `lie` makes it
 * misbehave: `start` sends a range 1000 bytes before the one asked (and says so in
 * Content-Range); `no-validators` sends no ETag; `ignore-if-range` serves the asked range of
 * whatever file it has now; `stall` sends headers and then nothing; `chunked` no Content-Length.
 */
function serve(
  options: {
    drops?: number;
    dropAfter?: number;
    ignoreRange?: boolean;
    lie?: "start" | "no-validators" | "ignore-if-range" | "stall" | "chunked";
  } = {},
): Server {
  const requests: { range: string | null; ifRange: string | null }[] = [];
  let drops = options.drops ?? 0;
  let file: Uint8Array = body;
  let version = 1;
  let served = 0;
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const range = req.headers.get("range");
    const ifRange = req.headers.get("if-range");
    requests.push({ range, ifRange });
    const etag = `"v${version}"`;
    let start = 0;
    let m = range && !options.ignoreRange ? /bytes=(\d+)-/.exec(range) : null;
    if (m && ifRange !== null && ifRange !== etag && options.lie !== "ignore-if-range") m = null;
    if (m) start = Number(m[1]);
    const headers = new Headers();
    if (options.lie !== "no-validators") headers.set("etag", etag);
    if (start >= file.length) {
      headers.set("content-range", `bytes */${file.length}`);
      return new Response(null, { status: 416, headers });
    }
    // "start": the bytes come from 1000 bytes earlier than asked, and the header says so.
    const sentFrom = options.lie === "start" && m ? Math.max(0, start - 1000) : start;
    const slice = file.subarray(sentFrom);
    if (options.lie !== "chunked") headers.set("content-length", String(slice.length));
    if (m) headers.set("content-range", `bytes ${sentFrom}-${file.length - 1}/${file.length}`);
    const drop = drops > 0;
    if (drop) drops--;
    const limit = drop ? Math.min(options.dropAfter ?? 1 << 20, slice.length) : slice.length;
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (options.lie === "stall") {
          await released;
          return c.close();
        }
        if (sent >= limit) {
          if (drop) c.error(new Error("connection dropped"));
          else c.close();
          return;
        }
        const n = Math.min(64 * 1024, limit - sent);
        c.enqueue(slice.slice(sent, sent + n));
        sent += n;
        served += n;
      },
    });
    return new Response(stream, { status: m ? 206 : 200, headers });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/models/tokenizer.json`,
    requests,
    get served() {
      return served;
    },
    replace(bytes) {
      file = bytes;
      version++;
    },
    close: () => {
      release();
      return server.shutdown();
    },
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
    assert.equal(server.requests[1].ifRange, '"v1"', "the resume proves the version");
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
      (e) =>
        e instanceof DownloadError && e.code === "DOWNLOAD_FAILED" &&
        /after 3 attempts/.test(e.message),
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

/** Another version of the file: same length, different bytes. */
const body2 = body.map((b) => b ^ 0x5a);
const body2Sha = createHash("sha256").update(body2).digest("hex");

Deno.test("a file that changed between attempts is downloaded again, never spliced", async (t) => {
  for (const lie of [undefined, "ignore-if-range", "no-validators"] as const) {
    await t.step(`server: ${lie ?? "honours If-Range"}`, async () => {
      const dir = await Deno.makeTempDir();
      const server = serve({ drops: 1, dropAfter: 1024 * 1024, lie });
      try {
        const dest = join(dir, "t.json");
        // The first attempt drops after 1 MiB of version 1; then the file changes.
        let replaced = false;
        const r = await downloadFile(server.url, dest, {
          backoffMs: 1,
          onProgress: (p) => {
            if (!replaced && p.bytesDone >= 1024 * 1024) {
              server.replace(body2);
              replaced = true;
            }
          },
        });
        assert.equal(r.sha256, body2Sha, "the whole new version, not a splice");
        assert.deepEqual(await Deno.readFile(dest), body2);
      } finally {
        await server.close();
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
});

Deno.test("a 206 whose Content-Range start is not the resume offset restarts from zero", async () => {
  const dir = await Deno.makeTempDir();
  const server = serve({ drops: 1, dropAfter: 1024 * 1024, lie: "start" });
  try {
    const dest = join(dir, "t.json");
    const r = await downloadFile(server.url, dest, { backoffMs: 1 });
    assert.equal(r.sha256, bodySha);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a 416 is accepted only when Content-Range: */SIZE is the .part's size", async () => {
  const dir = await Deno.makeTempDir();
  const server = serve();
  try {
    const dest = join(dir, "t.json");
    // A .part (with its validator) of a longer, older version of the file: the server's file is
    // shorter than it, so the server answers 416 with the real size.
    const old = new Uint8Array(body.length + 4096).fill(7);
    await Deno.writeFile(`${dest}.part`, old);
    await Deno.writeTextFile(
      `${dest}.part.json`,
      JSON.stringify({ url: server.url, etag: '"v1"', total: old.length }),
    );
    const r = await downloadFile(server.url, dest, { backoffMs: 1 });
    assert.equal(r.sha256, bodySha);
    // And a complete .part of the same size is accepted from the 416 without a download.
    await Deno.remove(dest);
    await Deno.writeFile(`${dest}.part`, body);
    await Deno.writeTextFile(
      `${dest}.part.json`,
      JSON.stringify({ url: server.url, etag: '"v1"', total: body.length }),
    );
    const before = server.served;
    assert.equal((await downloadFile(server.url, dest, { backoffMs: 1 })).sha256, bodySha);
    assert.equal(server.served, before, "nothing downloaded again");
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a download over the size cap is removed and reported; a stalled one times out", async () => {
  const dir = await Deno.makeTempDir();
  const sized = serve();
  const chunked = serve({ lie: "chunked" });
  const stalled = serve({ lie: "stall" });
  try {
    const dest = join(dir, "t.json");
    for (const server of [sized, chunked]) {
      await assert.rejects(
        downloadFile(server.url, dest, { maxBytes: 1024 * 1024 }),
        (e: unknown) =>
          e instanceof DownloadError && e.code === "TOO_LARGE" &&
          e.path === server.url,
      );
      assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing is left");
      assert.ok(server.served <= 4 * 1024 * 1024);
    }
    await assert.rejects(
      downloadFile(stalled.url, dest, { attempts: 2, backoffMs: 1, idleTimeoutMs: 200 }),
      (e: unknown) =>
        e instanceof DownloadError && e.code === "DOWNLOAD_FAILED" &&
        /fewer than 1024 bytes in 0.2 s/.test(e.message),
    );
  } finally {
    await sized.close();
    await chunked.close();
    await stalled.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the cache: sha256 file names, a corrupt index rebuilt, paths outside refused, sha256 re-checked", async () => {
  const dir = await Deno.makeTempDir();
  const server = serve();
  try {
    const cache = new DownloadCache("tokenizers", dir);
    const first = await cache.fetch(server.url);
    const name = first.path.slice(dir.length + 1);
    assert.equal(
      name,
      `${createHash("sha256").update(server.url).digest("hex")}-tokenizer.json`,
    );
    // A corrupt index ("entries": 5) is rebuilt, not an error that blocks every download.
    await Deno.writeTextFile(join(dir, "index.json"), '{"version":1,"entries":5}');
    const rebuilt = new DownloadCache("tokenizers", dir);
    assert.equal(rebuilt.lookup(server.url), undefined);
    assert.equal((await rebuilt.fetch(server.url)).sha256, bodySha);
    const index = JSON.parse(await Deno.readTextFile(join(dir, "index.json")));
    assert.equal(index.entries.length, 1);
    // An index entry pointing outside the cache directory is never handed out.
    const outside = join(await Deno.makeTempDir(), "secret");
    await Deno.writeFile(outside, body);
    index.entries[0].path = outside;
    await Deno.writeTextFile(join(dir, "index.json"), JSON.stringify(index));
    assert.equal(new DownloadCache("tokenizers", dir).lookup(server.url), undefined);
    // A cached file altered on disk (same size) is caught when the caller gives a sha256.
    const honest = new DownloadCache("tokenizers", dir);
    const entry = await honest.fetch(server.url, { sha256: bodySha });
    const altered = body.slice();
    altered[5] ^= 1;
    await Deno.writeFile(entry.path, altered);
    const requests = server.requests.length;
    const again = await new DownloadCache("tokenizers", dir).fetch(server.url, { sha256: bodySha });
    assert.equal(server.requests.length, requests + 1, "downloaded again");
    assert.deepEqual(await Deno.readFile(again.path), body);
    await Deno.remove(outside);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

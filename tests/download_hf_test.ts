/**
 * `hf://` references against a 127.0.0.1 `Deno.serve` standing in for the Hugging Face hub: the
 * tree listing (two pages linked by `Link: rel="next"`), `resolve/` with byte ranges, the token
 * and `--header`s on every request.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { kv, serializeGguf, writeGguf } from "../src/gguf/mod.ts";
import { bitnetModelParts } from "../src/synth/mod.ts";
import { buildBpeVocab } from "../src/synth/bpe_vocab.ts";
import { runTokenize } from "../src/cli/tokenize.ts";
import {
  chooseHfQuantFile,
  HfError,
  parseHfReference,
  resolveHfReference,
} from "../src/download/hf.ts";
import { runInspect } from "../src/cli/inspect.ts";
import { runPlan } from "../src/cli/plan.ts";
import { errorLine } from "../src/cli/output.ts";

const TOKEN = "hf_test_token";
const vocab = buildBpeVocab(300, 1);
/** A byte-level BPE tokenizer.json for the tokenizer download through hf://. */
const tokenizerJson = JSON.stringify({
  model: {
    type: "BPE",
    vocab: Object.fromEntries(
      vocab.tokens.map((t, i) => [t, i]).filter(([, i]) => vocab.tokenTypes[i as number] === 1),
    ),
    merges: vocab.merges,
  },
  pre_tokenizer: { type: "ByteLevel" },
  decoder: { type: "ByteLevel" },
});
const { metadata, tensors } = bitnetModelParts({ layers: 1, vocab: 300 });
const gguf = serializeGguf(metadata, tensors);
const FILES = [
  "README.md",
  "m-Q4_K_M.gguf",
  "m-Q8_0.gguf",
  "sub/m-IQ2_XS-00001-of-00002.gguf",
  "sub/m-IQ2_XS-00002-of-00002.gguf",
  "mmproj-m-Q8_0.gguf",
  "dup/a-F16.gguf",
  "dup/b-F16.gguf",
];

interface Seen {
  path: string;
  method: string;
  range: string | null;
  auth: string | null;
  trace: string | null;
}
const seen: Seen[] = [];

const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
  const url = new URL(req.url);
  seen.push({
    path: url.pathname + url.search,
    method: req.method,
    range: req.headers.get("range"),
    auth: req.headers.get("authorization"),
    trace: req.headers.get("x-trace"),
  });
  if (req.headers.get("authorization") !== `Bearer ${TOKEN}`) {
    return new Response("unauthorized", { status: 401 });
  }
  if (url.pathname === "/api/models/owner/repo/tree/main") {
    const page = url.searchParams.get("cursor") === "2" ? 2 : 1;
    const entries = (page === 1 ? FILES.slice(0, 4) : FILES.slice(4))
      .map((path) => ({ type: "file", path, size: 1, oid: "x" }));
    if (page === 1) entries.push({ type: "directory", path: "sub", size: 0, oid: "y" });
    const headers = new Headers({ "content-type": "application/json" });
    if (page === 1) {
      headers.set("link", `<${url.origin}${url.pathname}?recursive=true&cursor=2>; rel="next"`);
    }
    return new Response(JSON.stringify(entries), { headers });
  }
  if (url.pathname === "/owner/repo/resolve/main/tokenizer.json") {
    return new Response(tokenizerJson, { headers: { "content-type": "application/json" } });
  }
  const m = /^\/owner\/repo\/resolve\/main\/(.+)$/.exec(url.pathname);
  if (m && FILES.includes(decodeURIComponent(m[1]))) {
    if (req.method === "HEAD") {
      return new Response(null, { headers: { "content-length": String(gguf.length) } });
    }
    const r = /^bytes=(\d+)-(\d+)$/.exec(req.headers.get("range") ?? "");
    if (!r) return new Response(gguf);
    const start = Number(r[1]);
    const end = Math.min(Number(r[2]), gguf.length - 1);
    return new Response(gguf.slice(start, end + 1), {
      status: 206,
      headers: { "content-range": `bytes ${start}-${end}/${gguf.length}` },
    });
  }
  return new Response("not found", { status: 404 });
});
const endpoint = `http://127.0.0.1:${server.addr.port}`;

async function withHub<T>(token: string | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = [Deno.env.get("BITLOAD_HF_ENDPOINT"), Deno.env.get("HF_TOKEN")];
  Deno.env.set("BITLOAD_HF_ENDPOINT", endpoint);
  if (token === undefined) Deno.env.delete("HF_TOKEN");
  else Deno.env.set("HF_TOKEN", token);
  try {
    return await fn();
  } finally {
    if (saved[0] === undefined) Deno.env.delete("BITLOAD_HF_ENDPOINT");
    else Deno.env.set("BITLOAD_HF_ENDPOINT", saved[0]);
    if (saved[1] === undefined) Deno.env.delete("HF_TOKEN");
    else Deno.env.set("HF_TOKEN", saved[1]);
  }
}

async function capture(run: typeof runInspect, args: string[]): Promise<string> {
  const lines: string[] = [];
  assert.equal(await run(args, (s) => lines.push(s)), 0, args.join(" "));
  return lines.join("\n");
}

Deno.test("hf:// references parse as llama.cpp -hf and the hub name them", () => {
  assert.deepEqual(parseHfReference("hf://owner/repo/dir/m.gguf"), {
    repo: "owner/repo",
    revision: "main",
    file: "dir/m.gguf",
  });
  assert.deepEqual(parseHfReference("hf://owner/repo@v1.0/m.gguf"), {
    repo: "owner/repo",
    revision: "v1.0",
    file: "m.gguf",
  });
  assert.deepEqual(parseHfReference("hf://owner/repo:q8_0"), {
    repo: "owner/repo",
    revision: "main",
    quant: "Q8_0",
  });
  assert.equal(parseHfReference("hf://owner/repo").quant, "Q4_K_M");
  for (
    const bad of ["hf://owner", "hf://owner/repo/../x.gguf", "hf://-x/repo:Q8_0", "hf://o/r:Q-8"]
  ) {
    assert.throws(
      () => parseHfReference(bad),
      (e: unknown) => e instanceof HfError && e.code === "HF_BAD_REFERENCE",
      bad,
    );
  }
  assert.equal(
    chooseHfQuantFile(FILES, "IQ2_XS", "hf://o/r:IQ2_XS"),
    "sub/m-IQ2_XS-00001-of-00002.gguf",
  );
  assert.equal(chooseHfQuantFile(FILES, "Q8_0", "hf://o/r:Q8_0"), "m-Q8_0.gguf"); // not mmproj
  assert.equal(chooseHfQuantFile(FILES, "Q8", "hf://o/r:Q8"), undefined); // whole tokens only
  assert.throws(() => chooseHfQuantFile(FILES, "F16", "hf://o/r:F16"), /HF_AMBIGUOUS/);
});

Deno.test("hf://OWNER/REPO:QUANT is chosen from the paged listing and read with ranges", async () => {
  await withHub(TOKEN, async () => {
    seen.length = 0;
    const r = await resolveHfReference("hf://owner/repo:iq2_xs");
    assert.equal(r.url, `${endpoint}/owner/repo/resolve/main/sub/m-IQ2_XS-00001-of-00002.gguf`);
    assert.equal(seen.filter((s) => s.path.startsWith("/api/models/")).length, 2, "two pages");

    seen.length = 0;
    const local = await capture(
      runInspect,
      ["hf://owner/repo:Q8_0", "--json", "--header", "X-Trace: abc"],
    );
    const doc = JSON.parse(local);
    assert.equal(doc.tensors.length, tensors.length);
    assert.equal(doc.metadata["general.architecture"], "bitnet-b1.58");
    const reads = seen.filter((s) => s.path.startsWith("/owner/repo/resolve/"));
    assert.ok(reads.length > 0);
    assert.ok(reads.every((s) => s.path === "/owner/repo/resolve/main/m-Q8_0.gguf"));
    assert.ok(
      seen.every((s) => s.auth === `Bearer ${TOKEN}` && s.trace === "abc"),
      "token and header",
    );
    assert.ok(reads.filter((s) => s.method === "GET").every((s) => s.range !== null), "ranges");

    // A named file needs no listing; no :QUANT means Q4_K_M; plan reads it the same way.
    seen.length = 0;
    await capture(runInspect, ["hf://owner/repo/m-Q8_0.gguf", "--json"]);
    assert.ok(!seen.some((s) => s.path.startsWith("/api/")));
    const plan = JSON.parse(
      await capture(runPlan, ["hf://owner/repo", "--devices", "cpu:8GiB", "--json"]),
    );
    assert.equal(plan.status, "ok");
    assert.ok(seen.some((s) => s.path === "/owner/repo/resolve/main/m-Q4_K_M.gguf"));
  });
});

Deno.test("hf:// failures are one line with a code", async () => {
  await withHub(TOKEN, async () => {
    await assert.rejects(() => runInspect(["hf://owner/repo:Q5_K_S"], () => {}), (e: unknown) => {
      assert.match(
        errorLine(e),
        /^bitload: hf:\/\/owner\/repo:Q5_K_S: no \.gguf file for Q5_K_S among 7 .* \(HF_NO_MATCH\)$/,
      );
      return true;
    });
    await assert.rejects(
      () => runInspect(["hf://owner/repo/missing.gguf"], () => {}),
      (e: unknown) => /missing\.gguf: HTTP 404 \(HTTP_STATUS\)$/.test(errorLine(e)),
    );
  });
  await withHub(undefined, async () => {
    await assert.rejects(
      () => runInspect(["hf://owner/repo:Q8_0"], () => {}),
      (e: unknown) => /tree\/main\?recursive=true: HTTP 401 \(HTTP_STATUS\)$/.test(errorLine(e)),
    );
  });
  await assert.rejects(
    () => runInspect(["x.gguf", "--header", "nocolon"], () => {}),
    /--header must be 'NAME: VALUE'/,
  );
});

Deno.test("tokenize --tokenizer-url hf://… downloads with the token and --header", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-hf-tok-" });
  const saved = Deno.env.get("XDG_CACHE_HOME");
  Deno.env.set("XDG_CACHE_HOME", dir);
  try {
    const bare = join(dir, "bare.gguf");
    await writeGguf(bare, [kv.string("general.architecture", "llama")], []);
    await withHub(TOKEN, async () => {
      seen.length = 0;
      const ids = JSON.parse(
        await capture(runTokenize, [
          bare,
          "--tokenizer-url",
          "hf://owner/repo/tokenizer.json",
          "--header",
          "X-Trace: tok",
          "--json",
          "--text",
          "hello world",
        ]),
      );
      assert.ok(Array.isArray(ids) && ids.length > 0);
      const got = seen.filter((x) => x.path === "/owner/repo/resolve/main/tokenizer.json");
      assert.ok(got.length > 0);
      assert.ok(got.every((x) => x.auth === `Bearer ${TOKEN}` && x.trace === "tok"));
    });
  } finally {
    if (saved === undefined) Deno.env.delete("XDG_CACHE_HOME");
    else Deno.env.set("XDG_CACHE_HOME", saved);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "stop the stand-in hub",
  fn: async () => await server.shutdown(),
});

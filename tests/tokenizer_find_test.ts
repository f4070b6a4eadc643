import assert from "node:assert/strict";
import { join } from "node:path";
import { DownloadCache } from "../src/download/cache.ts";
import { findTokenizer, Tokenizer } from "../src/tokenizer/mod.ts";
import { kv, writeGguf } from "../src/gguf/mod.ts";
import { buildBpeVocab } from "../src/synth/bpe_vocab.ts";
import { GgufValueType } from "../src/gguf/value_types.ts";
import { runCli } from "./support/cli.ts";

const LLAMA3_SPLIT = String
  .raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

const vocab = buildBpeVocab(700, 3);
/** The same vocabulary as a Hugging Face tokenizer.json (byte-level BPE, Llama-3 split regex). */
const tokenizerJson = {
  model: {
    type: "BPE",
    vocab: Object.fromEntries(
      vocab.tokens.map((t, i) => [t, i]).filter(([, i]) => vocab.tokenTypes[i as number] === 1),
    ),
    merges: vocab.merges,
  },
  added_tokens: [
    { id: vocab.bosId, content: vocab.tokens[vocab.bosId], special: true },
    { id: vocab.eosId, content: vocab.tokens[vocab.eosId], special: true },
  ],
  pre_tokenizer: {
    type: "Sequence",
    pretokenizers: [{ type: "Split", pattern: { Regex: LLAMA3_SPLIT } }, {
      type: "ByteLevel",
      use_regex: false,
    }],
  },
  decoder: { type: "ByteLevel" },
  post_processor: {
    type: "TemplateProcessing",
    single: [{ SpecialToken: { id: vocab.tokens[vocab.bosId] } }],
  },
};
const withVocab = [
  kv.string("tokenizer.ggml.model", "gpt2"),
  kv.string("tokenizer.ggml.pre", "llama3"),
  kv.array("tokenizer.ggml.tokens", GgufValueType.STRING, vocab.tokens),
  kv.array("tokenizer.ggml.token_type", GgufValueType.INT32, Int32Array.from(vocab.tokenTypes)),
  kv.array("tokenizer.ggml.merges", GgufValueType.STRING, vocab.merges),
  kv.u32("tokenizer.ggml.bos_token_id", vocab.bosId),
  kv.bool("tokenizer.ggml.add_bos_token", true),
];
const texts = [
  "The quick brown fox jumps over the lazy dog.",
  "  model files\n\nhold 1234567 weights!",
  "ünïcödé 😀 text",
];

Deno.test("tokenizer discovery: GGUF first, then a tokenizer.json sidecar, then a URL into the cache", async (t) => {
  const dir = await Deno.makeTempDir();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(JSON.stringify(tokenizerJson)),
  );
  try {
    const full = join(dir, "full.gguf");
    await writeGguf(full, [kv.string("general.architecture", "llama"), ...withVocab], []);
    const reference = (await findTokenizer(full)).tokenizer;
    const bare = join(dir, "bare", "model.gguf");
    await Deno.mkdir(join(dir, "bare"));
    await writeGguf(bare, [kv.string("general.architecture", "llama")], []);

    await t.step("the GGUF's own tokenizer wins", async () => {
      const c = await findTokenizer(full);
      assert.equal(c.source, "gguf");
      assert.match(c.steps[0], /tokenizer\.ggml\.\* present \(gpt2, 700 tokens\): used/);
    });
    await t.step("nothing anywhere: an error listing every place looked at", async () => {
      await assert.rejects(
        findTokenizer(bare, { url: "" }),
        /No tokenizer found[\s\S]*tokenizer\.json: not found[\s\S]*tokenizer\.model: not found/,
      );
    });
    await t.step("a URL: downloaded once, then from the cache; same ids as the GGUF", async () => {
      const cache = new DownloadCache("tokenizers", join(dir, "cache"));
      const url = `http://127.0.0.1:${server.addr.port}/bitnet/tokenizer.json`;
      const first = await findTokenizer(bare, { url, cache });
      assert.equal(first.source, "url");
      assert.match(first.steps.at(-1)!, /downloaded/);
      const second = await findTokenizer(bare, { url, cache });
      assert.match(second.steps.at(-1)!, /from the cache/);
      for (const text of texts) {
        assert.deepEqual(first.tokenizer.encode(text), reference.encode(text), text);
      }
    });
    await t.step("a tokenizer.json next to the file comes before the URL", async () => {
      await Deno.writeTextFile(join(dir, "bare", "tokenizer.json"), JSON.stringify(tokenizerJson));
      const c = await findTokenizer(bare, { url: "http://127.0.0.1:1/never" });
      assert.equal(c.source, "tokenizer.json");
      for (const text of texts) {
        assert.deepEqual(c.tokenizer.encode(text), reference.encode(text), text);
        assert.equal(c.tokenizer.decode(c.tokenizer.encode(text), { skipSpecial: true }), text);
      }
      assert.ok(c.tokenizer instanceof Tokenizer);
    });
    await t.step("bitload tokenize --explain says where the tokenizer came from", async () => {
      const r = await runCli([
        "tokenize",
        "--model",
        bare,
        "--text",
        "hello",
        "--json",
        "--explain",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), [...reference.encode("hello")]);
      assert.match(
        r.stderr,
        /tokenizer: tokenizer\.json \(.*bare\/tokenizer\.json\)\n {2}1\. .*no tokenizer\.ggml/,
      );
    });
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

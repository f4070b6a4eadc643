/**
 * Tokenizer unit tests that need no reference files: vocabularies built in code as GGUF
 * metadata, the pre-tokenizer table and splitters, special-token partitioning, decoding and
 * `clean_spaces`, and the `tokenize`/`detokenize` CLI commands (on a vocabulary written to a temp
 * file, plus the reference vocabularies when present).
 */

import { TokenizerError } from "../src/tokenizer/errors.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { GgufValueType, kv, writeGguf } from "../src/gguf/mod.ts";
import type { GgufMetadata } from "../src/gguf/metadata.ts";
import { GgufStringArray } from "../src/gguf/string_array.ts";
import { runDetokenize, runTokenize } from "../src/cli/tokenize.ts";
import { UsageError } from "../src/cli/output.ts";
import { PreTokenizer, preTokenizerConfig } from "../src/tokenizer/pretokenize.ts";
import { cleanSpacesBytes, Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { codepointFlags, FLAG, nfdBase, toLower } from "../src/tokenizer/unicode.ts";
import { TOKEN_TYPE } from "../src/tokenizer/vocab.ts";
import { referenceVocab } from "./reference/assets.ts";

function metadata(entries: Record<string, unknown>): GgufMetadata {
  const m = new Map();
  for (const [key, value] of Object.entries(entries)) {
    m.set(key, { key, type: 0, value, offset: 0 });
  }
  return m as unknown as GgufMetadata;
}

const G = "\u0120"; // "Ġ", the GPT-2 byte char of " "

/** A tiny byte-level BPE vocabulary: all 256 byte chars, a few merges, two specials. */
function tinyBpe(pre: string | undefined, extra: Record<string, unknown> = {}) {
  const byteChars: string[] = [];
  const direct = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) byteChars.push(String.fromCharCode(direct(b) ? b : 256 + n++));
  const merges = [
    "h e",
    "l l",
    "he ll",
    "hell o",
    `${G} w`,
    "o r",
    `${G}w or`,
    "l d",
    `${G}wor ld`,
  ];
  const tokens = [
    ...byteChars,
    "he",
    "ll",
    "hell",
    "hello",
    `${G}w`,
    "or",
    `${G}wor`,
    "ld",
    `${G}world`,
  ];
  const specials = ["<|bos|>", "<|eos|>", "<user>"];
  const types = [
    ...tokens.map(() => TOKEN_TYPE.NORMAL),
    TOKEN_TYPE.CONTROL,
    TOKEN_TYPE.CONTROL,
    TOKEN_TYPE.USER_DEFINED,
  ];
  return metadata({
    "tokenizer.ggml.model": "gpt2",
    ...(pre === undefined ? {} : { "tokenizer.ggml.pre": pre }),
    "tokenizer.ggml.tokens": GgufStringArray.from([...tokens, ...specials]),
    "tokenizer.ggml.token_type": Int32Array.from(types),
    "tokenizer.ggml.merges": GgufStringArray.from(merges),
    "tokenizer.ggml.bos_token_id": tokens.length,
    "tokenizer.ggml.eos_token_id": tokens.length + 1,
    ...extra,
  });
}

Deno.test("unicode tables follow llama.cpp, not the JS engine", () => {
  const F = codepointFlags();
  assert.ok(F[0x85] & FLAG.WHITESPACE, "U+0085 is whitespace for llama.cpp");
  assert.ok(!(F[0xfeff] & FLAG.WHITESPACE), "U+FEFF is not whitespace for llama.cpp");
  assert.ok(/\s/u.test("\ufeff"), "…while JS \\s matches U+FEFF");
  assert.ok(F[0x41] & FLAG.LETTER);
  assert.ok(F[0x663] & FLAG.NUMBER);
  assert.equal(toLower(0x130), 0x69);
  assert.equal(nfdBase(0xe9), 0x65);
});

Deno.test("pre-tokenizer table: names, DEFAULT for a missing pre, errors for unknown ones", () => {
  assert.equal(preTokenizerConfig("llama-bpe").type, "LLAMA3");
  assert.equal(preTokenizerConfig("llama-bpe").ignoreMerges, true);
  assert.equal(preTokenizerConfig("llama-bpe").addBos, true);
  assert.equal(preTokenizerConfig(undefined).type, "DEFAULT");
  assert.equal(preTokenizerConfig("qwen2").cleanSpaces, false);
  assert.throws(
    () => preTokenizerConfig("no-such-pre"),
    /Unknown pre-tokenizer type "no-such-pre"/,
  );
  assert.throws(() => preTokenizerConfig("kimi-k2"), /Unsupported pre-tokenizer type "kimi-k2"/);
});

Deno.test("pre-tokenizer splitters", () => {
  const words = (pre: string, s: string) => new PreTokenizer(preTokenizerConfig(pre)).words(s);
  assert.deepEqual(words("llama3", "I'M 12345  x\n\n y"), [
    "I",
    "'M",
    " ",
    "123",
    "45",
    " ",
    " x",
    "\n\n",
    " y",
  ]);
  assert.deepEqual(words("qwen2", "ab 123"), ["ab", " ", "1", "2", "3"]);
  assert.deepEqual(words("gpt-2", "Hello world's 42!!"), ["Hello", " world", "'s", " 42", "!!"]);
  // DEFAULT: punctuation first, then gpt-2, then digits and triples
  assert.deepEqual(words("default", "a,b 1234"), ["a", ",", "b", " ", "123", "4"]);
  assert.deepEqual(words("deepseek-coder", "ab\ncd 12"), ["ab", "\n", "cd", " ", "1", "2"]);
});

Deno.test("BPE from metadata: merges by rank, specials, BOS, missing pre", () => {
  const warnings: string[] = [];
  const tok = Tokenizer.fromMetadata(tinyBpe(undefined), { warn: (m) => warnings.push(m) });
  assert.match(warnings.join("\n"), /missing pre-tokenizer type, using "default"/);
  assert.equal(tok.pre?.type, "DEFAULT");
  const hello = tok.tokenId("hello")!, world = tok.tokenId(`${G}world`)!;
  assert.deepEqual([...tok.encode("hello world", { addSpecial: false })], [hello, world]);
  // DEFAULT adds no BOS; the file's add_bos_token overrides
  assert.deepEqual([...tok.encode("hello")], [hello]);
  const withBos = Tokenizer.fromMetadata(
    tinyBpe("llama3", { "tokenizer.ggml.add_bos_token": true }),
  );
  assert.equal(withBos.encode("hello")[0], withBos.special.bos);
  // CONTROL only with parseSpecial, USER_DEFINED always
  const bos = tok.special.bos, user = tok.tokenId("<user>")!;
  assert.ok(!tok.encode("<|bos|>hello", { addSpecial: false }).includes(bos));
  assert.deepEqual([...tok.encode("<|bos|>hello", { addSpecial: false, parseSpecial: true })], [
    bos,
    hello,
  ]);
  assert.deepEqual([...tok.encode("<user>hello", { addSpecial: false })], [user, hello]);
  // decode
  assert.equal(tok.decode([bos, hello, world]), "<|bos|>hello world");
  assert.equal(tok.decode([bos, hello, world], { skipSpecial: true }), "hello world");
  assert.equal(tok.tokenToPiece(world), " world");
  assert.throws(
    () => tok.tokenToPiece(1e6),
    (e: unknown) => e instanceof TokenizerError && e.code === "BAD_TOKEN",
  );
});

Deno.test("BPE: an unknown pre is an error, a pre override wins", () => {
  assert.throws(
    () => Tokenizer.fromMetadata(tinyBpe("whatever")),
    /Unknown pre-tokenizer type "whatever"/,
  );
  const tok = Tokenizer.fromMetadata(tinyBpe(undefined), { pre: "llama3", warn: () => {} });
  assert.equal(tok.pre?.type, "LLAMA3");
  assert.equal(tok.addBos, true);
});

Deno.test("SPM from metadata: space prefix, scores, byte fallback", () => {
  const pieces = ["<unk>", "<s>", "</s>", "▁", "▁a", "▁ab", "a", "b"];
  const bytes = Array.from(
    { length: 256 },
    (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`,
  );
  const tokens = [...pieces, ...bytes];
  const types = [
    TOKEN_TYPE.UNKNOWN,
    TOKEN_TYPE.CONTROL,
    TOKEN_TYPE.CONTROL,
    ...pieces.slice(3).map(() => TOKEN_TYPE.NORMAL),
    ...bytes.map(() => TOKEN_TYPE.BYTE),
  ];
  const scores = Float32Array.from(tokens.map((_, i) => (i >= 3 && i < 8 ? -i : 0)));
  const tok = Tokenizer.fromMetadata(metadata({
    "tokenizer.ggml.model": "llama",
    "tokenizer.ggml.tokens": GgufStringArray.from(tokens),
    "tokenizer.ggml.token_type": Int32Array.from(types),
    "tokenizer.ggml.scores": scores,
  }));
  assert.equal(tok.type, "spm");
  assert.deepEqual([...tok.encode("ab")], [1, 5]);
  const x = 8 + 0x78; // "x" has no piece → <0x78>
  assert.deepEqual([...tok.encode("abx", { addSpecial: false })], [5, x]);
  assert.deepEqual([...tok.encode("", { addSpecial: true })], [1]);
  assert.deepEqual([...tok.encode("")], [1]);
  assert.deepEqual([...tok.encode("", { addSpecial: false })], []);
  assert.equal(tok.decode([5, x]), "abx");
  assert.equal(tok.decode([1, 5]), "<s> ab");
  assert.equal(tok.decode([1, 5], { skipSpecial: true }), " ab");
});

Deno.test("clean_spaces passes are llama.cpp's", () => {
  const clean = (s: string) =>
    new TextDecoder().decode(cleanSpacesBytes(new TextEncoder().encode(s)));
  assert.equal(clean("Hello world . it 's"), "Hello world. it's");
  assert.equal(clean("a ' b"), "a'b");
  assert.equal(clean("don 't , we 'll"), "don 't, we 'll");
});

Deno.test("tokenize/detokenize CLI", async (t) => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "tiny.gguf");
  const m = tinyBpe("llama3");
  const entries = [...m.values()].map((e) => {
    const v = e.value;
    if (v instanceof GgufStringArray) return kv.array(e.key, GgufValueType.STRING, v.toArray());
    if (v instanceof Int32Array) return kv.array(e.key, GgufValueType.INT32, v);
    if (typeof v === "number") return kv.u32(e.key, v);
    return kv.string(e.key, v as string);
  });
  await writeGguf(path, entries, []);
  const run = async (f: typeof runTokenize, args: string[]) => {
    const out: string[] = [];
    const code = await f(args, (s) => out.push(s));
    return { code, out: out.join("\n") };
  };
  await t.step("tokenize --json", async () => {
    const tok = await Tokenizer.fromGguf(path);
    const r = await run(runTokenize, ["--model", path, "--json", "--text", "hello world"]);
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.out), [
      tok.special.bos,
      tok.tokenId("hello"),
      tok.tokenId(`${G}world`),
    ]);
    const r2 = await run(runTokenize, [
      "-m",
      path,
      "--json",
      "--no-bos",
      "--special",
      "--text",
      "<|eos|>",
    ]);
    assert.deepEqual(JSON.parse(r2.out), [tok.special.eos]);
  });
  await t.step("tokenize table output", async () => {
    const r = await run(runTokenize, ["-m", path, "--no-bos", "--text", "hello"]);
    assert.match(r.out, /-> 'hello'/);
  });
  await t.step("detokenize", async () => {
    const tok = await Tokenizer.fromGguf(path);
    const ids = [tok.special.bos, tok.tokenId("hello")!, tok.tokenId(`${G}world`)!].join(",");
    assert.equal((await run(runDetokenize, ["-m", path, "--ids", ids])).out, "<|bos|>hello world");
    assert.equal(
      (await run(runDetokenize, ["-m", path, "--ids", ids, "--skip-special"])).out,
      "hello world",
    );
  });
  await t.step("usage errors", async () => {
    await assert.rejects(() => runTokenize(["--text", "x"], () => {}), UsageError);
    await assert.rejects(() => runDetokenize(["-m", path, "--ids", "1,x"], () => {}), UsageError);
    await assert.rejects(() => runTokenize(["-m", path, "stray"], () => {}), UsageError);
  });
  await t.step({
    name: "llama-bpe --json equals the documented ids",
    ignore: referenceVocab("llama-bpe") === null,
    fn: async () => {
      const r = await run(runTokenize, [
        "-m",
        referenceVocab("llama-bpe")!,
        "--json",
        "--text",
        "Hello world",
      ]);
      assert.deepEqual(JSON.parse(r.out), [128000, 9906, 1917]);
    },
  });
  await Deno.remove(dir, { recursive: true });
});

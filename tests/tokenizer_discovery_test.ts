/**
 * Pre-tokenizer discovery from a `tokenizer.json` sidecar next to a model.
 */

import { TokenizerError } from "../src/tokenizer/errors.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { GgufValueType, kv, writeGguf } from "../src/gguf/mod.ts";
import { discoverPre, preFromTokenizerJson } from "../src/tokenizer/discovery.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";

const LLAMA3_JSON = {
  pre_tokenizer: {
    type: "Sequence",
    pretokenizers: [
      {
        type: "Split",
        pattern: {
          Regex:
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        },
        behavior: "Isolated",
        invert: false,
      },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  },
};

Deno.test("preFromTokenizerJson recognises exact patterns only", () => {
  assert.equal(preFromTokenizerJson(LLAMA3_JSON), "llama3");
  assert.equal(
    preFromTokenizerJson({ pre_tokenizer: { type: "ByteLevel", use_regex: true } }),
    "gpt-2",
  );
  const qwen = structuredClone(LLAMA3_JSON);
  qwen.pre_tokenizer.pretokenizers[0].pattern!.Regex = qwen.pre_tokenizer.pretokenizers[0].pattern!
    .Regex!.replace("\\p{N}{1,3}", "\\p{N}");
  assert.equal(preFromTokenizerJson(qwen), "qwen2");
  const odd = structuredClone(LLAMA3_JSON);
  odd.pre_tokenizer.pretokenizers[0].pattern!.Regex = "\\s+";
  assert.equal(preFromTokenizerJson(odd), undefined);
  assert.equal(preFromTokenizerJson({}), undefined);
  assert.equal(preFromTokenizerJson(null), undefined);
});

Deno.test("pre: auto uses a tokenizer.json next to a GGUF without tokenizer.ggml.pre", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "model.gguf");
    const bytes = Array.from({ length: 256 }, (_, b) => b);
    let n = 0;
    const chars = bytes.map((b) =>
      String.fromCharCode(
        (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)
          ? b
          : 256 + n++,
      )
    );
    await writeGguf(path, [
      kv.string("general.architecture", "bitnet-b1.58"),
      kv.string("tokenizer.ggml.model", "gpt2"),
      kv.array("tokenizer.ggml.tokens", GgufValueType.STRING, chars),
      kv.array("tokenizer.ggml.merges", GgufValueType.STRING, ["a b"]),
    ], []);
    const warnings: string[] = [];
    assert.equal(
      (await Tokenizer.fromGguf(path, { warn: (m) => warnings.push(m) })).pre?.type,
      "DEFAULT",
    );
    assert.equal(await discoverPre(path), undefined);
    await Deno.writeTextFile(join(dir, "tokenizer.json"), JSON.stringify(LLAMA3_JSON));
    assert.deepEqual(await discoverPre(path), {
      pre: "llama3",
      source: join(dir, "tokenizer.json"),
    });
    const tok = await Tokenizer.fromGguf(path, { pre: "auto", warn: (m) => warnings.push(m) });
    assert.equal(tok.pre?.type, "LLAMA3");
    assert.match(warnings.join("\n"), /using "llama3" from/);
    await Deno.writeTextFile(join(dir, "tokenizer.json"), "{ not json");
    await assert.rejects(
      () => discoverPre(path),
      (e: unknown) => e instanceof TokenizerError && e.code === "BAD_SIDECAR",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Files without `tokenizer.ggml.pre`: a well-known vocabulary is recognised by the fingerprint of
 * its token list (Llama-3's here: llama.cpp's ggml-vocab-llama-bpe.gguf with its `pre` removed, the
 * situation of microsoft/bitnet-b1.58-2B-4T-gguf) and tokenized with its own pre-tokenizer, with
 * one notice; the result equals llama.cpp's test vectors for that vocabulary (its `.out` file,
 * made with pre llama-bpe). `pre: "default"` / `--pre default` gives llama.cpp's behaviour on the
 * same file: the same ids as libllama, which falls back to DEFAULT. Skips without the reference
 * vocabulary; the libllama part skips without libllama.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { readGguf } from "../src/gguf/reader.ts";
import { rewriteGgufMetadata } from "../src/gguf/writer.ts";
import { KNOWN_VOCABULARIES, recognizeVocabulary, Tokenizer } from "../src/tokenizer/mod.ts";
import { referenceVocab, vocabSkipReason } from "./reference/assets.ts";
import { llamaSkipReason, openLlamaReference, readVocabTests } from "./reference/llama.ts";
import { runCli } from "./support/cli.ts";

const source = referenceVocab("llama-bpe");
const NOTICE =
  "vocabulary is Llama-3's; using pre-tokenizer llama-bpe (--pre default for llama.cpp's behaviour)";

Deno.test({
  name: `a Llama-3 vocabulary without tokenizer.ggml.pre gets the llama-bpe pre-tokenizer${
    source ? "" : ` [skipped: ${vocabSkipReason("llama-bpe")}]`
  }`,
  ignore: source === null,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "bitload-known-vocab-" });
    try {
      const stripped = join(dir, "llama3-no-pre.gguf");
      await rewriteGgufMetadata(
        await readGguf(source!),
        stripped,
        (entries) => entries.filter((e) => e.key !== "tokenizer.ggml.pre"),
      );
      const notices: string[] = [];
      const tok = await Tokenizer.fromGguf(stripped, { warn: (m) => notices.push(m) });
      assert.deepEqual(notices, [NOTICE]);
      assert.equal(tok.pre?.type, "LLAMA3");
      const plain = await Tokenizer.fromGguf(stripped, { pre: "default", warn: () => {} });
      assert.equal(plain.pre?.type, "DEFAULT");

      await t.step("llama.cpp's llama-bpe test vectors", () => {
        const tests = readVocabTests(source!)!;
        assert.ok(tests.length > 20);
        for (const { text, ids } of tests) {
          assert.deepEqual([...tok.encode(text, { addSpecial: false })], ids, JSON.stringify(text));
        }
      });

      const llama = openLlamaReference();
      await t.step({
        name: `--pre default equals libllama on the same file${
          llama ? "" : ` [skipped: ${llamaSkipReason()}]`
        }`,
        ignore: llama === null,
        fn: () => {
          const vocab = llama!.loadVocab(stripped);
          try {
            let differ = 0;
            for (const { text } of readVocabTests(source!)!) {
              const want = [...vocab.tokenize(text, false, false)];
              assert.deepEqual([...plain.encode(text, { addSpecial: false })], want);
              if (want.join() !== [...tok.encode(text, { addSpecial: false })].join()) differ++;
            }
            assert.ok(differ > 0, "the two pre-tokenizers split some test text differently");
          } finally {
            vocab.free();
          }
        },
      });

      await t.step("bitload tokenize: the notice once, --pre default", async () => {
        // a text the two pre-tokenizers split differently
        const text = readVocabTests(source!)!.map((x) => x.text).find((x) =>
          x !== "" &&
          [...tok.encode(x, { addSpecial: false })].join() !==
            [...plain.encode(x, { addSpecial: false })].join()
        )!;
        let r = await runCli(["tokenize", stripped, "--text", text, "--json", "--no-bos"]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), [...tok.encode(text, { addSpecial: false })]);
        assert.equal(r.stderr.split("\n").filter((l) => l.includes(NOTICE)).length, 1);
        r = await runCli([
          "tokenize",
          stripped,
          "--text",
          text,
          "--json",
          "--no-bos",
          "--pre",
          "default",
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), [...plain.encode(text, { addSpecial: false })]);
        assert.notDeepEqual(JSON.parse(r.stdout), [...tok.encode(text, { addSpecial: false })]);
        assert.ok(!r.stderr.includes(NOTICE));
      });

      await t.step("the fingerprint table", async () => {
        const { metadata } = await readGguf(source!);
        const tokens = metadata.get("tokenizer.ggml.tokens")!.value as { length: number };
        assert.equal(tokens.length, 128256);
        assert.equal(
          new Set(KNOWN_VOCABULARIES.map((k) => k.sha256)).size,
          KNOWN_VOCABULARIES.length,
        );
        // a changed token is no longer Llama-3's
        const full = await Tokenizer.fromGguf(source!, { warn: () => {} });
        const list = Array.from({ length: 128000 }, (_, i) => full.tokenText(i));
        const types = list.map(() => 1);
        assert.equal(recognizeVocabulary(list, types)?.name, "Llama-3");
        list[500] = "changed";
        assert.equal(recognizeVocabulary(list, types), undefined);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * llama.cpp's tokenizer test vectors (`models/ggml-vocab-*.gguf.inp/.out`, the
 * `tests/test-tokenizer-0.cpp` cases: HF `transformers` ids with `add_special = false,
 * parse_special = false`), one step per vocabulary. Skips with the reason when the reference
 * vocabularies were not fetched.
 */

import assert from "node:assert/strict";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { referenceVocab, vocabSkipReason } from "./reference/assets.ts";
import { readVocabTests } from "./reference/llama.ts";

/** Every vocabulary of the suite that ships `.inp/.out` vectors. */
const SUITE = [
  "bert-bge",
  "command-r",
  "deepseek-coder",
  "deepseek-llm",
  "falcon",
  "gemma-4",
  "gpt-2",
  "llama-bpe",
  "llama-spm",
  "mpt",
  "phi-3",
  "qwen2",
  "qwen35",
  "refact",
  "starcoder",
];

Deno.test("tokenizer matches llama.cpp's test-tokenizer-0 vectors", async (t) => {
  for (const name of SUITE) {
    const path = referenceVocab(name);
    const tests = path ? readVocabTests(path) : null;
    await t.step({
      name: `${name}: ${tests ? tests.length + " cases" : "skipped"}`,
      ignore: tests === null,
      fn: async () => {
        if (tests === null) throw new Error(vocabSkipReason(name));
        const tok = await Tokenizer.fromGguf(path!, { warn: () => {} });
        const failures: string[] = [];
        for (const { text, ids } of tests) {
          const got = [...tok.encode(text, { addSpecial: false, parseSpecial: false })];
          if (got.join(" ") !== ids.join(" ")) {
            failures.push(`${JSON.stringify(text)}: got [${got}] want [${ids}]`);
          }
        }
        assert.deepEqual(failures, [], `${failures.length}/${tests.length} cases differ`);
      },
    });
    if (tests === null) console.warn(`skipped ${name}: ${vocabSkipReason(name)}`);
  }
});

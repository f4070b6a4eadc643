/**
 * Tokenization throughput, bitload against llama.cpp's own `llama_tokenize` (libllama v0.5.0
 * through FFI, the baseline) on the same deterministic ~1 MB of English-like markdown with code,
 * for the Llama-3 BPE vocabulary (`llama-bpe`, the one BitNet b1.58 2B-4T uses) and the
 * Llama-2 SPM vocabulary (`llama-spm`), in the same run. Deno prints the ratios in its group
 * summaries.
 *
 * Two bitload variants per vocabulary: "warm" keeps its per-word cache across iterations (as a
 * long-running process does), "cold" builds nothing new but clears the cache before each call, so
 * every distinct word is merged again (llama.cpp has no such cache). Vocabulary files come from
 * `deno task fetch-reference`; libllama from `npm install`. Missing ones are reported and skipped.
 *
 * Run: `deno bench -A bench/tokenize.bench.ts`
 *
 * @module
 */

import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { referenceVocab, vocabSkipReason } from "../tests/reference/assets.ts";
import { benchmarkText, llamaSkipReason, openLlamaReference } from "../tests/reference/llama.ts";

const text = benchmarkText(1 << 20);
const ref = openLlamaReference();
if (ref === null) console.warn(`libllama baseline not run: ${llamaSkipReason()}`);

for (const name of ["llama-bpe", "llama-spm"]) {
  const path = referenceVocab(name);
  if (path === null) {
    console.warn(`${name} not benchmarked: ${vocabSkipReason(name)}`);
    continue;
  }
  const tok = await Tokenizer.fromGguf(path, { warn: () => {} });
  const group = `tokenize 1 MB (${name})`;
  const n = tok.encode(text, { addSpecial: false }).length;
  if (ref) {
    const lv = ref.loadVocab(path);
    const same =
      lv.tokenize(text, false, false).join() === tok.encode(text, { addSpecial: false }).join();
    console.log(`${name}: ${n} tokens, identical to libllama: ${same}`);
    Deno.bench({
      name: `libllama llama_tokenize (${name})`,
      group,
      baseline: true,
      fn: () => {
        lv.tokenize(text, false, false);
      },
    });
  }
  Deno.bench({
    name: `bitload encode, warm word cache (${name})`,
    group,
    fn: () => {
      tok.encode(text, { addSpecial: false });
    },
  });
  Deno.bench({
    name: `bitload encode, cold word cache (${name})`,
    group,
    fn: () => {
      tok.clearCache();
      tok.encode(text, { addSpecial: false });
    },
  });
}

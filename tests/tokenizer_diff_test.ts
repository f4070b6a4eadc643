/**
 * Differential tests against llama.cpp itself (libllama v0.5.0 through FFI, see
 * tests/reference/llama.ts): for every reference vocabulary, generated text (random code points
 * across scripts, whitespace runs, code, emoji, digits, special-token look-alikes and the
 * vocabulary's own special tokens) is tokenized in the four add_special × parse_special modes
 * and must give identical ids, as must two 256 KB corpora (markdown and multi-script) in both
 * parse_special modes; detokenizing llama.cpp's ids must give identical bytes in both
 * special modes; every token's piece must match `llama_token_to_piece`; and a 100 KB single word
 * must match and stay fast (no quadratic merge). Skips with the reason when libllama or the
 * vocabularies are missing.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { readGguf } from "../src/gguf/reader.ts";
import { rewriteGgufMetadata } from "../src/gguf/writer.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { ATTR } from "../src/tokenizer/vocab.ts";
import { referenceVocab, vocabSkipReason } from "./reference/assets.ts";
import {
  benchmarkText,
  llamaSkipReason,
  openLlamaReference,
  prng,
  randomText,
} from "./reference/llama.ts";

const VOCABS = [
  "aquila",
  "baichuan",
  "bert-bge",
  "command-r",
  "deepseek-coder",
  "deepseek-llm",
  "falcon",
  "gemma-4",
  "gpt-2",
  "gpt-neox",
  "llama-bpe",
  "llama-spm",
  "mpt",
  "nomic-bert-moe",
  "phi-3",
  "qwen2",
  "qwen35",
  "refact",
  "starcoder",
];
/** Vocabularies the suite has but bitload does not implement yet. */
const NOT_IMPLEMENTED: Record<string, string> = {};
/** Random texts per vocabulary (each is encoded 4 times and decoded twice). */
const TEXTS = Number(Deno.env.get("BITLOAD_DIFF_TEXTS") ?? 300);

/** Hand-picked edge cases, run on every vocabulary in all four modes. */
const EDGE_CASES = [
  "",
  " ",
  "  ",
  "\n",
  " \n \n",
  "\t\t\n\r\n\v\f",
  " ".repeat(100),
  "\n".repeat(50) + "x",
  "▁",
  "▁▁ ▁a▁ b",
  " leading and trailing ",
  "<s>",
  "<s><s></s>",
  " <s> x </s>  y",
  "</s>  again",
  "<|endoftext|><|endoftext|>",
  "<|eot_id|>Hi<|eot_id|>",
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
  "[CLS] a [SEP] b [MASK]",
  "<mask> <pad> <unk>",
  "a\u0000b",
  "\ud800 lone \udc00 surrogates \ud83d",
  "\ufeffBOM \u200b zero width \u00a0nbsp \u0085nel \u2028ls",
  "'s 'S 'll 'LL 'Re 'vE 'd 'm 't ''",
  "ǅungla ǈ ǋ titlecase",
  "ﬁ ﬂ ① Ⅻ ｶﾀｶﾅ ＡＢＣ １２３",
  "e\u0301 a\u0308 n\u0303 combining",
  "ខ្ញុំ​ស្រឡាញ់​ភាសា​ខ្មែរ",
  "👨‍👩‍👧‍👦👍🏽🏳️‍🌈🇺🇸",
  "1234567890 ١٢٣ ௧௨௩ 一二三",
  "    Hello\n    Hello",
  "\n =",
  "' era",
  "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～",
];

const CORPORA: [string, string][] = (() => {
  const rand = prng(31337);
  let multi = "";
  while (multi.length < 256 * 1024) multi += randomText(rand, 50) + "\n";
  return [["markdown", benchmarkText(256 * 1024)], ["multi-script", multi]];
})();

const ref = openLlamaReference();
const bytes = (a: Uint8Array) => Array.from(a).join(",");

Deno.test({
  name: "tokenizer is identical to libllama on generated text",
  ignore: ref === null,
  fn: async (t) => {
    for (const name of [...VOCABS, ...Object.keys(NOT_IMPLEMENTED)]) {
      const path = referenceVocab(name);
      const why = NOT_IMPLEMENTED[name] ?? (path ? "" : vocabSkipReason(name));
      await t.step({
        name: why ? `${name}: ignored (${why})` : name,
        ignore: why !== "",
        fn: async () => {
          const tok = await Tokenizer.fromGguf(path!, { warn: () => {} });
          const lv = ref!.loadVocab(path!);
          try {
            assert.equal(tok.vocabSize, lv.nTokens);
            const specials: string[] = [];
            for (let i = 0; i < tok.vocabSize && specials.length < 400; i++) {
              if (tok.tokenAttr(i) & (ATTR.CONTROL | ATTR.USER_DEFINED | ATTR.UNKNOWN)) {
                specials.push(tok.tokenText(i));
              }
            }
            const rand = prng(0x5eed ^ name.length);
            const diffs: string[] = [];
            let cases = 0;
            for (let k = 0; k < TEXTS + EDGE_CASES.length; k++) {
              const text = k < EDGE_CASES.length
                ? EDGE_CASES[k]
                : randomText(rand, 4 + Math.floor(rand() * 60), specials);
              for (const addSpecial of [false, true]) {
                for (const parseSpecial of [false, true]) {
                  cases++;
                  const want = lv.tokenize(text, addSpecial, parseSpecial);
                  const got = tok.encode(text, { addSpecial, parseSpecial });
                  if (got.join() !== want.join()) {
                    diffs.push(`encode(${JSON.stringify(text)}, ${addSpecial}, ${parseSpecial})`);
                  }
                  for (const skip of [false, true]) {
                    const d = bytes(tok.decodeBytes(want, { skipSpecial: skip }));
                    if (d !== bytes(lv.detokenize(want, skip, !skip))) {
                      diffs.push(`decode([${want}], skipSpecial=${skip})`);
                    }
                  }
                }
              }
            }
            assert.deepEqual(
              diffs.slice(0, 5),
              [],
              `${diffs.length} differences in ${cases} cases`,
            );
            // two 256 KB corpora in one call each (word caches warm up across the text)
            for (const [label, corpus] of CORPORA) {
              for (const parseSpecial of [false, true]) {
                const want = lv.tokenize(corpus, false, parseSpecial);
                const got = tok.encode(corpus, { addSpecial: false, parseSpecial });
                let i = 0;
                while (i < want.length && got[i] === want[i]) i++;
                assert.ok(
                  i === want.length && got.length === want.length,
                  `${label} corpus (parseSpecial=${parseSpecial}) differs at token ${i} of ${want.length}`,
                );
              }
            }
            // every piece, with and without special rendering
            const pieceDiffs: number[] = [];
            for (let id = 0; id < tok.vocabSize; id++) {
              for (const special of [true, false]) {
                if (
                  bytes(tok.tokenToPieceBytes(id, special)) !==
                    bytes(lv.tokenToPiece(id, 0, special))
                ) {
                  pieceDiffs.push(id);
                }
              }
            }
            assert.deepEqual(pieceDiffs.slice(0, 10), [], `${pieceDiffs.length} pieces differ`);
          } finally {
            lv.free();
          }
        },
      });
    }
  },
});

Deno.test({
  name: "tokenizer: a 100 KB single word matches libllama and is not quadratic",
  ignore: ref === null,
  fn: async (t) => {
    const rand = prng(7);
    let letters = "";
    for (let i = 0; i < 100_000; i++) letters += String.fromCharCode(97 + Math.floor(rand() * 26));
    for (const name of ["llama-bpe", "llama-spm", "qwen2", "gpt-2"]) {
      const path = referenceVocab(name);
      await t.step({
        name,
        ignore: path === null,
        fn: async () => {
          const tok = await Tokenizer.fromGguf(path!, { warn: () => {} });
          const lv = ref!.loadVocab(path!);
          try {
            for (const text of [letters, "a".repeat(100_000)]) {
              const t0 = performance.now();
              const got = tok.encode(text, { addSpecial: false });
              const ms = performance.now() - t0;
              assert.equal(got.join(), lv.tokenize(text, false, false).join());
              assert.ok(ms < 5000, `100 KB word took ${ms.toFixed(0)} ms`);
            }
          } finally {
            lv.free();
          }
        },
      });
    }
  },
});

if (ref === null) console.warn(`skipped libllama differential tests: ${llamaSkipReason()}`);

Deno.test({
  name:
    "tokenizer: a Llama-3 vocabulary without tokenizer.ggml.pre (BitNet b1.58 2B-4T) gets llama-bpe; --pre default gives libllama's DEFAULT",
  ignore: ref === null || referenceVocab("llama-bpe") === null,
  fn: async () => {
    // llama-bpe has the same tokens and merges as BitNet 2B-4T's official GGUF, which has no pre
    const dir = await Deno.makeTempDir();
    const noPre = join(dir, "llama-bpe-no-pre.gguf");
    try {
      const file = await readGguf(referenceVocab("llama-bpe")!);
      await rewriteGgufMetadata(
        file,
        noPre,
        (e) => e.filter((x) => x.key !== "tokenizer.ggml.pre"),
      );
      const warnings: string[] = [];
      // recognised by its token list: Llama-3's pre-tokenizer, the one libllama uses for the
      // original file (parity with libllama when the same pre-tokenizer is in effect)
      const llama3 = await Tokenizer.fromGguf(noPre, { warn: (m) => warnings.push(m) });
      assert.equal(llama3.pre?.type, "LLAMA3");
      assert.deepEqual(warnings, [
        "vocabulary is Llama-3's; using pre-tokenizer llama-bpe (--pre default for llama.cpp's behaviour)",
      ]);
      // pre "default": what libllama does with the file that has no pre
      const tok = await Tokenizer.fromGguf(noPre, { pre: "default", warn: () => {} });
      assert.equal(tok.pre?.type, "DEFAULT");
      const orig = ref!.loadVocab(referenceVocab("llama-bpe")!);
      const lv = ref!.loadVocab(noPre);
      try {
        const rand = prng(2024);
        let differsFromLlama3 = 0;
        for (let k = 0; k < 200 + EDGE_CASES.length; k++) {
          const text = k < EDGE_CASES.length ? EDGE_CASES[k] : randomText(rand, 40);
          for (const addSpecial of [false, true]) {
            const want = lv.tokenize(text, addSpecial, false);
            assert.equal(
              tok.encode(text, { addSpecial }).join(),
              want.join(),
              JSON.stringify(text),
            );
            const want3 = orig.tokenize(text, addSpecial, false);
            assert.equal(
              llama3.encode(text, { addSpecial }).join(),
              want3.join(),
              JSON.stringify(text),
            );
            if (want.join() !== want3.join()) differsFromLlama3++;
          }
        }
        assert.ok(differsFromLlama3 > 0, "DEFAULT and llama3 should differ on some texts");
      } finally {
        lv.free();
        orig.free();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * Metadata parse of a 128k-vocabulary GGUF (the Llama-3 vocabulary BitNet b1.58 2B-4T uses:
 * 128,256 tokens, 280,147 merges), bitload against @huggingface/gguf (the npm peer) and ggml's
 * C `gguf_init_from_file`, in the same run. Deno prints the ratios in its group summary.
 *
 * The file is llama.cpp's `ggml-vocab-llama-bpe.gguf` (`deno task fetch-reference`); without it,
 * a synthetic file of the same shape is written first.
 *
 * @module
 */

import { gguf } from "npm:@huggingface/gguf@^0.4.6";
import { join } from "node:path";
import { GgufStringArray, readGguf } from "../src/gguf/mod.ts";
import { writeVocabShapedGguf } from "../src/synth/bpe_vocab.ts";
import { referenceVocab } from "../tests/reference/assets.ts";
import { openGgmlReference } from "../tests/reference/ggml.ts";

async function vocabFile(): Promise<string> {
  const real = referenceVocab("llama-bpe");
  if (real) return real;
  const path = join(await Deno.makeTempDir(), "synthetic-128k-vocab.gguf");
  await writeVocabShapedGguf(path);
  return path;
}

const path = await vocabFile();
const ggml = openGgmlReference();

Deno.bench({
  name: "bitload readGguf",
  group: "parse 128k-vocab metadata",
  baseline: true,
  async fn() {
    await readGguf(path);
  },
});

Deno.bench({
  name: "bitload readGguf + decode every string",
  group: "parse 128k-vocab metadata",
  async fn() {
    const file = await readGguf(path);
    for (const entry of file.metadata.values()) {
      if (entry.value instanceof GgufStringArray) entry.value.toArray();
    }
  },
});

Deno.bench({
  name: "@huggingface/gguf",
  group: "parse 128k-vocab metadata",
  n: 8,
  warmup: 2,
  async fn() {
    await gguf(path, { allowLocalFile: true });
  },
});

if (ggml) {
  Deno.bench({
    name: "ggml gguf_init_from_file (C)",
    group: "parse 128k-vocab metadata",
    fn() {
      ggml.readGguf(path);
    },
  });
}

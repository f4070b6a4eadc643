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

import { gguf } from "@huggingface/gguf";
import { join } from "node:path";
import { GgufStringArray, GgufValueType, kv, readGguf, writeGguf } from "../mod.ts";
import { referenceVocab } from "../tests/reference/assets.ts";
import { openGgmlReference } from "../tests/reference/ggml.ts";

async function vocabFile(): Promise<string> {
  const real = referenceVocab("llama-bpe");
  if (real) return real;
  const path = join(await Deno.makeTempDir(), "synthetic-128k-vocab.gguf");
  const tokens = Array.from({ length: 128_256 }, (_, i) => `Ġtok${i.toString(36)}`);
  const merges = Array.from({ length: 280_147 }, (_, i) => `Ġt ok${i.toString(36)}`);
  await writeGguf(path, [
    kv.string("general.architecture", "llama"),
    kv.string("tokenizer.ggml.model", "gpt2"),
    kv.array("tokenizer.ggml.tokens", GgufValueType.STRING, tokens),
    kv.array("tokenizer.ggml.token_type", GgufValueType.INT32, new Int32Array(tokens.length)),
    kv.array("tokenizer.ggml.merges", GgufValueType.STRING, merges),
  ], []);
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

/**
 * The sidecar tokenizer readers (SentencePiece `tokenizer.model`, `tokenizer.json` WordPiece and
 * Unigram) against llama.cpp's own reference vocabularies: each vocabulary is written back out in
 * the sidecar format (the inverse of llama.cpp's conversion), read again, and must tokenize every
 * sample text exactly as the GGUF vocabulary does (which the suite checks against libllama).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type GgufStringArray, kv, readGguf, writeGguf } from "../src/gguf/mod.ts";
import { findTokenizer, Tokenizer } from "../src/tokenizer/mod.ts";
import { referenceVocab, vocabSkipReason } from "./reference/assets.ts";

const TEXTS = [
  "Hello world",
  " leading space and  double  spaces",
  "The quick brown fox jumps over the lazy dog.\nNew line\ttab",
  "ünïcödé, 日本語のテキスト, 😀 emoji, and numbers 1234567.89",
  "",
];

/** Minimal protobuf writer for SentencePiece's ModelProto. */
class Proto {
  parts: number[] = [];
  varint(v: number) {
    while (v >= 0x80) {
      this.parts.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    this.parts.push(v);
  }
  key(field: number, wire: number) {
    this.varint(field * 8 + wire);
  }
  bytes(field: number, b: Uint8Array | number[]) {
    this.key(field, 2);
    this.varint(b.length);
    for (const x of b) this.parts.push(x);
  }
  int(field: number, v: number) {
    this.key(field, 0);
    this.varint(v);
  }
  float(field: number, v: number) {
    this.key(field, 5);
    for (const x of new Uint8Array(new Float32Array([v]).buffer)) this.parts.push(x);
  }
  out(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function sentencePieceModel(
  m: ReadonlyMap<string, { value: unknown }>,
  modelType: 1 | 2,
  ids: { unk: number; bos: number; eos: number; pad?: number },
): Uint8Array {
  const tokens = m.get("tokenizer.ggml.tokens")!.value as GgufStringArray;
  const scores = m.get("tokenizer.ggml.scores")!.value as Float32Array;
  const types = m.get("tokenizer.ggml.token_type")!.value as Int32Array;
  const top = new Proto();
  for (let i = 0; i < tokens.length; i++) {
    const p = new Proto();
    p.bytes(1, tokens.bytesAt(i));
    p.float(2, scores[i]);
    if (types[i] !== 1) p.int(3, types[i]);
    top.bytes(1, p.out());
  }
  const trainer = new Proto();
  trainer.int(3, modelType);
  trainer.int(40, ids.unk);
  trainer.int(41, ids.bos);
  trainer.int(42, ids.eos);
  if (ids.pad !== undefined) trainer.int(43, ids.pad);
  top.bytes(2, trainer.out());
  const normalizer = new Proto();
  const charsmap = m.get("tokenizer.ggml.precompiled_charsmap")?.value as Uint8Array | undefined;
  if (charsmap) normalizer.bytes(2, charsmap);
  normalizer.int(3, 1);
  normalizer.int(4, 1);
  top.bytes(3, normalizer.out());
  return top.out();
}

async function bareModelWith(
  dir: string,
  file: string,
  content: Uint8Array | string,
): Promise<string> {
  const sub = await Deno.makeTempDir({ dir });
  const model = join(sub, "model.gguf");
  await writeGguf(model, [kv.string("general.architecture", "llama")], []);
  if (typeof content === "string") await Deno.writeTextFile(join(sub, file), content);
  else await Deno.writeFile(join(sub, file), content);
  return model;
}

function sameTokens(a: Tokenizer, b: Tokenizer, addSpecial: boolean) {
  for (const text of TEXTS) {
    assert.deepEqual(
      [...a.encode(text, { addSpecial })],
      [...b.encode(text, { addSpecial })],
      JSON.stringify(text),
    );
  }
}

const quiet = { warn: () => {} };
const spm = referenceVocab("llama-spm");
const ugm = referenceVocab("nomic-bert-moe");
const wpm = referenceVocab("bert-bge");
const missing = [
  spm ? "" : vocabSkipReason("llama-spm"),
  ugm ? "" : vocabSkipReason("nomic-bert-moe"),
  wpm ? "" : vocabSkipReason("bert-bge"),
]
  .filter(Boolean).join("; ");

Deno.test({
  name: `sidecar tokenizers read back llama.cpp's vocabularies exactly${
    missing ? ` [skipped: ${missing}]` : ""
  }`,
  ignore: !spm || !ugm || !wpm,
  fn: async (t) => {
    const dir = await Deno.makeTempDir();
    try {
      await t.step("SentencePiece BPE tokenizer.model (llama-spm)", async () => {
        const file = await readGguf(spm!);
        const reference = Tokenizer.fromMetadata(file.metadata, quiet);
        const model = await bareModelWith(
          dir,
          "tokenizer.model",
          sentencePieceModel(file.metadata, 2, { unk: 0, bos: 1, eos: 2 }),
        );
        const found = await findTokenizer(model, { ...quiet, url: "" });
        assert.equal(found.source, "tokenizer.model");
        assert.match(found.steps.at(-1)!, /SentencePiece BPE model: used/);
        sameTokens(found.tokenizer, reference, true);
        sameTokens(found.tokenizer, reference, false);
      });
      await t.step(
        "SentencePiece unigram tokenizer.model with its charsmap (nomic-bert-moe)",
        async () => {
          const file = await readGguf(ugm!);
          const reference = Tokenizer.fromMetadata(file.metadata, quiet);
          const model = await bareModelWith(
            dir,
            "tokenizer.model",
            sentencePieceModel(file.metadata, 1, { unk: 3, bos: 0, eos: 2, pad: 1 }),
          );
          const found = await findTokenizer(model, { ...quiet, url: "" });
          assert.match(found.steps.at(-1)!, /SentencePiece unigram model: used/);
          sameTokens(found.tokenizer, reference, false);
        },
      );
      await t.step(
        "tokenizer.json Unigram with a Precompiled normalizer (nomic-bert-moe)",
        async () => {
          const file = await readGguf(ugm!);
          const reference = Tokenizer.fromMetadata(file.metadata, quiet);
          const tokens = (file.metadata.get("tokenizer.ggml.tokens")!.value as GgufStringArray)
            .toArray();
          const scores = file.metadata.get("tokenizer.ggml.scores")!.value as Float32Array;
          const types = file.metadata.get("tokenizer.ggml.token_type")!.value as Int32Array;
          const charsmap = file.metadata.get("tokenizer.ggml.precompiled_charsmap")!
            .value as Uint8Array;
          const json = {
            model: { type: "Unigram", unk_id: 3, vocab: tokens.map((t, i) => [t, scores[i]]) },
            added_tokens: tokens.map((t, i) => ({ id: i, content: t, special: types[i] === 3 }))
              .filter((t) => t.special),
            normalizer: {
              type: "Sequence",
              normalizers: [{ type: "Precompiled", precompiled_charsmap: charsmap.toBase64() }],
            },
          };
          const model = await bareModelWith(dir, "tokenizer.json", JSON.stringify(json));
          const found = await findTokenizer(model, { ...quiet, url: "" });
          assert.match(found.steps.at(-1)!, /Unigram: used/);
          sameTokens(found.tokenizer, reference, false);
        },
      );
      await t.step("tokenizer.json WordPiece (bert-bge)", async () => {
        const file = await readGguf(wpm!);
        const reference = Tokenizer.fromMetadata(file.metadata, quiet);
        const tokens = (file.metadata.get("tokenizer.ggml.tokens")!.value as GgufStringArray)
          .toArray();
        // Invert llama.cpp's phantom-space conversion back to WordPiece's "##" continuations.
        const vocab = Object.fromEntries(tokens.map((t, i) => {
          if (t.startsWith("[") && t.endsWith("]")) return [t, i];
          return [t.startsWith("\u2581") ? t.slice(1) : `##${t}`, i];
        }));
        const json = { model: { type: "WordPiece", unk_token: "[UNK]", vocab } };
        const model = await bareModelWith(dir, "tokenizer.json", JSON.stringify(json));
        const found = await findTokenizer(model, { ...quiet, url: "" });
        assert.match(found.steps.at(-1)!, /WordPiece: used/);
        sameTokens(found.tokenizer, reference, true);
        sameTokens(found.tokenizer, reference, false);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a corrupt tokenizer.model is reported as not usable, not a crash", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const model = await bareModelWith(
      dir,
      "tokenizer.model",
      Uint8Array.from([0x0a, 0xff, 0xff, 0xff]),
    );
    await assert.rejects(
      findTokenizer(model, { url: "" }),
      /tokenizer\.model: found but not usable: tokenizer\.model: /,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

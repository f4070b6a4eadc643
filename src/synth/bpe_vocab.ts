/**
 * A small byte-level BPE vocabulary in the shape of the Llama-3 tokenizer that BitNet b1.58
 * 2B-4T uses (`tokenizer.ggml.model = "gpt2"`): 256 byte tokens in GPT-2's printable byte map,
 * merges learned by plain BPE on a built-in English text (ties broken by the pair's text, so the
 * result is deterministic), then the special tokens at the end of the vocabulary.
 *
 * @module
 */

import { SynthError } from "./errors.ts";
import { seededRandom } from "../common/random.ts";
import { GgufValueType } from "../gguf/value_types.ts";
import { kv, writeGguf } from "../gguf/writer.ts";

/** A generated vocabulary: tokens, their types, and the merges in rank order. */
export interface BpeVocab {
  tokens: string[];
  /** llama.cpp token types: 1 normal, 3 control. */
  tokenTypes: number[];
  merges: string[];
  bosId: number;
  eosId: number;
}

/**
 * GPT-2's byte-to-character map (`bytes_to_unicode` in openai/gpt-2 `src/encoder.py`): printable
 * bytes map to themselves, the other 68 to U+0100 onwards, so every token is printable text.
 *
 * @example
 * ```ts
 * import { byteToUnicode } from "./bpe_vocab.ts";
 * byteToUnicode()[32]; // "Ġ" (the space)
 * ```
 */
export function byteToUnicode(): string[] {
  const out = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    out[b] = String.fromCodePoint(printable ? b : 256 + extra++);
  }
  return out;
}

/** Text the merges are learned from: a few paragraphs written for this purpose. */
const CORPUS = `
A model file holds the weights of a language model and the facts needed to use them: the
architecture, the number of layers, the size of the hidden state, the vocabulary and the rules
that split text into tokens. The loader reads the header first, then maps the tensor data into
memory without copying it, so that a large model opens in a moment and the operating system
keeps the pages in its cache. Ternary weights store each value as minus one, zero or plus one,
packed four to a byte, with one scale for the whole tensor. The kernels turn those codes back
into floating point numbers, and the tests compare every value with the reference library bit
for bit. When the machine has less memory than the model needs, the planner says so before the
load begins, and it says by how much. A tokenizer that agrees with the reference on every input
is worth more than a fast one that does not; the best one is both exact and fast. The quick brown
fox jumps over the lazy dog while the small model counts the tokens in the sentence and the
large model waits for the next batch of layers to arrive from the disk.
`;

function pairKey(a: string, b: string): string {
  return `${a} ${b}`;
}

/**
 * Builds a vocabulary of exactly `size` tokens (at least 258: 256 bytes and two specials).
 * When the built-in text runs out of pairs, further merges join random existing tokens.
 *
 * @example
 * ```ts
 * import { buildBpeVocab } from "./bpe_vocab.ts";
 * const v = buildBpeVocab(300, 1);
 * v.tokens.length; // 300
 * v.tokens[v.bosId]; // "<|begin_of_text|>"
 * ```
 */
export function buildBpeVocab(size: number, seed: number): BpeVocab {
  if (!Number.isInteger(size) || size < 258) {
    throw new SynthError(
      "BAD_OPTION",
      `Vocabulary size must be an integer of at least 258, got ${size}`,
    );
  }
  const byteMap = byteToUnicode();
  const tokens = [...byteMap];
  const known = new Set(tokens);
  const merges: string[] = [];
  const wanted = size - 258;
  const bytes = new TextEncoder().encode(CORPUS.replace(/\s+/g, " ").trim());
  // Words with their leading space, as GPT-2 pre-tokenization produces them.
  const words: string[][] = [];
  let current: string[] = [];
  for (const b of bytes) {
    if (b === 32 && current.length > 0) {
      words.push(current);
      current = [];
    }
    current.push(byteMap[b]);
  }
  if (current.length > 0) words.push(current);

  while (merges.length < wanted) {
    const counts = new Map<string, number>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.length; i++) {
        const k = pairKey(w[i], w[i + 1]);
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
    }
    let best: string | undefined;
    let bestCount = 0;
    for (const [k, c] of counts) {
      if (c > bestCount || (c === bestCount && best !== undefined && k < best)) {
        best = k;
        bestCount = c;
      }
    }
    if (best === undefined) break;
    const [a, b] = best.split(" ");
    const merged = a + b;
    merges.push(best);
    if (!known.has(merged)) {
      known.add(merged);
      tokens.push(merged);
    }
    for (const w of words) {
      for (let i = 0; i + 1 < w.length; i++) {
        if (w[i] === a && w[i + 1] === b) w.splice(i, 2, merged);
      }
    }
  }
  const random = seededRandom(seed);
  while (tokens.length < size - 2) {
    const a = tokens[random.int(tokens.length)];
    const b = tokens[random.int(tokens.length)];
    const merged = a + b;
    if (known.has(merged) || a.includes(" ") || b.includes(" ")) continue;
    known.add(merged);
    tokens.push(merged);
    merges.push(pairKey(a, b));
  }
  // A merge can repeat an existing token's text (a different split); keep token count exact.
  tokens.length = Math.min(tokens.length, size - 2);
  const tokenTypes = tokens.map(() => 1);
  const bosId = tokens.length;
  tokens.push("<|begin_of_text|>", "<|end_of_text|>");
  tokenTypes.push(3, 3);
  return { tokens, tokenTypes, merges, bosId, eosId: bosId + 1 };
}

/**
 * Writes a vocabulary-only GGUF of the Llama-3 shape (128,256 tokens, 280,147 merges) for
 * metadata-parse benchmarks when llama.cpp's real `ggml-vocab-llama-bpe.gguf` is not at hand.
 * The strings are synthetic; only the sizes match.
 *
 * @example
 * ```ts ignore
 * import { writeVocabShapedGguf } from "./bpe_vocab.ts";
 * await writeVocabShapedGguf("/tmp/vocab-128k.gguf");
 * ```
 */
export async function writeVocabShapedGguf(path: string): Promise<void> {
  const tokens = Array.from({ length: 128_256 }, (_, i) => `Ġtok${i.toString(36)}`);
  const merges = Array.from({ length: 280_147 }, (_, i) => `Ġt ok${i.toString(36)}`);
  await writeGguf(path, [
    kv.string("general.architecture", "llama"),
    kv.string("tokenizer.ggml.model", "gpt2"),
    kv.array("tokenizer.ggml.tokens", GgufValueType.STRING, tokens),
    kv.array("tokenizer.ggml.token_type", GgufValueType.INT32, new Int32Array(tokens.length)),
    kv.array("tokenizer.ggml.merges", GgufValueType.STRING, merges),
  ], []);
}

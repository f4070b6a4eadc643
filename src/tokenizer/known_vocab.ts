/**
 * Well-known BPE vocabularies recognised by a fingerprint of their token list, for files without
 * `tokenizer.ggml.pre` (microsoft/bitnet-b1.58-2B-4T-gguf has Llama-3's vocabulary and no `pre`,
 * so llama.cpp falls back to its DEFAULT pre-tokenizer, which splits text unlike the model's
 * training). The fingerprint is the sha256 of the NORMAL tokens (`token_type` 1; every token
 * when the types are absent) in id order, each as a u32 little-endian byte length and its UTF-8
 * bytes: control and user-defined tokens are left out, so that variants that rename reserved
 * special tokens (Llama 3, 3.1, 3.2, BitNet 2B-4T) share one fingerprint. The digests were
 * computed from llama.cpp's `models/ggml-vocab-*.gguf` (`deno task fetch-reference`); vocabularies
 * that two `pre` names share (qwen2/qwen35, mpt/gpt-neox) are left out.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** A recognised vocabulary. */
export interface KnownVocabulary {
  /** Human name (`"Llama-3"`). */
  name: string;
  /** Pre-tokenizer name as llama.cpp spells it in `tokenizer.ggml.pre`. */
  pre: string;
  /** NORMAL tokens in the list. */
  normalTokens: number;
  /** sha256 fingerprint (see the module documentation). */
  sha256: string;
}

/** The vocabularies bitload recognises. */
export const KNOWN_VOCABULARIES: readonly KnownVocabulary[] = [
  {
    name: "Llama-3",
    pre: "llama-bpe",
    normalTokens: 128000,
    sha256: "221f7beaa2e926e8f6cd5788d0a7fddb57fd702b5f52067cc18f134aa84b1e43",
  },
  {
    name: "GPT-2",
    pre: "gpt-2",
    normalTokens: 50256,
    sha256: "9e4a30fc5f988c8a9bc7935b2d11b5f715b6f1f4ffcd65cba056e00037b5cff1",
  },
  {
    name: "DeepSeek LLM",
    pre: "deepseek-llm",
    normalTokens: 100000,
    sha256: "fb1b9866f0dcc1ea83dd6f81d06be517d4beb7675bc5a2a9134389f729e36c4c",
  },
  {
    name: "DeepSeek Coder",
    pre: "deepseek-coder",
    normalTokens: 32000,
    sha256: "f052d2791e4d111b5b7d7fffd648036e9bdb3a558ba94ba5f30c8acc9a4540d3",
  },
  {
    name: "Command-R",
    pre: "command-r",
    normalTokens: 254992,
    sha256: "faaf7fbb890a6642f5474c703da7b278e5e5d3de8523679863d416b7f07d66f1",
  },
  {
    name: "StarCoder",
    pre: "starcoder",
    normalTokens: 49114,
    sha256: "d75a2c0e6526c93057e1b5db389b3aff587bb3def586df581cb43f3cee0035fa",
  },
  {
    name: "Falcon",
    pre: "falcon",
    normalTokens: 65012,
    sha256: "1115f930a1e5536f58761073361c4e1281b5a2c1613bc37092233a7b64564ef8",
  },
  {
    name: "Refact",
    pre: "refact",
    normalTokens: 49133,
    sha256: "700daa09cda1965b72540971299bee9450b3ceb758d91901b327353e4d8e906c",
  },
];

/** The NORMAL token type of `tokenizer.ggml.token_type` (llama.cpp `LLAMA_TOKEN_TYPE_NORMAL`). */
const NORMAL = 1;

/**
 * The fingerprint of a token list (see the module documentation) and how many tokens it covers.
 *
 * @example
 * ```ts
 * import { vocabularyFingerprint } from "./known_vocab.ts";
 * vocabularyFingerprint(["a", "b", "<s>"], [1, 1, 3]).normalTokens; // 2
 * ```
 */
export function vocabularyFingerprint(
  tokens: ArrayLike<string>,
  types?: ArrayLike<number>,
): { sha256: string; normalTokens: number } {
  const hash = createHash("sha256");
  const enc = new TextEncoder();
  const len = new Uint8Array(4);
  const lenView = new DataView(len.buffer);
  let normalTokens = 0;
  for (let i = 0; i < tokens.length; i++) {
    if (types && types.length >= tokens.length && Number(types[i]) !== NORMAL) continue;
    const bytes = enc.encode(tokens[i]);
    lenView.setUint32(0, bytes.length, true);
    hash.update(len);
    hash.update(bytes);
    normalTokens++;
  }
  return { sha256: hash.digest("hex"), normalTokens };
}

/**
 * The known vocabulary a token list (with its `tokenizer.ggml.token_type` values, if any) is, or
 * `undefined`. Only lists with a known count of NORMAL tokens are hashed.
 *
 * @example
 * ```ts
 * import { recognizeVocabulary } from "./known_vocab.ts";
 * recognizeVocabulary(["a", "b"]); // undefined
 * ```
 */
export function recognizeVocabulary(
  tokens: ArrayLike<string>,
  types?: ArrayLike<number>,
): KnownVocabulary | undefined {
  let normal = 0;
  if (types && types.length >= tokens.length) {
    for (let i = 0; i < tokens.length; i++) if (Number(types[i]) === NORMAL) normal++;
  } else normal = tokens.length;
  const candidates = KNOWN_VOCABULARIES.filter((k) => k.normalTokens === normal);
  if (candidates.length === 0) return undefined;
  const { sha256 } = vocabularyFingerprint(tokens, types);
  return candidates.find((k) => k.sha256 === sha256);
}

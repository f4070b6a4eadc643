/**
 * The vocabulary as llama.cpp builds it from `tokenizer.ggml.*` metadata
 * (`src/llama-vocab.cpp` `llama_vocab::impl::load`, l. 1939–3130): token texts, scores, the
 * attribute bits derived from `token_type` and then patched by token text (EOT/EOG/FIM detection,
 * "unused" control tokens, gpt-oss and phi-3 fixes), special ids with the model-type defaults, and
 * the add-BOS/EOS flags.
 *
 * @module
 */

import { TokenizerError } from "./errors.ts";
import type { GgufMetadata } from "../gguf/metadata.ts";
import { GgufStringArray } from "../gguf/string_array.ts";

/** Token attribute bits (`llama_token_attr`, include/llama.h). */
export const ATTR = {
  UNDEFINED: 0,
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  NORMALIZED: 1 << 6,
  LSTRIP: 1 << 7,
  RSTRIP: 1 << 8,
  SINGLE_WORD: 1 << 9,
} as const;

/** GGUF `token_type` values (`llama_token_type`). */
export const TOKEN_TYPE = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/**
 * Token-type → attribute, as llama.cpp's switch in load (l. 2524–2533).
 *
 * @example
 * ```ts
 * import { ATTR, TOKEN_TYPE, typeToAttr } from "./vocab.ts";
 * typeToAttr(TOKEN_TYPE.CONTROL) === ATTR.CONTROL; // true
 * ```
 */
export function typeToAttr(type: number): number {
  switch (type) {
    case TOKEN_TYPE.UNKNOWN:
      return ATTR.UNKNOWN;
    case TOKEN_TYPE.UNUSED:
      return ATTR.UNUSED;
    case TOKEN_TYPE.NORMAL:
      return ATTR.NORMAL;
    case TOKEN_TYPE.CONTROL:
      return ATTR.CONTROL;
    case TOKEN_TYPE.USER_DEFINED:
      return ATTR.USER_DEFINED;
    case TOKEN_TYPE.BYTE:
      return ATTR.BYTE;
    default:
      return ATTR.UNDEFINED;
  }
}

/** Special token ids (`-1` = none). */
export interface SpecialIds {
  /** Beginning of sequence. */
  bos: number;
  /** End of sequence. */
  eos: number;
  /** End of turn. */
  eot: number;
  /** End of message. */
  eom: number;
  /** Unknown token. */
  unk: number;
  /** Separator (BERT). */
  sep: number;
  /** Padding. */
  pad: number;
  /** Mask (BERT). */
  mask: number;
  /** Fill-in-the-middle prefix. */
  fimPre: number;
  /** Fill-in-the-middle suffix. */
  fimSuf: number;
  /** Fill-in-the-middle middle. */
  fimMid: number;
  /** Fill-in-the-middle padding. */
  fimPad: number;
  /** Fill-in-the-middle repository name. */
  fimRep: number;
  /** Fill-in-the-middle file separator. */
  fimSep: number;
}

/** What the loader extracted from the metadata. */
export interface VocabData {
  /** `tokenizer.ggml.model`. */
  model: string;
  /** `tokenizer.ggml.pre`, or undefined when absent. */
  pre: string | undefined;
  tokens: string[];
  scores: Float32Array;
  attrs: Int32Array;
  tokenToId: Map<string, number>;
  special: SpecialIds;
  /** End-of-generation ids (llama.cpp's `special_eog_ids`). */
  eog: Set<number>;
}

/**
 * The raw value of a metadata key, or undefined.
 *
 * @example
 * ```ts
 * import { metaValue } from "./vocab.ts";
 * metaValue(new Map(), "tokenizer.ggml.model"); // undefined
 * ```
 */
export function metaValue(metadata: GgufMetadata, key: string): unknown {
  return metadata.get(key)?.value;
}

function stringList(metadata: GgufMetadata, key: string): string[] | undefined {
  const v = metaValue(metadata, key);
  if (v === undefined) return undefined;
  // GgufStringArray keeps a leading U+FEFF (llama-spm token 30143 is exactly that character).
  if (v instanceof GgufStringArray) return v.toArray();
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
  throw new TokenizerError("BAD_METADATA", `Metadata key "${key}" is not an array of strings`);
}

/**
 * Reads a string array key (`tokenizer.ggml.tokens`, `merges`) as plain strings, keeping a
 * leading U+FEFF.
 *
 * @example
 * ```ts
 * import { readStringArray } from "./vocab.ts";
 * readStringArray(new Map(), "tokenizer.ggml.merges"); // undefined
 * ```
 */
export function readStringArray(metadata: GgufMetadata, key: string): string[] | undefined {
  return stringList(metadata, key);
}

/** A numeric array key (`tokenizer.ggml.token_type`, `scores`) as numbers, or undefined. */
export function numberArray(
  metadata: GgufMetadata,
  key: string,
): ArrayLike<number> | undefined {
  const v = metaValue(metadata, key);
  if (v === undefined) return undefined;
  if (
    ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) &&
    !(v instanceof BigUint64Array)
  ) return v as unknown as ArrayLike<number>;
  throw new TokenizerError("BAD_METADATA", `Metadata key "${key}" is not a numeric array`);
}

function uintKey(metadata: GgufMetadata, key: string): number | undefined {
  const v = metaValue(metadata, key);
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}

/**
 * A boolean key, or undefined.
 *
 * @example
 * ```ts
 * import { boolKey } from "./vocab.ts";
 * boolKey(new Map(), "tokenizer.ggml.add_bos_token"); // undefined
 * ```
 */
export function boolKey(metadata: GgufMetadata, key: string): boolean | undefined {
  const v = metaValue(metadata, key);
  return typeof v === "boolean" ? v : undefined;
}

const EOT_TEXTS = [
  "<|eot_id|>",
  "<|im_end|>",
  "<|end|>",
  "<end_of_turn>",
  "<|endoftext|>",
  "<|end_of_text|>",
  "<EOT>",
  "_<EOT>",
  "[EOT]",
  "<｜end▁of▁sentence｜>",
  "<end_of_utterance>",
];
const EOM_TEXTS = ["<|eom_id|>"];
const FIM_PRE_TEXTS = [
  "<|fim_prefix|>",
  "<fim-prefix>",
  "<fim_prefix>",
  "<｜fim▁begin｜>",
  "<PRE>",
  "▁<PRE>",
  "<|code_prefix|>",
  "<|prefix|>",
];
const FIM_SUF_TEXTS = [
  "<|fim_suffix|>",
  "<fim-suffix>",
  "<fim_suffix>",
  "<｜fim▁hole｜>",
  "<SUF>",
  "▁<SUF>",
  "<|code_suffix|>",
  "<|suffix|>",
];
const FIM_MID_TEXTS = [
  "<|fim_middle|>",
  "<fim-middle>",
  "<fim_middle>",
  "<｜fim▁end｜>",
  "<MID>",
  "▁<MID>",
  "<|code_middle|>",
  "<|middle|>",
];
const FIM_PAD_TEXTS = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
const FIM_SEP_TEXTS = ["<|file_sep|>"];
const EOG_TEXTS = [
  "<|eot_id|>",
  "<|im_end|>",
  "<|end|>",
  "<|return|>",
  "<|call|>",
  "<|flush|>",
  "<|calls|>",
  "<end_of_turn>",
  "<|endoftext|>",
  "</s>",
  "<|eom_id|>",
  "<EOT>",
  "_<EOT>",
  "[EOT]",
  "[EOS]",
  "<|end_of_text|>",
  "<end_of_utterance>",
  "<eos>",
  "<turn|>",
  "<|tool_response>",
  "<｜end▁of▁sentence｜>",
  "[e~[",
];

/** Model-type defaults of special ids (load, l. 1970–2146). */
function defaultSpecial(model: string): SpecialIds {
  const none: SpecialIds = {
    bos: -1,
    eos: -1,
    eot: -1,
    eom: -1,
    unk: -1,
    sep: -1,
    pad: -1,
    mask: -1,
    fimPre: -1,
    fimSuf: -1,
    fimMid: -1,
    fimPad: -1,
    fimRep: -1,
    fimSep: -1,
  };
  switch (model) {
    case "llama":
      return { ...none, bos: 1, eos: 2, unk: 0 };
    case "bert":
      return { ...none, bos: 101, unk: 100, sep: 102, pad: 0, mask: 103 };
    case "gpt2":
      return { ...none, bos: 11, eos: 11 };
    case "t5":
      return { ...none, eos: 1, unk: 2, pad: 0 };
    default:
      return none;
  }
}

const SPECIAL_KEYS: [string, keyof SpecialIds][] = [
  ["tokenizer.ggml.bos_token_id", "bos"],
  ["tokenizer.ggml.eos_token_id", "eos"],
  ["tokenizer.ggml.eot_token_id", "eot"],
  ["tokenizer.ggml.eom_token_id", "eom"],
  ["tokenizer.ggml.unknown_token_id", "unk"],
  ["tokenizer.ggml.seperator_token_id", "sep"],
  ["tokenizer.ggml.padding_token_id", "pad"],
  ["tokenizer.ggml.mask_token_id", "mask"],
  ["tokenizer.ggml.fim_pre_token_id", "fimPre"],
  ["tokenizer.ggml.fim_suf_token_id", "fimSuf"],
  ["tokenizer.ggml.fim_mid_token_id", "fimMid"],
  ["tokenizer.ggml.fim_pad_token_id", "fimPad"],
  ["tokenizer.ggml.fim_rep_token_id", "fimRep"],
  ["tokenizer.ggml.fim_sep_token_id", "fimSep"],
  ["tokenizer.ggml.prefix_token_id", "fimPre"],
  ["tokenizer.ggml.suffix_token_id", "fimSuf"],
  ["tokenizer.ggml.middle_token_id", "fimMid"],
];

/**
 * Loads tokens, scores, attributes and special ids like llama.cpp. `warn` receives the warnings
 * llama.cpp would log.
 *
 * @example
 * ```ts ignore
 * import { loadVocab } from "./vocab.ts";
 * const v = loadVocab(model.metadata, console.warn);
 * v.tokens.length; // 128256
 * ```
 */
export function loadVocab(metadata: GgufMetadata, warn: (msg: string) => void): VocabData {
  const model = metaValue(metadata, "tokenizer.ggml.model");
  if (typeof model !== "string") {
    throw new TokenizerError(
      "BAD_METADATA",
      'Cannot build a tokenizer: metadata has no string "tokenizer.ggml.model"',
    );
  }
  const preValue = metaValue(metadata, "tokenizer.ggml.pre");
  const pre = typeof preValue === "string" ? preValue : undefined;
  const tokens = stringList(metadata, "tokenizer.ggml.tokens");
  if (!tokens) {
    throw new TokenizerError(
      "BAD_METADATA",
      'Cannot build a tokenizer: metadata has no "tokenizer.ggml.tokens"',
    );
  }
  const n = tokens.length;
  const rawScores = numberArray(metadata, "tokenizer.ggml.scores");
  if (rawScores && rawScores.length < n) {
    throw new TokenizerError(
      "BAD_METADATA",
      `Index out of array bounds for scores (${rawScores.length} < ${n})`,
    );
  }
  const types = numberArray(metadata, "tokenizer.ggml.token_type");
  if (types && types.length < n) {
    throw new TokenizerError(
      "BAD_METADATA",
      `Index out of array bounds for toktypes (${types.length} < ${n})`,
    );
  }
  const scores = new Float32Array(n);
  const attrs = new Int32Array(n);
  const tokenToId = new Map<string, number>();
  let empty = 0;
  let firstEmpty = -1;
  for (let i = 0; i < n; i++) {
    let word = tokens[i];
    if (word === "") {
      // One warning line in all (a hostile vocabulary may hold millions of empty tokens).
      if (empty++ === 0) firstEmpty = i;
      word = `[EMPTY_${i}]`;
      tokens[i] = word;
    }
    tokenToId.set(word, i);
    if (rawScores) scores[i] = rawScores[i];
    attrs[i] = types ? typeToAttr(types[i]) : ATTR.NORMAL;
  }
  if (empty > 0) {
    warn(
      `${empty} empty token${
        empty === 1 ? "" : "s"
      } (first at index ${firstEmpty}), named [EMPTY_<index>]`,
    );
  }
  if (tokenToId.size !== n) warn(`vocabulary has ${n - tokenToId.size} duplicate token texts`);

  const special = defaultSpecial(model);
  if (model === "gpt2" && pre !== undefined && (pre === "glm4" || pre === "chatglm-bpe")) {
    special.bos = -1;
  }
  for (const [key, field] of SPECIAL_KEYS) {
    if (special[field] >= n) {
      warn(`default special token "${key}" = ${special[field]} out of vocab range, disabling`);
      special[field] = -1;
    }
    const v = uintKey(metadata, key);
    if (v === undefined) continue;
    if (v >= n) warn(`bad special token "${key}" = ${v}, using default id ${special[field]}`);
    else special[field] = v;
  }

  // Auto-detection by text (l. 2682–2800). llama.cpp walks an unordered_map, so which text wins
  // when several candidates exist is unspecified; bitload takes the first in llama.cpp's list.
  const detect = (field: keyof SpecialIds, texts: string[]) => {
    if (special[field] !== -1) return;
    for (const t of texts) {
      const id = tokenToId.get(t);
      if (id === undefined) continue;
      special[field] = id;
      attrs[id] |= ATTR.CONTROL;
      return;
    }
  };
  detect("eot", EOT_TEXTS);
  detect("eom", EOM_TEXTS);
  detect("fimPre", FIM_PRE_TEXTS);
  detect("fimSuf", FIM_SUF_TEXTS);
  detect("fimMid", FIM_MID_TEXTS);
  detect("fimPad", FIM_PAD_TEXTS);
  detect("fimRep", FIM_REP_TEXTS);
  detect("fimSep", FIM_SEP_TEXTS);

  // control tokens containing "unused" become UNUSED (l. 2813–2836)
  for (let i = 0; i < n; i++) {
    if ((attrs[i] & ATTR.CONTROL) && !(attrs[i] & ATTR.UNUSED) && tokens[i].includes("unused")) {
      attrs[i] |= ATTR.UNUSED;
    }
  }

  // EOG set (l. 2838–2950)
  const eog = new Set<number>();
  for (const id of [special.fimPad, special.fimRep, special.fimSep]) if (id !== -1) eog.add(id);
  for (const t of EOG_TEXTS) {
    const id = tokenToId.get(t);
    if (id === undefined) continue;
    eog.add(id);
    attrs[id] |= ATTR.CONTROL;
  }
  for (const t of ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"]) {
    const id = tokenToId.get(t);
    if (id !== undefined) attrs[id] = ATTR.USER_DEFINED;
  }
  for (const id of [special.eos, special.eot, special.eom]) if (id !== -1) eog.add(id);
  {
    let hasReturn = false, hasCall = false, hasEnd = false, hasFlush = false, endId = -1;
    for (const id of eog) {
      const t = tokens[id];
      if (t === "<|return|>") hasReturn = true;
      else if (t === "<|call|>" || t === "<|calls|>") hasCall = true;
      else if (t === "<|flush|>") hasFlush = true;
      else if (t === "<|end|>") {
        hasEnd = true;
        endId = id;
      }
    }
    if ((hasReturn && hasCall && hasEnd) || (hasCall && hasFlush && hasEnd)) {
      eog.delete(endId);
      attrs[endId] = ATTR.USER_DEFINED;
    }
  }
  {
    let hasToolResponse = false, sId = -1;
    for (const id of eog) {
      if (tokens[id] === "<|tool_response>") hasToolResponse = true;
      else if (tokens[id] === "</s>") sId = id;
    }
    if (hasToolResponse && sId !== -1) {
      eog.delete(sId);
      attrs[sId] = ATTR.NORMAL;
    }
  }
  return { model, pre, tokens, scores, attrs, tokenToId, special, eog };
}

/**
 * Per-token LSTRIP/RSTRIP bits that llama.cpp sets by model name (l. 3064–3129). Applied after
 * the piece cache is built, exactly as llama.cpp orders it.
 *
 * @example
 * ```ts ignore
 * applyNameAttributes(metadata, vocab); // phi-3: RSTRIP on its special tokens
 * ```
 */
export function applyNameAttributes(metadata: GgufMetadata, v: VocabData): void {
  const name = String(metaValue(metadata, "general.name") ?? "").toLowerCase();
  const pre = v.pre ?? "";
  const arch = String(metaValue(metadata, "general.architecture") ?? "");
  const any = (s: string, subs: string[]) => subs.some((x) => s.includes(x));
  const set = (text: string, bit: number, on: boolean) => {
    const id = v.tokenToId.get(text);
    if (id === undefined) return;
    v.attrs[id] = on ? v.attrs[id] | bit : v.attrs[id] & ~bit;
  };
  if (
    any(pre, ["jina-v2-de", "jina-v2-es", "jina-v2-code"]) ||
    any(arch, ["nomic-bert-moe", "jina-bert-v3"])
  ) {
    set("<mask>", ATTR.LSTRIP, true);
  } else if (any(name, ["phi-3", "phi3"])) {
    for (let i = 0; i < v.attrs.length; i++) {
      if (v.attrs[i] & (ATTR.CONTROL | ATTR.USER_DEFINED | ATTR.UNKNOWN)) v.attrs[i] |= ATTR.RSTRIP;
    }
    set("</s>", ATTR.RSTRIP, true);
    for (const t of ["<unk>", "<s>", "<|endoftext|>"]) set(t, ATTR.RSTRIP, false);
  } else if (any(name, ["modern-bert"])) {
    set("[MASK]", ATTR.LSTRIP, true);
  }
}

/**
 * BPE pre-tokenization exactly as llama.cpp v0.5.0 does it: the `tokenizer.ggml.pre` name picks a
 * list of regexes and flags (`src/llama-vocab.cpp` `llama_vocab::impl::load` l. 2154–2429 and
 * `llm_tokenizer_bpe` l. 280–571); each regex in turn re-splits every current segment, matches
 * and the gaps between them both becoming segments (`src/unicode.cpp` `unicode_regex_split`,
 * l. 1216–1408).
 *
 * - The patterns llama.cpp hand-codes (gpt-2, llama3, qwen2, qwen35, newlines, afmoe digits) are
 *   ported from its splitters (`unicode_regex_split_custom_*`), classifying code points with
 *   llama.cpp's own tables ({@link ./unicode.ts}).
 * - Other patterns run through a JS RegExp that emulates llama.cpp's `std::regex` fallback: when
 *   a pattern uses `\p{…}`, the text is "collapsed" to one char per code point (ASCII kept,
 *   others replaced by a category byte: 0xD1 N, 0xD2 L, 0xD3 P, 0xD4 M, 0xD5 S, 0x0B whitespace,
 *   0xD0 other) and `\p{X}` becomes that byte plus its ASCII members; otherwise the pattern runs
 *   on code points with non-ASCII whitespace replaced by U+000B. `\s`/`\S` are rewritten to the
 *   six ASCII spaces of C's `isspace`, which is what `std::regex` uses.
 *
 * @module
 */

import { TokenizerError } from "./errors.ts";
import { codepointFlags, FLAG, toLower } from "./unicode.ts";

/** A pre-tokenizer configuration: the regex list and the flags llama.cpp sets with it. */
export interface PreTokenizerConfig {
  /** llama.cpp's `LLAMA_VOCAB_PRE_TYPE_*` name, e.g. `LLAMA3`, `DEFAULT`. */
  readonly type: string;
  /** The regexes applied in order (llama.cpp's strings, verbatim). */
  readonly regexes: readonly string[];
  /** Map each byte through the GPT-2 byte→unicode table (false for gemma4-style raw UTF-8). */
  readonly byteEncode: boolean;
  /** Look the whole word up in the vocab before merging (`ignore_merges`). */
  readonly ignoreMerges: boolean;
  /** Default for `add_bos` (the file's `tokenizer.ggml.add_bos_token` overrides it). */
  readonly addBos: boolean;
  /** Default for `clean_spaces` on decode. */
  readonly cleanSpaces: boolean;
  /** Replace `" "` with `"▁"` before splitting (gemma4, sarvam-moe). */
  readonly escapeWhitespaces: boolean;
  /** Forces BOS to "none" (chatglm). */
  readonly noBos?: boolean;
}

// The regexes, as llama.cpp writes them (C++ escapes resolved).
const GPT2 = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`;
const LLAMA3 = String
  .raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const LLAMA3_CI = String
  .raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const QWEN2 = String
  .raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const QWEN35 = String
  .raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const NEWLINES = String.raw`[^\n]+|[\n]+`;
const AFMOE_DIGITS = String.raw`\p{AFMoE_digits}`;
const TINY_AYA_DIGITS = String.raw`\d{1,3}(?=(?:\d{3})*\b)`;
const DEEPSEEK_LLM = [
  "[\r\n]",
  "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\u{10400}-\u{1044f}\u{104b0}-\u{104d3}\u{104d8}-\u{104fb}\u{10c80}-\u{10cb2}\u{10cc0}-\u{10cf2}\u{118a0}-\u{118df}\u{1e900}-\u{1e943}]+",
  "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
  "\\s+$",
  "[一-龥ࠀ-一가-퟿]+",
  "\\p{N}+",
];
const DEEPSEEK_CODER = ["[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"];
const DEEPSEEK3 = [
  "\\p{N}{1,3}",
  "[一-龥぀-ゟ゠-ヿ]+",
  "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
];
const FALCON = ["[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]"];
const STARCODER = ["\\p{N}", GPT2];
const DEFAULT = ["[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]"];
const PORO = [" ?[^(\\s|.,!?…。，、।۔،)]+"];
const TEKKEN = String
  .raw`[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const GPT4O = String
  .raw`[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const CHAMELEON = [
  "<sentinel:[0-9]+>",
  "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
  "([\\t\\n]|    |  )",
  "\\p{N}",
  "[\\p{P}!-/:-@\\[-`{-~]",
  GPT2,
];
const BAILINGMOE = String
  .raw`'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`;
const SEED_CODER = String
  .raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+`;
const UFAKZEKA = String
  .raw`[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const MINICPM5 = [
  "\\p{N}{1,3}",
  String
    .raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
];
const TINY_AYA = [
  TINY_AYA_DIGITS,
  String
    .raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
];

interface Row {
  names: string[];
  type: string;
  regexes: readonly string[];
  ignoreMerges?: boolean;
  addBos?: boolean;
  cleanSpaces?: boolean;
  escapeWhitespaces?: boolean;
  byteEncode?: boolean;
  noBos?: boolean;
}

// `tokenizer.ggml.pre` names → pre type, as in llama_vocab::impl::load (llama-vocab.cpp
// l. 2168–2429); regex lists from llm_tokenizer_bpe (l. 280–571).
const TABLE: Row[] = [
  { names: ["default"], type: "DEFAULT", regexes: DEFAULT },
  { names: ["minicpm5"], type: "MINICPM5", regexes: MINICPM5, ignoreMerges: true },
  {
    names: [
      "llama3",
      "llama-v3",
      "llama-bpe",
      "falcon3",
      "falcon-h1",
      "pixtral",
      "midm-2.0",
      "lfm2",
      "jina-v5-nano",
    ],
    type: "LLAMA3",
    regexes: [LLAMA3],
    ignoreMerges: true,
    addBos: true,
  },
  { names: ["deepseek-llm"], type: "DEEPSEEK_LLM", regexes: DEEPSEEK_LLM, cleanSpaces: false },
  {
    names: ["deepseek-coder"],
    type: "DEEPSEEK_CODER",
    regexes: DEEPSEEK_CODER,
    cleanSpaces: false,
  },
  { names: ["deepseek-v3"], type: "DEEPSEEK3_LLM", regexes: DEEPSEEK3, cleanSpaces: false },
  { names: ["falcon"], type: "FALCON", regexes: FALCON },
  { names: ["mpt"], type: "MPT", regexes: [GPT2] },
  { names: ["starcoder"], type: "STARCODER", regexes: STARCODER },
  {
    names: [
      "gpt-2",
      "phi-2",
      "jina-es",
      "jina-de",
      "gigachat",
      "jina-v2-es",
      "jina-v2-de",
      "a.x-4.0",
      "mellum",
      "modern-bert",
      "exaone4",
      "jina-v1-en",
      "jina-v2-code",
      "roberta-bpe",
    ],
    type: "GPT2",
    regexes: [GPT2],
  },
  {
    names: ["gemma4", "granite-embed-multi-311m"],
    type: "GEMMA4",
    regexes: [NEWLINES],
    escapeWhitespaces: true,
    byteEncode: false,
  },
  {
    names: ["sarvam-moe"],
    type: "SARVAM_MOE",
    regexes: [NEWLINES],
    escapeWhitespaces: true,
    byteEncode: false,
    cleanSpaces: false,
  },
  { names: ["refact"], type: "REFACT", regexes: STARCODER },
  { names: ["command-r"], type: "COMMAND_R", regexes: STARCODER, cleanSpaces: false },
  {
    names: ["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2"],
    type: "QWEN2",
    regexes: [QWEN2],
    cleanSpaces: false,
  },
  { names: ["qwen35"], type: "QWEN35", regexes: [QWEN35], cleanSpaces: false },
  { names: ["stablelm2"], type: "STABLELM2", regexes: [QWEN2] },
  { names: ["olmo"], type: "OLMO", regexes: [GPT2] },
  { names: ["dbrx"], type: "DBRX", regexes: [LLAMA3] },
  { names: ["smaug-bpe"], type: "SMAUG", regexes: [LLAMA3] },
  { names: ["poro-chat"], type: "PORO", regexes: PORO, cleanSpaces: false },
  { names: ["glm4", "chatglm-bpe"], type: "CHATGLM4", regexes: [LLAMA3], noBos: true },
  { names: ["viking"], type: "VIKING", regexes: [...PORO, "\\p{N}"], cleanSpaces: false },
  { names: ["jais"], type: "JAIS", regexes: [GPT2] },
  {
    names: ["tekken"],
    type: "TEKKEN",
    regexes: [TEKKEN],
    cleanSpaces: false,
    ignoreMerges: true,
    addBos: true,
  },
  { names: ["smollm"], type: "SMOLLM", regexes: STARCODER, cleanSpaces: false },
  { names: ["codeshell"], type: "CODESHELL", regexes: STARCODER },
  { names: ["bloom"], type: "BLOOM", regexes: PORO },
  { names: ["gpt3-finnish"], type: "GPT3_FINNISH", regexes: PORO },
  { names: ["exaone"], type: "EXAONE", regexes: STARCODER },
  { names: ["chameleon"], type: "CHAMELEON", regexes: CHAMELEON, addBos: true, cleanSpaces: false },
  { names: ["minerva-7b"], type: "MINERVA", regexes: STARCODER },
  { names: ["megrez"], type: "QWEN2", regexes: [QWEN2] },
  {
    names: ["gpt-4o", "llama4", "kanana2", "talkie"],
    type: "GPT4O",
    regexes: [GPT4O],
    cleanSpaces: false,
  },
  { names: ["minimax-m2"], type: "MINIMAX_M2", regexes: [GPT4O], cleanSpaces: false },
  { names: ["tiny_aya", "cohere2moe"], type: "TINY_AYA", regexes: TINY_AYA, cleanSpaces: false },
  { names: ["trillion"], type: "TRILLION", regexes: [GPT2], cleanSpaces: false },
  { names: ["granite-docling"], type: "GRANITE_DOCLING", regexes: [GPT2], cleanSpaces: false },
  {
    names: ["bailingmoe", "bailingmoe2", "llada-moe"],
    type: "BAILINGMOE",
    regexes: [BAILINGMOE],
    cleanSpaces: false,
  },
  { names: ["seed-coder"], type: "SEED_CODER", regexes: [SEED_CODER], cleanSpaces: false },
  { names: ["hunyuan"], type: "HUNYUAN", regexes: [QWEN2], cleanSpaces: false },
  { names: ["hunyuan-dense"], type: "HUNYUAN_DENSE", regexes: DEEPSEEK3, cleanSpaces: false },
  { names: ["hy_v4"], type: "HY_V4", regexes: DEEPSEEK3, cleanSpaces: false },
  { names: ["joyai-llm"], type: "JOYAI_LLM", regexes: DEEPSEEK3, cleanSpaces: false },
  { names: ["ufakzeka"], type: "UFAKZEKA", regexes: [UFAKZEKA], cleanSpaces: false },
  { names: ["grok-2"], type: "GROK_2", regexes: [QWEN2], cleanSpaces: false },
  {
    names: ["laguna"],
    type: "LAGUNA",
    regexes: [NEWLINES, QWEN2],
    cleanSpaces: false,
  },
  { names: ["solar-open"], type: "SOLAR_OPEN", regexes: [QWEN2], cleanSpaces: false },
  { names: ["mellum2"], type: "MELLUM2", regexes: STARCODER },
];

/** `pre` names llama.cpp knows but bitload does not implement (they need bespoke sessions). */
const UNSUPPORTED = new Set([
  "kimi-k2",
  "afmoe",
  "superbpe",
  "youtu",
  "spark2_5",
  "jais-2",
  "exaone-moe",
  "granite-embed-multi-97m",
  "whitespace",
]);

/**
 * The pre-tokenizer for a `tokenizer.ggml.pre` value (`undefined` = key absent → DEFAULT, as
 * llama.cpp does). Throws `RangeError` for a name llama.cpp would reject, or one bitload does not
 * implement.
 *
 * @example
 * ```ts
 * import { preTokenizerConfig } from "./pretokenize.ts";
 * preTokenizerConfig("llama-bpe").type; // "LLAMA3"
 * preTokenizerConfig(undefined).type; // "DEFAULT"
 * ```
 */
export function preTokenizerConfig(pre: string | undefined): PreTokenizerConfig {
  const name = pre === undefined || pre === "" ? "default" : pre;
  if (UNSUPPORTED.has(name)) {
    throw new TokenizerError(
      "UNSUPPORTED_MODEL",
      `Unsupported pre-tokenizer type "${name}": llama.cpp knows it but bitload does not implement it yet`,
    );
  }
  const row = TABLE.find((r) => r.names.includes(name));
  if (!row) {
    throw new TokenizerError(
      "UNSUPPORTED_MODEL",
      `Unknown pre-tokenizer type "${name}" (tokenizer.ggml.pre)`,
    );
  }
  return {
    type: row.type,
    regexes: row.regexes,
    byteEncode: row.byteEncode ?? true,
    ignoreMerges: row.ignoreMerges ?? false,
    addBos: row.addBos ?? false,
    cleanSpaces: row.cleanSpaces ?? true,
    escapeWhitespaces: row.escapeWhitespaces ?? false,
    noBos: row.noBos,
  };
}

/** All `pre` names bitload implements. */
export const SUPPORTED_PRE_NAMES: readonly string[] = TABLE.flatMap((r) => r.names);

// ---------------------------------------------------------------------------------------------
// Splitting. Segments are kept as lengths in code points (llama.cpp's `bpe_offsets`).

type Splitter = (cps: Int32Array, lens: number[]) => number[];

/** One compiled regex stage. */
function compileStage(regex: string): Splitter {
  switch (regex) {
    case GPT2:
      return splitGpt2;
    case LLAMA3:
    case LLAMA3_CI:
      return (cps, lens) => splitLlama3Like(cps, lens, 3, false);
    case QWEN2:
      return (cps, lens) => splitLlama3Like(cps, lens, 1, false);
    case QWEN35:
      return (cps, lens) => splitLlama3Like(cps, lens, 1, true);
    case NEWLINES:
      return splitNewlines;
    case AFMOE_DIGITS:
    case TINY_AYA_DIGITS:
      return splitDigitGroups;
    default:
      return compileStdRegex(regex);
  }
}

/**
 * A compiled pre-tokenizer: splits code points into words (llama.cpp's `unicode_regex_split`
 * without the byte encoding).
 *
 * @example
 * ```ts
 * import { PreTokenizer, preTokenizerConfig } from "./pretokenize.ts";
 * new PreTokenizer(preTokenizerConfig("qwen2")).words("abc 123"); // ["abc", " ", "1", "2", "3"]
 * ```
 */
export class PreTokenizer {
  /** The configuration it was compiled from. */
  readonly config: PreTokenizerConfig;
  readonly #stages: Splitter[];

  /**
   * Compiles the regex list of a configuration.
   *
   * @example
   * ```ts
   * import { PreTokenizer, preTokenizerConfig } from "./pretokenize.ts";
   * const p = new PreTokenizer(preTokenizerConfig("gpt-2"));
   * p.words("Hello world"); // ["Hello", " world"]
   * ```
   */
  constructor(config: PreTokenizerConfig) {
    this.config = config;
    this.#stages = config.regexes.map(compileStage);
  }

  /**
   * Word lengths in code points for code points `cps` (llama.cpp's `bpe_offsets`).
   *
   * @example
   * ```ts
   * import { PreTokenizer, preTokenizerConfig } from "./pretokenize.ts";
   * new PreTokenizer(preTokenizerConfig("gpt-2")).split(Int32Array.from([0x61, 0x20, 0x62])); // [1, 2]
   * ```
   */
  split(cps: Int32Array): number[] {
    let lens = cps.length ? [cps.length] : [];
    for (const stage of this.#stages) lens = stage(cps, lens);
    lastCollapsed = lastWide = undefined; // do not keep the text alive
    return lens;
  }

  /**
   * Splits a string into words (a convenience over {@link PreTokenizer.split}).
   *
   * @example
   * ```ts
   * import { PreTokenizer, preTokenizerConfig } from "./pretokenize.ts";
   * new PreTokenizer(preTokenizerConfig("llama3")).words("I'm 12345"); // ["I", "'m", " ", "123", "45"]
   * ```
   */
  words(text: string): string[] {
    const cps = Int32Array.from(text, (c) => c.codePointAt(0)!);
    const out: string[] = [];
    let p = 0;
    for (const n of this.split(cps)) {
      out.push(String.fromCodePoint(...cps.subarray(p, p + n)));
      p += n;
    }
    return out;
  }
}

// Port of unicode_regex_split_custom_gpt2 (unicode.cpp l. 214–317).
function splitGpt2(cps: Int32Array, lens: number[]): number[] {
  const F = codepointFlags();
  const out: number[] = [];
  const NOTWLN = FLAG.WHITESPACE | FLAG.LETTER | FLAG.NUMBER;
  let start = 0;
  for (const len of lens) {
    const ini = start;
    const end = start + len;
    start = end;
    const flagsAt = (p: number) => (p < end ? F[cps[p]] : 0);
    let prev = ini;
    const add = (e: number) => {
      const n = e - prev;
      if (n > 0) out.push(n);
      prev = e;
      return n;
    };
    for (let pos = ini; pos < end;) {
      const cpt = cps[pos];
      const flags = F[cpt];
      if (cpt === 0x27 && pos + 1 < end) {
        const next = cps[pos + 1];
        if (next === 0x73 || next === 0x74 || next === 0x6d || next === 0x64) {
          pos += add(pos + 2);
          continue;
        }
        if (pos + 2 < end) {
          const nn = cps[pos + 2];
          if (
            (next === 0x72 && nn === 0x65) || (next === 0x76 && nn === 0x65) ||
            (next === 0x6c && nn === 0x6c)
          ) {
            pos += add(pos + 3);
            continue;
          }
        }
      }
      let flags2 = cpt === 0x20 ? flagsAt(pos + 1) : flags;
      if (flags2 & FLAG.LETTER) {
        if (cpt === 0x20) pos++;
        while (flags2 & FLAG.LETTER) flags2 = flagsAt(++pos);
        add(pos);
        continue;
      }
      if (flags2 & FLAG.NUMBER) {
        if (cpt === 0x20) pos++;
        while (flags2 & FLAG.NUMBER) flags2 = flagsAt(++pos);
        add(pos);
        continue;
      }
      if (!(flags2 & NOTWLN) && flags2) {
        if (cpt === 0x20) pos++;
        while (!(flags2 & NOTWLN) && flags2) flags2 = flagsAt(++pos);
        add(pos);
        continue;
      }
      let nws = 0;
      while (flagsAt(pos + nws) & FLAG.WHITESPACE) nws++;
      if (nws > 1 && pos + nws < end) {
        pos += nws - 1;
        add(pos);
        continue;
      }
      if (nws > 0) {
        pos += nws;
        add(pos);
        continue;
      }
      add(++pos);
    }
  }
  return out;
}

// Port of unicode_regex_split_custom_llama3 / _qwen2 / _qwen35 (unicode.cpp l. 319–734):
// `maxDigits` 3 for llama3 (\p{N}{1,3}), 1 for qwen2/qwen35 (\p{N}); `marks` for qwen35
// ([\p{L}\p{M}]+ letter runs).
function splitLlama3Like(
  cps: Int32Array,
  lens: number[],
  maxDigits: number,
  marks: boolean,
): number[] {
  const F = codepointFlags();
  const out: number[] = [];
  const LM = marks ? FLAG.LETTER | FLAG.ACCENT_MARK : FLAG.LETTER;
  const NOT = FLAG.WHITESPACE | LM | FLAG.NUMBER;
  let start = 0;
  for (const len of lens) {
    const ini = start;
    const end = start + len;
    start = end;
    let prev = ini;
    for (let pos = ini; pos < end;) {
      const cpt = cps[pos];
      const flags = F[cpt];
      // (?i:'s|'t|'re|'ve|'m|'ll|'d)
      if (cpt === 0x27 && pos + 1 < end) {
        const next = toLower(cps[pos + 1]);
        if (next === 0x73 || next === 0x74 || next === 0x6d || next === 0x64) {
          pos += 2;
          out.push(pos - prev);
          prev = pos;
          continue;
        }
        if (pos + 2 < end) {
          const nn = toLower(cps[pos + 2]);
          if (
            (next === 0x72 && nn === 0x65) || (next === 0x76 && nn === 0x65) ||
            (next === 0x6c && nn === 0x6c)
          ) {
            pos += 3;
            out.push(pos - prev);
            prev = pos;
            continue;
          }
        }
      }
      // [^\r\n\p{L}\p{N}]?\p{L}+  (qwen35: [\p{L}\p{M}]+)
      if (!(cpt === 0x0d || cpt === 0x0a || (flags & FLAG.NUMBER))) {
        if ((flags & LM) || (pos + 1 < end && (F[cps[pos + 1]] & LM))) {
          pos++;
          while (pos < end && (F[cps[pos]] & LM)) pos++;
          out.push(pos - prev);
          prev = pos;
          continue;
        }
      }
      // \p{N}{1,3}  (qwen: \p{N})
      if (flags & FLAG.NUMBER) {
        if (maxDigits === 1) {
          pos++;
          out.push(1);
          prev = pos;
          continue;
        }
        let i0 = pos;
        while (pos < end && (F[cps[pos]] & FLAG.NUMBER)) {
          if (++pos - i0 >= 3) {
            out.push(pos - prev);
            prev = pos;
            i0 = pos;
          }
        }
        if (pos > prev) out.push(pos - prev);
        prev = pos;
        continue;
      }
      // <space>?[^\s\p{L}\p{N}]+[\r\n]*   (note: llama.cpp tests flags of cpt, not flags2, for != 0)
      let flags2 = cpt === 0x20 ? (pos + 1 < end ? F[cps[pos + 1]] : 0) : flags;
      if (!(flags2 & NOT) && flags) {
        if (cpt === 0x20) pos++;
        while (!(flags2 & NOT) && flags2) flags2 = ++pos < end ? F[cps[pos]] : 0;
        while (pos < end && (cps[pos] === 0x0d || cps[pos] === 0x0a)) pos++;
        if (pos > prev) out.push(pos - prev);
        prev = pos;
        continue;
      }
      let nws = 0;
      let lastRN = 0;
      while (pos + nws < end && (F[cps[pos + nws]] & FLAG.WHITESPACE)) {
        const c2 = cps[pos + nws];
        if (c2 === 0x0d || c2 === 0x0a) lastRN = pos + nws + 1;
        nws++;
      }
      // \s*[\r\n]+
      if (lastRN > 0) {
        pos = lastRN;
      } else if (nws > 1 && pos + nws < end) {
        // \s+(?!\S)
        pos += nws - 1;
      } else if (nws > 0) {
        // \s+
        pos += nws;
      } else {
        pos++;
      }
      if (pos > prev) out.push(pos - prev);
      prev = pos;
    }
  }
  return out;
}

// Port of unicode_regex_split_custom_newlines (unicode.cpp l. 1006–1031).
function splitNewlines(cps: Int32Array, lens: number[]): number[] {
  const out: number[] = [];
  let start = 0;
  for (const len of lens) {
    const end = start + len;
    let pos = start;
    while (pos < end) {
      const nl = cps[pos] === 0x0a;
      const s = pos;
      while (pos < end && (cps[pos] === 0x0a) === nl) pos++;
      out.push(pos - s);
    }
    start = end;
  }
  return out;
}

// Port of unicode_regex_split_custom_afmoe (unicode.cpp l. 939–1003).
function splitDigitGroups(cps: Int32Array, lens: number[]): number[] {
  const F = codepointFlags();
  const out: number[] = [];
  let start = 0;
  for (const len of lens) {
    const ini = start;
    const end = start + len;
    start = end;
    let prev = ini;
    const add = (e: number) => {
      if (e - prev > 0) out.push(e - prev);
      prev = e;
    };
    for (let pos = ini; pos < end;) {
      if (F[cps[pos]] & FLAG.NUMBER) {
        const s = pos;
        while (pos < end && (F[cps[pos]] & FLAG.NUMBER)) pos++;
        const count = pos - s;
        const rem = count % 3;
        let cur = s;
        if (rem > 0) {
          add(cur + rem);
          cur += rem;
        }
        while (cur < s + count) {
          add(cur + 3);
          cur += 3;
        }
        continue;
      }
      pos++;
    }
    if (prev < end) add(end);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// std::regex emulation (unicode.cpp l. 1216–1408 and unicode_regex_split_stl l. 737–775).

const UCAT: Record<string, number> = {
  "\\p{N}": FLAG.NUMBER,
  "\\p{L}": FLAG.LETTER,
  "\\p{P}": FLAG.PUNCTUATION,
  "\\p{M}": FLAG.ACCENT_MARK,
  "\\p{S}": FLAG.SYMBOL,
  "\\p{Lu}": FLAG.LETTER,
  "\\p{Ll}": FLAG.LETTER,
  "\\p{Lt}": FLAG.LETTER,
  "\\p{Lm}": FLAG.LETTER,
  "\\p{Lo}": FLAG.LETTER,
};
const UCAT_CPT: Record<number, number> = {
  [FLAG.NUMBER]: 0xd1,
  [FLAG.LETTER]: 0xd2,
  [FLAG.PUNCTUATION]: 0xd3,
  [FLAG.ACCENT_MARK]: 0xd4,
  [FLAG.SYMBOL]: 0xd5,
};
// The ASCII members of each category, written for a JS (non-unicode) character class.
const UCAT_MAP: Record<number, string> = {
  [FLAG.NUMBER]: "0-9",
  [FLAG.LETTER]: "A-Za-z",
  [FLAG.PUNCTUATION]: "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}",
  [FLAG.ACCENT_MARK]: "",
  [FLAG.SYMBOL]: "\\$\\+<->\\^`\\|~",
};

const ISSPACE = "\\t\\n\\v\\f\\r ";

/** Rewrites `\s`/`\S` to C `isspace` classes (std::regex semantics) for a JS pattern. */
function rewriteSpaces(pattern: string): string {
  let out = "";
  let inside = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\" && i + 1 < pattern.length) {
      const d = pattern[i + 1];
      if (d === "s") out += inside ? ISSPACE : `[${ISSPACE}]`;
      else if (d === "S") {
        if (inside) {
          throw new TokenizerError(
            "BAD_REGEX",
            `Unsupported "\\S" inside a class in regex "${pattern}"`,
          );
        }
        out += `[^${ISSPACE}]`;
      } else out += c + d;
      i++;
      continue;
    }
    if (c === "[" && !inside) inside = true;
    else if (c === "]" && inside) inside = false;
    out += c;
  }
  return out;
}

function compileStdRegex(regex: string): Splitter {
  const useCollapsed = Object.keys(UCAT).some((k) => regex.includes(k));
  if (useCollapsed) {
    for (const ch of regex) {
      if (ch.codePointAt(0)! >= 128) {
        throw new TokenizerError(
          "BAD_REGEX",
          `Regex "${regex}" includes both unicode categories and non-ASCII characters`,
        );
      }
    }
    // The collapsed regex, built like llama.cpp does (tracking [] to avoid nesting).
    let collapsed = "";
    let inside = false;
    for (let i = 0; i < regex.length; i++) {
      if (regex[i] === "[" && (i === 0 || regex[i - 1] !== "\\")) {
        collapsed += "[";
        inside = true;
        continue;
      }
      if (inside && regex[i] === "]" && regex[i - 1] !== "\\") {
        collapsed += "]";
        inside = false;
        continue;
      }
      if (
        regex[i] === "\\" && i + 3 < regex.length && regex[i + 1] === "p" && regex[i + 2] === "{"
      ) {
        const close = regex.indexOf("}", i + 3);
        if (close >= 0 && close <= i + 10) {
          const pat = regex.slice(i, close + 1);
          if (pat in UCAT) {
            const cat = UCAT[pat];
            const body = "\\x" + UCAT_CPT[cat].toString(16) + UCAT_MAP[cat];
            collapsed += inside ? body : `[${body}]`;
            i = close;
            continue;
          }
        }
      }
      collapsed += regex[i];
    }
    const re = new RegExp(rewriteSpaces(collapsed), "g");
    return (cps, lens) => splitWithRegex(re, collapsedText(cps), lens, null);
  }
  const re = new RegExp(rewriteSpaces(regex), "gu");
  return (cps, lens) => {
    const w = wideText(cps);
    return splitWithRegex(re, w.text, lens, w.u16);
  };
}

// The collapsed and wide texts of the last code point array, shared by the regexes of one
// split (DEFAULT runs three collapsed regexes over the same text).
let lastCollapsed: { cps: Int32Array; text: string } | undefined;
let lastWide: { cps: Int32Array; text: string; u16: Int32Array } | undefined;

function fromCodes(codes: Uint16Array, n: number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i += 8192) {
    parts.push(String.fromCharCode(...codes.subarray(i, Math.min(n, i + 8192))));
  }
  return parts.join("");
}

/** One char per code point: ASCII kept, others → their category byte (llama.cpp's collapse). */
function collapsedText(cps: Int32Array): string {
  if (lastCollapsed?.cps === cps) return lastCollapsed.text;
  const F = codepointFlags();
  const codes = new Uint16Array(cps.length);
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i];
    if (c < 128) codes[i] = c;
    else {
      const f = F[c];
      codes[i] = f & FLAG.WHITESPACE ? 0x0b : UCAT_CPT[f & FLAG.MASK_CATEGORIES] ?? 0xd0;
    }
  }
  const text = fromCodes(codes, cps.length);
  lastCollapsed = { cps, text };
  return text;
}

/** The code points as a string with non-ASCII whitespace → U+000B (llama.cpp's wregex text). */
function wideText(cps: Int32Array): { text: string; u16: Int32Array } {
  if (lastWide?.cps === cps) return lastWide;
  const F = codepointFlags();
  const codes = new Uint16Array(cps.length * 2);
  const u16 = new Int32Array(cps.length + 1);
  let off = 0;
  for (let i = 0; i < cps.length; i++) {
    let c = cps[i];
    if (c > 0x7f && (F[c] & FLAG.WHITESPACE)) c = 0x0b;
    u16[i] = off;
    if (c > 0xffff) {
      codes[off++] = 0xd800 + ((c - 0x10000) >> 10);
      codes[off++] = 0xdc00 + ((c - 0x10000) & 0x3ff);
    } else codes[off++] = c;
  }
  u16[cps.length] = off;
  lastWide = { cps, text: fromCodes(codes, off), u16 };
  return lastWide;
}

/**
 * Applies one regex to every segment (llama.cpp's `unicode_regex_split_stl`): each match and
 * each gap becomes a segment. `u16` maps code point index → UTF-16 index (null when 1:1).
 */
function splitWithRegex(
  re: RegExp,
  text: string,
  lens: number[],
  u16: Int32Array | null,
): number[] {
  const out: number[] = [];
  // UTF-16 index → code point index, for the u16 case
  let back: Int32Array | null = null;
  if (u16) {
    back = new Int32Array(text.length + 1);
    for (let i = 0; i + 1 < u16.length; i++) back[u16[i]] = i;
    back[text.length] = u16.length - 1;
  }
  let start = 0;
  for (const len of lens) {
    const s16 = u16 ? u16[start] : start;
    const e16 = u16 ? u16[start + len] : start + len;
    const seg = text.slice(s16, e16);
    re.lastIndex = 0;
    let startIdx = 0; // in code points, relative to the segment
    let m: RegExpExecArray | null;
    while ((m = re.exec(seg)) !== null) {
      const mStart16 = m.index;
      const mEnd16 = m.index + m[0].length;
      if (m[0].length === 0) {
        re.lastIndex = mEnd16 +
          (u16 && seg.charCodeAt(mEnd16) >= 0xd800 && seg.charCodeAt(mEnd16) <= 0xdbff ? 2 : 1);
        continue;
      }
      const mStart = back ? back[s16 + mStart16] - start : mStart16;
      const mEnd = back ? back[s16 + mEnd16] - start : mEnd16;
      if (mStart > startIdx) out.push(mStart - startIdx);
      out.push(mEnd - mStart);
      startIdx = mEnd;
    }
    if (startIdx < len) out.push(len - startIdx);
    start += len;
  }
  return out;
}

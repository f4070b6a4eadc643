/**
 * The tokenizer a GGUF file carries, reproducing llama.cpp v0.5.0's `llama_tokenize` and
 * `llama_detokenize` id for id and byte for byte: SPM (`llama`), byte-level BPE (`gpt2`, and
 * `gemma4`'s raw-UTF-8 BPE), WordPiece (`bert`) and Unigram (`t5`).
 *
 * ```ts ignore
 * import { Tokenizer } from "./tokenizer.ts";
 * const tok = await Tokenizer.fromGguf("ggml-vocab-llama-bpe.gguf");
 * tok.encode("Hello world"); // Int32Array [128000, 9906, 1917]
 * tok.decode(tok.encode("Hello world")); // "<|begin_of_text|>Hello world"
 * ```
 *
 * @module
 */

import { TokenizerError } from "./errors.ts";
import { readGguf } from "../gguf/reader.ts";
import { GgufStringArray } from "../gguf/string_array.ts";
import type { GgufMetadata } from "../gguf/metadata.ts";
import { BpeModel, utf8Bytes, utf8Into } from "./bpe.ts";
import { discoverPre } from "./discovery.ts";
import { recognizeVocabulary } from "./known_vocab.ts";
import { PreTokenizer, type PreTokenizerConfig, preTokenizerConfig } from "./pretokenize.ts";
import { SpecialTokens } from "./special.ts";
import { SpmModel } from "./spm.ts";
import { byteToUnicode, decodeCodepoints } from "./unicode.ts";
import {
  applyNameAttributes,
  ATTR,
  boolKey,
  loadVocab,
  metaValue,
  numberArray,
  readStringArray,
  type SpecialIds,
  type VocabData,
} from "./vocab.ts";
import { UgmModel } from "./ugm.ts";
import { WpmModel } from "./wpm.ts";

/** Options of {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /** Add BOS/EOS/SEP as the vocabulary asks (llama.cpp `add_special`). Default true. */
  addSpecial?: boolean;
  /** Recognise CONTROL/UNKNOWN token texts in the input (llama.cpp `parse_special`). Default false. */
  parseSpecial?: boolean;
}

/** Options of {@link Tokenizer.decode}. */
export interface DecodeOptions {
  /**
   * Drop a leading BOS / trailing EOS the vocabulary adds, and render CONTROL/UNKNOWN tokens as
   * nothing (llama.cpp `remove_special = true, unparse_special = false`). Default false: keep and
   * render them.
   */
  skipSpecial?: boolean;
  /** Apply llama.cpp's `clean_spaces` passes. Default: the vocabulary's setting. */
  cleanSpaces?: boolean;
}

/** Options of {@link Tokenizer.fromGguf} / {@link Tokenizer.fromMetadata}. */
export interface TokenizerOptions {
  /**
   * Override `tokenizer.ggml.pre`. Without it, a file that has no `pre` but a well-known
   * vocabulary (by the fingerprint of its token list, see `KNOWN_VOCABULARIES`: Llama-3's, as in
   * BitNet b1.58 2B-4T) gets that vocabulary's pre-tokenizer with one notice, and any other file
   * llama.cpp's DEFAULT. `"default"` forces llama.cpp's behaviour. `"auto"` (with a file path):
   * the file's `pre` when it has one, else what a `tokenizer.json` next to the file says (see
   * `discoverPre`), else as without the option.
   */
  pre?: string;
  /** Receives the warnings llama.cpp would log. Default: `console.warn`. */
  warn?: (message: string) => void;
}

/** Vocabulary kind (`llama_vocab_type`). */
export type VocabType = "spm" | "bpe" | "wpm" | "ugm";

const decoder = new TextDecoder();

/**
 * A tokenizer built from GGUF metadata.
 *
 * @example
 * ```ts ignore
 * import { Tokenizer } from "./tokenizer.ts";
 * const tok = await Tokenizer.fromGguf("model.gguf");
 * const ids = tok.encode("Hello", { addSpecial: false });
 * tok.decode(ids); // "Hello"
 * ```
 */
export class Tokenizer {
  /** Algorithm family. */
  readonly type: VocabType;
  /** `tokenizer.ggml.model`. */
  readonly model: string;
  /** The pre-tokenizer in effect (BPE only). */
  readonly pre: PreTokenizerConfig | undefined;
  /** Special token ids (-1 = none). */
  readonly special: Readonly<SpecialIds>;
  /** End-of-generation ids (EOS, EOT, `<|eot_id|>`, … as llama.cpp collects them). */
  readonly eog: ReadonlySet<number>;
  /** Whether `encode` with `addSpecial` prepends BOS. */
  readonly addBos: boolean;
  /** Whether `encode` with `addSpecial` appends EOS. */
  readonly addEos: boolean;
  /** Whether `encode` with `addSpecial` appends SEP (WPM). */
  readonly addSep: boolean;
  /** SPM dummy prefix (`add_space_prefix`). */
  readonly addSpacePrefix: boolean;
  /** Default of {@link DecodeOptions.cleanSpaces}. */
  readonly cleanSpaces: boolean;
  readonly #vocab: VocabData;
  readonly #special: SpecialTokens;
  /** All pieces (llama.cpp's piece cache, `special = true`) back to back, and their offsets. */
  readonly #pieceBytes: Uint8Array;
  readonly #pieceOffsets: Int32Array;
  readonly #bpe?: BpeModel;
  readonly #pretok?: PreTokenizer;
  readonly #spm?: SpmModel;
  readonly #wpm?: WpmModel;
  readonly #ugm?: UgmModel;
  readonly #escapeWhitespaces: boolean;

  private constructor(metadata: GgufMetadata, options: TokenizerOptions) {
    const warn = options.warn ?? ((m: string) => console.warn(`bitload: tokenizer: ${m}`));
    const v = loadVocab(metadata, warn);
    this.#vocab = v;
    this.model = v.model;
    let addBos = false, addEos = false, addSep = false, addSpacePrefix = false;
    let cleanSpaces = false;
    this.#escapeWhitespaces = false;
    switch (v.model) {
      case "llama":
        this.type = "spm";
        addBos = true;
        addSpacePrefix = true;
        break;
      case "bert":
        this.type = "wpm";
        addBos = true;
        addSep = true;
        cleanSpaces = true;
        break;
      case "gpt2":
      case "gemma4": {
        this.type = "bpe";
        let preName = options.pre ?? v.pre;
        if (v.model === "gemma4") preName = "gemma4";
        else if (preName === undefined || preName === "") {
          // no tokenizer.ggml.pre: a well-known vocabulary gets its own pre-tokenizer
          const known = recognizeVocabulary(
            v.tokens,
            numberArray(metadata, "tokenizer.ggml.token_type"),
          );
          if (known) {
            preName = known.pre;
            warn(
              `vocabulary is ${known.name}'s; using pre-tokenizer ${known.pre} (--pre default for llama.cpp's behaviour)`,
            );
          } else {
            warn(
              'missing pre-tokenizer type, using "default" like llama.cpp (pass --pre NAME / { pre: NAME } to use the one the model was trained with)',
            );
          }
        }
        const cfg = preTokenizerConfig(preName);
        this.pre = cfg;
        addBos = cfg.addBos;
        cleanSpaces = cfg.cleanSpaces;
        this.#escapeWhitespaces = cfg.escapeWhitespaces;
        if (cfg.noBos) v.special.bos = -1;
        const merges = metaValue(metadata, "tokenizer.ggml.merges");
        if (merges === undefined) {
          throw new TokenizerError(
            "BAD_METADATA",
            'Cannot build a BPE tokenizer: no "tokenizer.ggml.merges"',
          );
        }
        const mergeList = merges instanceof GgufStringArray
          ? merges
          : readStringArray(metadata, "tokenizer.ggml.merges")!;
        const rawTokens = metaValue(metadata, "tokenizer.ggml.tokens");
        this.#pretok = new PreTokenizer(cfg);
        this.#bpe = new BpeModel(v.tokenToId, v.tokens, mergeList, {
          byteEncode: cfg.byteEncode,
          ignoreMerges: cfg.ignoreMerges,
          newlineWordsWhole: cfg.type === "GEMMA4",
        }, rawTokens instanceof GgufStringArray ? rawTokens : undefined);
        break;
      }
      case "t5":
        this.type = "ugm";
        addEos = true;
        break;
      default:
        throw new TokenizerError(
          "UNSUPPORTED_MODEL",
          `Unknown or unsupported tokenizer model "${v.model}"`,
        );
    }
    addSpacePrefix = boolKey(metadata, "tokenizer.ggml.add_space_prefix") ?? addSpacePrefix;
    addBos = boolKey(metadata, "tokenizer.ggml.add_bos_token") ?? addBos;
    addEos = boolKey(metadata, "tokenizer.ggml.add_eos_token") ?? addEos;
    addSep = boolKey(metadata, "tokenizer.ggml.add_sep_token") ?? addSep;
    if (this.pre?.type === "GEMMA4" && !addBos) {
      addBos = true;
      warn('override "tokenizer.ggml.add_bos_token" to true for Gemma4');
    }
    this.addBos = addBos;
    this.addEos = addEos;
    this.addSep = addSep;
    this.addSpacePrefix = addSpacePrefix;
    this.cleanSpaces = cleanSpaces;
    this.special = v.special;
    this.eog = v.eog;
    if (this.type === "spm") this.#spm = new SpmModel(v.tokenToId, v.tokens, v.scores);
    if (this.type === "wpm") {
      const lowercase = boolKey(metadata, "tokenizer.ggml.normalizer.lowercase") ?? true;
      const stripAccents = boolKey(metadata, "tokenizer.ggml.normalizer.strip_accents") ??
        lowercase;
      this.#wpm = new WpmModel(v.tokenToId, v.tokens, v.special.unk, { lowercase, stripAccents });
    }
    if (this.type === "ugm") {
      const cm = metaValue(metadata, "tokenizer.ggml.precompiled_charsmap");
      let charsmap: Uint8Array | undefined;
      if (cm instanceof Uint8Array) charsmap = cm;
      else if (cm instanceof Int8Array) {
        charsmap = new Uint8Array(cm.buffer, cm.byteOffset, cm.length);
      } else if (cm !== undefined) {
        throw new TokenizerError(
          "BAD_METADATA",
          'Invalid GGUF type for "tokenizer.ggml.precompiled_charsmap"',
        );
      }
      this.#ugm = new UgmModel(v.tokens, v.attrs, v.scores, v.special.unk, charsmap, {
        addSpacePrefix,
        removeExtraWhitespaces: boolKey(metadata, "tokenizer.ggml.remove_extra_whitespaces") ??
          false,
        escapeWhitespaces: true,
        treatWhitespaceAsSuffix: false,
      });
    }
    // piece cache (special = true), built before the name-based attributes like llama.cpp
    // Written straight into one growing buffer: no array per token (for 128k tokens those were
    // a large part of the build's garbage, and of its resident peak).
    {
      const n = v.tokens.length;
      const offsets = new Int32Array(n + 1);
      let bytes = new Uint8Array(1 << 16);
      const room = (need: number) => {
        if (need <= bytes.length) return;
        const grown = new Uint8Array(Math.max(need, bytes.length * 2));
        grown.set(bytes);
        bytes = grown;
      };
      for (let id = 0; id < n; id++) {
        const at = offsets[id];
        let length = -1;
        if (this.#byteLevelPiece(id)) {
          // a byte-level piece has at most one byte per UTF-16 unit of the text
          room(at + v.tokens[id].length);
          length = decodeByteLevelInto(v.tokens[id], bytes, at);
        }
        if (length < 0) {
          // text pieces (#pieceFor's first two cases: special tokens, and SPM/WPM/UGM/escaping
          // words with U+2581 as a space) written in place, no array per token
          const attr = v.attrs[id];
          const special = (attr & (ATTR.UNKNOWN | ATTR.CONTROL | ATTR.USER_DEFINED)) !== 0;
          if (
            special ||
            ((attr & ATTR.NORMAL) !== 0 && (this.type !== "bpe" || this.#escapeWhitespaces))
          ) {
            const text = v.tokens[id];
            room(at + 3 * text.length);
            length = utf8Into(text, bytes, at, !special) - at;
          }
        }
        if (length < 0) {
          const piece = this.#pieceFor(id);
          room(at + piece.length);
          bytes.set(piece, at);
          length = piece.length;
        }
        offsets[id + 1] = at + length;
      }
      this.#pieceBytes = bytes.slice(0, offsets[n]);
      this.#pieceOffsets = offsets;
    }
    // special-token cache, then LSTRIP/RSTRIP by model name (llama.cpp l. 3030–3129)
    applyNameAttributes(metadata, v);
    this.#special = new SpecialTokens(v.tokens, v.attrs);
  }

  /**
   * Builds a tokenizer from a GGUF file path (or anything {@link readGguf} reads) or from an
   * already-read model/file.
   *
   * @example
   * ```ts ignore
   * import { Tokenizer } from "./tokenizer.ts";
   * const tok = await Tokenizer.fromGguf(".cache/reference/vocab/ggml-vocab-llama-spm.gguf");
   * tok.vocabSize; // 32000
   * ```
   */
  static async fromGguf(
    fileOrModel: string | URL | { metadata: GgufMetadata },
    options: TokenizerOptions = {},
  ): Promise<Tokenizer> {
    const isPath = typeof fileOrModel === "string" || fileOrModel instanceof URL;
    const metadata = isPath ? (await readGguf(fileOrModel)).metadata : fileOrModel.metadata;
    if (options.pre === "auto") {
      let pre: string | undefined;
      if (typeof metaValue(metadata, "tokenizer.ggml.pre") === "string") pre = undefined;
      else if (typeof fileOrModel === "string") {
        const found = await discoverPre(fileOrModel);
        if (found) {
          pre = found.pre;
          (options.warn ?? console.warn)(
            `no tokenizer.ggml.pre in the file; using "${found.pre}" from ${found.source}`,
          );
        }
      }
      options = { ...options, pre };
    }
    return new Tokenizer(metadata, options);
  }

  /**
   * Builds a tokenizer from GGUF metadata (`tokenizer.ggml.*` keys).
   *
   * @example
   * ```ts ignore
   * import { Tokenizer } from "./tokenizer.ts";
   * const tok = Tokenizer.fromMetadata(model.metadata, { pre: "llama3" });
   * ```
   */
  static fromMetadata(metadata: GgufMetadata, options: TokenizerOptions = {}): Tokenizer {
    return new Tokenizer(metadata, options);
  }

  /**
   * Forgets the per-word merge cache (it is bounded; this is for benchmarks and memory).
   *
   * @example
   * ```ts ignore
   * tok.clearCache();
   * ```
   */
  clearCache(): void {
    this.#bpe?.clearCache();
    this.#spm?.clearCache();
    this.#wpm?.clearCache();
  }

  /** Number of tokens. */
  get vocabSize(): number {
    return this.#vocab.tokens.length;
  }

  /**
   * Token text as stored in the vocabulary.
   *
   * @example
   * ```ts ignore
   * tok.tokenText(128000); // "<|begin_of_text|>"
   * ```
   */
  tokenText(id: number): string {
    this.#checkId(id);
    return this.#vocab.tokens[id];
  }

  /**
   * Attribute bits of a token (see `ATTR`), after llama.cpp's fix-ups by token text.
   *
   * @example
   * ```ts ignore
   * (tok.tokenAttr(128009) & ATTR.CONTROL) !== 0; // true: <|eot_id|>
   * ```
   */
  tokenAttr(id: number): number {
    this.#checkId(id);
    return this.#vocab.attrs[id];
  }

  /**
   * Id of an exact token text, or undefined.
   *
   * @example
   * ```ts ignore
   * tok.tokenId("<|eot_id|>"); // 128009
   * ```
   */
  tokenId(text: string): number | undefined {
    return this.#vocab.tokenToId.get(text);
  }

  #checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.#vocab.tokens.length) {
      throw new TokenizerError(
        "BAD_TOKEN",
        `Token id ${id} is out of range [0, ${this.#vocab.tokens.length})`,
      );
    }
  }

  /** Whether {@link Tokenizer.#pieceFor} of `id` is the byte-level decode of its text. */
  #byteLevelPiece(id: number): boolean {
    const attr = this.#vocab.attrs[id];
    return !(attr & (ATTR.UNKNOWN | ATTR.CONTROL | ATTR.USER_DEFINED)) &&
      (attr & ATTR.NORMAL) !== 0 && this.type === "bpe" && !this.#escapeWhitespaces;
  }

  // llama.cpp token_to_piece with special = true (l. 3655–3740), used for the piece cache.
  #pieceFor(id: number): Uint8Array {
    const v = this.#vocab;
    const attr = v.attrs[id];
    const text = v.tokens[id];
    if (attr & (ATTR.UNKNOWN | ATTR.CONTROL | ATTR.USER_DEFINED)) return utf8Bytes(text);
    if (attr & ATTR.NORMAL) {
      if (this.type !== "bpe" || this.#escapeWhitespaces) {
        return utf8Bytes(text.replaceAll("\u2581", " "));
      }
      return decodeByteLevel(text);
    }
    if (attr & ATTR.BYTE) {
      if (this.type === "wpm") {
        throw new TokenizerError("BAD_TOKEN", `Byte token ${id} in a WPM vocabulary`);
      }
      return Uint8Array.of(parseInt(text.slice(3, 5), 16) & 0xff);
    }
    return new Uint8Array(0);
  }

  /**
   * Tokenizes `text` exactly as `llama_tokenize(vocab, text, len, …, add_special, parse_special)`.
   *
   * @example
   * ```ts ignore
   * tok.encode("Hello world", { addSpecial: false }); // Int32Array [9906, 1917] (Llama 3)
   * ```
   */
  encode(text: string, options: EncodeOptions = {}): Int32Array {
    // llama.cpp sees UTF-8; a lone surrogate is encoded as EF BF BD, i.e. U+FFFD
    if (!text.isWellFormed()) text = text.toWellFormed();
    const addSpecial = options.addSpecial ?? true;
    const parseSpecial = options.parseSpecial ?? false;
    const out: number[] = [];
    const frags = this.#special.partition(text, parseSpecial);
    const sp = this.special;
    switch (this.type) {
      case "spm": {
        if (addSpecial && this.addBos) out.push(requireId(sp.bos, "BOS"));
        let prevSpecial = true;
        for (const f of frags) {
          if (f.id !== -1) {
            out.push(f.id);
            prevSpecial = true;
            continue;
          }
          let s = text.slice(f.start, f.end);
          if (this.addSpacePrefix && prevSpecial) s = " " + s;
          this.#spm!.encode(s.replaceAll(" ", "\u2581"), out);
          prevSpecial = false;
        }
        if (addSpecial && this.addEos) out.push(requireId(sp.eos, "EOS"));
        break;
      }
      case "bpe": {
        if (addSpecial && this.addBos) out.push(requireId(sp.bos, "BOS"));
        for (const f of frags) {
          if (f.id !== -1) out.push(f.id);
          else {
            let s = text.slice(f.start, f.end);
            if (this.#escapeWhitespaces) s = s.replaceAll(" ", "\u2581");
            this.#encodeBpe(s, out);
          }
        }
        if (addSpecial && this.addEos) out.push(requireId(sp.eos, "EOS"));
        break;
      }
      case "ugm": {
        if (addSpecial && this.addBos) out.push(requireId(sp.bos, "BOS"));
        for (const f of frags) {
          if (f.id !== -1) out.push(f.id);
          else this.#ugm!.encode(text.slice(f.start, f.end), out);
        }
        if (addSpecial && this.addEos) out.push(requireId(sp.eos, "EOS"));
        break;
      }
      case "wpm": {
        if (addSpecial) out.push(requireId(sp.bos, "BOS"));
        for (const f of frags) {
          if (f.id !== -1) out.push(f.id);
          else this.#wpm!.encode(text.slice(f.start, f.end), out);
        }
        if (addSpecial) out.push(requireId(sp.sep, "SEP"));
        break;
      }
    }
    return Int32Array.from(out);
  }

  #encodeBpe(text: string, out: number[]): void {
    const { cps, offsets, n } = decodeCodepoints(text);
    const lens = this.#pretok!.split(cps.subarray(0, n));
    const bpe = this.#bpe!;
    let p = 0;
    for (const len of lens) {
      const ids = bpe.encodeWord(text.slice(offsets[p], offsets[p + len]));
      for (let i = 0; i < ids.length; i++) out.push(ids[i]);
      p += len;
    }
  }

  /**
   * The bytes a token decodes to (llama.cpp `llama_token_to_piece` with `lstrip = 0`); with
   * `special` false, CONTROL and UNKNOWN tokens give nothing.
   *
   * @example
   * ```ts ignore
   * tok.tokenToPieceBytes(1917); // Uint8Array of " world"
   * ```
   */
  tokenToPieceBytes(id: number, special = true): Uint8Array {
    this.#checkId(id);
    if (!special && (this.#vocab.attrs[id] & (ATTR.UNKNOWN | ATTR.CONTROL))) {
      return new Uint8Array(0);
    }
    return this.#pieceBytes.subarray(this.#pieceOffsets[id], this.#pieceOffsets[id + 1]);
  }

  /**
   * The text of one token's piece (invalid UTF-8, e.g. half a character, becomes U+FFFD).
   *
   * @example
   * ```ts ignore
   * tok.tokenToPiece(1917); // " world"
   * ```
   */
  tokenToPiece(id: number, special = true): string {
    return decoder.decode(this.tokenToPieceBytes(id, special));
  }

  /**
   * Detokenizes to bytes exactly as `llama_detokenize(vocab, ids, …, remove_special,
   * unparse_special)` with `remove_special = skipSpecial` and `unparse_special = !skipSpecial`
   * (see {@link DecodeOptions}).
   *
   * @example
   * ```ts ignore
   * new TextDecoder().decode(tok.decodeBytes([9906, 1917])); // "Hello world"
   * ```
   */
  decodeBytes(ids: ArrayLike<number>, options: DecodeOptions = {}): Uint8Array {
    const skip = options.skipSpecial ?? false;
    const clean = options.cleanSpaces ?? this.cleanSpaces;
    let start = 0;
    let end = ids.length;
    let removeSpace = this.addSpacePrefix;
    if (skip && this.addBos && end > 0 && ids[0] === this.special.bos) {
      removeSpace = false;
      start++;
    }
    if (skip && this.addEos && end > start && ids[end - 1] === this.special.eos) end--;
    const n = this.#vocab.tokens.length;
    const attrs = this.#vocab.attrs;
    const off = this.#pieceOffsets;
    const src = this.#pieceBytes;
    let total = 0;
    for (let i = start; i < end; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= n) this.#checkId(id);
      total += off[id + 1] - off[id];
    }
    const text = new Uint8Array(total);
    let o = 0;
    for (let i = start; i < end; i++) {
      const id = ids[i];
      let a = off[id];
      const b = off[id + 1];
      if (skip && (attrs[id] & (ATTR.UNKNOWN | ATTR.CONTROL))) a = b;
      // llama.cpp strips one leading space of the first piece only (lstrip = remove_space)
      if (i === start && removeSpace && a < b && src[a] === 0x20) a++;
      text.set(src.subarray(a, b), o);
      o += b - a;
    }
    const result = text.subarray(0, o);
    return clean ? cleanSpacesBytes(result) : result;
  }

  /**
   * Detokenizes to a string (see {@link Tokenizer.decodeBytes}); invalid UTF-8 becomes U+FFFD.
   *
   * @example
   * ```ts ignore
   * tok.decode(tok.encode("Hello world")); // "<|begin_of_text|>Hello world"
   * tok.decode(tok.encode("Hello world"), { skipSpecial: true }); // "Hello world"
   * ```
   */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    return decoder.decode(this.decodeBytes(ids, options));
  }
}

function requireId(id: number, what: string): number {
  if (id < 0) {
    throw new TokenizerError(
      "BAD_METADATA",
      `The vocabulary asks for ${what} but has no ${what} token`,
    );
  }
  return id;
}

let unicodeToByte: Int16Array | undefined;

/** llama.cpp's `llama_decode_text`: GPT-2 code points back to bytes. */
function decodeByteLevel(text: string): Uint8Array {
  if (!unicodeToByte) {
    // the GPT-2 map covers U+0000…U+0143; everything else is "not a byte char"
    unicodeToByte = new Int16Array(0x144).fill(-1);
    const m = byteToUnicode();
    for (let b = 0; b < 256; b++) unicodeToByte[m[b]] = b;
  }
  const table = unicodeToByte;
  const out = new Uint8Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const b = c < 0x144 ? table[c] : -1;
    if (b >= 0) {
      out[n++] = b;
      continue;
    }
    return decodeByteLevelSlow(text);
  }
  return n === out.length ? out : out.slice(0, n);
}

/**
 * {@link decodeByteLevel} into `out` at `at` when every character is a byte character: returns
 * the length written, or -1 (nothing meaningful written) when the slow path is needed.
 */
function decodeByteLevelInto(text: string, out: Uint8Array, at: number): number {
  if (!unicodeToByte) decodeByteLevel(""); // builds the table
  const table = unicodeToByte!;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const b = c < 0x144 ? table[c] : -1;
    if (b < 0) return -1;
    out[at + i] = b;
  }
  return text.length;
}

function decodeByteLevelSlow(text: string): Uint8Array {
  const table = unicodeToByte!;
  const out: number[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    const b = cp < 0x144 ? table[cp] : -1;
    if (b >= 0) out.push(b);
    else {
      // "[UNK_BYTE_0x" + hex of the character's UTF-8 + the whole token text + "]"
      let s = "[UNK_BYTE_0x";
      for (const x of utf8Bytes(ch)) s += x.toString(16).padStart(2, "0");
      s += text + "]";
      for (const x of utf8Bytes(s)) out.push(x);
    }
  }
  return Uint8Array.from(out);
}

/**
 * llama.cpp's three `clean_spaces` passes (detokenize, l. 3835–3891), on bytes.
 *
 * @example
 * ```ts
 * import { cleanSpacesBytes } from "./tokenizer.ts";
 * const b = cleanSpacesBytes(new TextEncoder().encode("Hello world . it 's"));
 * new TextDecoder().decode(b); // "Hello world. it's"
 * ```
 */
export function cleanSpacesBytes(input: Uint8Array): Uint8Array {
  const text = input.slice();
  let total = text.length;
  // pass 1: " ?", " !", " .", " ,"
  {
    const t1 = total;
    total = total ? 1 : 0;
    for (let i = 1; i < t1; i++) {
      const x = text[i];
      if (text[i - 1] === 0x20 && (x === 0x3f || x === 0x21 || x === 0x2e || x === 0x2c)) total--;
      text[total++] = x;
    }
  }
  // pass 2: " ' " → "'"
  {
    const t2 = total;
    total = total ? 1 : 0;
    for (let i = 1; i < t2; i++) {
      const x = text[i];
      if (x === 0x27 && i + 1 < t2 && text[i - 1] === 0x20 && text[i + 1] === 0x20) {
        total--;
        text[++i] = 0;
      }
      text[total++] = x;
    }
  }
  // pass 3: " 's", " 'm", " 're", " 've"
  {
    const t3 = total;
    total = total ? 1 : 0;
    for (let i = 1; i < t3; i++) {
      const x = text[i];
      if (text[i - 1] === 0x20 && x === 0x27 && i + 1 < t3) {
        const x1 = text[i + 1];
        if (x1 === 0x74 || x1 === 0x64) {
          // " 't", " 'd": kept
        } else if (x1 === 0x73 || x1 === 0x6d) total--;
        else if (i + 2 < t3) {
          const x2 = text[i + 2];
          if ((x1 === 0x72 && x2 === 0x65) || (x1 === 0x76 && x2 === 0x65)) total--;
        }
      }
      text[total++] = x;
    }
  }
  return text.subarray(0, total);
}

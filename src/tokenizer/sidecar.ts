/**
 * Tokenizer files that travel beside a model, turned into the GGUF metadata llama.cpp's converter
 * (`convert_hf_to_gguf.py`) would write for them, so one tokenizer implementation serves all:
 *
 * - SentencePiece `tokenizer.model` (a `ModelProto` protobuf, sentencepiece `sentencepiece_model.proto`):
 *   BPE models become SPM (`tokenizer.ggml.model = "llama"`), unigram models UGM (`"t5"`, with the
 *   normalizer's `precompiled_charsmap`). Piece types map one to one (NORMAL 1, UNKNOWN 2, CONTROL
 *   3, USER_DEFINED 4, UNUSED 5, BYTE 6 are also llama.cpp's token types).
 * - Hugging Face `tokenizer.json` with a WordPiece model: BERT's "phantom space" vocabulary
 *   (`##x` → `x`, `x` → `▁x`, `[X]` kept) as llama.cpp's BERT conversion writes it.
 * - Hugging Face `tokenizer.json` with a Unigram model: UGM with the `Precompiled` normalizer's
 *   charsmap.
 *
 * (Byte-level BPE `tokenizer.json` is in `find.ts`.)
 *
 * @module
 */

import { TokenizerError } from "./errors.ts";
import type { GgufMetadata } from "../gguf/metadata.ts";
import type { GgufMetadataEntry } from "../gguf/model.ts";
import { GgufStringArray } from "../gguf/string_array.ts";
import { GgufValueType } from "../gguf/value_types.ts";

type Entry = readonly [string, GgufMetadataEntry];

/** A metadata entry as the reader would produce it (offset 0: not from a file). */
export function metadataEntry(
  key: string,
  type: GgufValueType,
  value: GgufMetadataEntry["value"],
  arrayType?: GgufValueType,
): Entry {
  return [key, { key, type, value, offset: 0, ...(arrayType === undefined ? {} : { arrayType }) }];
}

const u32 = (key: string, v: number) => metadataEntry(key, GgufValueType.UINT32, v);
const bool = (key: string, v: boolean) => metadataEntry(key, GgufValueType.BOOL, v);
const strings = (key: string, v: string[]) =>
  metadataEntry(key, GgufValueType.ARRAY, GgufStringArray.from(v), GgufValueType.STRING);

/** A minimal protobuf reader: varints, fixed32 and length-delimited fields. */
class ProtoReader {
  pos = 0;
  constructor(readonly bytes: Uint8Array, readonly end = bytes.length) {}
  get done(): boolean {
    return this.pos >= this.end;
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) {
        throw new TokenizerError("BAD_SIDECAR", "tokenizer.model: truncated varint");
      }
      const b = this.bytes[this.pos++];
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
      if (shift > 63) throw new TokenizerError("BAD_SIDECAR", "tokenizer.model: varint too long");
    }
  }
  /** A reader over the next length-delimited field (a nested message); skips it here. */
  sub(): ProtoReader {
    const n = this.varint();
    if (this.pos + n > this.end) {
      throw new TokenizerError("BAD_SIDECAR", "tokenizer.model: field runs past the end");
    }
    const inner = new ProtoReader(this.bytes, this.pos + n);
    inner.pos = this.pos;
    this.pos += n;
    return inner;
  }
  /** Reads a field key; returns [field number, wire type]. */
  key(): [number, number] {
    const k = this.varint();
    return [Math.floor(k / 8), k & 7];
  }
  bytesField(): Uint8Array {
    const n = this.varint();
    if (this.pos + n > this.end) {
      throw new TokenizerError("BAD_SIDECAR", "tokenizer.model: field runs past the end");
    }
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  float(): number {
    if (this.pos + 4 > this.end) {
      throw new TokenizerError("BAD_SIDECAR", "tokenizer.model: truncated float");
    }
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 4).getFloat32(
      0,
      true,
    );
    this.pos += 4;
    return v;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytesField();
    else if (wire === 5) this.pos += 4;
    else throw new TokenizerError("BAD_SIDECAR", `tokenizer.model: unsupported wire type ${wire}`);
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Reads a SentencePiece `tokenizer.model` into GGUF tokenizer metadata.
 *
 * @example
 * ```ts ignore
 * import { metadataFromSentencePiece } from "./sidecar.ts";
 * const m = metadataFromSentencePiece(await Deno.readFile("tokenizer.model"));
 * m.get("tokenizer.ggml.model")?.value; // "llama" (BPE) or "t5" (unigram)
 * ```
 */
export function metadataFromSentencePiece(bytes: Uint8Array): GgufMetadata {
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  let modelType = 1; // UNIGRAM is the proto default
  const ids = { unk: 0, bos: 1, eos: 2, pad: -1 };
  let addDummyPrefix = true;
  let removeExtraWhitespaces = true;
  let charsmap: Uint8Array | undefined;
  const top = new ProtoReader(bytes);
  while (!top.done) {
    const [field, wire] = top.key();
    if (field === 1 && wire === 2) {
      const p = top.sub();
      let piece = "";
      let score = 0;
      let type = 1;
      while (!p.done) {
        const [f, w] = p.key();
        if (f === 1 && w === 2) piece = utf8.decode(p.bytesField());
        else if (f === 2 && w === 5) score = p.float();
        else if (f === 3 && w === 0) type = p.varint();
        else p.skip(w);
      }
      tokens.push(piece);
      scores.push(score);
      types.push(type >= 1 && type <= 6 ? type : 1);
    } else if (field === 2 && wire === 2) {
      const t = top.sub();
      while (!t.done) {
        const [f, w] = t.key();
        if (w !== 0) t.skip(w);
        else {
          const v = t.varint();
          const signed = v >= 2 ** 31 ? v - 2 ** 32 : v;
          if (f === 3) modelType = v;
          else if (f === 40) ids.unk = signed;
          else if (f === 41) ids.bos = signed;
          else if (f === 42) ids.eos = signed;
          else if (f === 43) ids.pad = signed;
        }
      }
    } else if (field === 3 && wire === 2) {
      const n = top.sub();
      while (!n.done) {
        const [f, w] = n.key();
        if (f === 2 && w === 2) charsmap = n.bytesField().slice();
        else if (f === 3 && w === 0) addDummyPrefix = n.varint() !== 0;
        else if (f === 4 && w === 0) removeExtraWhitespaces = n.varint() !== 0;
        else n.skip(w);
      }
    } else top.skip(wire);
  }
  if (tokens.length === 0) {
    throw new TokenizerError("BAD_SIDECAR", "tokenizer.model holds no pieces");
  }
  if (modelType !== 1 && modelType !== 2) {
    throw new TokenizerError(
      "UNSUPPORTED_MODEL",
      `tokenizer.model has SentencePiece model type ${modelType}; only BPE (2) and unigram (1) are read`,
    );
  }
  const unigram = modelType === 1;
  const entries: Entry[] = [
    metadataEntry("tokenizer.ggml.model", GgufValueType.STRING, unigram ? "t5" : "llama"),
    strings("tokenizer.ggml.tokens", tokens),
    metadataEntry(
      "tokenizer.ggml.scores",
      GgufValueType.ARRAY,
      Float32Array.from(scores),
      GgufValueType.FLOAT32,
    ),
    metadataEntry(
      "tokenizer.ggml.token_type",
      GgufValueType.ARRAY,
      Int32Array.from(types),
      GgufValueType.INT32,
    ),
    bool("tokenizer.ggml.add_space_prefix", addDummyPrefix),
  ];
  for (
    const [key, id] of [["unknown", ids.unk], ["bos", ids.bos], ["eos", ids.eos], [
      "padding",
      ids.pad,
    ]] as const
  ) {
    if (id >= 0 && id < tokens.length) entries.push(u32(`tokenizer.ggml.${key}_token_id`, id));
  }
  if (unigram) {
    entries.push(bool("tokenizer.ggml.remove_extra_whitespaces", removeExtraWhitespaces));
    if (charsmap) {
      entries.push(
        metadataEntry(
          "tokenizer.ggml.precompiled_charsmap",
          GgufValueType.ARRAY,
          charsmap,
          GgufValueType.UINT8,
        ),
      );
    }
  }
  return new Map(entries);
}

interface HfModelJson {
  type?: string;
  vocab?: Record<string, number> | [string, number][];
  unk_token?: string;
  unk_id?: number;
}

interface HfAddedToken {
  id: number;
  content: string;
  special?: boolean;
}

/**
 * A `tokenizer.json` WordPiece model as llama.cpp's BERT conversion writes it (`bert`, phantom
 * space tokens, [CLS]/[SEP]/[UNK]/[PAD]/[MASK] as control/unknown tokens and special ids).
 *
 * @example
 * ```ts
 * import { metadataFromWordPiece } from "./sidecar.ts";
 * const m = metadataFromWordPiece({ model: { type: "WordPiece", vocab: { "[UNK]": 0, "hello": 1, "##s": 2 } } });
 * m.get("tokenizer.ggml.model")?.value; // "bert"
 * ```
 */
export function metadataFromWordPiece(json: unknown): GgufMetadata {
  const j = json as { model?: HfModelJson; added_tokens?: HfAddedToken[] };
  const vocab = j.model?.vocab;
  if (j.model?.type !== "WordPiece" || !vocab || Array.isArray(vocab)) {
    throw new TokenizerError("BAD_SIDECAR", "tokenizer.json is not a WordPiece model");
  }
  const byId = new Map<number, string>();
  for (const [text, id] of Object.entries(vocab)) byId.set(id, text);
  for (const t of j.added_tokens ?? []) byId.set(t.id, t.content);
  const special = new Set((j.added_tokens ?? []).filter((t) => t.special).map((t) => t.content));
  const size = Math.max(-1, ...byId.keys()) + 1;
  const tokens: string[] = [];
  const types = new Int32Array(size);
  const unk = j.model.unk_token ?? "[UNK]";
  for (let id = 0; id < size; id++) {
    const t = byId.get(id) ?? `[PAD${id}]`;
    const bracketed = t.startsWith("[") && t.endsWith("]");
    // llama.cpp's BERT conversion: "##x" continues a word, other pieces start one ("▁x").
    tokens.push(bracketed ? t : t.startsWith("##") ? t.slice(2) : `\u2581${t}`);
    types[id] = t === unk ? 2 : bracketed && (special.has(t) || /^\[[A-Z]+\]$/.test(t)) ? 3 : 1;
  }
  const entries: Entry[] = [
    metadataEntry("tokenizer.ggml.model", GgufValueType.STRING, "bert"),
    strings("tokenizer.ggml.tokens", tokens),
    metadataEntry("tokenizer.ggml.token_type", GgufValueType.ARRAY, types, GgufValueType.INT32),
  ];
  const idOf = (t: string) => tokens.indexOf(t);
  for (
    const [key, text] of [["cls", "[CLS]"], ["seperator", "[SEP]"], ["unknown", unk], [
      "padding",
      "[PAD]",
    ], ["mask", "[MASK]"]] as const
  ) {
    const id = idOf(text);
    if (id >= 0) entries.push(u32(`tokenizer.ggml.${key}_token_id`, id));
  }
  return new Map(entries);
}

/** The `precompiled_charsmap` of a Precompiled normalizer, possibly inside a Sequence. */
function findCharsmap(normalizer: unknown): string | undefined {
  const n = normalizer as
    | { type?: string; precompiled_charsmap?: string; normalizers?: unknown[] }
    | null;
  if (!n) return undefined;
  if (n.type === "Precompiled" && typeof n.precompiled_charsmap === "string") {
    return n.precompiled_charsmap;
  }
  for (const inner of n.normalizers ?? []) {
    const found = findCharsmap(inner);
    if (found) return found;
  }
  return undefined;
}

/**
 * A `tokenizer.json` Unigram model as UGM (`t5`) metadata, with the normalizer's charsmap.
 *
 * @example
 * ```ts
 * import { metadataFromUnigram } from "./sidecar.ts";
 * const m = metadataFromUnigram({ model: { type: "Unigram", unk_id: 0, vocab: [["<unk>", 0], ["▁a", -1]] } });
 * m.get("tokenizer.ggml.model")?.value; // "t5"
 * ```
 */
export function metadataFromUnigram(json: unknown): GgufMetadata {
  const j = json as { model?: HfModelJson; added_tokens?: HfAddedToken[]; normalizer?: unknown };
  const vocab = j.model?.vocab;
  if (j.model?.type !== "Unigram" || !Array.isArray(vocab)) {
    throw new TokenizerError("BAD_SIDECAR", "tokenizer.json is not a Unigram model");
  }
  const tokens = vocab.map(([piece]) => piece);
  const scores = Float32Array.from(vocab.map(([, score]) => score));
  const types = new Int32Array(tokens.length).fill(1);
  for (const t of j.added_tokens ?? []) if (t.special && t.id < types.length) types[t.id] = 3;
  const unk = j.model.unk_id;
  if (unk !== undefined && unk >= 0 && unk < types.length) types[unk] = 2;
  const entries: Entry[] = [
    metadataEntry("tokenizer.ggml.model", GgufValueType.STRING, "t5"),
    strings("tokenizer.ggml.tokens", tokens),
    metadataEntry("tokenizer.ggml.scores", GgufValueType.ARRAY, scores, GgufValueType.FLOAT32),
    metadataEntry("tokenizer.ggml.token_type", GgufValueType.ARRAY, types, GgufValueType.INT32),
    bool("tokenizer.ggml.add_space_prefix", true),
    bool("tokenizer.ggml.remove_extra_whitespaces", true),
  ];
  if (unk !== undefined && unk >= 0) entries.push(u32("tokenizer.ggml.unknown_token_id", unk));
  const charsmap = findCharsmap(j.normalizer);
  if (charsmap) {
    entries.push(
      metadataEntry(
        "tokenizer.ggml.precompiled_charsmap",
        GgufValueType.ARRAY,
        Uint8Array.fromBase64(charsmap),
        GgufValueType.UINT8,
      ),
    );
  }
  return new Map(entries);
}

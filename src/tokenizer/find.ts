/**
 * Finding the tokenizer for a model, in this order: the GGUF's own `tokenizer.ggml.*` keys; a
 * Hugging Face `tokenizer.json` next to the file (byte-level BPE — the format of Llama-3 and
 * BitNet b1.58 2B-4T —, WordPiece or Unigram); a SentencePiece `tokenizer.model` next to it; a
 * tokenizer file from a configured URL, downloaded resumably into the tokenizer cache. Every step records what it found and why it was or was not used, for
 * `bitload tokenize --explain`.
 *
 * @module
 */

import { TokenizerError } from "./errors.ts";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { readEnv } from "../../ffi/env.ts";
import { DownloadCache } from "../download/cache.ts";
import type { GgufMetadata } from "../gguf/metadata.ts";
import type { GgufMetadataEntry } from "../gguf/model.ts";
import { readGguf } from "../gguf/reader.ts";
import { GgufStringArray } from "../gguf/string_array.ts";
import { GgufValueType } from "../gguf/value_types.ts";
import { preFromTokenizerJson } from "./discovery.ts";
import {
  metadataEntry,
  metadataFromSentencePiece,
  metadataFromUnigram,
  metadataFromWordPiece,
} from "./sidecar.ts";
import { Tokenizer, type TokenizerOptions } from "./tokenizer.ts";

/** Where the tokenizer came from, and the reasoning. */
export interface TokenizerChoice {
  /** The tokenizer. */
  tokenizer: Tokenizer;
  /** `gguf` (embedded), `tokenizer.json` / `tokenizer.model` (a sidecar file) or `url` (downloaded). */
  source: "gguf" | "tokenizer.json" | "tokenizer.model" | "url";
  /** The file it was built from. */
  path: string;
  /** One line per place looked at, in precedence order. */
  steps: string[];
}

/** Options of {@link findTokenizer}. */
export interface FindTokenizerOptions extends TokenizerOptions {
  /** A `tokenizer.json` URL to use when neither the GGUF nor a sidecar has one. Default `$BITLOAD_TOKENIZER_URL`. */
  url?: string;
  /** The download cache (default: `$XDG_CACHE_HOME/bitload/tokenizers`). */
  cache?: DownloadCache;
  /** Request headers for the download (the CLI's `--header`, a hub token). */
  headers?: HeadersInit;
}

interface HfTokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[] };
  added_tokens?: { id: number; content: string; special?: boolean }[];
  decoder?: { type?: string; decoders?: { type?: string }[] };
  pre_tokenizer?: unknown;
  post_processor?: {
    type?: string;
    single?: ({ SpecialToken?: { id: string } } | { Sequence?: unknown })[];
    processors?: HfTokenizerJson["post_processor"][];
  };
}

function isByteLevel(json: HfTokenizerJson): boolean {
  const d = json.decoder;
  return d?.type === "ByteLevel" ||
    (d?.type === "Sequence" && !!d.decoders?.some((x) => x.type === "ByteLevel"));
}

/** The first special token of a TemplateProcessing post-processor (the BOS it adds), if any. */
function templateBos(post: HfTokenizerJson["post_processor"]): string | undefined {
  if (!post) return undefined;
  if (post.type === "Sequence") {
    for (const p of post.processors ?? []) {
      const found = templateBos(p);
      if (found) return found;
    }
    return undefined;
  }
  const first = post.single?.[0];
  return first && "SpecialToken" in first ? first.SpecialToken?.id : undefined;
}

/**
 * Turns a Hugging Face `tokenizer.json` with a byte-level BPE model into the GGUF metadata
 * llama.cpp's converter would write (`tokenizer.ggml.model = gpt2`, tokens by id, merges, token
 * types, `pre` when the split regex is one llama.cpp knows, BOS from the post-processor).
 * Throws a clear Error for other models (SentencePiece-style BPE, Unigram, WordPiece).
 *
 * @example
 * ```ts
 * import { metadataFromTokenizerJson } from "./find.ts";
 * const m = metadataFromTokenizerJson({
 *   model: { type: "BPE", vocab: { "a": 0, "b": 1, "ab": 2 }, merges: ["a b"] },
 *   decoder: { type: "ByteLevel" },
 * });
 * m.get("tokenizer.ggml.model")?.value; // "gpt2"
 * ```
 */
export function metadataFromTokenizerJson(json: unknown): GgufMetadata {
  const j = json as HfTokenizerJson;
  if (j?.model?.type !== "BPE" || !j.model.vocab || !Array.isArray(j.model.merges)) {
    throw new TokenizerError(
      "UNSUPPORTED_MODEL",
      `tokenizer.json has a ${
        j?.model?.type ?? "missing"
      } model; bitload reads byte-level BPE ones`,
    );
  }
  if (!isByteLevel(j)) {
    throw new TokenizerError(
      "UNSUPPORTED_MODEL",
      "tokenizer.json is a BPE model without a ByteLevel decoder (SentencePiece-style); convert it to GGUF",
    );
  }
  const byId = new Map<number, { text: string; type: number }>();
  for (const [text, id] of Object.entries(j.model.vocab)) byId.set(id, { text, type: 1 });
  for (const t of j.added_tokens ?? []) {
    byId.set(t.id, { text: t.content, type: t.special ? 3 : 4 });
  }
  const size = Math.max(-1, ...byId.keys()) + 1;
  const tokens: string[] = [];
  const types = new Int32Array(size);
  for (let id = 0; id < size; id++) {
    const t = byId.get(id);
    tokens.push(t?.text ?? `[PAD${id}]`); // llama.cpp's converter fills holes the same way
    types[id] = t?.type ?? 5;
  }
  const merges = j.model.merges.map((m) => (Array.isArray(m) ? `${m[0]} ${m[1]}` : m));
  const entries = [
    metadataEntry("tokenizer.ggml.model", GgufValueType.STRING, "gpt2"),
    metadataEntry(
      "tokenizer.ggml.tokens",
      GgufValueType.ARRAY,
      GgufStringArray.from(tokens),
      GgufValueType.STRING,
    ),
    metadataEntry("tokenizer.ggml.token_type", GgufValueType.ARRAY, types, GgufValueType.INT32),
    metadataEntry(
      "tokenizer.ggml.merges",
      GgufValueType.ARRAY,
      GgufStringArray.from(merges),
      GgufValueType.STRING,
    ),
  ];
  const pre = preFromTokenizerJson(j);
  if (pre) entries.push(metadataEntry("tokenizer.ggml.pre", GgufValueType.STRING, pre));
  const bosText = templateBos(j.post_processor);
  const bos = bosText === undefined ? undefined : tokens.indexOf(bosText);
  if (bos !== undefined && bos >= 0) {
    entries.push(metadataEntry("tokenizer.ggml.bos_token_id", GgufValueType.UINT32, bos));
    entries.push(metadataEntry("tokenizer.ggml.add_bos_token", GgufValueType.BOOL, true));
  }
  return new Map<string, GgufMetadataEntry>(entries as unknown as [string, GgufMetadataEntry][]);
}

/**
 * Reads a tokenizer file of any supported kind — `tokenizer.json` (byte-level BPE, WordPiece or
 * Unigram) or a SentencePiece `tokenizer.model` (told apart by content) — into GGUF metadata.
 *
 * @example
 * ```ts ignore
 * import { metadataFromTokenizerFile } from "./find.ts";
 * const { metadata, kind } = metadataFromTokenizerFile(await Deno.readFile("tokenizer.model"));
 * ```
 */
export function metadataFromTokenizerFile(
  bytes: Uint8Array,
): { metadata: GgufMetadata; kind: string } {
  let i = 0;
  while (
    i < bytes.length &&
    (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)
  ) i++;
  if (bytes[i] !== 0x7b) {
    const metadata = metadataFromSentencePiece(bytes);
    const model = metadata.get("tokenizer.ggml.model")!.value;
    return { metadata, kind: `SentencePiece ${model === "t5" ? "unigram" : "BPE"} model` };
  }
  const json = JSON.parse(new TextDecoder().decode(bytes)) as { model?: { type?: string } };
  switch (json.model?.type) {
    case "WordPiece":
      return { metadata: metadataFromWordPiece(json), kind: "WordPiece" };
    case "Unigram":
      return { metadata: metadataFromUnigram(json), kind: "Unigram" };
    default:
      return { metadata: metadataFromTokenizerJson(json), kind: "byte-level BPE" };
  }
}

/**
 * Finds and builds the tokenizer of a model (see the module doc for the order).
 *
 * @example
 * ```ts ignore
 * import { findTokenizer } from "./find.ts";
 * const { tokenizer, source, steps } = await findTokenizer("model.gguf");
 * console.log(source, steps.join("\n"));
 * ```
 */
export async function findTokenizer(
  modelPath: string,
  options: FindTokenizerOptions = {},
): Promise<TokenizerChoice> {
  const steps: string[] = [];
  const file = await readGguf(modelPath);
  const tokens = file.metadata.get("tokenizer.ggml.tokens")?.value;
  const model = file.metadata.get("tokenizer.ggml.model")?.value;
  if (tokens instanceof GgufStringArray && tokens.length > 0 && typeof model === "string") {
    steps.push(
      `1. ${modelPath}: tokenizer.ggml.* present (${model}, ${tokens.length} tokens): used`,
    );
    return {
      tokenizer: Tokenizer.fromMetadata(file.metadata, options),
      source: "gguf",
      path: modelPath,
      steps,
    };
  }
  steps.push(`1. ${modelPath}: no tokenizer.ggml.tokens/model in the file`);
  const dir = dirname(modelPath);
  const sidecars: [string, TokenizerChoice["source"]][] = [
    [join(dir, "tokenizer.json"), "tokenizer.json"],
    [join(dir, "tokenizer.model"), "tokenizer.model"],
  ];
  for (const [i, [path, source]] of sidecars.entries()) {
    if (!existsSync(path)) {
      steps.push(`${i + 2}. ${path}: not found`);
      continue;
    }
    try {
      const { metadata, kind } = metadataFromTokenizerFile(await Deno.readFile(path));
      steps.push(`${i + 2}. ${path}: ${kind}: used`);
      return { tokenizer: Tokenizer.fromMetadata(metadata, options), source, path, steps };
    } catch (e) {
      steps.push(`${i + 2}. ${path}: found but not usable: ${(e as Error).message}`);
    }
  }
  const url = options.url ?? readEnv("BITLOAD_TOKENIZER_URL");
  if (!url) {
    steps.push("4. no --tokenizer-url and no $BITLOAD_TOKENIZER_URL");
    throw new TokenizerError(
      "NOT_FOUND",
      `No tokenizer found for "${modelPath}":\n  ${steps.join("\n  ")}`,
    );
  }
  const cache = options.cache ?? new DownloadCache("tokenizers");
  const hit = cache.lookup(url);
  const fetched = await cache.fetch(url, { headers: options.headers });
  const { metadata, kind } = metadataFromTokenizerFile(await Deno.readFile(fetched.path));
  steps.push(
    `4. ${url}: ${hit ? "from the cache" : "downloaded"} (${fetched.path}), ${kind}: used`,
  );
  return {
    tokenizer: Tokenizer.fromMetadata(metadata, options),
    source: "url",
    path: fetched.path,
    steps,
  };
}

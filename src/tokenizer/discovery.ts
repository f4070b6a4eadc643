/**
 * Finding the right pre-tokenizer when a GGUF does not say: a Hugging Face `tokenizer.json`
 * sidecar next to the model (as in the HF repository the GGUF came from) names its split regex,
 * which maps to a llama.cpp `tokenizer.ggml.pre` name. This matters for BitNet b1.58 2B-4T, whose
 * official GGUF has no `pre` (llama.cpp then uses DEFAULT) while its `tokenizer.json` carries the
 * Llama 3 regex it was trained with.
 *
 * Only exact, known patterns are recognised (llama3, qwen2, qwen35, gpt-2); anything else gives
 * `undefined` rather than a guess.
 *
 * @module
 */

import { TokenizerError } from "./errors.ts";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

const GPT2_HF = String
  .raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;
const KNOWN: [string, string][] = [
  [
    String
      .raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
    "llama3",
  ],
  [
    String
      .raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
    "qwen2",
  ],
  [
    String
      .raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
    "qwen35",
  ],
  [GPT2_HF, "gpt-2"],
];

interface PreTokenizerJson {
  type?: string;
  pretokenizers?: PreTokenizerJson[];
  pattern?: { Regex?: string; String?: string };
  use_regex?: boolean;
}

/** The split regexes of a tokenizer.json pre-tokenizer, in order. */
function patterns(p: PreTokenizerJson | null | undefined, out: string[]): string[] {
  if (!p || typeof p !== "object") return out;
  if (p.type === "Sequence" && Array.isArray(p.pretokenizers)) {
    for (const q of p.pretokenizers) patterns(q, out);
  } else if (p.type === "Split" && typeof p.pattern?.Regex === "string") {
    out.push(p.pattern.Regex);
  } else if (p.type === "ByteLevel" && p.use_regex !== false) {
    out.push(GPT2_HF);
  }
  return out;
}

/**
 * The llama.cpp `pre` name matching a parsed `tokenizer.json`, or `undefined` when its
 * pre-tokenizer is not one bitload recognises exactly.
 *
 * @example
 * ```ts
 * import { preFromTokenizerJson } from "./discovery.ts";
 * preFromTokenizerJson({ pre_tokenizer: { type: "ByteLevel", use_regex: true } }); // "gpt-2"
 * ```
 */
export function preFromTokenizerJson(json: unknown): string | undefined {
  const pre = (json as { pre_tokenizer?: PreTokenizerJson } | null)?.pre_tokenizer;
  const list = patterns(pre, []);
  if (list.length !== 1) return undefined;
  return KNOWN.find(([pattern]) => pattern === list[0])?.[1];
}

/**
 * Where a `tokenizer.json` sidecar of a model file would be: the same directory.
 *
 * @example
 * ```ts
 * import { sidecarPath } from "./discovery.ts";
 * sidecarPath("/models/bitnet/ggml-model-i2_s.gguf"); // "/models/bitnet/tokenizer.json"
 * ```
 */
export function sidecarPath(modelPath: string): string {
  return join(dirname(modelPath), "tokenizer.json");
}

/** A pre-tokenizer name found next to a model, and where. */
export interface DiscoveredPre {
  /** The llama.cpp `tokenizer.ggml.pre` name. */
  pre: string;
  /** The sidecar file it came from. */
  source: string;
}

/**
 * Reads the `tokenizer.json` next to `modelPath` (if any) and maps its pre-tokenizer to a
 * llama.cpp `pre` name. `undefined` when there is no sidecar or it is not recognised.
 *
 * @example
 * ```ts ignore
 * import { discoverPre } from "./discovery.ts";
 * await discoverPre("/models/bitnet/ggml-model-i2_s.gguf"); // { pre: "llama3", source: ".../tokenizer.json" }
 * ```
 */
export async function discoverPre(modelPath: string): Promise<DiscoveredPre | undefined> {
  const path = sidecarPath(modelPath);
  if (!existsSync(path)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw new TokenizerError(
      "BAD_SIDECAR",
      `Cannot read tokenizer sidecar "${path}": ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const pre = preFromTokenizerJson(json);
  return pre === undefined ? undefined : { pre, source: path };
}

/**
 * Reference data fetched by `deno task fetch-reference` (llama.cpp's `ggml-vocab-*.gguf`
 * vocabularies and tokenizer vectors), found in `$BITLOAD_REFERENCE_DIR/vocab` or
 * `.cache/reference/vocab`. Tests that need them skip with {@link vocabSkipReason} when absent.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Directory holding the reference vocabularies. */
export function referenceVocabDir(): string {
  const base = Deno.env.get("BITLOAD_REFERENCE_DIR") ??
    fileURLToPath(new URL("../../.cache/reference", import.meta.url));
  return join(base, "vocab");
}

/** Path of a reference vocabulary (e.g. `"llama-bpe"`), or `null` when it was not fetched. */
export function referenceVocab(name: string): string | null {
  const path = join(referenceVocabDir(), `ggml-vocab-${name}.gguf`);
  return existsSync(path) ? path : null;
}

/** Why a vocabulary is missing. */
export function vocabSkipReason(name: string): string {
  return `reference vocabulary ggml-vocab-${name}.gguf not found in ${referenceVocabDir()} (run "deno task fetch-reference")`;
}

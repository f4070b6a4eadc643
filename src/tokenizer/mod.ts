/**
 * Tokenizers from GGUF metadata with llama.cpp parity: SPM, byte-level BPE, WordPiece and Unigram.
 *
 * ```ts ignore
 * import { Tokenizer } from "./mod.ts";
 * const tok = await Tokenizer.fromGguf("model.gguf");
 * const ids = tok.encode("Hello world");
 * tok.decode(ids, { skipSpecial: true }); // "Hello world"
 * ```
 *
 * @module
 */

export {
  cleanSpacesBytes,
  type DecodeOptions,
  type EncodeOptions,
  Tokenizer,
  type TokenizerOptions,
  type VocabType,
} from "./tokenizer.ts";
export {
  PreTokenizer,
  type PreTokenizerConfig,
  preTokenizerConfig,
  SUPPORTED_PRE_NAMES,
} from "./pretokenize.ts";
export { ATTR, type SpecialIds, TOKEN_TYPE } from "./vocab.ts";
export {
  KNOWN_VOCABULARIES,
  type KnownVocabulary,
  recognizeVocabulary,
  vocabularyFingerprint,
} from "./known_vocab.ts";
export { type DiscoveredPre, discoverPre, preFromTokenizerJson, sidecarPath } from "./discovery.ts";
export {
  findTokenizer,
  type FindTokenizerOptions,
  metadataFromTokenizerFile,
  metadataFromTokenizerJson,
  type TokenizerChoice,
} from "./find.ts";
export {
  metadataFromSentencePiece,
  metadataFromUnigram,
  metadataFromWordPiece,
} from "./sidecar.ts";
export { TokenizerError, type TokenizerErrorCode } from "./errors.ts";

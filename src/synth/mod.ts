/**
 * `@bitload/bitload/synth`: deterministic synthetic models — a BitNet b1.58 model with I2_S
 * weights and a byte-level BPE vocabulary — for demos, tests and benchmarks without a download.
 *
 * @example
 * ```ts ignore
 * import { synthesizeBitnetModel } from "@bitload/bitload/synth";
 * await synthesizeBitnetModel("tiny.gguf", { layers: 1, vocab: 300 });
 * ```
 *
 * @module
 */

export {
  BITNET_SYNTH_DEFAULTS,
  bitnetModelParts,
  type BitnetSynthOptions,
  synthesizeBitnetModel,
} from "./bitnet_model.ts";
export { SynthError, type SynthErrorCode } from "./errors.ts";
export { writeVocabShapedGguf } from "./bpe_vocab.ts";

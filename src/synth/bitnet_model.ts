/**
 * A small but structurally faithful BitNet b1.58 model, written by bitload itself: the key set,
 * tensor names and types of microsoft/bitnet-b1.58-2B-4T-gguf `ggml-model-i2_s.gguf`
 * (gguf-and-quant-formats.md §3.4): architecture `bitnet-b1.58`, F16 `token_embd` tied as the
 * LM head (no `output.weight`), F32 norms including `attn_sub_norm` and `ffn_sub_norm`, and I2_S
 * projections with one f32 scale per tensor. Weights are random ternary values from a seed, so
 * the bytes are identical for a given seed.
 *
 * @module
 */

import { SynthError } from "./errors.ts";
import type { GgufMetadataInput, GgufTensorInput, WriteGgufOptions } from "../gguf/writer.ts";
import { kv, writeGguf } from "../gguf/writer.ts";
import { GgufValueType } from "../gguf/value_types.ts";
import { buildBpeVocab } from "./bpe_vocab.ts";
import { type SeededRandom, seededRandom } from "../common/random.ts";
import { packI2S } from "../quant/i2s_pack.ts";

/** Shape of the synthetic model. */
export interface BitnetSynthOptions {
  /** Transformer blocks. Default 4. */
  layers?: number;
  /** Embedding width (multiple of 128). Default 256. */
  dim?: number;
  /** Feed-forward width (multiple of 128). Default 768. */
  ffn?: number;
  /** Attention heads. Default 4. */
  heads?: number;
  /** Key/value heads (GQA). Default 2. */
  kvHeads?: number;
  /** Vocabulary size (≥ 258). Default 1024. */
  vocab?: number;
  /** Training context length recorded in the metadata. Default 4096. */
  context?: number;
  /** Random seed. Default 1. */
  seed?: number;
}

/** The defaults of {@link BitnetSynthOptions}. */
export const BITNET_SYNTH_DEFAULTS: Required<BitnetSynthOptions> = {
  layers: 4,
  dim: 256,
  ffn: 768,
  heads: 4,
  kvHeads: 2,
  vocab: 1024,
  context: 4096,
  seed: 1,
};

const ARCH = "bitnet-b1.58";

/** Chat template stand-in in the Llama-3 style the 2B-4T model card describes. */
const CHAT_TEMPLATE = "{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}" +
  "{{ message['role'] | capitalize }}: {{ message['content'] }}<|end_of_text|>{% endfor %}" +
  "{% if add_generation_prompt %}Assistant: {% endif %}";

function checkOptions(o: Required<BitnetSynthOptions>): void {
  const positive = (name: string, v: number) => {
    if (!Number.isInteger(v) || v <= 0) {
      throw new SynthError("BAD_OPTION", `--${name} must be a positive integer, got ${v}`);
    }
  };
  positive("layers", o.layers);
  positive("dim", o.dim);
  positive("ffn", o.ffn);
  positive("heads", o.heads);
  positive("kv-heads", o.kvHeads);
  positive("context", o.context);
  if (o.dim % 128 !== 0) {
    throw new SynthError(
      "BAD_OPTION",
      `--dim must be a multiple of 128 (I2_S blocks), got ${o.dim}`,
    );
  }
  if (o.ffn % 128 !== 0) {
    throw new SynthError(
      "BAD_OPTION",
      `--ffn must be a multiple of 128 (I2_S blocks), got ${o.ffn}`,
    );
  }
  if (o.dim % o.heads !== 0) {
    throw new SynthError("BAD_OPTION", `--dim ${o.dim} must be divisible by --heads ${o.heads}`);
  }
  if (o.heads % o.kvHeads !== 0) {
    throw new SynthError(
      "BAD_OPTION",
      `--heads ${o.heads} must be divisible by --kv-heads ${o.kvHeads}`,
    );
  }
  if ((o.dim / o.heads) * o.kvHeads % 128 !== 0) {
    throw new SynthError(
      "BAD_OPTION",
      `The K/V projection width (dim / heads × kv-heads = ${
        (o.dim / o.heads) * o.kvHeads
      }) must be a multiple of 128`,
    );
  }
}

function ternaryTensor(rng: SeededRandom, n: number, scale: number): Uint8Array {
  const values = new Int8Array(n);
  for (let i = 0; i < n; i++) values[i] = rng.int(3) - 1;
  return packI2S(values, scale);
}

function f32Tensor(rng: SeededRandom, n: number, mean: number, spread: number): Uint8Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = mean + spread * rng.normal();
  return new Uint8Array(v.buffer);
}

function f16Tensor(rng: SeededRandom, n: number, spread: number): Uint8Array {
  const v = new Float16Array(n);
  for (let i = 0; i < n; i++) v[i] = spread * rng.normal();
  return new Uint8Array(v.buffer);
}

/**
 * The metadata and tensors of a synthetic BitNet b1.58 model, ready for the writer. Tensor data
 * is produced lazily (one tensor at a time) from per-tensor seeds, so order of writing does not
 * change the bytes.
 *
 * @example
 * ```ts
 * import { bitnetModelParts } from "./bitnet_model.ts";
 * const { metadata, tensors } = bitnetModelParts({ layers: 1 });
 * tensors.length; // 13: token_embd, 11 per block, output_norm
 * metadata.find((e) => e.key === "general.architecture")?.value; // "bitnet-b1.58"
 * ```
 */
export function bitnetModelParts(options: BitnetSynthOptions = {}): {
  metadata: GgufMetadataInput[];
  tensors: GgufTensorInput[];
} {
  const o = { ...BITNET_SYNTH_DEFAULTS, ...options };
  checkOptions(o);
  const vocab = buildBpeVocab(o.vocab, o.seed);
  const headDim = o.dim / o.heads;
  const kvDim = headDim * o.kvHeads;
  const metadata: GgufMetadataInput[] = [
    kv.string("general.architecture", ARCH),
    kv.string("general.name", "bitload-synthetic-bitnet"),
    kv.u32(`${ARCH}.vocab_size`, o.vocab),
    kv.u32(`${ARCH}.context_length`, o.context),
    kv.u32(`${ARCH}.embedding_length`, o.dim),
    kv.u32(`${ARCH}.block_count`, o.layers),
    kv.u32(`${ARCH}.feed_forward_length`, o.ffn),
    kv.u32(`${ARCH}.rope.dimension_count`, headDim),
    kv.u32(`${ARCH}.attention.head_count`, o.heads),
    kv.u32(`${ARCH}.attention.head_count_kv`, o.kvHeads),
    kv.f32(`${ARCH}.attention.layer_norm_rms_epsilon`, 1e-5),
    kv.f32(`${ARCH}.rope.freq_base`, 500000),
    kv.u32("general.file_type", 40),
    kv.string("tokenizer.ggml.model", "gpt2"),
    // The official file has no tokenizer.ggml.pre (llama.cpp then warns and uses "default"); the
    // synthetic vocabulary is made for the default pre-tokenizer, so it says so.
    kv.string("tokenizer.ggml.pre", "default"),
    kv.array("tokenizer.ggml.tokens", GgufValueType.STRING, vocab.tokens),
    kv.array("tokenizer.ggml.scores", GgufValueType.FLOAT32, new Float32Array(o.vocab)),
    kv.array("tokenizer.ggml.token_type", GgufValueType.INT32, Int32Array.from(vocab.tokenTypes)),
    kv.array("tokenizer.ggml.merges", GgufValueType.STRING, vocab.merges),
    kv.u32("tokenizer.ggml.bos_token_id", vocab.bosId),
    kv.u32("tokenizer.ggml.eos_token_id", vocab.eosId),
    kv.u32("tokenizer.ggml.padding_token_id", vocab.eosId),
    kv.bool("tokenizer.ggml.add_bos_token", true),
    kv.string("tokenizer.chat_template", CHAT_TEMPLATE),
    kv.u32("general.quantization_version", 2),
  ];

  const tensors: GgufTensorInput[] = [];
  let tensorSeed = o.seed * 1_000_003;
  const add = (
    name: string,
    type: string,
    dims: number[],
    make: (r: SeededRandom) => Uint8Array,
  ) => {
    const seed = tensorSeed++;
    tensors.push({ name, type, dims, data: () => make(seededRandom(seed)) });
  };
  const n = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
  const i2s = (name: string, dims: number[]) =>
    add(name, "I2_S", dims, (r) => ternaryTensor(r, n(dims), 0.5 + r.float()));
  const norm = (name: string, width: number) =>
    add(name, "F32", [width], (r) => f32Tensor(r, width, 1, 0.05));

  add("token_embd.weight", "F16", [o.dim, o.vocab], (r) => f16Tensor(r, o.dim * o.vocab, 0.02));
  for (let b = 0; b < o.layers; b++) {
    const p = `blk.${b}.`;
    norm(`${p}attn_norm.weight`, o.dim);
    i2s(`${p}attn_q.weight`, [o.dim, o.dim]);
    i2s(`${p}attn_k.weight`, [o.dim, kvDim]);
    i2s(`${p}attn_v.weight`, [o.dim, kvDim]);
    i2s(`${p}attn_output.weight`, [o.dim, o.dim]);
    norm(`${p}attn_sub_norm.weight`, o.dim);
    norm(`${p}ffn_norm.weight`, o.dim);
    i2s(`${p}ffn_gate.weight`, [o.dim, o.ffn]);
    i2s(`${p}ffn_up.weight`, [o.dim, o.ffn]);
    i2s(`${p}ffn_down.weight`, [o.ffn, o.dim]);
    norm(`${p}ffn_sub_norm.weight`, o.ffn);
  }
  norm("output_norm.weight", o.dim);
  return { metadata, tensors };
}

/**
 * Writes a synthetic BitNet b1.58 model to `path` (atomically).
 *
 * @example
 * ```ts ignore
 * import { synthesizeBitnetModel } from "./bitnet_model.ts";
 * await synthesizeBitnetModel("/tmp/tiny-bitnet.gguf", { layers: 2, seed: 7 });
 * ```
 */
export async function synthesizeBitnetModel(
  path: string,
  options: BitnetSynthOptions = {},
  write: WriteGgufOptions = {},
): Promise<void> {
  const { metadata, tensors } = bitnetModelParts(options);
  await writeGguf(path, metadata, tensors, write);
}

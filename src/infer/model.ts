/**
 * The forward pass: `bitnet-b1.58` (microsoft/BitNet 2B-4T), upstream llama.cpp `bitnet` and plain
 * `llama`, with an f32 or f16 KV cache and batched prompt processing. See `config.ts` for the
 * architecture facts and their sources.
 *
 * Per block (bitnet variants; `llama` skips the two sub-norms):
 * ```
 * h   = rmsnorm(x) * attn_norm
 * q,k,v = Wq h, Wk h, Wv h            (each times its optional .scale)
 * q,k = rope(q, pos), rope(k, pos)    (NEOX for bitnet, NORM for llama; θ = rope.freq_base)
 * a   = softmax(q kᵀ / sqrt(head_dim)) v   over the cache, causal, GQA
 * a   = rmsnorm(a) * attn_sub_norm
 * x   = x + Wo a
 * h   = rmsnorm(x) * ffn_norm
 * f   = act(Wgate h) * (Wup h)        (relu² for bitnet-b1.58, SiLU for bitnet/llama)
 * f   = rmsnorm(f) * ffn_sub_norm
 * x   = x + Wdown f
 * ```
 * then `logits = token_embd · (rmsnorm(x) * output_norm)` (or `output.weight` when present).
 *
 * All buffers are allocated when the model is opened (an arena sized for `maxBatch` tokens);
 * the token loop allocates nothing but the returned logits view is reused between calls.
 *
 * @module
 */

import {
  type AttentionShape,
  type InferLevel,
  type InferNative,
  inferNative,
  inferNativeReason,
  requireInferNative,
} from "../../ffi/infer_native.ts";
import {
  cachedKernelChoice,
  choiceDoubt,
  chooseTimed,
  kernelChoiceKey,
  kernelEnvironment,
  saveKernelChoice,
  type TimedVariant,
  timeInterleaved,
} from "./kernel_choice.ts";
import { openModelFile } from "../load/open.ts";
import type { GgufMetadata } from "../gguf/metadata.ts";
import type { GgufTensorInfo } from "../gguf/model.ts";
import { dequantize } from "../quant/dequantize.ts";
import type { TlConfigFile } from "../quant/tl_config.ts";
import { isTlType, transcodeTlTensor } from "../quant/tl_tensor.ts";
import { ggmlType } from "../gguf/types.ts";
import { readEnv } from "../../ffi/env.ts";
import { type ModelConfig, readModelConfig } from "./config.ts";
import { type DecodeReads, productReads } from "./decode_bytes.ts";
import { InferError, ModelConfigError } from "./errors.ts";
import {
  allocQuantizedActs,
  type Linear,
  type LinearBackend,
  linearNative,
  linearNativeFused,
  linearRef,
  makeLinear,
  type QuantizedActs,
  requantizeI8,
  staleActs,
} from "./linear.ts";

/**
 * Tokens of the batch on which the load-time tuner times each SIMD level for prompts: a multiple
 * of the I2_S prompt kernels' 4-token tile, small enough to take a few milliseconds per level on
 * a 2B model.
 */
export const PROMPT_TUNE_TOKENS = 16;

/**
 * What an {@link InferenceModel} runs on: the metadata, the tensor directory and each tensor's
 * bytes. An opened model (`openGguf`), a loaded one (`model.load()`) or a `ModelFile` fits; the
 * weights are used in place (zero-copy views of the mapping), never copied.
 */
export interface ModelWeights {
  /** Model metadata (hyperparameters, tokenizer). */
  readonly metadata: GgufMetadata;
  /** Every tensor's directory entry. */
  readonly tensors: readonly GgufTensorInfo[];
  /** The bytes of a tensor as stored. */
  tensorData(name: string): Uint8Array;
}

/** Options of {@link InferenceModel.fromWeights} (and the engine). */
export interface LoadModelOptions {
  /** `"auto"` (default): native kernels when they load, else the f32 reference. */
  backend?: LinearBackend | "auto";
  /**
   * Threads for the native kernels. Default: `BITLOAD_THREADS`, else tuned at load time — one
   * and all hardware threads are timed on a few decode steps and the faster is kept (on a busy
   * machine one thread often wins; the choice shows in {@link InferenceModel.kernelInfo}).
   */
  threads?: number;
  /**
   * Element type of the KV cache: `"f32"` (default) or `"f16"` (half the memory, as llama.cpp's
   * default `-ctk f16 -ctv f16`; values are rounded to f16 when stored).
   */
  kvType?: "f32" | "f16";
  /** KV cache length in tokens. Default min(training context, 2048). */
  contextLength?: number;
  /** Largest batch of prompt tokens per forward call. Default 64. */
  maxBatch?: number;
  /**
   * LM head weights: `"stored"` (default: as in the file, e.g. f16) or `"q8"`: requantized at
   * load to int8 with per-row scales and multiplied with int8 activations (native only; about
   * half the memory traffic of an f16 head, which dominates decoding of small-vocab-heavy models).
   */
  lmHead?: "stored" | "q8";
  /**
   * Weights of types without an integer kernel (K-quants, IQ types, Q4_0, BF16…), native backend:
   * `"rows"` (default) dequantizes one row at a time inside each product with the bit-exact
   * dequantizers, so memory stays the file's size; `"load"` dequantizes them to f32 once at load
   * (4–8× the memory, faster products). Both give the same bits.
   */
  dequantize?: "rows" | "load";
  /**
   * bitnet.cpp `kernel_config.ini` for TL1/TL2 weights, searched before the built-in presets of
   * the official models. TL weights are transcoded to I2_S at load (same ternary values and scale),
   * so the I2_S integer kernels run them.
   */
  tlConfig?: TlConfigFile;
  /**
   * Arithmetic of one-token forward calls (decode steps), native backend: `"batch"` (default) is
   * the arithmetic of prompt batches, so that a token gives the same bits alone or in any batch
   * (continuous batching relies on it); `"ggml"` copies llama.cpp's and bitnet.cpp's one-token
   * path, which rounds the F16 LM head's activations and the attention probabilities (f16 cache)
   * to f16 and sums with `ggml_vec_dot_f16` — for greedy continuations identical to those engines'
   * (see docs/exactness.md).
   */
  decodeArithmetic?: "batch" | "ggml";
}

/** What transcoding TL1/TL2 weights to I2_S at load cost (all zero for other files). */
export interface TlTranscodeReport {
  /** TL tensors transcoded. */
  tensors: number;
  /** Milliseconds spent transcoding. */
  ms: number;
  /** Bytes of I2_S weights allocated for them (anonymous memory; the TL bytes stay mapped). */
  bytes: number;
}

/** One sequence's KV cache: a K and a V array per layer. */
interface KvSlot {
  k: (Float32Array | Float16Array)[];
  v: (Float32Array | Float16Array)[];
}

/** Rows `row0…row0+n-1` of a batch belong to one sequence, at positions `pos0…`, cache `kv`. */
interface Segment {
  kv: KvSlot;
  pos0: number;
  n: number;
  row0: number;
}

/** One sequence's tokens in an {@link InferenceModel.forwardSlots} step. */
export interface SlotTokens {
  /** Sequence slot (0…{@link InferenceModel.slotCount} − 1). */
  slot: number;
  /** Tokens to append to the slot (at least one). */
  tokens: readonly number[];
}

interface Block {
  attnNorm: Float32Array;
  wq: Linear;
  wk: Linear;
  wv: Linear;
  wo: Linear;
  attnSubNorm?: Float32Array;
  ffnNorm: Float32Array;
  gate: Linear;
  up: Linear;
  down: Linear;
  ffnSubNorm?: Float32Array;
  kCache: Float32Array | Float16Array;
  vCache: Float32Array | Float16Array;
}

function f32Of(model: ModelWeights, info: GgufTensorInfo): Float32Array {
  const data = model.tensorData(info.name);
  if (info.type.name === "F32" && data.byteOffset % 4 === 0) {
    return new Float32Array(data.buffer, data.byteOffset, info.elementCount);
  }
  const out = new Float32Array(info.elementCount);
  dequantize(info.type, data, out, { dims: info.dims });
  return out;
}

/** The arrays of one quantized-activations buffer (its row counters apart). */
function actsArrays(a: QuantizedActs): (Int8Array | Int32Array | Float32Array | Uint8Array)[] {
  return [a.q, a.gsum, a.factor, a.q8, a.q81, a.q8k];
}

function linearsOf(b: Block): Linear[] {
  return [b.wq, b.wk, b.wv, b.wo, b.gate, b.up, b.down];
}

/** The kernels chosen for a model: native (with its thread count) or the f32 reference. */
interface BackendChoice {
  native: InferNative | null;
  backend: LinearBackend;
  threads: number;
  kernelInfo: string;
}

/** The weights of a model bound to their products (zero-copy views of the tensor data). */
interface BoundWeights {
  blocks: Omit<Block, "kCache" | "vCache">[];
  embd: GgufTensorInfo;
  outNorm: Float32Array;
  head: Linear;
}

/** Every buffer the forward pass uses, allocated once for `maxBatch` tokens. */
interface Arena {
  x: Float32Array;
  h: Float32Array;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  att: Float32Array;
  o: Float32Array;
  g: Float32Array;
  u: Float32Array;
  logits: Float32Array;
  scores: Float32Array;
  cos: Float32Array;
  sin: Float32Array;
  actsEmbd: QuantizedActs;
  actsFf: QuantizedActs;
  embRow: Float32Array;
  kv: { kCache: Float32Array | Float16Array; vCache: Float32Array | Float16Array }[];
}

/** Threads asked for: the option, else `BITLOAD_THREADS`, else undefined (tune). */
function threadsWanted(options: LoadModelOptions): number | undefined {
  const fromEnv = Number(readEnv("BITLOAD_THREADS") ?? "");
  return options.threads ?? (fromEnv > 0 ? fromEnv : undefined);
}

/**
 * The backend step: native kernels when they load (or when asked), else the f32 reference.
 *
 * @throws {ModelConfigError} `NATIVE_UNAVAILABLE` when `backend: "native"` cannot be had.
 */
function chooseBackend(options: LoadModelOptions): BackendChoice {
  const want = options.backend ?? "auto";
  if (want !== "auto" && want !== "native" && want !== "ref") {
    throw new ModelConfigError("BAD_OPTION", `backend must be native, ref or auto, got "${want}"`);
  }
  // backend "native" without the kernels: requireInferNative throws NativeKernelError (UNAVAILABLE)
  const native = want === "ref" ? null : want === "native" ? requireInferNative() : inferNative();
  if (!native) {
    return {
      native,
      backend: "ref",
      threads: 1,
      kernelInfo: want === "ref" ? "f32 reference" : `f32 reference (${inferNativeReason()})`,
    };
  }
  const threads = native.setThreads(threadsWanted(options) ?? navigator.hardwareConcurrency ?? 1);
  return {
    native,
    backend: "native",
    threads,
    kernelInfo: `${native.level} × ${threads} thread${threads === 1 ? "" : "s"}`,
  };
}

/**
 * The weights step: every projection bound to its product, norms as f32 (views when stored as
 * aligned f32), the LM head (requantized to int8 for `lmHead: "q8"`).
 *
 * @throws {ModelConfigError} `MISSING_TENSOR`, `BAD_OPTION`.
 */
function bindWeights(
  weights: ModelWeights,
  c: ModelConfig,
  b: BackendChoice,
  options: LoadModelOptions,
  tl: TlTranscodeReport,
): BoundWeights {
  const tensors = new Map(weights.tensors.map((t) => [t.name, t]));
  const get = (name: string): GgufTensorInfo => {
    const t = tensors.get(name);
    if (!t) throw new ModelConfigError("MISSING_TENSOR", `The model has no tensor ${name}`);
    return t;
  };
  const scaleOf = (name: string): number => {
    const s = tensors.get(name.replace(/\.weight$/, ".scale"));
    return s ? f32Of(weights, s)[0] : 1;
  };
  const dequantMode = options.dequantize ?? "rows";
  if (dequantMode !== "rows" && dequantMode !== "load") {
    throw new ModelConfigError(
      "BAD_OPTION",
      `dequantize must be "rows" or "load", got "${dequantMode}"`,
    );
  }
  const useRows = b.native !== null && dequantMode === "rows";
  const linear = (name: string): Linear => {
    const t = get(name);
    let type = t.type;
    let data = weights.tensorData(name);
    if (isTlType(type.name)) {
      // TL1/TL2 → I2_S at load: same ternary values and scale, so the I2_S kernels serve.
      const done = transcodeTlTensor(type.name, data, t.dims, { tlConfig: options.tlConfig, name });
      type = ggmlType(36, "bitnet")!;
      data = done.data;
      tl.tensors++;
      tl.ms += done.ms;
      tl.bytes += done.data.byteLength;
    }
    return makeLinear(
      name,
      type,
      t.dims[1] ?? 1,
      t.dims[0],
      data,
      scaleOf(name),
      b.backend,
      useRows,
    );
  };
  const norm = (name: string) => f32Of(weights, get(name));
  const blocks: BoundWeights["blocks"] = [];
  for (let i = 0; i < c.nLayer; i++) {
    const p = `blk.${i}.`;
    blocks.push({
      attnNorm: norm(`${p}attn_norm.weight`),
      wq: linear(`${p}attn_q.weight`),
      wk: linear(`${p}attn_k.weight`),
      wv: linear(`${p}attn_v.weight`),
      wo: linear(`${p}attn_output.weight`),
      attnSubNorm: c.subNorms ? norm(`${p}attn_sub_norm.weight`) : undefined,
      ffnNorm: norm(`${p}ffn_norm.weight`),
      gate: linear(`${p}ffn_gate.weight`),
      up: linear(`${p}ffn_up.weight`),
      down: linear(`${p}ffn_down.weight`),
      ffnSubNorm: c.subNorms ? norm(`${p}ffn_sub_norm.weight`) : undefined,
    });
  }
  // Upstream bitnet and bitnet-b1.58 always tie the head to token_embd; llama uses output.weight.
  const headName = c.arch === "llama" && tensors.has("output.weight")
    ? "output.weight"
    : "token_embd.weight";
  const head = linear(headName);
  if (options.lmHead !== undefined && options.lmHead !== "stored" && options.lmHead !== "q8") {
    throw new ModelConfigError(
      "BAD_OPTION",
      `lmHead must be "stored" or "q8", got "${options.lmHead}"`,
    );
  }
  if (options.lmHead === "q8" && b.native) requantizeI8(b.native, head);
  if (head.kernel === "i8" && head.cols % 32 !== 0) {
    throw new ModelConfigError("BAD_OPTION", `lmHead "q8" needs a width that is a multiple of 32`);
  }
  return { blocks, embd: get("token_embd.weight"), outNorm: norm("output_norm.weight"), head };
}

/** The arena step: activations for `maxBatch` tokens, RoPE tables, the KV cache of each layer. */
function allocArena(
  c: ModelConfig,
  maxBatch: number,
  contextLength: number,
  kvType: "f32" | "f16",
): Arena {
  const B = maxBatch;
  const half = c.nRot / 2;
  const qDim = c.nHead * c.headDim;
  const kvDim = c.nHeadKv * c.headDim;
  const KvArray = kvType === "f16" ? Float16Array : Float32Array;
  return {
    x: new Float32Array(B * c.nEmbd),
    h: new Float32Array(B * Math.max(c.nEmbd, qDim)),
    q: new Float32Array(B * qDim),
    k: new Float32Array(B * kvDim),
    v: new Float32Array(B * kvDim),
    att: new Float32Array(B * qDim),
    o: new Float32Array(B * c.nEmbd),
    g: new Float32Array(B * c.nFf),
    u: new Float32Array(B * c.nFf),
    logits: new Float32Array(B * c.nVocab),
    scores: new Float32Array(B * c.nHead * contextLength),
    cos: new Float32Array(B * half),
    sin: new Float32Array(B * half),
    actsEmbd: allocQuantizedActs(B, Math.max(c.nEmbd, qDim)),
    actsFf: allocQuantizedActs(B, c.nFf),
    embRow: new Float32Array(c.nEmbd),
    kv: Array.from({ length: c.nLayer }, () => ({
      kCache: new KvArray(contextLength * kvDim),
      vCache: new KvArray(contextLength * kvDim),
    })),
  };
}

/**
 * A model ready to run: its weights bound in place (zero-copy views of the loaded tensors), its
 * kernels chosen, its buffers allocated. Built from loaded weights by the engine
 * (`loaded.engine()`), or by {@link InferenceModel.fromWeights}; closing it releases the file
 * only when it opened the file itself ({@link InferenceModel.fromGguf}).
 */
export class InferenceModel implements Disposable {
  /** Hyperparameters. */
  readonly config: ModelConfig;
  /** Kernels in use. */
  readonly backend: LinearBackend;
  /** Native kernel description, e.g. `"avx512 × 2 threads"`, or why native is not used. */
  kernelInfo: string;
  /** Threads the native kernels use (1 for the reference). */
  threads = 1;
  /**
   * SIMD level of forward calls with more than one token (prompts), when the load-time tuner found
   * a faster one for them than for one-token steps ({@link InferenceModel.tuneKernels}); `null`
   * runs every call at the level in use. Every level gives the same bits, so this changes only
   * the speed. Tests that step through the levels set it to `null`.
   */
  promptLevel: "scalar" | "avx2" | "avx512" | "neon" | null = null;
  /** KV cache length. */
  readonly contextLength: number;
  /** Element type of the KV cache. */
  readonly kvType: "f32" | "f16";
  /** One-token calls in ggml's one-token arithmetic (`decodeArithmetic: "ggml"`). */
  readonly #ggmlDecode: boolean;
  /** Largest prompt batch per {@link forward} call. */
  readonly maxBatch: number;
  /** Tokens in the KV cache. */
  position = 0;
  /** What transcoding TL1/TL2 weights to I2_S at load cost. */
  readonly tlTranscode: TlTranscodeReport = { tensors: 0, ms: 0, bytes: 0 };

  readonly #file: ModelWeights;
  readonly #owner: Disposable | undefined;
  readonly #native: InferNative | null;
  readonly #blocks: Block[] = [];
  readonly #embd: GgufTensorInfo;
  readonly #outNorm: Float32Array;
  readonly #head: Linear;
  readonly #thetaScale: number;
  // arena
  readonly #x: Float32Array;
  readonly #h: Float32Array;
  readonly #q: Float32Array;
  readonly #k: Float32Array;
  readonly #v: Float32Array;
  readonly #att: Float32Array;
  readonly #o: Float32Array;
  readonly #g: Float32Array;
  readonly #u: Float32Array;
  readonly #logits: Float32Array;
  readonly #scores: Float32Array;
  /** Attention geometry for the native kernels (built once: the token loop allocates nothing). */
  readonly #shape: AttentionShape;
  readonly #cos: Float32Array;
  readonly #sin: Float32Array;
  readonly #actsEmbd: QuantizedActs;
  readonly #actsFf: QuantizedActs;
  readonly #embRow: Float32Array;
  // sequence slots: #slots[0] is the cache of forward(); others are allocated by allocateSlots
  readonly #slots: KvSlot[] = [];
  readonly #slotPos: number[] = [0];

  /** backend → weights → arena; use {@link InferenceModel.fromWeights}. */
  private constructor(weights: ModelWeights, options: LoadModelOptions, owner?: Disposable) {
    this.#file = weights;
    this.#owner = owner;
    const embd = weights.tensors.find((t) => t.name === "token_embd.weight");
    if (!embd) throw new ModelConfigError("MISSING_TENSOR", "The model has no token_embd.weight");
    const c = readModelConfig(weights.metadata, embd.dims[1]);
    this.config = c;
    this.kvType = options.kvType ?? "f32";
    const decode = options.decodeArithmetic ?? "batch";
    if (decode !== "batch" && decode !== "ggml") {
      throw new RangeError(`decodeArithmetic must be "batch" or "ggml", got "${decode}"`);
    }
    this.#ggmlDecode = decode === "ggml";
    if (this.kvType !== "f32" && this.kvType !== "f16") {
      throw new ModelConfigError(
        "BAD_OPTION",
        `kvType must be "f32" or "f16", got "${this.kvType}"`,
      );
    }
    this.contextLength = Math.max(1, options.contextLength ?? Math.min(c.nCtxTrain, 2048));
    this.maxBatch = Math.max(1, options.maxBatch ?? 64);

    const b = chooseBackend(options);
    this.#native = b.native;
    this.backend = b.backend;
    this.threads = b.threads;
    this.kernelInfo = b.kernelInfo;

    const w = bindWeights(weights, c, b, options, this.tlTranscode);
    this.#embd = w.embd;
    this.#outNorm = w.outNorm;
    this.#head = w.head;

    const a = allocArena(c, this.maxBatch, this.contextLength, this.kvType);
    this.#blocks = w.blocks.map((blk, i) => ({ ...blk, ...a.kv[i] }));
    this.#x = a.x;
    this.#h = a.h;
    this.#q = a.q;
    this.#k = a.k;
    this.#v = a.v;
    this.#att = a.att;
    this.#o = a.o;
    this.#g = a.g;
    this.#u = a.u;
    this.#logits = a.logits;
    this.#scores = a.scores;
    this.#cos = a.cos;
    this.#sin = a.sin;
    this.#actsEmbd = a.actsEmbd;
    this.#actsFf = a.actsFf;
    this.#embRow = a.embRow;
    // ggml: theta_scale = powf(freq_base, -2.0f / n_dims), in f32
    const exponent = Math.fround(-2 / c.nRot);
    this.#thetaScale = b.native
      ? b.native.powf(Math.fround(c.ropeBase), exponent)
      : Math.fround(Math.pow(Math.fround(c.ropeBase), exponent));
    this.#shape = {
      nHead: c.nHead,
      nKv: c.nHeadKv,
      headDim: c.headDim,
      scale: 1 / Math.sqrt(c.headDim),
    };
    this.#slots.push({
      k: this.#blocks.map((b) => b.kCache),
      v: this.#blocks.map((b) => b.vCache),
    });
  }

  /**
   * The forward pass's per-token scratch buffers (not the logits, not the RoPE tables): what
   * `allocatedBytes` counts in the arena and `commitMemory` zeroes.
   */
  #scratch(): Float32Array[] {
    return [
      this.#x,
      this.#h,
      this.#q,
      this.#k,
      this.#v,
      this.#att,
      this.#o,
      this.#g,
      this.#u,
      this.#scores,
      this.#embRow,
    ];
  }

  /**
   * Bytes this model allocated, counted from the arrays themselves: the KV caches of every slot,
   * the forward pass's arena (the logits apart) and the weight copies it owns (int8 head, TL →
   * I2_S, f32 dequantized tensors and norms); the mapped tensor data is not counted.
   *
   * @example
   * ```ts ignore
   * const { kvCache, arena, logits, weightCopies } = model.allocatedBytes();
   * ```
   */
  allocatedBytes(): { kvCache: number; arena: number; logits: number; weightCopies: number } {
    let kvCache = 0;
    for (const slot of this.#slots) {
      for (const a of [...slot.k, ...slot.v]) kvCache += a.byteLength;
    }
    const arena = [
      ...this.#scratch(),
      this.#cos,
      this.#sin,
      ...actsArrays(this.#actsEmbd),
      ...actsArrays(this.#actsFf),
    ].reduce((n, a) => n + a.byteLength, 0);
    const mapped = new Set<ArrayBufferLike>(
      this.#file.tensors.map((t) => this.#file.tensorData(t.name).buffer),
    );
    const owned = (a: { buffer: ArrayBufferLike; byteLength: number } | undefined) =>
      a && !mapped.has(a.buffer) ? a.byteLength : 0;
    let weightCopies = owned(this.#outNorm);
    for (const lin of [this.#head, ...this.#blocks.flatMap((b) => linearsOf(b))]) {
      weightCopies += owned(lin.data) + owned(lin.f32) + owned(lin.i8?.w) + owned(lin.i8?.scale) +
        owned(lin.i8?.sum);
    }
    for (const b of this.#blocks) {
      for (const n of [b.attnNorm, b.ffnNorm, b.attnSubNorm, b.ffnSubNorm]) {
        weightCopies += owned(n);
      }
    }
    return { kvCache, arena, logits: this.#logits.byteLength, weightCopies };
  }

  /**
   * Makes the KV caches and the arena resident now (their pages are otherwise committed only as
   * tokens reach them), so the memory a run will need is held, and measured, from the start —
   * as llama.cpp does when it clears its KV buffer. Only with an empty cache (position 0 in every
   * slot); returns the bytes committed.
   *
   * @example
   * ```ts ignore
   * model.commitMemory(); // e.g. 346 MB for the 2B shape at 2048 tokens, f32 KV
   * ```
   */
  commitMemory(): number {
    if (this.position !== 0 || this.#slotPos.some((p) => p !== 0)) {
      throw new ModelConfigError("BUSY", "commitMemory needs an empty KV cache (call reset())");
    }
    let bytes = 0;
    const zero = (a: { fill(v: number): unknown; byteLength: number }) => {
      a.fill(0);
      bytes += a.byteLength;
    };
    for (const slot of this.#slots) [...slot.k, ...slot.v].forEach(zero);
    [...this.#scratch(), this.#logits].forEach(zero);
    for (const a of [this.#actsEmbd, this.#actsFf]) {
      actsArrays(a).forEach(zero);
      a.rows =
        a.q8Rows =
        a.q81Rows =
        a.q8kRows =
          0;
    }
    return bytes;
  }

  /**
   * Prepares loaded weights for inference — no reopen, no copy — and, unless `threads`
   * (or `BITLOAD_THREADS`) and `BITLOAD_SIMD` fix them, tunes the kernels
   * ({@link InferenceModel.tuneKernels}). `owner` is closed with the model.
   *
   * @example
   * ```ts ignore
   * import { openModelFile } from "../load/open.ts";
   * import { InferenceModel } from "./model.ts";
   * using file = await openModelFile("model.gguf");
   * using model = InferenceModel.fromWeights(file, { threads: 2 });
   * const logits = model.forward([1, 2, 3]);
   * ```
   */
  static fromWeights(
    weights: ModelWeights,
    options: LoadModelOptions = {},
    owner?: Disposable,
  ): InferenceModel {
    const model = new InferenceModel(weights, options, owner);
    const threadsFixed = threadsWanted(options) !== undefined;
    const levelFixed = !!(readEnv("BITLOAD_SIMD") || readEnv("BITLOAD_KERNEL"));
    if (!threadsFixed || !levelFixed) {
      model.tuneKernels({ levels: !levelFixed, threads: !threadsFixed });
    }
    return model;
  }

  /**
   * Opens a GGUF file (memory-mapped, opened once) and prepares it for inference; the model owns
   * the file and closes it. Shorthand for `openGguf(path)` → `load()` → `engine()` when only the
   * forward pass is wanted.
   *
   * @example
   * ```ts ignore
   * import { InferenceModel } from "./model.ts";
   * using model = await InferenceModel.fromGguf("model.gguf", { threads: 2 });
   * const logits = model.forward([1, 2, 3]); // logits of the last token
   * ```
   */
  static async fromGguf(path: string, options: LoadModelOptions = {}): Promise<InferenceModel> {
    const file = await openModelFile(path);
    try {
      return InferenceModel.fromWeights(file, options, file);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /**
   * The adaptive kernel manager: times one-token decode steps on this model's real shapes for
   * every available SIMD level (scalar, AVX2, AVX-512 VNNI) and thread count (1 and all hardware
   * threads), interleaved over a few rounds ({@link timeInterleaved}), keeps the fastest — the best
   * level unless another wins by more than `MIN_MARGIN` ({@link chooseTimed}) — and resets the KV
   * cache. Prompts are timed apart: the
   * first block's projections on a {@link PROMPT_TUNE_TOKENS}-token batch at each SIMD level (at
   * the chosen thread count); when another level wins there, batches run at it
   * ({@link InferenceModel.promptLevel}). When both are tuned, the choice
   * is cached per machine and model shape (`kernel-choices.json` in the cache directory) and
   * reused by later loads without timing. `BITLOAD_SIMD` fixes the level, `BITLOAD_THREADS` or
   * the `threads` option the thread count. The choice shows in {@link InferenceModel.kernelInfo}.
   *
   * @example
   * ```ts ignore
   * model.tuneKernels();
   * console.log(model.kernelInfo); // e.g. "avx512 × 2 threads (tuned: 31.2 ms/token)"
   * ```
   */
  tuneKernels(options: { levels?: boolean; threads?: boolean; useCache?: boolean } = {}): void {
    const native = this.#native;
    if (!native) return;
    const tuneLevels = options.levels ?? true;
    const tuneThreads = options.threads ?? true;
    const cacheable = tuneLevels && tuneThreads && options.useCache !== false;
    const projection = this.#file.tensors.find((t) => /attn_q\.weight$/.test(t.name));
    const key = kernelChoiceKey(this.config, projection?.type.name ?? "?");
    const describe = (how: string) =>
      `${native.level} × ${this.threads} thread${this.threads === 1 ? "" : "s"} (${how})`;
    const env = kernelEnvironment();
    const cached = cacheable ? cachedKernelChoice(key) : undefined;
    const doubt = cacheable
      ? cached && !native.levels.includes(cached.level)
        ? "the stored level is not available"
        : choiceDoubt(cached, env) ??
          (cached?.promptLevel === undefined ? "the stored choice has no prompt level" : null)
      : null;
    if (cacheable && cached && doubt === null) {
      native.setLevel(cached.level);
      this.threads = native.setThreads(cached.threads);
      this.promptLevel = cached.promptLevel && cached.promptLevel !== cached.level
        ? cached.promptLevel
        : null;
      this.kernelInfo = describe(`cached choice, ${cached.msPerToken.toFixed(1)} ms/token`) +
        this.#promptInfo();
      return;
    }
    // A fixed level (BITLOAD_SIMD caps the best one) is the one the library starts at: keep it.
    const levels = tuneLevels ? native.levels : [native.level];
    const hw = navigator.hardwareConcurrency ?? 1;
    const threadCounts = tuneThreads ? [...new Set([1, hw])] : [this.threads];
    this.reset();
    // one-token steps: every (level, threads) pair, interleaved; the best level unless another
    // wins by more than MIN_MARGIN (one noisy sample cannot pin a slower level)
    const variants = levels.flatMap((level) => threadCounts.map((threads) => ({ level, threads })));
    const timed = timeInterleaved(variants, (v) => {
      native.setLevel(v.level);
      native.setThreads(v.threads);
      if (this.position >= this.contextLength) this.reset(); // a short context: start it again
      const t0 = performance.now();
      this.forward([0]);
      return performance.now() - t0;
    });
    const best = levels[levels.length - 1];
    const { choice: decode, runnerUp } = chooseTimed(timed, (v) => v.level === best);
    const choice = { ...decode.variant, ms: decode.ms, spreadMs: decode.spreadMs };
    this.reset();
    this.threads = native.setThreads(choice.threads);
    // prompts: the ternary/int8 products of a batch are timed on their own at each SIMD level,
    // the decode level kept unless another wins by more than MIN_MARGIN
    const timedPrompt = tuneLevels ? this.#timePromptLevels(levels) : [];
    const prompt = timedPrompt.length
      ? [chooseTimed(timedPrompt, (l) => l === choice.level).choice]
      : [];
    native.setLevel(choice.level);
    this.promptLevel = prompt[0] && prompt[0].variant !== choice.level ? prompt[0].variant : null;
    const retuned = cached && doubt !== "no stored choice" ? `re-tuned: ${doubt}; ` : "";
    this.kernelInfo = describe(`${retuned}tuned: ${choice.ms.toFixed(1)} ms/token`) +
      this.#promptInfo();
    if (cacheable) {
      saveKernelChoice(key, {
        level: choice.level,
        promptLevel: prompt[0]?.variant ?? choice.level,
        ...(prompt[0] ? { promptMs: prompt[0].ms } : {}),
        threads: this.threads,
        msPerToken: choice.ms,
        spreadMs: choice.spreadMs,
        ...(runnerUp ? { runnerUpMs: runnerUp.ms, runnerUpSpreadMs: runnerUp.spreadMs } : {}),
        abi: env.abi,
        cpuFlags: env.cpuFlags,
        retunes: cached && doubt?.startsWith("the winner is within")
          ? (cached.retunes ?? 0) + 1
          : 0,
      });
    }
  }

  /** The kernelInfo suffix naming the prompt level, when it differs from the one-token level. */
  #promptInfo(): string {
    return this.promptLevel ? `; prompts at ${this.promptLevel}` : "";
  }

  /**
   * Times the projections of the first block (all but the attention output) on a
   * {@link PROMPT_TUNE_TOKENS}-token batch at each level of `levels` (scalar left out when a SIMD
   * level is there: it is an order of magnitude slower on batches and would take seconds), at the
   * thread count in use, by {@link timeInterleaved} (the one-token steps are timed the same way:
   * interleaved rounds after a warm-up one, each level's fastest sample kept — descheduling and
   * other jobs only ever add time, and a median of 3 once picked a 3× slower level); fastest
   * first. Uses the arena's buffers (their contents are scratch between forward calls).
   */
  #timePromptLevels(levels: readonly InferLevel[]): TimedVariant<InferLevel>[] {
    const native = this.#native;
    const n = Math.min(PROMPT_TUNE_TOKENS, this.maxBatch);
    const candidates = levels.length > 1 ? levels.filter((l) => l !== "scalar") : [];
    if (!native || n < 2 || candidates.length < 2 || this.#blocks.length === 0) return [];
    const c = this.config;
    const blk = this.#blocks[0];
    const h = this.#h.subarray(0, n * c.nEmbd), g = this.#g.subarray(0, n * c.nFf);
    for (let i = 0; i < h.length; i++) h[i] = Math.sin(i * 0.37);
    for (let i = 0; i < g.length; i++) g[i] = Math.cos(i * 0.11);
    const once = () => {
      staleActs(this.#actsEmbd);
      this.#matmul(blk.wq, h, n, this.#q, this.#actsEmbd);
      this.#matmul(blk.wk, h, n, this.#k, this.#actsEmbd);
      this.#matmul(blk.wv, h, n, this.#v, this.#actsEmbd);
      this.#matmul(blk.gate, h, n, this.#u, this.#actsEmbd);
      this.#matmul(blk.up, h, n, this.#u, this.#actsEmbd);
      staleActs(this.#actsFf);
      this.#matmul(blk.down, g, n, this.#o, this.#actsFf);
    };
    const timed = timeInterleaved(candidates, (level) => {
      native.setLevel(level);
      const t0 = performance.now();
      once();
      return performance.now() - t0;
    });
    staleActs(this.#actsEmbd);
    staleActs(this.#actsFf);
    return timed;
  }

  /**
   * Times the thread counts in `candidates` only (the SIMD level stays), keeps the fastest and
   * resets the KV cache. Returns the count chosen.
   *
   * @example
   * ```ts ignore
   * const threads = model.tuneThreads();
   * ```
   */
  tuneThreads(): number {
    this.tuneKernels({ levels: false, threads: true, useCache: false });
    return this.threads;
  }

  /**
   * Which product computes each weight type of the model's projections and LM head, e.g.
   * `{ "Q4_K": "q4_k", "Q6_K": "q6_k", "F16": "f16" }` (native kernel names, see `Linear.kernel`;
   * `"rows"` = dequantized row by row, `"f32"` = an f32 copy).
   *
   * @example
   * ```ts ignore
   * console.log(model.projectionKernels()); // { TQ2_0: "tq2", F16: "f16" }
   * ```
   */
  projectionKernels(): Record<string, string> {
    const out: Record<string, string> = {};
    const note = (lin: Linear) => {
      out[lin.type.name] = this.backend === "ref" ? "ref" : lin.kernel;
    };
    for (const b of this.#blocks) [b.wq, b.wk, b.wv, b.wo, b.gate, b.up, b.down].forEach(note);
    note(this.#head);
    return out;
  }

  /**
   * What one forward step reads besides the KV cache, as bound (the bytes each product reads:
   * stored, int8 copy or f32 copy): every projection, the LM head, every norm and the token
   * embedding tensor (one row of it per token). `decode_bytes.ts` adds them up.
   *
   * @example
   * ```ts ignore
   * const { projections, head } = model.decodeReads();
   * ```
   */
  decodeReads(): DecodeReads {
    const norms = [this.#outNorm];
    for (const b of this.#blocks) {
      for (const n of [b.attnNorm, b.attnSubNorm, b.ffnNorm, b.ffnSubNorm]) if (n) norms.push(n);
    }
    const reads = (lin: Linear) => {
      const r = productReads(lin);
      return this.backend === "ref" ? { ...r, kernel: "ref", float: true } : r;
    };
    return {
      projections: this.#blocks.flatMap((b) => linearsOf(b).map(reads)),
      head: reads(this.#head),
      norms,
      embedding: this.#embd,
    };
  }

  /** The weights the model runs on (metadata for the tokenizer, tensor infos, their bytes). */
  get weights(): ModelWeights {
    return this.#file;
  }

  /** Same as {@link InferenceModel.weights} (the name before the pipeline). */
  get file(): ModelWeights {
    return this.#file;
  }

  /**
   * Forgets the KV cache (the next {@link forward} starts at position 0).
   *
   * @example
   * ```ts ignore
   * model.reset();
   * ```
   */
  reset(): void {
    this.position = 0;
  }

  /**
   * Runs `tokens` through the model at positions `position…`, appending to the KV cache, and
   * returns the logits of the last token (a view reused by the next call). With `allLogits`, the
   * result holds `tokens.length × nVocab` logits, one row per token.
   *
   * @throws {RangeError} When the KV cache would overflow or a token id is out of range.
   *
   * @example
   * ```ts ignore
   * const last = model.forward([1, 42, 7]);
   * const next = model.forward([argmax(last)]);
   * ```
   */
  forward(tokens: readonly number[], allLogits = false): Float32Array {
    const c = this.config;
    if (this.position + tokens.length > this.contextLength) {
      throw new InferError(
        "CONTEXT_FULL",
        `The KV cache holds ${this.contextLength} tokens: cannot add ${tokens.length} at position ${this.position}`,
      );
    }
    if (allLogits && tokens.length > this.maxBatch) {
      throw new InferError(
        "BATCH_TOO_LARGE",
        `allLogits needs at most maxBatch = ${this.maxBatch} tokens per call`,
      );
    }
    // the thread count is process-wide: restore ours if another model changed it
    if (this.#native && this.#native.threads !== this.threads) {
      this.#native.setThreads(this.threads);
    }
    let out = this.#logits.subarray(0, c.nVocab);
    for (let start = 0; start < tokens.length; start += this.maxBatch) {
      const chunk = tokens.slice(start, start + this.maxBatch);
      const seg = { kv: this.#slots[0], pos0: this.position, n: chunk.length, row0: 0 };
      out = this.#forwardBatch(chunk, [seg], allLogits);
      this.position += chunk.length;
    }
    return out;
  }

  /**
   * Makes room for `count` independent sequences (continuous batching): slot 0 is the KV cache of
   * {@link forward} (its position is {@link position}); slots 1…count−1 get their own cache of
   * {@link contextLength} tokens each. Slots already allocated are kept.
   *
   * @example
   * ```ts ignore
   * model.allocateSlots(8); // 7 more KV caches of contextLength tokens
   * ```
   */
  allocateSlots(count: number): void {
    if (!Number.isSafeInteger(count) || count < 1) {
      throw new InferError("BAD_SLOT", `slot count must be a positive integer, got ${count}`);
    }
    const c = this.config;
    const size = this.contextLength * c.nHeadKv * c.headDim;
    const KvArray = this.kvType === "f16" ? Float16Array : Float32Array;
    while (this.#slots.length < count) {
      this.#slots.push({
        k: this.#blocks.map(() => new KvArray(size)),
        v: this.#blocks.map(() => new KvArray(size)),
      });
      this.#slotPos.push(0);
    }
  }

  /** Sequence slots allocated (at least 1: the cache of {@link forward}). */
  get slotCount(): number {
    return this.#slots.length;
  }

  /**
   * Tokens in a slot's KV cache.
   *
   * @example
   * ```ts ignore
   * model.slotPosition(3); // 17
   * ```
   */
  slotPosition(slot: number): number {
    this.#checkSlot(slot);
    return slot === 0 ? this.position : this.#slotPos[slot];
  }

  /**
   * Forgets a slot's KV cache (its next tokens start at position 0).
   *
   * @example
   * ```ts ignore
   * model.resetSlot(3);
   * ```
   */
  resetSlot(slot: number): void {
    this.#checkSlot(slot);
    if (slot === 0) this.position = 0;
    else this.#slotPos[slot] = 0;
  }

  #checkSlot(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.#slots.length) {
      throw new InferError(
        "BAD_SLOT",
        `slot ${slot} is not allocated (0…${this.#slots.length - 1})`,
      );
    }
  }

  /**
   * One step of several sequences together: every entry's tokens are appended to its slot's KV
   * cache, and the projections run once on all rows (the weights are read once per step for
   * every sequence); attention runs per sequence over its own slot. Returns one row of logits
   * per entry, in order (the logits of its last token; a view reused by the next call). Each
   * row's bits are the same as when that sequence runs alone: every kernel works row by row.
   *
   * @throws {RangeError} When the entries hold more than {@link maxBatch} tokens together, a slot
   * appears twice, a slot would overflow, or a token id is out of range.
   *
   * @example
   * ```ts ignore
   * model.allocateSlots(2);
   * const logits = model.forwardSlots([{ slot: 0, tokens: [1, 5] }, { slot: 1, tokens: [1] }]);
   * const first = logits.subarray(0, model.config.nVocab);
   * ```
   */
  forwardSlots(entries: readonly SlotTokens[]): Float32Array {
    const tokens: number[] = [];
    const segs: Segment[] = [];
    const seen = new Set<number>();
    for (const e of entries) {
      this.#checkSlot(e.slot);
      if (seen.has(e.slot)) {
        throw new InferError("BAD_SLOT", `slot ${e.slot} appears twice in one step`);
      }
      seen.add(e.slot);
      if (e.tokens.length === 0) throw new InferError("BAD_SLOT", `slot ${e.slot} has no tokens`);
      const pos0 = this.slotPosition(e.slot);
      if (pos0 + e.tokens.length > this.contextLength) {
        throw new InferError(
          "CONTEXT_FULL",
          `The KV cache holds ${this.contextLength} tokens: cannot add ${e.tokens.length} at position ${pos0} of slot ${e.slot}`,
        );
      }
      segs.push({ kv: this.#slots[e.slot], pos0, n: e.tokens.length, row0: tokens.length });
      for (const t of e.tokens) tokens.push(t);
    }
    if (tokens.length === 0) return this.#logits.subarray(0, 0);
    if (tokens.length > this.maxBatch) {
      throw new InferError(
        "BATCH_TOO_LARGE",
        `one step holds at most maxBatch = ${this.maxBatch} tokens, got ${tokens.length}`,
      );
    }
    if (this.#native && this.#native.threads !== this.threads) {
      this.#native.setThreads(this.threads);
    }
    const out = this.#forwardBatch(tokens, segs, false);
    for (const e of entries) {
      if (e.slot === 0) this.position += e.tokens.length;
      else this.#slotPos[e.slot] += e.tokens.length;
    }
    return out;
  }

  #matmul(lin: Linear, x: Float32Array, n: number, y: Float32Array, acts: QuantizedActs): void {
    if (this.#native) linearNative(this.#native, lin, x, n, y, acts);
    else linearRef(lin, x, n, y);
  }

  /** Products of one input: one pool job for one token (decode), else one call each. */
  #matmuls(
    lins: readonly Linear[],
    x: Float32Array,
    n: number,
    ys: readonly Float32Array[],
    acts: QuantizedActs,
  ): void {
    if (this.#native && n === 1) linearNativeFused(this.#native, lins, x, n, ys, acts);
    else lins.forEach((lin, i) => this.#matmul(lin, x, n, ys[i], acts));
  }

  /** Runs `tokens` (the rows of `segs`, back to back); logits of every row or of each segment's last. */
  #forwardBatch(tokens: number[], segs: readonly Segment[], allLogits: boolean): Float32Array {
    const native = this.#native;
    if (!native || !this.promptLevel || tokens.length < 2 || native.level === this.promptLevel) {
      return this.#forwardRows(tokens, segs, allLogits);
    }
    // a prompt batch at the level tuned for batches; the same bits at any level
    const level = native.level;
    native.setLevel(this.promptLevel);
    try {
      return this.#forwardRows(tokens, segs, allLogits);
    } finally {
      native.setLevel(level);
    }
  }

  #forwardRows(tokens: number[], segs: readonly Segment[], allLogits: boolean): Float32Array {
    const c = this.config;
    const n = tokens.length;
    const E = c.nEmbd;
    const kvDim = c.nHeadKv * c.headDim;
    const qDim = c.nHead * c.headDim;
    const x = this.#x, h = this.#h, q = this.#q, k = this.#k, v = this.#v;
    const att = this.#att, o = this.#o, g = this.#g, u = this.#u;
    for (let t = 0; t < n; t++) this.#embed(tokens[t], x.subarray(t * E, (t + 1) * E));
    for (const seg of segs) this.#ropeTables(seg.pos0, seg.n, seg.row0);
    const nat = this.#native;
    const norm = (
      v: Float32Array,
      w: Float32Array,
      rows: number,
      width: number,
      out: Float32Array,
    ) => nat ? nat.rmsNorm(v, w, rows, width, c.eps, out) : rmsNorm(v, w, rows, width, c.eps, out);
    const addInto = (a: Float32Array, b: Float32Array, len: number) => {
      if (nat) nat.add(a, b, len);
      else for (let i = 0; i < len; i++) a[i] += b[i];
    };
    const half = c.nRot / 2;
    const neox = c.ropeType === "neox";

    for (let layer = 0; layer < this.#blocks.length; layer++) {
      const blk = this.#blocks[layer];
      norm(x, blk.attnNorm, n, E, h);
      staleActs(this.#actsEmbd);
      this.#matmuls([blk.wq, blk.wk, blk.wv], h, n, [q, k, v], this.#actsEmbd);
      if (nat) {
        nat.rope(q, n, c.nHead, c.headDim, half, this.#cos, this.#sin, neox);
        nat.rope(k, n, c.nHeadKv, c.headDim, half, this.#cos, this.#sin, neox);
      } else {
        for (let t = 0; t < n; t++) {
          this.#rope(q.subarray(t * qDim, (t + 1) * qDim), c.nHead, t);
          this.#rope(k.subarray(t * kvDim, (t + 1) * kvDim), c.nHeadKv, t);
        }
      }
      // each sequence's K and V rows are contiguous: one copy each into its cache
      for (const seg of segs) {
        const kc = seg.kv.k[layer], vc = seg.kv.v[layer];
        const r0 = seg.row0, r1 = seg.row0 + seg.n;
        kc.set(k.subarray(r0 * kvDim, r1 * kvDim), seg.pos0 * kvDim);
        vc.set(v.subarray(r0 * kvDim, r1 * kvDim), seg.pos0 * kvDim);
        const qs = q.subarray(r0 * qDim, r1 * qDim);
        const as = att.subarray(r0 * qDim, r1 * qDim);
        if (this.#native && this.#ggmlDecode && n === 1) {
          this.#native.attentionDecode(qs, kc, vc, this.#shape, seg.pos0 + 1, as, this.#scores);
        } else if (this.#native) {
          this.#native.attentionBatch(qs, kc, vc, this.#shape, seg.pos0, seg.n, as, this.#scores);
        } else {
          for (let t = 0; t < seg.n; t++) {
            this.#attention(
              qs.subarray(t * qDim, (t + 1) * qDim),
              kc,
              vc,
              seg.pos0 + t + 1,
              as.subarray(t * qDim, (t + 1) * qDim),
            );
          }
        }
      }
      let attnIn = att;
      if (blk.attnSubNorm) {
        norm(att, blk.attnSubNorm, n, qDim, h);
        attnIn = h;
      }
      staleActs(this.#actsEmbd);
      this.#matmul(blk.wo, attnIn, n, o, this.#actsEmbd);
      addInto(x, o, n * E);

      norm(x, blk.ffnNorm, n, E, h);
      staleActs(this.#actsEmbd);
      this.#matmuls([blk.gate, blk.up], h, n, [g, u], this.#actsEmbd);
      const F = n * c.nFf;
      if (this.#native) {
        this.#native.ffnAct(g, u, F, c.activation === "relu2" ? "relu2" : "swiglu");
      } else if (c.activation === "relu2") {
        for (let i = 0; i < F; i++) {
          const a = g[i] > 0 ? g[i] : 0;
          g[i] = a * a * u[i];
        }
      } else {
        for (let i = 0; i < F; i++) {
          const a = g[i];
          g[i] = (a / (1 + Math.exp(-a))) * u[i];
        }
      }
      if (blk.ffnSubNorm) norm(g, blk.ffnSubNorm, n, c.nFf, g);
      staleActs(this.#actsFf);
      this.#matmul(blk.down, g, n, o, this.#actsFf);
      addInto(x, o, n * E);
    }
    let rows: number;
    if (allLogits) {
      rows = n;
      norm(x.subarray(0, n * E), this.#outNorm, n, E, h);
    } else {
      // the last row of each sequence, gathered into h (RMSNorm works row by row)
      rows = segs.length;
      segs.forEach((seg, i) => {
        const last = seg.row0 + seg.n - 1;
        norm(x.subarray(last * E, (last + 1) * E), this.#outNorm, 1, E, h.subarray(i * E));
      });
    }
    const logits = this.#logits.subarray(0, rows * c.nVocab);
    staleActs(this.#actsEmbd);
    if (this.#native && this.#ggmlDecode && n === 1 && this.#head.kernel === "f16") {
      const head = this.#head;
      this.#native.matmulF16Decode(head.data, head.rows, head.cols, h, rows, logits, head.name);
    } else this.#matmul(this.#head, h, rows, logits, this.#actsEmbd);
    return logits;
  }

  #embed(token: number, out: Float32Array): void {
    const c = this.config;
    if (!Number.isInteger(token) || token < 0 || token >= c.nVocab) {
      throw new InferError(
        "BAD_TOKEN",
        `Token id ${token} is outside the vocabulary (0…${c.nVocab - 1})`,
      );
    }
    const info = this.#embd;
    const data = this.#file.tensorData(info.name);
    const E = c.nEmbd;
    if (info.type.name === "F32") {
      const dv = new DataView(data.buffer, data.byteOffset + token * E * 4, E * 4);
      for (let i = 0; i < E; i++) out[i] = dv.getFloat32(i * 4, true);
      return;
    }
    if (info.type.name === "F16") {
      const dv = new DataView(data.buffer, data.byteOffset + token * E * 2, E * 2);
      for (let i = 0; i < E; i++) out[i] = dv.getFloat16(i * 2, true);
      return;
    }
    const rowBytes = (E / info.type.blockSize) * info.type.typeSize;
    dequantize(info.type, data.subarray(token * rowBytes, (token + 1) * rowBytes), this.#embRow);
    out.set(this.#embRow);
  }

  /**
   * cos/sin of every rotary frequency at positions pos0…pos0+n-1 (row row0 + t for token t), as
   * ggml's `ggml_rope_cache_init`: theta starts at the position and is multiplied by
   * `powf(base, -2 / n_rot)` in f32 per pair. Native: the C library's powf/cosf/sinf, as ggml;
   * reference: the same recurrence with the correctly rounded `Math` functions.
   */
  #ropeTables(pos0: number, n: number, row0 = 0): void {
    const half = this.config.nRot / 2;
    const nat = this.#native;
    if (nat) {
      nat.ropeCache(
        pos0,
        n,
        half,
        this.#thetaScale,
        this.#cos.subarray(row0 * half),
        this.#sin.subarray(row0 * half),
      );
      return;
    }
    const f = Math.fround;
    for (let t = 0; t < n; t++) {
      const r = row0 + t;
      let theta = f(pos0 + t);
      for (let i = 0; i < half; i++) {
        this.#cos[r * half + i] = Math.cos(theta);
        this.#sin[r * half + i] = Math.sin(theta);
        theta = f(theta * this.#thetaScale);
      }
    }
  }

  /** TypeScript twin of `bl_rope` for token `t`'s row (f32 fma, see {@link fmaF32}). */
  #rope(vec: Float32Array, heads: number, t: number): void {
    const c = this.config;
    const half = c.nRot / 2;
    const cos = this.#cos.subarray(t * half), sin = this.#sin.subarray(t * half);
    const neox = c.ropeType === "neox";
    for (let hd = 0; hd < heads; hd++) {
      const b = hd * c.headDim;
      for (let i = 0; i < half; i++) {
        const i0 = neox ? b + i : b + 2 * i, i1 = neox ? b + i + half : b + 2 * i + 1;
        const x0 = vec[i0], x1 = vec[i1];
        vec[i0] = fmaF32(x0, cos[i], -Math.fround(x1 * sin[i]));
        vec[i1] = fmaF32(x0, sin[i], Math.fround(x1 * cos[i]));
      }
    }
  }

  #attention(
    qt: Float32Array,
    kCache: Float32Array | Float16Array,
    vCache: Float32Array | Float16Array,
    npos: number,
    out: Float32Array,
  ): void {
    const c = this.config;
    const scale = 1 / Math.sqrt(c.headDim);
    if (this.#native && kCache instanceof Float32Array && vCache instanceof Float32Array) {
      this.#native.attention(qt, kCache, vCache, this.#shape, npos, out, this.#scores);
      return;
    }
    const D = c.headDim;
    const group = c.nHead / c.nHeadKv;
    const stride = c.nHeadKv * D;
    const sc = this.#scores;
    for (let hd = 0; hd < c.nHead; hd++) {
      const kvh = Math.floor(hd / group);
      let mx = -Infinity;
      for (let t = 0; t < npos; t++) {
        let s = 0;
        const ko = t * stride + kvh * D;
        for (let d = 0; d < D; d++) s += qt[hd * D + d] * kCache[ko + d];
        s *= scale;
        sc[t] = s;
        if (s > mx) mx = s;
      }
      let sum = 0;
      for (let t = 0; t < npos; t++) {
        const e = Math.exp(sc[t] - mx);
        sc[t] = e;
        sum += e;
      }
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let t = 0; t < npos; t++) acc += sc[t] * vCache[t * stride + kvh * D + d];
        out[hd * D + d] = acc / sum;
      }
    }
  }

  /** Releases the file when the model opened it ({@link InferenceModel.fromGguf}). */
  close(): void {
    this.#owner?.[Symbol.dispose]();
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * `fmaf(a, b, c)` for f32 values: `a * b + c` rounded once to f32. The product of two f32 values
 * is exact in f64; the f64 sum is then corrected for its rounding error so that the one rounding
 * to f32 is the correct one (ties included).
 *
 * @example
 * ```ts
 * import { fmaF32 } from "./model.ts";
 * fmaF32(3, 4, 5); // 17
 * ```
 */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b; // exact: 24 + 24 significant bits
  const s = p + c;
  // TwoSum: s + err === p + c exactly
  const bb = s - p;
  const err = (p - (s - bb)) + (c - bb);
  const r = Math.fround(s);
  if (err === 0 || r === s) return r;
  // s is not an f32: the rounding of s decides unless s sits exactly halfway between two f32s
  const other = s > r ? nextF32(r, 1) : nextF32(r, -1);
  if (s - r !== other - s) return r;
  // halfway in f64: the sign of err picks the side
  return (err > 0) === (other > r) ? other : r;
}

function nextF32(x: number, dir: 1 | -1): number {
  const buf = new Float32Array([x]);
  const bits = new Int32Array(buf.buffer);
  if (x === 0) {
    bits[0] = dir > 0 ? 1 : -2147483647;
    return buf[0];
  }
  bits[0] += (x > 0) === (dir > 0) ? 1 : -1;
  return buf[0];
}

/**
 * RMSNorm of `rows` rows of `width`: `out = x / sqrt(mean(x²) + eps) * w` (may alias `x`), in
 * ggml's arithmetic (`ggml_compute_forward_rms_norm_f32` then `ggml_mul`): f32 squares summed in
 * f64, the mean rounded to f32, `scale = 1 / sqrtf(mean + eps)` in f32, then `x * scale * w` as
 * two f32 products. The native `bl_rms_norm` gives the same bits.
 *
 * @example
 * ```ts
 * import { rmsNorm } from "./model.ts";
 * const out = new Float32Array(2);
 * rmsNorm(Float32Array.of(3, 4), Float32Array.of(1, 1), 1, 2, 0, out);
 * // out ≈ [0.8485, 1.1314]
 * ```
 */
export function rmsNorm(
  x: Float32Array,
  w: Float32Array,
  rows: number,
  width: number,
  eps: number,
  out: Float32Array,
): void {
  const f = Math.fround;
  const epsf = f(eps);
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let ss = 0;
    for (let i = 0; i < width; i++) ss += f(x[o + i] * x[o + i]);
    const mean = f(ss / width);
    const scale = f(1 / f(Math.sqrt(f(mean + epsf))));
    for (let i = 0; i < width; i++) out[o + i] = f(x[o + i] * scale) * w[i];
  }
}

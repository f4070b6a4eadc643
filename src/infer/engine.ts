/**
 * The inference engine: text in, text out, on a model's loaded weights. It holds the
 * {@link InferenceModel} (the forward pass with its KV cache) and the model's own tokenizer,
 * and offers `complete` (one result) and `stream` (text pieces as they come). Built by the
 * pipeline's `loaded.engine()`; the weights are the loaded tensors, used in place.
 *
 * @module
 */

import { Tokenizer, type TokenizerOptions } from "../tokenizer/tokenizer.ts";
import { type LogitsTable, teacherForcedLogits } from "./logits.ts";
import { ModelConfigError } from "./errors.ts";
import { type GenerateOptions, type GenerateResult, generateSteps } from "./generate.ts";
import { InferenceModel, type LoadModelOptions, type ModelWeights } from "./model.ts";

/** Options of an engine: the kernels, threads, KV cache and context of its model, and its tokenizer. */
export interface EngineOptions extends LoadModelOptions {
  /** Options of the model's tokenizer (e.g. `pre`, or `warn` to collect its warnings). */
  tokenizer?: TokenizerOptions;
}

/** Options of {@link Engine.complete} and {@link Engine.stream}. */
export interface CompleteOptions extends Omit<GenerateOptions, "onToken"> {
  /** Stops generation between tokens; the promise rejects (the stream throws) with its reason. */
  signal?: AbortSignal;
  /** Called with each generated token id and its text piece (`""` while a character is split). */
  onToken?: (id: number, piece: string) => void;
}

/** Timings and counts of one completion: everything {@link GenerateResult} holds but the ids. */
export type CompletionStats = Omit<GenerateResult, "tokens">;

/** What {@link Engine.complete} returns. */
export interface Completion {
  /** The generated text (special tokens skipped); without a tokenizer, the ids as `"<id> "`. */
  text: string;
  /** Generated token ids (without the prompt). */
  tokens: number[];
  /** Prompt and generation timings, and why generation stopped. */
  stats: CompletionStats;
}

/**
 * Text generation on a loaded model.
 *
 * @example
 * ```ts ignore
 * import { openGguf } from "@bitload/bitload";
 * await using model = await openGguf("model.gguf");
 * const loaded = await model.load();
 * using engine = await loaded.engine({ threads: 2 });
 * const out = await engine.complete("Hello", { maxTokens: 16, temperature: 0 });
 * console.log(out.text, out.stats.generationTokensPerSecond);
 * for await (const piece of engine.stream("Hello", { maxTokens: 16 })) console.log(piece);
 * ```
 */
export class Engine implements Disposable {
  /** The forward pass (KV cache, logits); other layers build on it (batching, logit checks). */
  readonly model: InferenceModel;
  /** The model's own tokenizer, or `null` when its metadata has none usable. */
  readonly tokenizer: Tokenizer | null;
  /** Why {@link Engine.tokenizer} is `null` (empty when it is not). */
  readonly tokenizerError: string;
  /** Stats of the last completion or stream, once it ended. */
  lastStats: CompletionStats | undefined;
  #busy = false;

  /** Wraps a prepared model; see {@link Engine.create}. */
  constructor(model: InferenceModel, tokenizerOptions: TokenizerOptions = {}) {
    this.model = model;
    let tokenizer: Tokenizer | null = null;
    let reason = "";
    try {
      tokenizer = Tokenizer.fromMetadata(model.weights.metadata, tokenizerOptions);
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
    }
    this.tokenizer = tokenizer;
    this.tokenizerError = reason;
  }

  /**
   * Prepares `weights` (a loaded model's tensors, used in place) for inference: backend,
   * bound weights, buffers, kernel tuning.
   *
   * @example
   * ```ts ignore
   * import { Engine } from "./engine.ts";
   * using engine = Engine.create(loaded, { threads: 2 });
   * ```
   */
  static create(weights: ModelWeights, options: EngineOptions = {}): Engine {
    const { tokenizer, ...modelOptions } = options;
    const model = InferenceModel.fromWeights(weights, modelOptions);
    try {
      return new Engine(model, tokenizer);
    } catch (e) {
      model.close();
      throw e;
    }
  }

  /**
   * The prompt's token ids: text through the tokenizer (BOS added as the vocabulary asks), or
   * ids as given.
   *
   * @throws {ModelConfigError} `NO_TOKENIZER` for text when the model has no tokenizer.
   */
  encode(prompt: string | readonly number[]): number[] {
    if (typeof prompt !== "string") return [...prompt];
    if (!this.tokenizer) {
      throw new ModelConfigError(
        "NO_TOKENIZER",
        `Cannot tokenize the prompt (${this.tokenizerError}); pass token ids instead`,
      );
    }
    return Array.from(this.tokenizer.encode(prompt));
  }

  /** The text of `ids` (special tokens skipped); `""` without a tokenizer. */
  decode(ids: readonly number[]): string {
    return this.tokenizer ? this.tokenizer.decode(ids, { skipSpecial: true }) : "";
  }

  /** Forgets the KV cache: the next completion starts from an empty context. */
  reset(): void {
    this.model.reset();
  }

  /**
   * The teacher-forced logits of every position of `tokens` (one row per token, predicting the
   * next one), from an empty context; the KV cache holds the tokens afterwards. Compare engines
   * with `compareLogits` (`bitload logits` / `compare-logits` on the command line).
   *
   * @example
   * ```ts ignore
   * const { rows, vocab, data } = engine.logits([1, 2, 3]);
   * ```
   */
  logits(tokens: readonly number[]): LogitsTable {
    return teacherForcedLogits(this.model, tokens);
  }

  /**
   * Generates a completion of `prompt` (text, or token ids) and returns its text, token ids and
   * stats. Greedy unless `temperature > 0`.
   *
   * @example
   * ```ts ignore
   * const { text, tokens, stats } = await engine.complete("Hello", { maxTokens: 16 });
   * ```
   */
  async complete(
    prompt: string | readonly number[],
    options: CompleteOptions = {},
  ): Promise<Completion> {
    const tokens: number[] = [];
    let text = "";
    for await (const piece of this.#pieces(prompt, options, tokens)) text += piece;
    return { text, tokens, stats: this.lastStats! };
  }

  /**
   * Generates a completion of `prompt`, yielding its text piece by piece as tokens come
   * (pieces never split a UTF-8 character; without a tokenizer, each id as `"<id> "`).
   *
   * @example
   * ```ts ignore
   * for await (const piece of engine.stream("Hello", { maxTokens: 16 })) {
   *   Deno.stdout.writeSync(new TextEncoder().encode(piece));
   * }
   * ```
   */
  stream(
    prompt: string | readonly number[],
    options: CompleteOptions = {},
  ): AsyncIterable<string> {
    return this.#pieces(prompt, options, []);
  }

  async *#pieces(
    prompt: string | readonly number[],
    options: CompleteOptions,
    tokens: number[],
  ): AsyncGenerator<string> {
    options.signal?.throwIfAborted();
    if (this.#busy) {
      throw new ModelConfigError(
        "BUSY",
        "A completion is already running on this engine (one KV cache); await it first",
      );
    }
    this.lastStats = undefined;
    const ids = this.encode(prompt);
    this.#busy = true;
    try {
      yield* this.#generate(ids, options, tokens);
    } finally {
      this.#busy = false;
    }
  }

  async *#generate(
    ids: number[],
    options: CompleteOptions,
    tokens: number[],
  ): AsyncGenerator<string> {
    const { signal, onToken, ...generate } = options;
    const decoder = new TextDecoder();
    const tok = this.tokenizer;
    const steps = generateSteps(this.model, ids, generate);
    for (;;) {
      const step = steps.next();
      if (step.done) {
        const { tokens: _, ...stats } = step.value;
        this.lastStats = stats;
        const tail = tok ? decoder.decode() : "";
        if (tail) yield tail;
        return;
      }
      tokens.push(step.value);
      const piece = tok
        ? decoder.decode(tok.decodeBytes([step.value], { skipSpecial: true }), { stream: true })
        : `${step.value} `;
      onToken?.(step.value, piece);
      if (piece) yield piece;
      await Promise.resolve();
      signal?.throwIfAborted();
    }
  }

  /** Releases the model's buffers (the loaded weights stay with their owner). */
  close(): void {
    this.model.close();
  }

  /** Same as {@link Engine.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * `generate`: prompt processing and token-by-token generation with timings.
 *
 * @module
 */

import { checkMappedFiles } from "../gguf/mapped_files.ts";
import { InferError } from "./errors.ts";
import type { InferenceModel } from "./model.ts";
import { makeSampler, type SamplingOptions } from "./sample.ts";

/** Options of {@link generate}. */
export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most. Default 32. */
  maxTokens?: number;
  /** Stop at the model's EOS token. Default true. */
  stopOnEos?: boolean;
  /** Called with each generated token id as soon as it is known (streaming). */
  onToken?: (id: number) => void;
  /** Keep the KV cache from previous calls (continue a conversation). Default false. */
  keepCache?: boolean;
}

/** What {@link generate} returns. */
export interface GenerateResult {
  /** Generated token ids (without the prompt). */
  tokens: number[];
  /** Prompt tokens processed. */
  promptTokens: number;
  /** Milliseconds for the prompt (one batched forward pass per `maxBatch` tokens). */
  promptMs: number;
  /** Milliseconds from the start to the first generated token. */
  timeToFirstTokenMs: number;
  /** Milliseconds spent generating tokens after the first. */
  generationMs: number;
  /** Prompt tokens per second. */
  promptTokensPerSecond: number;
  /** Generated tokens per second (after the first token). */
  generationTokensPerSecond: number;
  /** Why generation stopped. */
  stop: "eos" | "length" | "context";
}

/**
 * Runs the prompt through `model`, then samples up to `maxTokens` tokens.
 *
 * @example
 * ```ts ignore
 * import { InferenceModel } from "./model.ts";
 * import { generate } from "./generate.ts";
 * using model = await InferenceModel.fromGguf("tiny.gguf");
 * const result = generate(model, [1, 5, 9], { maxTokens: 8, onToken: (id) => console.log(id) });
 * console.log(result.tokens, result.generationTokensPerSecond);
 * ```
 */
export function generate(
  model: InferenceModel,
  promptIds: readonly number[],
  options: GenerateOptions = {},
): GenerateResult {
  const steps = generateSteps(model, promptIds, options);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    options.onToken?.(step.value);
  }
}

/**
 * {@link generate} one token at a time: yields each generated token id as soon as it is
 * sampled, and returns the {@link GenerateResult} when generation stops (time the consumer
 * spends between tokens counts as generation time, as `onToken` does). `options.onToken` is
 * not called; the caller sees every id.
 *
 * @example
 * ```ts ignore
 * import { generateSteps } from "./generate.ts";
 * const steps = generateSteps(model, [1, 5, 9], { maxTokens: 8 });
 * for (let s = steps.next(); !s.done; s = steps.next()) console.log(s.value);
 * ```
 */
export function* generateSteps(
  model: InferenceModel,
  promptIds: readonly number[],
  options: GenerateOptions = {},
): Generator<number, GenerateResult, void> {
  if (promptIds.length === 0) {
    throw new InferError("BAD_PROMPT", "The prompt must hold at least one token");
  }
  const maxTokens = options.maxTokens ?? 32;
  const stopOnEos = options.stopOnEos ?? true;
  const eos = model.config.eosId;
  const sampler = makeSampler(options);
  if (!options.keepCache) model.reset();
  const t0 = performance.now();
  let logits = model.forward(promptIds);
  checkMappedFiles(); // a mapped weight file that shrank reads as zeros: stop (FILE_CHANGED)
  const tPrompt = performance.now();
  const tokens: number[] = [];
  let stop: GenerateResult["stop"] = "length";
  let tFirst = tPrompt;
  for (let i = 0; i < maxTokens; i++) {
    const id = sampler.sample(logits);
    if (i === 0) tFirst = performance.now();
    tokens.push(id);
    yield id;
    if (stopOnEos && id === eos) {
      stop = "eos";
      break;
    }
    if (i === maxTokens - 1) break;
    if (model.position >= model.contextLength) {
      stop = "context";
      break;
    }
    logits = model.forward([id]);
    checkMappedFiles();
  }
  const tEnd = performance.now();
  const promptMs = tPrompt - t0;
  const generationMs = tEnd - tFirst;
  const genCount = Math.max(0, tokens.length - 1);
  return {
    tokens,
    promptTokens: promptIds.length,
    promptMs,
    timeToFirstTokenMs: tFirst - t0,
    generationMs,
    promptTokensPerSecond: promptMs > 0 ? promptIds.length / (promptMs / 1000) : 0,
    generationTokensPerSecond: generationMs > 0 ? genCount / (generationMs / 1000) : 0,
    stop,
  };
}

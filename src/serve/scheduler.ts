/**
 * Continuous batching: a scheduler loop over N sequence slots of one model. Each step advances
 * every active sequence together (one `forwardSlots` call: the weights are read once for all of
 * them): running sequences add their last token, newcomers add a chunk of their prompt within
 * the step's token budget, so running streams keep flowing while a long prompt is processed.
 * New requests join between steps; a cancelled sequence (client gone) leaves at the next step.
 * Between steps the loop yields to the event loop (`setImmediate`) so HTTP I/O goes on.
 *
 * @module
 */

import { checkMappedFiles } from "../gguf/mapped_files.ts";
import { InferError } from "../infer/errors.ts";
import { setImmediate } from "node:timers";
import type { SlotTokens } from "../infer/model.ts";
import type { Sampler } from "../infer/sample.ts";

/** What the scheduler needs of a model: slots, one batched step, and a slot reset. */
export interface BatchEngine {
  /** Vocabulary size (width of a logits row). */
  readonly nVocab: number;
  /** KV cache length of each slot. */
  readonly contextLength: number;
  /** Most tokens in one step. */
  readonly maxBatch: number;
  /** Sequence slots. */
  readonly slots: number;
  /** One step; one logits row per entry (its last token), a view valid until the next step. */
  step(entries: readonly SlotTokens[]): Float32Array;
  /** Forgets a slot's cache. */
  resetSlot(slot: number): void;
}

/**
 * The scheduler's view of an `InferenceModel` (or anything with its multi-sequence methods).
 *
 * @example
 * ```ts ignore
 * const engine = engineFromModel(model, 4);
 * ```
 */
export function engineFromModel(
  model: {
    readonly config: { nVocab: number };
    readonly contextLength: number;
    readonly maxBatch: number;
    allocateSlots(count: number): void;
    forwardSlots(entries: readonly SlotTokens[]): Float32Array;
    resetSlot(slot: number): void;
  },
  slots: number,
): BatchEngine {
  model.allocateSlots(slots);
  return {
    nVocab: model.config.nVocab,
    contextLength: model.contextLength,
    maxBatch: model.maxBatch,
    slots,
    step: (entries) => {
      const logits = model.forwardSlots(entries);
      checkMappedFiles(); // weights from a model file that shrank read as zeros: FILE_CHANGED
      return logits;
    },
    resetSlot: (slot) => model.resetSlot(slot),
  };
}

/** Why a sequence ended. */
export type FinishReason = "stop" | "length" | "cancelled" | "error";

/** A generation request for the scheduler. */
export interface SequenceRequest {
  /** Prompt tokens (1…contextLength). */
  prompt: readonly number[];
  /** Tokens to generate at most. */
  maxTokens: number;
  /** Picks each token. */
  sampler: Sampler;
  /** Tokens that end the reply (not passed to `onToken`); empty with `ignore_eos`. */
  stopIds: ReadonlySet<number>;
  /** Each generated token; return `false` to end the sequence here (a stop string matched). */
  onToken(id: number): boolean | void;
  /** Called once at the end. */
  onEnd(reason: FinishReason, error?: unknown): void;
}

/** Timings the scheduler reports (for metrics). */
export interface SchedulerHooks {
  /** A sequence's first token, `ms` after it was submitted. */
  firstToken?(ms: number): void;
  /** A later token, `ms` after the previous one. */
  nextToken?(ms: number): void;
  /** Prompt tokens processed. */
  promptTokens?(count: number): void;
  /** A sequence ended after `generated` tokens. */
  ended?(reason: FinishReason, generated: number): void;
}

/** A submitted sequence. */
export interface SequenceHandle {
  /** Ends it at the next step (its slot is freed); `onEnd("cancelled")` unless already ended. */
  cancel(): void;
  /** Tokens generated so far. */
  readonly generated: number;
}

interface Seq {
  req: SequenceRequest;
  slot: number;
  fed: number;
  last: number;
  generated: number;
  submitted: number;
  lastTokenAt: number;
  cancelled: boolean;
  done: boolean;
}

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  /** Requests waiting for a slot at most; more are refused. Default 64. */
  maxQueue?: number;
  /** Timing hooks. */
  hooks?: SchedulerHooks;
}

const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Runs many sequences on one {@link BatchEngine}, each in its own slot. */
export class Scheduler {
  readonly #engine: BatchEngine;
  readonly #maxQueue: number;
  readonly #hooks: SchedulerHooks;
  readonly #queue: Seq[] = [];
  readonly #slots: (Seq | null)[];
  #loop: Promise<void> | null = null;
  #closed = false;

  /**
   * A scheduler over `engine`'s slots.
   *
   * @example
   * ```ts ignore
   * const scheduler = new Scheduler(engineFromModel(model, 4), { maxQueue: 16 });
   * ```
   */
  constructor(engine: BatchEngine, options: SchedulerOptions = {}) {
    this.#engine = engine;
    this.#maxQueue = options.maxQueue ?? 64;
    this.#hooks = options.hooks ?? {};
    this.#slots = new Array(engine.slots).fill(null);
  }

  /** Sequences in a slot. */
  get active(): number {
    return this.#slots.filter((s) => s !== null).length;
  }

  /** Sequences waiting for a slot. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Whether a new request would be refused (every slot busy and the queue full). */
  get full(): boolean {
    return this.#closed ||
      (this.#slots.every((s) => s !== null) && this.#queue.length >= this.#maxQueue);
  }

  /**
   * Queues a request; `null` when the queue is full or the scheduler is closed.
   *
   * @throws {RangeError} For an empty prompt, one longer than the context, or `maxTokens` < 1.
   *
   * @example
   * ```ts ignore
   * const handle = scheduler.submit({ prompt, maxTokens: 16, sampler, stopIds, onToken, onEnd });
   * ```
   */
  submit(req: SequenceRequest): SequenceHandle | null {
    if (req.prompt.length === 0) throw new InferError("BAD_PROMPT", "the prompt has no tokens");
    if (req.prompt.length > this.#engine.contextLength) {
      throw new InferError(
        "CONTEXT_FULL",
        `the prompt has ${req.prompt.length} tokens; the context holds ${this.#engine.contextLength}`,
      );
    }
    if (!(req.maxTokens >= 1)) throw new InferError("BAD_PROMPT", "maxTokens must be at least 1");
    if (this.full) return null;
    const now = performance.now();
    const seq: Seq = {
      req,
      slot: -1,
      fed: 0,
      last: -1,
      generated: 0,
      submitted: now,
      lastTokenAt: now,
      cancelled: false,
      done: false,
    };
    this.#queue.push(seq);
    this.#kick();
    return {
      cancel: () => {
        seq.cancelled = true;
        this.#kick();
      },
      get generated() {
        return seq.generated;
      },
    };
  }

  /**
   * Stops taking requests and cancels every queued and running sequence at the next step;
   * resolves when the loop has stopped.
   *
   * @example
   * ```ts ignore
   * await scheduler.close();
   * ```
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#queue) s.cancelled = true;
    for (const s of this.#slots) if (s) s.cancelled = true;
    this.#kick();
    await this.#loop;
  }

  /** Resolves when nothing is queued or running. */
  async idle(): Promise<void> {
    while (this.#loop) await this.#loop;
  }

  #kick(): void {
    if (this.#loop) return;
    this.#loop = this.#run().finally(() => {
      this.#loop = null;
      // a request submitted while the loop was finishing
      if (this.#queue.length > 0 || this.active > 0) this.#kick();
    });
  }

  #end(seq: Seq, reason: FinishReason, error?: unknown): void {
    if (seq.done) return;
    seq.done = true;
    if (seq.slot >= 0) this.#slots[seq.slot] = null;
    this.#hooks.ended?.(reason, seq.generated);
    try {
      seq.req.onEnd(reason, error);
    } catch { /* a consumer's failure must not stop the loop */ }
  }

  async #run(): Promise<void> {
    const engine = this.#engine;
    for (;;) {
      // 1. cancelled sequences leave; free slots take queued requests
      for (const s of this.#slots) if (s?.cancelled) this.#end(s, "cancelled");
      for (let i = this.#queue.length - 1; i >= 0; i--) {
        if (this.#queue[i].cancelled) this.#end(this.#queue.splice(i, 1)[0], "cancelled");
      }
      for (let slot = 0; slot < this.#slots.length && this.#queue.length > 0; slot++) {
        if (this.#slots[slot] !== null) continue;
        const seq = this.#queue.shift()!;
        seq.slot = slot;
        engine.resetSlot(slot);
        this.#slots[slot] = seq;
      }
      const running = this.#slots.filter((s): s is Seq => s !== null);
      if (running.length === 0) return;
      // 2. one token per decoding sequence first, then prompt chunks within the budget
      const entries: SlotTokens[] = [];
      const stepSeqs: Seq[] = [];
      let budget = engine.maxBatch;
      for (const s of running) {
        if (s.fed === s.req.prompt.length && budget > 0) {
          entries.push({ slot: s.slot, tokens: [s.last] });
          stepSeqs.push(s);
          budget--;
        }
      }
      for (const s of running) {
        if (s.fed < s.req.prompt.length && budget > 0) {
          const chunk = s.req.prompt.slice(s.fed, s.fed + budget);
          entries.push({ slot: s.slot, tokens: chunk });
          stepSeqs.push(s);
          budget -= chunk.length;
        }
      }
      let logits: Float32Array;
      try {
        logits = engine.step(entries);
      } catch (error) {
        for (const s of stepSeqs) this.#end(s, "error", error);
        await nextTick();
        continue;
      }
      // 3. sample for every sequence whose prompt is complete
      const V = engine.nVocab;
      const now = performance.now();
      stepSeqs.forEach((s, k) => {
        const e = entries[k];
        if (s.fed < s.req.prompt.length) {
          s.fed += e.tokens.length;
          this.#hooks.promptTokens?.(e.tokens.length);
          if (s.fed < s.req.prompt.length) return;
        }
        if (s.done) return;
        const id = s.req.sampler.sample(logits.subarray(k * V, (k + 1) * V));
        if (s.generated === 0) this.#hooks.firstToken?.(now - s.submitted);
        else this.#hooks.nextToken?.(now - s.lastTokenAt);
        s.lastTokenAt = now;
        s.generated++;
        s.last = id;
        if (s.req.stopIds.has(id)) return this.#end(s, "stop");
        let more: boolean | void = true;
        try {
          more = s.req.onToken(id);
        } catch (error) {
          return this.#end(s, "error", error);
        }
        if (more === false) return this.#end(s, "stop");
        if (s.generated >= s.req.maxTokens) return this.#end(s, "length");
        // the next step feeds this token: it needs a free cache position
        if (s.req.prompt.length + s.generated > engine.contextLength) this.#end(s, "length");
      });
      await nextTick();
    }
  }
}

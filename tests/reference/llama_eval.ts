/**
 * llama.cpp as an inference oracle: `libllama.v0.5.0.so` from npm `@node-llama-cpp/linux-x64@3.22.1`
 * (llama.cpp release v0.5.0) through `Deno.dlopen`: model load, `llama_decode` one token at a time,
 * `llama_get_logits_ith(ctx, -1)`.
 *
 * Struct layouts, checked against the disassembly of the `*_default_params()` functions of this
 * binary and `include/llama.h` of the same release:
 * - `llama_model_params`: 80 bytes (passed through unchanged from `llama_model_default_params()`);
 * - `llama_context_params`: 160 bytes; `n_ctx` u32 @0, `n_batch` @4, `n_ubatch` @8,
 *   `n_threads` i32 @28, `n_threads_batch` @32;
 * - `llama_batch`: 56 bytes (i32 n_tokens, then six pointers), from `llama_batch_get_one`.
 * Structs larger than 16 bytes go by memory on x86-64 SysV, so they are declared as arrays of u64.
 *
 * The CPU backends live next to libllama and are loaded with `ggml_backend_load_all_from_path`.
 *
 * @module
 */

import { dirname } from "node:path";
import { cString, findLlamaLibrary, nativeNoop } from "./llama.ts";

const MODEL_PARAMS = { struct: Array(10).fill("u64") } as const;
const CONTEXT_PARAMS = { struct: Array(20).fill("u64") } as const;
const BATCH = { struct: Array(7).fill("u64") } as const;

const LLAMA_SYMBOLS = {
  llama_backend_init: { parameters: [], result: "void" },
  llama_log_set: { parameters: ["pointer", "pointer"], result: "void" },
  llama_model_default_params: { parameters: [], result: MODEL_PARAMS },
  llama_context_default_params: { parameters: [], result: CONTEXT_PARAMS },
  llama_model_load_from_file: { parameters: ["buffer", MODEL_PARAMS], result: "pointer" },
  llama_model_free: { parameters: ["pointer"], result: "void" },
  llama_init_from_model: { parameters: ["pointer", CONTEXT_PARAMS], result: "pointer" },
  llama_free: { parameters: ["pointer"], result: "void" },
  llama_batch_get_one: { parameters: ["buffer", "i32"], result: BATCH },
  llama_decode: { parameters: ["pointer", BATCH], result: "i32" },
  llama_decode_nb: { name: "llama_decode", parameters: ["pointer", BATCH], result: "i32" },
  llama_get_logits_ith: { parameters: ["pointer", "i32"], result: "pointer" },
  llama_get_memory: { parameters: ["pointer"], result: "pointer" },
  llama_memory_clear: { parameters: ["pointer", "bool"], result: "void" },
  llama_model_get_vocab: { parameters: ["pointer"], result: "pointer" },
  llama_vocab_n_tokens: { parameters: ["pointer"], result: "i32" },
  llama_set_n_threads: { parameters: ["pointer", "i32", "i32"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

const GGML_SYMBOLS = {
  ggml_backend_load_all_from_path: { parameters: ["buffer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

let skipReason = "";

/** Why the oracle is unavailable (empty when it loaded). */
export function llamaEvalSkipReason(): string {
  return skipReason;
}

/** Options of {@link LlamaEval.open}. */
export interface LlamaContextOptions {
  /** Context length. Default 512. */
  nCtx?: number;
  /** Threads. Default 2. */
  threads?: number;
}

/** A loaded llama.cpp model + context. */
export interface LlamaSession {
  /** Vocabulary size. */
  nVocab: number;
  /** Clears the KV cache. */
  reset(): void;
  /** Decodes `tokens` (as one batch) and returns the logits of the last one (a copy). */
  decode(tokens: readonly number[]): Float32Array;
  /** Decodes `tokens` (as one batch) without reading the logits back (for timing). */
  step(tokens: readonly number[]): void;
  /** Decodes tokens one at a time and returns each position's logits. */
  logitsPerPosition(tokens: readonly number[]): Float32Array[];
  /** Greedy continuation of `n` tokens after `prompt` (cache reset first). */
  greedy(prompt: readonly number[], n: number): number[];
  close(): void;
}

/** The opened libllama. */
export interface LlamaEval {
  /** Path of libllama. */
  path: string;
  /** Loads a GGUF model; throws when llama.cpp refuses it. */
  open(modelPath: string, options?: LlamaContextOptions): LlamaSession;
  close(): void;
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

let opened: LlamaEval | null | undefined;

/**
 * Opens libllama (once per process) or returns `null` with {@link llamaEvalSkipReason} set.
 *
 * @example
 * ```ts ignore
 * import { openLlamaEval } from "./llama_eval.ts";
 * const llama = openLlamaEval();
 * if (llama) {
 *   const s = llama.open("model.gguf");
 *   console.log(s.decode([1, 2, 3]).length);
 *   s.close();
 * }
 * ```
 */
export function openLlamaEval(): LlamaEval | null {
  if (opened !== undefined) return opened;
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    skipReason = "the npm libllama is linux-x64 only";
    return opened = null;
  }
  const path = findLlamaLibrary();
  if (path === null) {
    skipReason =
      `libllama not found (npm install @node-llama-cpp/linux-x64@3.22.1, or set BITLOAD_LLAMA_LIB)`;
    return opened = null;
  }
  let lib: Deno.DynamicLibrary<typeof LLAMA_SYMBOLS>;
  // llama.cpp's logger is process-global and outlives this isolate (deno test runs each file in
  // its own isolate of one process): only a native no-op may be installed, and it must be in place
  // before anything logs (loading the backends does).
  const quiet = Deno.env.get("BITLOAD_LLAMA_LOG") === "1" ? null : nativeNoop();
  try {
    const dir = dirname(path);
    lib = Deno.dlopen(path, LLAMA_SYMBOLS);
    if (quiet !== null) lib.symbols.llama_log_set(quiet, null);
    const ggml = Deno.dlopen(`${dir}/libggml.v0.5.0.so`, GGML_SYMBOLS);
    ggml.symbols.ggml_backend_load_all_from_path(cString(dir));
  } catch (error) {
    skipReason = `cannot open libllama ${path}: ${(error as Error).message}`;
    return opened = null;
  }
  const s = lib.symbols;
  s.llama_backend_init();

  function open(modelPath: string, options: LlamaContextOptions = {}): LlamaSession {
    const mparams = s.llama_model_default_params();
    const model = s.llama_model_load_from_file(cString(modelPath), mparams);
    if (model === null) throw new Error(`llama.cpp could not load ${modelPath}`);
    const cparams = s.llama_context_default_params();
    const view = new DataView(cparams.buffer, cparams.byteOffset, cparams.byteLength);
    const nCtx = options.nCtx ?? 512;
    const threads = options.threads ?? 2;
    view.setUint32(0, nCtx, true);
    view.setUint32(4, nCtx, true);
    view.setUint32(8, nCtx, true);
    view.setInt32(28, threads, true);
    view.setInt32(32, threads, true);
    const ctx = s.llama_init_from_model(model, cparams);
    if (ctx === null) {
      s.llama_model_free(model);
      throw new Error(`llama.cpp could not create a context for ${modelPath}`);
    }
    const nVocab = s.llama_vocab_n_tokens(s.llama_model_get_vocab(model));
    const session: LlamaSession = {
      nVocab,
      reset() {
        s.llama_memory_clear(s.llama_get_memory(ctx), true);
      },
      step(tokens) {
        const ids = Int32Array.from(tokens);
        const batch = s.llama_batch_get_one(ids, ids.length);
        const rc = s.llama_decode(ctx, batch);
        if (rc !== 0) throw new Error(`llama_decode returned ${rc}`);
      },
      decode(tokens) {
        session.step(tokens);
        const p = s.llama_get_logits_ith(ctx, -1);
        if (p === null) throw new Error("llama_get_logits_ith returned NULL");
        return new Float32Array(
          Deno.UnsafePointerView.getArrayBuffer(p, nVocab * 4).slice(0),
        );
      },
      logitsPerPosition(tokens) {
        return tokens.map((t) => session.decode([t]));
      },
      greedy(prompt, n) {
        session.reset();
        let logits = session.decode(prompt);
        const out: number[] = [];
        for (let i = 0; i < n; i++) {
          const id = argmax(logits);
          out.push(id);
          if (i < n - 1) logits = session.decode([id]);
        }
        return out;
      },
      close() {
        s.llama_free(ctx);
        s.llama_model_free(model);
      },
    };
    return session;
  }

  opened = {
    path,
    open,
    close() {
      lib.close();
      opened = undefined;
    },
  };
  return opened;
}

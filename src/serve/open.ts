/**
 * Opening a model for chat and serving, through the pipeline (`openGguf → load →
 * loaded.engine()`): the engine's model gets its sequence slots (a {@link BatchEngine} for the
 * scheduler), its tokenizer (with the pre-tokenizer a sidecar `tokenizer.json` names when the file
 * has none, as `bitload tokenize` finds it), and the chat format (template + stop tokens).
 *
 * @module
 */

import { ChatFormat } from "../chat/format.ts";
import type { Engine, EngineOptions } from "../infer/engine.ts";
import type { InferenceModel } from "../infer/model.ts";
import { faultGuard } from "../../ffi/fault_guard.ts";
import { openGguf } from "../pipeline/open.ts";
import { discoverPre } from "../tokenizer/discovery.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { type BatchEngine, engineFromModel } from "./scheduler.ts";

/** Options of {@link openChatModel}. */
export interface OpenChatModelOptions extends Omit<EngineOptions, "tokenizer"> {
  /** Sequence slots (parallel requests). Default 1. */
  parallel?: number;
  /** `--chat-template NAME|FILE`. */
  chatTemplate?: string;
  /** Receives the tokenizer's warnings. Default: `console.warn`. */
  warn?: (message: string) => void;
}

/** An opened model ready for chat. Dispose it to release the engine and the file. */
export interface ChatModel extends Disposable {
  /** The model (the pipeline engine's). */
  readonly model: InferenceModel;
  /** Its batched engine. */
  readonly engine: BatchEngine;
  /** Its tokenizer. */
  readonly tokenizer: Tokenizer;
  /** Its chat format. */
  readonly chat: ChatFormat;
}

/**
 * Opens `path` with `parallel` KV slots of `contextLength` tokens each, its tokenizer and its
 * chat template.
 *
 * @throws {Error} When the model has no usable tokenizer.
 *
 * @example
 * ```ts ignore
 * using m = await openChatModel("model.gguf", { parallel: 4, contextLength: 2048 });
 * m.chat.template.name; // "tokenizer.chat_template"
 * ```
 */
export async function openChatModel(
  path: string,
  options: OpenChatModelOptions = {},
): Promise<ChatModel> {
  const { parallel, chatTemplate, warn, ...engineOptions } = options;
  // the native library first (the mapping's fault guard needs it anyway): being open, it also
  // scans a large vocabulary's strings during the header parse
  faultGuard();
  const handle = await openGguf(path, { readAhead: true }); // cold: read while the header is parsed
  const closers: (() => void)[] = [() => handle.close()];
  const closeAll = () => {
    for (const close of closers.reverse()) close();
  };
  try {
    const loaded = await handle.load();
    closers.push(() => loaded.close());
    const pre = handle.metadata.has("tokenizer.ggml.pre")
      ? undefined
      : (await discoverPre(path))?.pre;
    const engine: Engine = await loaded.engine({ ...engineOptions, tokenizer: { pre, warn } });
    closers.push(() => engine.close());
    const tokenizer = engine.tokenizer;
    if (!tokenizer) throw new Error(`the model has no usable tokenizer: ${engine.tokenizerError}`);
    const chat = ChatFormat.create(handle.metadata, tokenizer, { template: chatTemplate });
    const batch = engineFromModel(engine.model, Math.max(1, parallel ?? 1));
    return {
      model: engine.model,
      engine: batch,
      tokenizer,
      chat,
      [Symbol.dispose]: closeAll,
    };
  } catch (error) {
    closeAll();
    throw error;
  }
}

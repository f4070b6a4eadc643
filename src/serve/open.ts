/**
 * Opening a model for chat and serving: the inference model with its sequence slots, the
 * tokenizer, and the chat format (template + stop tokens). Until the pipeline's
 * `loaded.engine()` is available this goes through `InferenceModel` directly; the rest of the
 * serving layer only sees a {@link BatchEngine}.
 *
 * @module
 */

import { ChatFormat } from "../chat/format.ts";
import { InferenceModel, type LoadModelOptions } from "../infer/model.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { type BatchEngine, engineFromModel } from "./scheduler.ts";

/** Options of {@link openChatModel}. */
export interface OpenChatModelOptions extends LoadModelOptions {
  /** Sequence slots (parallel requests). Default 1. */
  parallel?: number;
  /** `--chat-template NAME|FILE`. */
  chatTemplate?: string;
  /** Receives the tokenizer's warnings. Default: `console.warn`. */
  warn?: (message: string) => void;
}

/** An opened model ready for chat. Dispose it to release the file. */
export interface ChatModel extends Disposable {
  /** The model. */
  readonly model: InferenceModel;
  /** Its batched engine. */
  readonly engine: BatchEngine;
  /** Its tokenizer. */
  readonly tokenizer: Tokenizer;
  /** Its chat format. */
  readonly chat: ChatFormat;
}

/**
 * Opens `path` with `parallel` KV slots of `contextLength` tokens each, its tokenizer (the
 * pre-tokenizer found as `bitload tokenize` finds it) and its chat template.
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
  const model = await InferenceModel.fromGguf(path, options);
  try {
    const tokenizer = await Tokenizer.fromGguf(path, { pre: "auto", warn: options.warn });
    const chat = ChatFormat.create(model.file.metadata, tokenizer, {
      template: options.chatTemplate,
    });
    const engine = engineFromModel(model, Math.max(1, options.parallel ?? 1));
    return {
      model,
      engine,
      tokenizer,
      chat,
      [Symbol.dispose]: () => model.close(),
    };
  } catch (error) {
    model.close();
    throw error;
  }
}

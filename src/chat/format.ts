/**
 * A model's chat format: its template bound to its tokenizer. Renders a conversation, tokenizes
 * the prompt with special tokens parsed (as llama-server does for a rendered template), and
 * knows the tokens that end a reply: the vocabulary's end-of-generation set (EOS, `<|eot_id|>`,
 * `<|im_end|>`, … as llama.cpp collects it) plus the end-of-turn tokens the template writes.
 *
 * @module
 */

import type { GgufMetadata } from "../gguf/metadata.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { ATTR } from "../tokenizer/vocab.ts";
import {
  type ChatMessage,
  ChatTemplate,
  resolveChatTemplate,
  type ResolvedTemplate,
} from "./template.ts";

/** Token texts that end a turn in common templates (checked against the template and vocab). */
const END_OF_TURN_TEXTS = [
  "<|eot_id|>",
  "<|im_end|>",
  "<|end|>",
  "<end_of_turn>",
  "<|END_OF_TURN_TOKEN|>",
  "<|end_of_text|>",
  "<|endoftext|>",
  "<|eom_id|>",
  "</s>",
];

/** Options of {@link ChatFormat.create}. */
export interface ChatFormatOptions {
  /** `--chat-template NAME|FILE`. */
  template?: string;
}

/** Options of {@link ChatFormat.render} / {@link ChatFormat.encode}. */
export interface ChatRenderOptions {
  /** Append the assistant header. Default true. */
  addGenerationPrompt?: boolean;
  /** Tool definitions passed to the template. */
  tools?: readonly unknown[];
}

/** A chat template bound to a tokenizer. */
export class ChatFormat {
  /** Which template, from where. */
  readonly template: ResolvedTemplate;
  /** Token ids that end a reply. */
  readonly stopIds: ReadonlySet<number>;
  readonly #tokenizer: Tokenizer;
  readonly #compiled: ChatTemplate;
  readonly #bos: string;
  readonly #eos: string;

  private constructor(tokenizer: Tokenizer, template: ResolvedTemplate) {
    this.#tokenizer = tokenizer;
    this.template = template;
    this.#compiled = new ChatTemplate(template.source);
    const sp = tokenizer.special;
    this.#bos = sp.bos >= 0 ? tokenizer.tokenText(sp.bos) : "";
    this.#eos = sp.eos >= 0 ? tokenizer.tokenText(sp.eos) : "";
    const stops = new Set<number>(tokenizer.eog);
    if (sp.eos >= 0) stops.add(sp.eos);
    for (const text of END_OF_TURN_TEXTS) {
      if (!template.source.includes(text)) continue;
      const id = tokenizer.tokenId(text);
      if (id === undefined) continue;
      if (tokenizer.tokenAttr(id) & (ATTR.CONTROL | ATTR.USER_DEFINED)) stops.add(id);
    }
    this.stopIds = stops;
  }

  /**
   * Binds the model's chat template (see `resolveChatTemplate`) to `tokenizer`.
   *
   * @throws {ChatTemplateError} For an unknown `--chat-template` or a template that does not parse.
   *
   * @example
   * ```ts ignore
   * const format = ChatFormat.create(file.metadata, tokenizer);
   * const ids = format.encode([{ role: "user", content: "Hi" }]);
   * ```
   */
  static create(
    metadata: GgufMetadata,
    tokenizer: Tokenizer,
    options: ChatFormatOptions = {},
  ): ChatFormat {
    const template = resolveChatTemplate(metadata, {
      override: options.template,
      hasToken: (text) => tokenizer.tokenId(text) !== undefined,
    });
    return new ChatFormat(tokenizer, template);
  }

  /**
   * The prompt text of a conversation.
   *
   * @example
   * ```ts ignore
   * format.render([{ role: "user", content: "Hi" }]); // "<|begin_of_text|>User: Hi<|eot_id|>Assistant: "
   * ```
   */
  render(messages: readonly ChatMessage[], options: ChatRenderOptions = {}): string {
    return this.#compiled.render({
      messages,
      bosToken: this.#bos,
      eosToken: this.#eos,
      addGenerationPrompt: options.addGenerationPrompt ?? true,
      tools: options.tools,
    });
  }

  /**
   * The prompt tokens of a conversation: rendered, then tokenized with special tokens parsed.
   * When the vocabulary adds BOS itself, a BOS the template wrote at the start is dropped first
   * (as llama.cpp's `common_chat_templates_apply` does), so there is exactly one.
   *
   * @example
   * ```ts ignore
   * const ids = format.encode([{ role: "user", content: "Hi" }]);
   * ```
   */
  encode(messages: readonly ChatMessage[], options: ChatRenderOptions = {}): Int32Array {
    return this.encodeText(this.render(messages, options));
  }

  /**
   * Tokenizes an already rendered prompt as {@link ChatFormat.encode} does.
   *
   * @example
   * ```ts ignore
   * format.encodeText("<|im_start|>user\nHi<|im_end|>\n");
   * ```
   */
  encodeText(prompt: string): Int32Array {
    let text = prompt;
    const tok = this.#tokenizer;
    if (tok.addBos && this.#bos !== "" && text.startsWith(this.#bos)) {
      text = text.slice(this.#bos.length);
    }
    return tok.encode(text, { addSpecial: true, parseSpecial: true });
  }
}

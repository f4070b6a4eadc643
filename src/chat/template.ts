/**
 * Chat templates: finding the one a model uses (`tokenizer.chat_template`, a named
 * `tokenizer.chat_template.<name>`, a built-in, or a file) and rendering it with
 * `@huggingface/jinja`, the engine transformers.js uses, with the variables transformers passes
 * (`messages`, `bos_token`, `eos_token`, `add_generation_prompt`, `tools`).
 *
 * @module
 */

import { Template } from "npm:@huggingface/jinja@^0.5";
import type { GgufMetadata } from "../gguf/metadata.ts";
import { BUILTIN_TEMPLATES, type BuiltinTemplateName, isBuiltinTemplate } from "./builtin.ts";

/** One chat message (OpenAI shape; extra fields such as `tool_calls` pass through). */
export interface ChatMessage {
  /** `system`, `user`, `assistant` or `tool`. */
  role: string;
  /** The text. */
  content: string;
  /** Anything else the template may read. */
  [key: string]: unknown;
}

/** A bad template, an unknown template name, or a template that failed to render. */
export class ChatTemplateError extends Error {
  /** Always "ChatTemplateError". */
  override name = "ChatTemplateError";
  /** `TEMPLATE_NOT_FOUND`, `TEMPLATE_SYNTAX` or `TEMPLATE_RENDER`. */
  readonly code: "TEMPLATE_NOT_FOUND" | "TEMPLATE_SYNTAX" | "TEMPLATE_RENDER";
  /** Makes the error. */
  constructor(code: ChatTemplateError["code"], message: string) {
    super(message);
    this.code = code;
  }
}

/** Which template is in use, and why. */
export interface ResolvedTemplate {
  /** Jinja source. */
  readonly source: string;
  /** e.g. `"tokenizer.chat_template"`, `"tokenizer.chat_template.rag"`, `"chatml"`, a path. */
  readonly name: string;
  /** `file`: from the GGUF; `builtin`: a known template; `path`: read from `--chat-template`. */
  readonly origin: "file" | "builtin" | "path";
  /** A line for the user when a built-in was chosen because the file has none. */
  readonly notice?: string;
}

/** Options of {@link resolveChatTemplate}. */
export interface ResolveTemplateOptions {
  /** `--chat-template`: a built-in name, a named template of the file, or a file path. */
  override?: string;
  /** Whether the vocabulary has a token with this text (to pick a built-in by its tokens). */
  hasToken?: (text: string) => boolean;
}

/** Largest template file `--chat-template FILE` reads (real templates are under 20 KiB). */
export const MAX_TEMPLATE_BYTES = 1 << 20;

function metaString(metadata: GgufMetadata, key: string): string | undefined {
  const v = metadata.get(key)?.value;
  return typeof v === "string" ? v : undefined;
}

/**
 * The built-in template for a model without one: BitNet b1.58's for `bitnet-b1.58`, llama-3's
 * when the vocabulary has `<|start_header_id|>`, ChatML when it has `<|im_start|>`, else the
 * BitNet format (plain `User:`/`Assistant:` turns work with any vocabulary).
 *
 * @example
 * ```ts
 * import { defaultTemplateName } from "./template.ts";
 * defaultTemplateName("llama", (t) => t === "<|start_header_id|>"); // "llama3"
 * ```
 */
export function defaultTemplateName(
  arch: string | undefined,
  hasToken: (text: string) => boolean = () => false,
): BuiltinTemplateName {
  if (arch === "bitnet-b1.58") return "bitnet";
  if (hasToken("<|start_header_id|>")) return "llama3";
  if (hasToken("<|im_start|>")) return "chatml";
  return "bitnet";
}

/**
 * Finds the chat template: `override` first (built-in name, `tokenizer.chat_template.<name>`,
 * or a file), else the file's `tokenizer.chat_template`, else a built-in (with a notice).
 *
 * @throws {ChatTemplateError} `TEMPLATE_NOT_FOUND` when `override` names nothing readable.
 *
 * @example
 * ```ts
 * import { resolveChatTemplate } from "./template.ts";
 * const t = resolveChatTemplate(new Map(), { override: "chatml" });
 * t.origin; // "builtin"
 * ```
 */
export function resolveChatTemplate(
  metadata: GgufMetadata,
  options: ResolveTemplateOptions = {},
): ResolvedTemplate {
  const o = options.override;
  if (o !== undefined && o !== "") {
    if (isBuiltinTemplate(o)) {
      return { source: BUILTIN_TEMPLATES[o].source, name: o, origin: "builtin" };
    }
    const named = metaString(metadata, `tokenizer.chat_template.${o}`);
    if (named !== undefined) {
      return { source: named, name: `tokenizer.chat_template.${o}`, origin: "file" };
    }
    let text: string;
    try {
      const info = Deno.statSync(o);
      if (!info.isFile) throw new Error("not a regular file");
      if (info.size > MAX_TEMPLATE_BYTES) {
        throw new Error(`larger than ${MAX_TEMPLATE_BYTES} bytes`);
      }
      text = Deno.readTextFileSync(o);
    } catch (error) {
      const known = ["bitnet", "llama3", "chatml"].join(", ");
      throw new ChatTemplateError(
        "TEMPLATE_NOT_FOUND",
        `--chat-template ${o}: not a built-in template (${known}), not a template of the file, ` +
          `and not a readable file (${(error as Error).message})`,
      );
    }
    return { source: text, name: o, origin: "path" };
  }
  const own = metaString(metadata, "tokenizer.chat_template");
  if (own !== undefined && own.trim() !== "") {
    return { source: own, name: "tokenizer.chat_template", origin: "file" };
  }
  const arch = metaString(metadata, "general.architecture");
  const name = defaultTemplateName(arch, options.hasToken);
  return {
    source: BUILTIN_TEMPLATES[name].source,
    name,
    origin: "builtin",
    notice: `the model has no chat template; using the built-in "${name}" template (${
      BUILTIN_TEMPLATES[name].origin
    }); --chat-template NAME|FILE chooses another`,
  };
}

/** Variables of {@link ChatTemplate.render}. */
export interface RenderOptions {
  /** The conversation. */
  messages: readonly ChatMessage[];
  /** Text of the BOS token (`bos_token`). Default "". */
  bosToken?: string;
  /** Text of the EOS token (`eos_token`). Default "". */
  eosToken?: string;
  /** Append the assistant's header (`add_generation_prompt`). Default true. */
  addGenerationPrompt?: boolean;
  /** Tool definitions (`tools`), passed through untouched. */
  tools?: readonly unknown[];
}

/** A parsed Jinja chat template. */
export class ChatTemplate {
  /** The Jinja source. */
  readonly source: string;
  readonly #template: Template;

  /**
   * Parses `source`.
   *
   * @throws {ChatTemplateError} `TEMPLATE_SYNTAX` when the source is not valid Jinja.
   *
   * @example
   * ```ts
   * import { ChatTemplate } from "./template.ts";
   * const t = new ChatTemplate("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}");
   * t.render({ messages: [{ role: "user", content: "hi" }] }); // "user: hi\n"
   * ```
   */
  constructor(source: string) {
    this.source = source;
    try {
      this.#template = new Template(source);
    } catch (error) {
      throw new ChatTemplateError(
        "TEMPLATE_SYNTAX",
        `the chat template does not parse: ${(error as Error).message}`,
      );
    }
  }

  /**
   * Renders the conversation to the prompt text.
   *
   * @throws {ChatTemplateError} `TEMPLATE_RENDER` when the template raises (e.g. roles that do
   * not alternate) or fails.
   *
   * @example
   * ```ts
   * import { ChatTemplate } from "./template.ts";
   * import { BUILTIN_TEMPLATES } from "./builtin.ts";
   * new ChatTemplate(BUILTIN_TEMPLATES.chatml.source).render({
   *   messages: [{ role: "user", content: "Hello" }],
   * }); // "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
   * ```
   */
  render(options: RenderOptions): string {
    const vars: Record<string, unknown> = {
      messages: options.messages,
      bos_token: options.bosToken ?? "",
      eos_token: options.eosToken ?? "",
      add_generation_prompt: options.addGenerationPrompt ?? true,
    };
    if (options.tools !== undefined) vars.tools = options.tools;
    try {
      // deno-lint-ignore no-explicit-any
      return this.#template.render(vars as any);
    } catch (error) {
      throw new ChatTemplateError(
        "TEMPLATE_RENDER",
        `the chat template failed: ${(error as Error).message}`,
      );
    }
  }
}

/**
 * Chat: a model's chat template (from the file, built in, or a file given by the user) rendered
 * with `@huggingface/jinja` and bound to its tokenizer, with the tokens that end a reply.
 *
 * @example
 * ```ts ignore
 * import { ChatFormat } from "./mod.ts";
 * import { Tokenizer } from "../tokenizer/mod.ts";
 * const tokenizer = Tokenizer.fromMetadata(file.metadata);
 * const format = ChatFormat.create(file.metadata, tokenizer);
 * const ids = format.encode([{ role: "user", content: "Hello" }]);
 * ```
 *
 * @module
 */

export { BUILTIN_TEMPLATES, type BuiltinTemplate, type BuiltinTemplateName } from "./builtin.ts";
export {
  type ChatMessage,
  ChatTemplate,
  ChatTemplateError,
  defaultTemplateName,
  MAX_TEMPLATE_BYTES,
  type RenderOptions,
  resolveChatTemplate,
  type ResolvedTemplate,
  type ResolveTemplateOptions,
} from "./template.ts";
export { ChatFormat, type ChatFormatOptions, type ChatRenderOptions } from "./format.ts";

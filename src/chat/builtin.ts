/**
 * Chat templates bitload knows by name, used when a GGUF file carries no
 * `tokenizer.chat_template` (or when `--chat-template NAME` asks for one). Each is the Jinja text
 * its authors publish, so rendering goes through the same engine as a file's own template.
 *
 * Sources:
 * - `bitnet`: `tokenizer_config.json` of microsoft/bitnet-b1.58-2B-4T (the BitNet b1.58 2B-4T
 *   chat format `User: …<|eot_id|>Assistant: `; llama.cpp's built-in `bitnet` template in
 *   ik_llama.cpp renders the same turns).
 * - `llama3`: `tokenizer_config.json` of meta-llama/Meta-Llama-3-8B-Instruct (Meta's "Llama 3
 *   prompt format" page documents the same headers and `<|eot_id|>`).
 * - `chatml`: the ChatML format (`<|im_start|>role\n…<|im_end|>\n`) as transformers and
 *   llama.cpp's `chatml` built-in render it.
 *
 * @module
 */

/** A built-in template: its Jinja source and the token text that ends a turn. */
export interface BuiltinTemplate {
  /** Jinja source. */
  readonly source: string;
  /** The end-of-turn token the model emits after a reply (generation stops there). */
  readonly endOfTurn: string;
  /** Where the template comes from. */
  readonly origin: string;
}

/**
 * The built-in chat templates by name.
 *
 * @example
 * ```ts
 * import { BUILTIN_TEMPLATES } from "./builtin.ts";
 * BUILTIN_TEMPLATES.llama3.endOfTurn; // "<|eot_id|>"
 * ```
 */
export const BUILTIN_TEMPLATES: Readonly<Record<"bitnet" | "llama3" | "chatml", BuiltinTemplate>> =
  {
    bitnet: {
      source: "{% set loop_messages = messages %}{% for message in loop_messages %}" +
        "{% set content = message['role'] | capitalize + ': '+ message['content'] | trim + " +
        "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}" +
        "{% endif %}{{ content }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}",
      endOfTurn: "<|eot_id|>",
      origin: "microsoft/bitnet-b1.58-2B-4T tokenizer_config.json",
    },
    llama3: {
      source: "{% set loop_messages = messages %}{% for message in loop_messages %}" +
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ " +
        "message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}" +
        "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}" +
        "{% endif %}",
      endOfTurn: "<|eot_id|>",
      origin: "meta-llama/Meta-Llama-3-8B-Instruct tokenizer_config.json",
    },
    chatml: {
      source: "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + " +
        "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
      endOfTurn: "<|im_end|>",
      origin: "ChatML (transformers / llama.cpp chatml)",
    },
  };

/** Names of the built-in templates. */
export type BuiltinTemplateName = keyof typeof BUILTIN_TEMPLATES;

/**
 * Whether `name` names a built-in template.
 *
 * @example
 * ```ts
 * import { isBuiltinTemplate } from "./builtin.ts";
 * isBuiltinTemplate("chatml"); // true
 * ```
 */
export function isBuiltinTemplate(name: string): name is BuiltinTemplateName {
  return Object.hasOwn(BUILTIN_TEMPLATES, name);
}

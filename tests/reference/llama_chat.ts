/**
 * libllama's chat-template renderer (`llama_chat_apply_template`, llama.cpp's built-in C++
 * templates chosen by name or detected from a Jinja source) from the npm package
 * `@node-llama-cpp/linux-x64@3.22.1`, reached through `Deno.dlopen`. Used by the chat tests:
 * bitload renders with a real Jinja engine, libllama with hand-written C++; the tokens must agree.
 *
 * `int32_t llama_chat_apply_template(const char * tmpl, const llama_chat_message * chat,
 * size_t n_msg, bool add_ass, char * buf, int32_t length)` with `llama_chat_message =
 * { const char * role; const char * content; }` (include/llama.h, 16 bytes on x86-64).
 *
 * @module
 */

import { cString, findLlamaLibrary } from "./llama.ts";

const SYMBOLS = {
  llama_chat_apply_template: {
    parameters: ["buffer", "buffer", "usize", "bool", "buffer", "i32"],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | null | undefined;
let reason = "";

/** Why {@link llamaChatApply} is unavailable (empty when it is). */
export function llamaChatSkipReason(): string {
  return reason;
}

function open(): Deno.DynamicLibrary<typeof SYMBOLS> | null {
  if (lib !== undefined) return lib;
  const path = findLlamaLibrary();
  if (path === null) {
    reason = "libllama reference not found (npm install @node-llama-cpp/linux-x64)";
    return lib = null;
  }
  try {
    return lib = Deno.dlopen(path, SYMBOLS);
  } catch (error) {
    reason = `cannot open libllama ${path}: ${(error as Error).message}`;
    return lib = null;
  }
}

/**
 * Renders `messages` with libllama's built-in template for `template` (a name such as
 * `"chatml"` or a Jinja source it recognises); `null` when the library is absent, a string
 * starting with `"error:"` when libllama does not support the template.
 *
 * @example
 * ```ts ignore
 * llamaChatApply("chatml", [{ role: "user", content: "hi" }], true);
 * // "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
 * ```
 */
export function llamaChatApply(
  template: string,
  messages: readonly { role: string; content: string }[],
  addAssistant: boolean,
): string | null {
  const l = open();
  if (l === null) return null;
  const keep: Uint8Array[] = [];
  const structs = new BigUint64Array(messages.length * 2);
  messages.forEach((m, i) => {
    const role = cString(m.role), content = cString(m.content);
    keep.push(role, content);
    structs[2 * i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(role)));
    structs[2 * i + 1] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(content)));
  });
  const tmpl = cString(template);
  let buf = new Uint8Array(4096);
  let n = l.symbols.llama_chat_apply_template(
    tmpl,
    new Uint8Array(structs.buffer),
    BigInt(messages.length),
    addAssistant,
    buf,
    buf.length,
  );
  if (n > buf.length) {
    buf = new Uint8Array(n);
    n = l.symbols.llama_chat_apply_template(
      tmpl,
      new Uint8Array(structs.buffer),
      BigInt(messages.length),
      addAssistant,
      buf,
      buf.length,
    );
  }
  keep.length = 0;
  if (n < 0) return `error: libllama does not support this template (${n})`;
  return new TextDecoder().decode(buf.subarray(0, n));
}

/**
 * Chat templates: the templates real vocabularies carry (llama.cpp's reference `ggml-vocab-*`
 * files) and the built-ins render the strings their authors document, and a rendered prompt
 * tokenizes to exactly the ids libllama gives for `llama_chat_apply_template` + `llama_tokenize`.
 */

import assert from "node:assert/strict";
import { readGguf } from "../src/gguf/reader.ts";
import { Tokenizer } from "../src/tokenizer/mod.ts";
import {
  BUILTIN_TEMPLATES,
  ChatFormat,
  ChatTemplate,
  ChatTemplateError,
  resolveChatTemplate,
} from "../src/chat/mod.ts";
import { referenceVocab, vocabSkipReason } from "./reference/assets.ts";
import { openLlamaReference } from "./reference/llama.ts";
import { llamaChatApply, llamaChatSkipReason } from "./reference/llama_chat.ts";

const quiet = { warn: () => {} };

async function vocab(name: string) {
  const path = referenceVocab(name);
  if (path === null) return null;
  const { metadata } = await readGguf(path);
  return { path, metadata, tokenizer: Tokenizer.fromMetadata(metadata, quiet) };
}

function skip(t: Deno.TestContext, why: string): void {
  console.log(`  skipped ${t.name}: ${why}`);
}

Deno.test("qwen2's template renders Qwen's documented prompt (default system message)", async (t) => {
  const v = await vocab("qwen2");
  if (!v) return skip(t, vocabSkipReason("qwen2"));
  const format = ChatFormat.create(v.metadata, v.tokenizer);
  assert.equal(format.template.origin, "file");
  assert.equal(
    format.render([{ role: "user", content: "Hello" }]),
    "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n" +
      "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
  );
  assert.ok(format.stopIds.has(v.tokenizer.tokenId("<|im_end|>")!));
});

Deno.test("phi-3's template renders the Phi-3 model card's prompt", async (t) => {
  const v = await vocab("phi-3");
  if (!v) return skip(t, vocabSkipReason("phi-3"));
  const format = ChatFormat.create(v.metadata, v.tokenizer);
  assert.equal(
    format.render([{ role: "user", content: "How to explain Internet for a medieval knight?" }]),
    "<s><|user|>\nHow to explain Internet for a medieval knight?<|end|>\n<|assistant|>\n",
  );
  assert.ok(format.stopIds.has(v.tokenizer.tokenId("<|end|>")!));
});

Deno.test("command-r's template renders Cohere's documented prompt and raises on bad roles", async (t) => {
  const v = await vocab("command-r");
  if (!v) return skip(t, vocabSkipReason("command-r"));
  const format = ChatFormat.create(v.metadata, v.tokenizer);
  assert.equal(
    format.render([{ role: "user", content: "Hello, how are you?" }]),
    "<BOS_TOKEN><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello, how are you?<|END_OF_TURN_TOKEN|>" +
      "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>",
  );
  assert.ok(format.stopIds.has(v.tokenizer.tokenId("<|END_OF_TURN_TOKEN|>")!));
  assert.throws(
    () => format.render([{ role: "user", content: "a" }, { role: "user", content: "b" }]),
    (e) => e instanceof ChatTemplateError && e.code === "TEMPLATE_RENDER",
  );
});

Deno.test("gemma-4's large template (macros, filters) renders", async (t) => {
  const v = await vocab("gemma-4");
  if (!v) return skip(t, vocabSkipReason("gemma-4"));
  const format = ChatFormat.create(v.metadata, v.tokenizer);
  const text = format.render([{ role: "system", content: "S" }, { role: "user", content: "Q" }]);
  assert.ok(text.includes("Q") && text.includes("S"), JSON.stringify(text));
});

Deno.test("built-in llama3 and bitnet templates render their documented prompts", () => {
  const llama3 = new ChatTemplate(BUILTIN_TEMPLATES.llama3.source);
  assert.equal(
    llama3.render({
      bosToken: "<|begin_of_text|>",
      messages: [{ role: "system", content: "SYS" }, { role: "user", content: "MSG" }],
    }),
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSYS<|eot_id|>" +
      "<|start_header_id|>user<|end_header_id|>\n\nMSG<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\n",
  );
  const bitnet = new ChatTemplate(BUILTIN_TEMPLATES.bitnet.source);
  assert.equal(
    bitnet.render({
      bosToken: "<|begin_of_text|>",
      messages: [{ role: "user", content: "Hey, are you conscious? Can you talk to me?" }],
    }),
    "<|begin_of_text|>User: Hey, are you conscious? Can you talk to me?<|eot_id|>Assistant: ",
  );
  assert.equal(
    bitnet.render({ messages: [{ role: "user", content: "x" }], addGenerationPrompt: false }),
    "User: x<|eot_id|>",
  );
});

const CONVERSATION = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "  Hello there!  " },
  { role: "assistant", content: "Hi. What now?" },
  { role: "user", content: "Tell me about <|im_start|> and ünïcode 🙂" },
];

const PARITY: { vocab: string; template?: string; messages: typeof CONVERSATION }[] = [
  { vocab: "qwen2", messages: CONVERSATION }, // file template, detected as chatml by libllama
  { vocab: "qwen2", template: "chatml", messages: CONVERSATION },
  { vocab: "phi-3", messages: CONVERSATION.slice(1) }, // the file template drops system turns
  { vocab: "command-r", messages: CONVERSATION },
  { vocab: "llama-bpe", template: "llama3", messages: CONVERSATION },
];

for (const c of PARITY) {
  Deno.test(`${c.vocab} ${c.template ?? "file template"}: tokens equal libllama's`, async (t) => {
    const v = await vocab(c.vocab);
    if (!v) return skip(t, vocabSkipReason(c.vocab));
    const ref = openLlamaReference();
    if (!ref) return skip(t, llamaChatSkipReason() || "libllama absent");
    const format = ChatFormat.create(v.metadata, v.tokenizer, { template: c.template });
    const source = c.template ?? format.template.source;
    const theirs = llamaChatApply(source, c.messages, true);
    if (theirs === null) return skip(t, llamaChatSkipReason());
    assert.ok(!theirs.startsWith("error:"), theirs);
    const lv = ref.loadVocab(v.path);
    try {
      const expected = Array.from(lv.tokenize(theirs, true, true));
      assert.deepEqual(Array.from(format.encode(c.messages)), expected);
    } finally {
      lv.free();
    }
  });
}

Deno.test("resolveChatTemplate: built-in with a notice, names, files and bad names", async () => {
  const none = resolveChatTemplate(new Map(), { hasToken: (s) => s === "<|im_start|>" });
  assert.equal(none.name, "chatml");
  assert.match(none.notice ?? "", /no chat template/);
  const arch = new Map([["general.architecture", { value: "bitnet-b1.58" }]]);
  // deno-lint-ignore no-explicit-any
  assert.equal(resolveChatTemplate(arch as any).name, "bitnet");
  const named = new Map([["tokenizer.chat_template.rag", { value: "{{ 'R' }}" }]]);
  // deno-lint-ignore no-explicit-any
  const rag = resolveChatTemplate(named as any, { override: "rag" });
  assert.deepEqual([rag.source, rag.origin], ["{{ 'R' }}", "file"]);
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/t.jinja`;
    await Deno.writeTextFile(file, "{{ messages[0].content }}!");
    const fromFile = resolveChatTemplate(new Map(), { override: file });
    assert.equal(
      new ChatTemplate(fromFile.source).render({ messages: CONVERSATION }),
      "You are terse.!",
    );
    assert.throws(
      () => resolveChatTemplate(new Map(), { override: `${dir}/missing` }),
      (e) => e instanceof ChatTemplateError && e.code === "TEMPLATE_NOT_FOUND",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.throws(
    () => new ChatTemplate("{% for %}"),
    (e) => e instanceof ChatTemplateError && e.code === "TEMPLATE_SYNTAX",
  );
});

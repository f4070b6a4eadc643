/**
 * `bitload chat` through a pipe on a synthetic model: streamed replies, `/reset` (the same
 * message after a reset gets the same greedy reply), tok/s after each reply, oldest turns dropped
 * with a notice when the context fills, and Ctrl-C (SIGINT) stopping a reply without leaving.
 */

import assert from "node:assert/strict";
import { ChatJsonSchema } from "../src/cli/schemas.ts";
import { synthesizeBitnetModel } from "../src/synth/bitnet_model.ts";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;

function chat(path: string, args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "chat", path, "-t", "1", "--temp", "0", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

async function session(path: string, args: string[], input: string) {
  const child = chat(path, args);
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(input));
  await w.close();
  const r = await child.output();
  return {
    code: r.code,
    stdout: new TextDecoder().decode(r.stdout),
    stderr: new TextDecoder().decode(r.stderr),
  };
}

Deno.test("bitload chat", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-chat-" });
  const path = `${dir}/tiny.gguf`;
  try {
    await synthesizeBitnetModel(path, { layers: 1, dim: 256, ffn: 256, vocab: 512, seed: 9 });

    await t.step("replies, /reset, tok/s, /exit", async () => {
      const r = await session(
        path,
        ["-n", "8", "--system", "Be brief."],
        "Hello\n/reset\nHello\n/exit\nignored\n",
      );
      assert.equal(r.code, 0, r.stderr);
      const replies = r.stdout.split("\n").filter((l) => l !== "");
      assert.equal(replies.length, 2, r.stdout);
      assert.equal(replies[0], replies[1]); // same greedy reply after /reset
      assert.match(r.stderr, /\(conversation forgotten\)/);
      assert.equal(r.stderr.match(/\[8 tokens, [\d.]+ tok\/s, first token \d+ ms/g)?.length, 2);
    });

    await t.step("--json: one line per reply, no prompt, the schema's shape", async () => {
      const r = await session(path, ["-n", "8", "--json"], "Hello\n/reset\nHello\n");
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.split("\n").filter((l) => l !== "");
      assert.equal(lines.length, 2, r.stdout);
      const [a, b] = lines.map((l) => ChatJsonSchema.parse(JSON.parse(l)));
      assert.equal(a.tokens.length, 8);
      assert.equal(a.finishReason, "length");
      assert.deepEqual(a.tokens, b.tokens); // same greedy reply after /reset
      assert.equal(a.reply, b.reply);
    });

    await t.step(
      "a full context drops the oldest turns with a notice",
      async () => {
        const r = await session(path, ["-n", "8", "-c", "40"], "Hello\nHello\nHello there\n");
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /context full: dropped the \d+ oldest turn/);
        assert.equal(r.stdout.split("\n").filter((l) => l !== "").length, 3);
      },
    );

    await t.step("Ctrl-C stops the reply and the chat goes on", async () => {
      const child = chat(path, ["-c", "4096"]);
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode("Tell me everything\n"));
      const reader = child.stdout.getReader();
      const first = await reader.read(); // the reply is streaming
      assert.ok((first.value?.length ?? 0) > 0);
      child.kill("SIGINT");
      await w.write(new TextEncoder().encode("/exit\n"));
      await w.close();
      while (!(await reader.read()).done) { /* drain */ }
      const status = await child.status;
      const stderr = await new Response(child.stderr).text();
      assert.equal(status.code, 0, stderr);
      assert.match(stderr, /tokens, [\d.]+ tok\/s, first token \d+ ms, stopped\]/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

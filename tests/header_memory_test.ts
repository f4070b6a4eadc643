/**
 * Header amplification: parsing any header takes at most 4 × its size + 64 MiB of extra RSS.
 * Each bomb is parsed in its own process (peak RSS from /proc/self/status, reset before the
 * parse), once far past the object budget (refused with LIMIT_EXCEEDED) and once just under it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { GgufMetadata } from "../src/gguf/metadata.ts";
import { loadVocab } from "../src/tokenizer/vocab.ts";
import {
  boolsBomb,
  emptyStringsBomb,
  keysBomb,
  nestedArraysBomb,
  tensorsBomb,
} from "./support/gguf_bombs.ts";

const reader = new URL("../src/gguf/reader.ts", import.meta.url).href;
const MEASURE = `
  import { readGguf } from "${reader}";
  const kb = (k) => Number(new RegExp(k + ":\\\\s+(\\\\d+)").exec(Deno.readTextFileSync("/proc/self/status"))[1]) * 1024;
  Deno.writeTextFileSync("/proc/self/clear_refs", "5");
  const base = kb("VmRSS");
  let outcome = "ok";
  try { await readGguf(Deno.args[0]); } catch (e) { outcome = e.code ?? String(e); }
  console.log(JSON.stringify({ extra: kb("VmHWM") - base, outcome }));`;

const canMeasure = Deno.build.os === "linux" && (() => {
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "header bombs: peak extra RSS while parsing ≤ 4 × header bytes + 64 MiB",
  ignore: !canMeasure, // needs Linux /proc/self/status and clear_refs
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "bitload-bombs-" });
    const MiB = 1024 * 1024;
    try {
      for (
        const make of [
          () => nestedArraysBomb(5_000_000), // was 2.2 GB (39×)
          () => keysBomb(1_000_000), // was 263 MB (15×)
          () => tensorsBomb(1_000_000), // was 527 MB (15×)
          () => boolsBomb(20_000_000), // 50 M took 729 MB (15×)
          () => emptyStringsBomb(4_000_000), // packed: 1.7×
          () => nestedArraysBomb(50_000), // just under the object budget
          () => keysBomb(90_000),
          () => tensorsBomb(31_000),
          () => boolsBomb(2_500_000),
        ]
      ) {
        const bomb = make();
        const path = join(dir, "bomb.gguf");
        await Deno.writeFile(path, bomb.bytes);
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["eval", "--ext=js", MEASURE, path],
          stdout: "piped",
          stderr: "inherit",
        }).output();
        const { extra, outcome } = JSON.parse(new TextDecoder().decode(out.stdout));
        const bound = 4 * bomb.bytes.length + 64 * MiB;
        const shown = `${bomb.name}: ${(extra / MiB).toFixed(1)} MiB extra, bound ${
          (bound / MiB).toFixed(1)
        } MiB (${outcome})`;
        assert.ok(outcome === "ok" || outcome === "LIMIT_EXCEEDED", shown);
        assert.ok(extra <= bound, shown);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("a vocabulary of 200,000 empty tokens gives one warning line with the count", () => {
  const tokens = new Array<string>(200_000).fill("");
  tokens[0] = "a";
  const entries: [string, unknown][] = [
    ["tokenizer.ggml.model", "llama"],
    ["tokenizer.ggml.tokens", tokens],
  ];
  const metadata = new Map(
    entries.map(([key, value]) => [key, { key, type: 0, value, offset: 0 }]),
  );
  const warnings: string[] = [];
  const vocab = loadVocab(metadata as unknown as GgufMetadata, (m) => warnings.push(m));
  const empty = warnings.filter((w) => /empty token/.test(w));
  assert.deepEqual(empty, ["199999 empty tokens (first at index 1), named [EMPTY_<index>]"]);
  assert.equal(vocab.tokens[5], "[EMPTY_5]");
});

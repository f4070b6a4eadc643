import assert from "node:assert/strict";
import { join } from "node:path";
import { synthesizeBitnetModel } from "../src/synth/mod.ts";
import { runCli } from "./support/cli.ts";
import { choiceDoubt, kernelEnvironment } from "../src/infer/kernel_choice.ts";

Deno.test("the adaptive kernel manager times the variants once, caches the choice, and obeys BITLOAD_SIMD", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-tuning-" });
  try {
    const model = join(dir, "m.gguf");
    await synthesizeBitnetModel(model, {
      layers: 2,
      dim: 512,
      ffn: 1280,
      heads: 4,
      kvHeads: 2,
      vocab: 600,
    });
    const env = { BITLOAD_CACHE_DIR: join(dir, "cache") };
    const run = async (extra: Record<string, string> = {}) => {
      const r = await runCli(["run", model, "--tokens", "1,2,3", "-n", "6", "--json"], {
        ...env,
        ...extra,
      });
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as {
        kernels: string;
        projectionKernels: Record<string, string>;
        tokens: number[];
      };
    };
    const first = await run();
    // the I2_S projections run the I2_S kernel, the tied F16 embedding the f16 product
    assert.deepEqual(first.projectionKernels, { I2_S: "i2s", F16: "f16" });
    assert.match(
      first.kernels,
      /^(scalar|avx2|avx512) × \d+ threads? \(tuned: [\d.]+ ms\/token\)(; prompts at (avx2|avx512))?$/,
    );
    const choices = JSON.parse(await Deno.readTextFile(join(dir, "cache", "kernel-choices.json")));
    const [key] = Object.keys(choices);
    assert.match(key, /\|bitnet-b1\.58\|512\|1280\|2\|600\|I2_S$/);
    const record = choices[key];
    assert.equal(typeof record.spreadMs, "number", "the spread is recorded");
    assert.equal(record.abi, kernelEnvironment().abi);
    // prompts are timed apart; the level they run at is recorded and named when it differs
    assert.match(record.promptLevel, /^(scalar|avx2|avx512)$/);
    assert.equal(
      first.kernels.includes("; prompts at"),
      record.promptLevel !== record.level,
      first.kernels,
    );
    const second = await run();
    // A clear win is reused; a win inside the timing noise is timed again (never pinned), and
    // then another variant may win.
    const doubt = choiceDoubt(record, kernelEnvironment());
    assert.match(
      second.kernels,
      doubt === null
        ? /\(cached choice, [\d.]+ ms\/token\)(; prompts at \w+)?$/
        : /\(re-tuned: the winner is within the timing noise.*tuned: [\d.]+ ms\/token\)(; prompts at \w+)?$/,
    );
    if (doubt === null) assert.equal(second.kernels.split(" (")[0], first.kernels.split(" (")[0]);
    const scalar = await run({ BITLOAD_SIMD: "scalar" });
    assert.match(scalar.kernels, /^scalar × /);
    // Every level computes the same integer products: the same greedy tokens.
    assert.deepEqual(scalar.tokens, first.tokens);
    assert.deepEqual(second.tokens, first.tokens);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

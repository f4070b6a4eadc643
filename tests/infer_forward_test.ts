/**
 * The forward pass on tiny random models: the native integer path against the f32 reference for
 * `bitnet-b1.58` (I2_S) and upstream `bitnet` (TQ2_0), I2_S against TQ2_0 of the same weights,
 * batched against token-by-token prompts, sampling determinism, and `bitload run`.
 */

import assert from "node:assert/strict";
import { inferNative } from "../ffi/infer_native.ts";
import { cosine, type FixturePaths, writeFixtureModels } from "./support/infer_fixtures.ts";
import { InferenceModel } from "../src/infer/model.ts";
import { generate } from "../src/infer/generate.ts";
import { argmax, makeSampler } from "../src/infer/sample.ts";
import { runRun } from "../src/cli/run.ts";

const PROMPT = [1, 5, 9, 100, 300, 7, 42, 512];
const VOCAB = 1024;

function minCosine(a: Float32Array, b: Float32Array, rows: number): number {
  let m = 1;
  for (let i = 0; i < rows; i++) {
    m = Math.min(
      m,
      cosine(a.subarray(i * VOCAB, (i + 1) * VOCAB), b.subarray(i * VOCAB, (i + 1) * VOCAB)),
    );
  }
  return m;
}

Deno.test("infer forward", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-infer-" });
  let paths: FixturePaths;
  try {
    paths = await writeFixtureModels(dir);
    const hasNative = inferNative() !== null;

    await t.step("config: bitnet-b1.58 uses relu², NEOX RoPE, sub-norms, tied head", async () => {
      using m = await InferenceModel.fromGguf(paths.b158, { backend: "ref" });
      assert.equal(m.config.arch, "bitnet-b1.58");
      assert.equal(m.config.activation, "relu2");
      assert.equal(m.config.ropeType, "neox");
      assert.equal(m.config.subNorms, true);
      assert.equal(m.config.ropeBase, 500000);
      using u = await InferenceModel.fromGguf(paths.bitnet.F16, { backend: "ref" });
      assert.equal(u.config.arch, "bitnet");
      assert.equal(u.config.activation, "silu");
    });

    await t.step("batched prompt equals token-by-token (reference)", async () => {
      using m = await InferenceModel.fromGguf(paths.b158, { backend: "ref" });
      const batched = m.forward(PROMPT, true).slice();
      m.reset();
      for (let i = 0; i < PROMPT.length; i++) {
        const one = m.forward([PROMPT[i]]);
        const row = batched.subarray(i * VOCAB, (i + 1) * VOCAB);
        for (let j = 0; j < VOCAB; j++) assert.ok(Math.abs(one[j] - row[j]) < 1e-5);
      }
    });

    for (
      const [label, path, arch] of [["I2_S", "b158", "bitnet-b1.58"], ["TQ2_0", "tq2", "bitnet"]]
    ) {
      await t.step({
        name: `${arch} ${label}: native integer kernels vs f32 reference`,
        ignore: !hasNative,
        fn: async () => {
          const file = path === "b158" ? paths.b158 : paths.bitnet.TQ2_0;
          using ref = await InferenceModel.fromGguf(file, { backend: "ref" });
          using nat = await InferenceModel.fromGguf(file, { backend: "native", threads: 2 });
          const a = ref.forward(PROMPT, true).slice();
          const b = nat.forward(PROMPT, true).slice();
          const c = minCosine(a, b, PROMPT.length);
          assert.ok(c >= 0.999, `min cosine ${c}`);
          const g1 = generate(ref, [1, 5, 9], { maxTokens: 32, stopOnEos: false }).tokens;
          const g2 = generate(nat, [1, 5, 9], { maxTokens: 32, stopOnEos: false }).tokens;
          assert.deepEqual(g2, g1);
        },
      });
    }

    await t.step({
      name: "I2_S and TQ2_0 of the same weights agree (native)",
      ignore: !hasNative,
      fn: async () => {
        using a = await InferenceModel.fromGguf(paths.bitnet.I2_S, { backend: "native" });
        using b = await InferenceModel.fromGguf(paths.bitnet.TQ2_0, { backend: "native" });
        const c = minCosine(a.forward(PROMPT, true).slice(), b.forward(PROMPT, true), 8);
        assert.ok(c >= 0.999, `min cosine ${c}`);
      },
    });

    await t.step({
      name: "same seed gives the same tokens, across thread counts",
      ignore: !hasNative,
      fn: async () => {
        const opts = { maxTokens: 12, temperature: 0.9, topK: 20, topP: 0.9, seed: 5 };
        using one = await InferenceModel.fromGguf(paths.b158, { backend: "native", threads: 1 });
        const r1 = generate(one, PROMPT, opts).tokens;
        const r1b = generate(one, PROMPT, opts).tokens;
        using two = await InferenceModel.fromGguf(paths.b158, { backend: "native", threads: 2 });
        const r2 = generate(two, PROMPT, opts).tokens;
        assert.deepEqual(r1b, r1);
        assert.deepEqual(r2, r1);
        const other = generate(two, PROMPT, { ...opts, seed: 6 }).tokens;
        assert.notDeepEqual(other, r1);
      },
    });

    await t.step({
      name: "int8-requantized LM head (lmHead q8) tracks the f16 head",
      ignore: !hasNative,
      fn: async () => {
        using a = await InferenceModel.fromGguf(paths.b158, { backend: "native" });
        using b = await InferenceModel.fromGguf(paths.b158, { backend: "native", lmHead: "q8" });
        const c = minCosine(a.forward(PROMPT, true).slice(), b.forward(PROMPT, true), 8);
        assert.ok(c >= 0.999, `min cosine ${c}`);
        // logits of this random model have many near-ties: the head's rounding may flip one
        // after a few tokens, so only the start of the greedy continuation must agree
        const g1 = generate(a, [1, 5, 9], { maxTokens: 8, stopOnEos: false }).tokens;
        const g2 = generate(b, [1, 5, 9], { maxTokens: 8, stopOnEos: false }).tokens;
        assert.deepEqual(g2, g1);
      },
    });

    await t.step("sampling: greedy, top-k, top-p", () => {
      const logits = Float32Array.of(1, 4, 3, -2);
      assert.equal(makeSampler().sample(logits), 1);
      assert.equal(argmax(logits), 1);
      const k1 = makeSampler({ temperature: 5, topK: 1, seed: 1 });
      for (let i = 0; i < 20; i++) assert.equal(k1.sample(logits), 1);
      const k2 = makeSampler({ temperature: 1, topK: 2, topP: 1, seed: 1 });
      const seen = new Set<number>();
      for (let i = 0; i < 200; i++) seen.add(k2.sample(logits));
      assert.deepEqual([...seen].sort(), [1, 2]);
      const p = makeSampler({ temperature: 1, topK: 0, topP: 0.5, seed: 1 });
      for (let i = 0; i < 20; i++) assert.equal(p.sample(logits), 1);
    });

    await t.step("generate stops at EOS and reports timings", async () => {
      using m = await InferenceModel.fromGguf(paths.b158);
      const r = generate(m, [1, 2, 3], { maxTokens: 6, stopOnEos: false });
      assert.equal(r.tokens.length, 6);
      assert.equal(r.stop, "length");
      assert.ok(r.timeToFirstTokenMs >= 0 && r.generationTokensPerSecond > 0);
      // pretend the third generated token is EOS: generation must stop right there
      m.config.eosId = r.tokens[2];
      const stopped = generate(m, [1, 2, 3], { maxTokens: 6 });
      assert.equal(stopped.stop, "eos");
      assert.deepEqual(stopped.tokens, r.tokens.slice(0, r.tokens.indexOf(r.tokens[2]) + 1));
    });

    await t.step("bitload run --tokens --json", async () => {
      const lines: string[] = [];
      const code = await runRun(
        [paths.b158, "--tokens", "1,2,3", "-n", "5", "--json", "--no-eos"],
        (s) => lines.push(s),
      );
      assert.equal(code, 0);
      const report = JSON.parse(lines.at(-1)!);
      assert.equal(report.tokens.length, 5);
      assert.equal(report.arch, "bitnet-b1.58");
      assert.ok(report.peakRssBytes > 0);
      using m = await InferenceModel.fromGguf(paths.b158);
      assert.deepEqual(
        report.tokens,
        generate(m, [1, 2, 3], { maxTokens: 5, stopOnEos: false }).tokens,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

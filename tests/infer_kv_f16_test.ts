/**
 * The f16 KV cache: logits within f16 rounding of the f32 cache (cosine ≥ 0.9999 on the f32
 * reference path; ≥ 0.999 on the native path, whose per-token int8 activations turn tiny K/V
 * differences into occasional rounding flips — the budget native vs reference already has), the
 * native f16 attention against the TypeScript reference over the same f16 cache, and the same
 * greedy continuation.
 */
import assert from "node:assert/strict";
import { inferNative } from "../ffi/infer_native.ts";
import { cosine, type FixturePaths, writeFixtureModels } from "./support/infer_fixtures.ts";
import { generate } from "../src/infer/generate.ts";
import { InferenceModel } from "../src/infer/model.ts";

const PROMPT = [1, 5, 9, 100, 300, 7, 42, 512];
const VOCAB = 1024;

function minCosine(a: Float32Array, b: Float32Array): number {
  let m = 1;
  for (let i = 0; i < a.length / VOCAB; i++) {
    m = Math.min(
      m,
      cosine(a.subarray(i * VOCAB, (i + 1) * VOCAB), b.subarray(i * VOCAB, (i + 1) * VOCAB)),
    );
  }
  return m;
}

Deno.test("f16 KV cache", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-kv16-" });
  try {
    const paths: FixturePaths = await writeFixtureModels(dir);
    const native = inferNative() !== null;
    for (const backend of native ? ["native", "ref"] as const : ["ref"] as const) {
      await t.step(`${backend}: f16 cache ≈ f32 cache, same greedy tokens`, async () => {
        using f32 = await InferenceModel.fromGguf(paths.b158, {
          backend,
          threads: 1,
          kvType: "f32",
        });
        using f16 = await InferenceModel.fromGguf(paths.b158, {
          backend,
          threads: 1,
          kvType: "f16",
        });
        assert.equal(f16.kvType, "f16");
        const a = f32.forward(PROMPT, true).slice();
        const b = f16.forward(PROMPT, true).slice();
        // The native path quantizes activations to int8 per token, which turns f16 rounding of
        // K/V into occasional rounding flips: the same 0.999 budget as native vs reference.
        const budget = backend === "native" ? 0.999 : 0.9999;
        assert.ok(minCosine(a, b) >= budget, `cosine ${minCosine(a, b)}`);
        f32.reset();
        f16.reset();
        const ga = generate(f32, PROMPT, { maxTokens: 16, temperature: 0 });
        const gb = generate(f16, PROMPT, { maxTokens: 16, temperature: 0 });
        assert.deepEqual(gb.tokens, ga.tokens);
      });
    }
    if (native) {
      await t.step("native f16 attention matches the reference on the same f16 cache", async () => {
        using n = await InferenceModel.fromGguf(paths.bitnet.F16, {
          backend: "native",
          threads: 2,
          kvType: "f16",
        });
        using r = await InferenceModel.fromGguf(paths.bitnet.F16, {
          backend: "ref",
          kvType: "f16",
        });
        const a = n.forward(PROMPT, true).slice();
        const b = r.forward(PROMPT, true).slice();
        assert.ok(minCosine(a, b) >= 0.99999, `cosine ${minCosine(a, b)}`);
      });
    }
    await t.step("a bad kvType is refused", async () => {
      await assert.rejects(
        InferenceModel.fromGguf(paths.b158, { kvType: "q8" as "f16" }),
        /kvType must be/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

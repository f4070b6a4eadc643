/**
 * Determinism of the native forward pass: the same logits, bit for bit, at every SIMD level
 * (scalar, AVX2, AVX-512 VNNI), every thread count and every batch split, on a model deep and
 * wide enough for a one-ulp difference in any kernel to change the greedy tokens (a random
 * ternary network amplifies single int8 activation-code flips). Two identical 2-thread runs of the
 * 30-layer 2B-shaped model gave different tokens when the load-time tuner picked different SIMD
 * levels whose f16/f32 dots, SiLU and attention did not give the same bits; every kernel now has
 * one arithmetic at every level (see docs/exactness.md).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { INFER_LEVELS, inferNative, inferNativeReason } from "../ffi/infer_native.ts";
import { writeGguf } from "../src/gguf/mod.ts";
import { bitnetModelParts } from "../src/synth/mod.ts";
import { bitnetToUpstream } from "../src/infer/convert.ts";
import { InferenceModel } from "../src/infer/model.ts";
import { generate } from "../src/infer/generate.ts";

const native = inferNative();
if (native === null) console.warn(`skipping: native kernels unavailable: ${inferNativeReason()}`);

const PROMPT = [1, 17, 300, 42, 9, 1000, 77, 5, 600, 13, 250, 3];

Deno.test({
  name: "native logits and greedy tokens are the same at every SIMD level, thread count and batch",
  ignore: native === null,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "bitload-determinism-" });
    try {
      const shape = { layers: 6, dim: 512, ffn: 1536, heads: 8, kvHeads: 4, vocab: 2048, seed: 7 };
      const parts = bitnetModelParts(shape);
      const files = { "bitnet-b1.58": join(dir, "b158.gguf"), bitnet: join(dir, "bitnet.gguf") };
      await writeGguf(files["bitnet-b1.58"], parts.metadata, parts.tensors);
      const up = bitnetToUpstream(bitnetModelParts(shape), "I2_S");
      await writeGguf(files.bitnet, up.metadata, up.tensors);
      const best = native!.setLevel("best");
      const levels = INFER_LEVELS.slice(0, INFER_LEVELS.indexOf(best) + 1);
      for (const [arch, file] of Object.entries(files)) {
        for (const kvType of ["f32", "f16"] as const) {
          let first:
            | { logits: Uint32Array; full?: Uint32Array; tokens: number[]; how: string }
            | undefined;
          // 1: one token per forward step, the single-token kernels (checked at the best level;
          // the kernel tests cover every level)
          for (const maxBatch of [64, 5, 1]) {
            using model = await InferenceModel.fromGguf(file, { threads: 1, kvType, maxBatch });
            model.promptLevel = null; // every level below runs the batches too
            for (const level of maxBatch === 1 ? [best] : levels) {
              for (const threads of [1, 2, 3]) {
                native!.setLevel(level);
                model.threads = native!.setThreads(threads);
                // every position's logits in one batch, or the last one's after 5- or 1-token
                // batches
                const all = maxBatch >= PROMPT.length;
                model.reset();
                const rows = model.forward(PROMPT, all);
                const V = model.config.nVocab;
                const logits = new Uint32Array(rows.slice(rows.length - V).buffer);
                const full = all ? new Uint32Array(rows.slice().buffer) : undefined;
                const tokens = generate(model, PROMPT, { maxTokens: 12, stopOnEos: false })
                  .tokens;
                const how = `${arch} kv ${kvType} ${level} × ${threads} threads, batch ${maxBatch}`;
                if (!first) {
                  first = { logits, full, tokens, how };
                  continue;
                }
                assert.deepEqual(tokens, first.tokens, `${how} vs ${first.how}: greedy tokens`);
                assert.deepEqual(logits, first.logits, `${how} vs ${first.how}: last logits`);
                if (full) assert.deepEqual(full, first.full, `${how} vs ${first.how}: all logits`);
              }
            }
            if (maxBatch === 1 || levels.length < 2) continue;
            // the tuner's prompt level: batches switch to it and back, with the same bits
            native!.setLevel("scalar");
            model.promptLevel = best;
            model.reset();
            const rows = model.forward(PROMPT);
            assert.equal(native!.level, "scalar", "the level is restored after a batch");
            assert.deepEqual(new Uint32Array(rows.slice().buffer), first!.logits, "prompt level");
            model.promptLevel = null;
          }
        }
      }
      native!.setLevel("best");
      native!.setThreads(navigator.hardwareConcurrency ?? 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

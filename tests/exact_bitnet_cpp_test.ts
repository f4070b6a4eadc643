/**
 * bitload against bitnet.cpp (microsoft/BitNet c82b5e6 and its llama.cpp fork, the prebuilt
 * oracle in ../shared/oracles/bitnet.cpp): upstream-`bitnet` models with I2_S projections written
 * from `bitload synth`'s weights (the fork does not know `bitnet-b1.58`), 30 teacher-forced token
 * ids with an f16 KV cache on both sides. The logits are bit-identical (the fork's I2_S activation
 * quantization and epilogue, ggml's RMSNorm, RoPE, SiLU, softmax and tinyBLAS orders; see
 * docs/exactness.md), at every SIMD level and thread count; with `decodeArithmetic: "ggml"` every
 * greedy decode step's logits are too, and the 16 greedy tokens equal the fork's. Skips with the
 * reason when the oracle is absent.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { writeGguf } from "../src/gguf/mod.ts";
import { bitnetModelParts } from "../src/synth/mod.ts";
import { bitnetToUpstream } from "../src/infer/convert.ts";
import { compareLogits, teacherForcedLogits } from "../src/infer/logits.ts";
import { InferenceModel } from "../src/infer/model.ts";
import { generate } from "../src/infer/generate.ts";
import { inferNative } from "../ffi/infer_native.ts";
import { oracleLogits, oracleSkipReason } from "./reference/oracles.ts";

const skip = oracleSkipReason("bitnet.cpp") ??
  (inferNative() === null ? "the native kernels are unavailable" : null);
if (skip) console.warn(`skipping the bitnet.cpp comparison: ${skip}`);

/** 30 ids spread over the 1024-token vocabulary. */
export const IDS = Array.from({ length: 30 }, (_, i) => 1 + 31 * i);

Deno.test({
  name:
    "bitnet.cpp: teacher-forced and decode logits bit-identical on the 2-layer and the demo model",
  ignore: skip !== null,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "bitload-bitnet-cpp-" });
    try {
      for (const layers of [2, 4]) {
        const name = layers === 4 ? "demo model (4 layers)" : "2-layer model";
        const file = join(dir, `bitnet-${layers}.gguf`);
        const up = bitnetToUpstream(bitnetModelParts({ layers }), "I2_S");
        await writeGguf(file, up.metadata, up.tensors);
        const theirs = await oracleLogits("bitnet.cpp", file, IDS, { nGen: 16 });
        await t.step(name, async () => {
          using model = await InferenceModel.fromGguf(file, { kvType: "f16", threads: 2 });
          model.promptLevel = null; // batches at each level below, not at the tuned prompt level
          const native = inferNative()!;
          for (const level of native.levels) {
            native.setLevel(level);
            const c = compareLogits(teacherForcedLogits(model, IDS), theirs.prompt);
            assert.equal(c.argmaxAgree, IDS.length, `${level}: argmax`);
            assert.ok(c.maxAbsDiff <= 1e-3 * c.largestLogit, `${level}: max |Δ| ${c.maxAbsDiff}`);
            assert.ok(c.identical, `${level}: bit-identical (max |Δ| ${c.maxAbsDiff})`);
          }
          native.setLevel("best");
          // the default decode arithmetic is the batch one: greedy parts where the fork's own
          // one-token steps differ from its batches (docs/exactness.md)
          const batch = generate(model, IDS, { maxTokens: 16, stopOnEos: false }).tokens;
          let agree = 0;
          while (agree < 16 && batch[agree] === theirs.generated[agree]) agree++;
          // decodeArithmetic "ggml": every decode step's logits bit-identical, the same 16 tokens
          using ggml = await InferenceModel.fromGguf(file, {
            kvType: "f16",
            threads: 2,
            decodeArithmetic: "ggml",
          });
          const V = ggml.config.nVocab;
          let last = ggml.forward(IDS);
          const tokens: number[] = [];
          for (let step = 0; step < 16; step++) {
            if (step > 0) {
              const row = theirs.logits.data.subarray((29 + step) * V, (30 + step) * V);
              assert.deepEqual(
                new Uint32Array(last.slice().buffer),
                new Uint32Array(row.slice().buffer),
                `decode step ${step}`,
              );
            }
            let best = 0;
            for (let i = 1; i < V; i++) if (last[i] > last[best]) best = i;
            tokens.push(best);
            last = ggml.forward([best]);
          }
          assert.deepEqual(tokens, theirs.generated);
          console.log(
            `${name}: logits bit-identical; greedy 16/16 with decodeArithmetic "ggml" (${agree}/16 with the batch arithmetic)`,
          );
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

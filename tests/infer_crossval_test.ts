/**
 * Logits cross-validation against llama.cpp (libllama from npm `@node-llama-cpp/linux-x64@3.22.1`):
 * the same random upstream-`bitnet` model with F16 and TQ2_0 projections (and as plain `llama`
 * with F16 and Q8_0 projections), per-position logits of an
 * 8-token prompt (cosine ≥ 0.999 for F16, ≥ 0.99 for TQ2_0) and identical 32-token greedy
 * continuations, for bitload's f32 reference and its native integer kernels. Skips with a reason
 * when libllama is not installed.
 */

import assert from "node:assert/strict";
import { inferNative } from "../ffi/infer_native.ts";
import { cosine, maxAbsDiff, writeFixtureModels } from "./support/infer_fixtures.ts";
import { InferenceModel } from "../src/infer/model.ts";
import { generate } from "../src/infer/generate.ts";
import { llamaEvalSkipReason, openLlamaEval } from "./reference/llama_eval.ts";

const llama = openLlamaEval();
if (llama === null) console.warn(`skipping llama.cpp cross-validation: ${llamaEvalSkipReason()}`);

const PROMPT = [1, 5, 9, 100, 300, 7, 42, 512];
const GREEDY_PROMPT = [1, 5, 9];

Deno.test(
  { name: "infer cross-validation against llama.cpp", ignore: llama === null },
  async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "bitload-xval-" });
    try {
      const paths = await writeFixtureModels(dir);
      const backends = inferNative() ? ["ref", "native"] as const : ["ref"] as const;
      const cases = [
        ["bitnet F16", paths.bitnet.F16, 0.999],
        ["bitnet TQ2_0", paths.bitnet.TQ2_0, 0.99],
        ["llama F16", paths.llama, 0.999],
        ["llama Q8_0", paths.llamaQ8_0, 0.999],
      ] as const;
      for (const [type, file, minCos] of cases) {
        // one thread: llama.cpp spin-waits, which stalls when test files run in parallel
        const session = llama!.open(file, { threads: 1 });
        try {
          const theirs = session.logitsPerPosition(PROMPT);
          const theirGreedy = session.greedy(GREEDY_PROMPT, 32);
          for (const backend of backends) {
            await t.step(`${type} weights, ${backend} kernels`, async () => {
              using model = await InferenceModel.fromGguf(file, { backend, threads: 2 });
              const ours = model.forward(PROMPT, true).slice();
              const V = session.nVocab;
              let worst = 1;
              let diff = 0;
              for (let i = 0; i < PROMPT.length; i++) {
                const row = ours.subarray(i * V, (i + 1) * V);
                worst = Math.min(worst, cosine(row, theirs[i]));
                diff = Math.max(diff, maxAbsDiff(row, theirs[i]));
              }
              const greedy = generate(model, GREEDY_PROMPT, { maxTokens: 32, stopOnEos: false });
              let agree = 0;
              while (agree < 32 && greedy.tokens[agree] === theirGreedy[agree]) agree++;
              console.log(
                `${type} ${backend}: min cosine ${worst.toFixed(6)}, max |Δlogit| ${
                  diff.toExponential(2)
                }, greedy agreement ${agree}/32`,
              );
              assert.ok(worst >= minCos, `min cosine ${worst} < ${minCos}`);
              assert.deepEqual(greedy.tokens, theirGreedy);
            });
          }
        } finally {
          session.close();
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

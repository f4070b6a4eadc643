/**
 * The K-quant inference kernels against ggml itself (`libggml-cpu-haswell.so` and `-zen4.so` from
 * llama.cpp v0.5.0): Q8_K activation blocks byte-identical to ggml's `quantize_row_q8_K`, Q2_K,
 * Q3_K, Q4_K, Q5_K, Q6_K and IQ4_XS products bit-identical to ggml's `ggml_vec_dot_*_q8_K` at every
 * SIMD level, thread count and batch size; and a `llama` model with Q4_K and Q6_K projections (as
 * in llama.cpp's Q4_K_M mix) against libllama and against bitload's f32 reference. Skips with a
 * reason when the native kernels or the ggml libraries are unavailable.
 */

import assert from "node:assert/strict";
import { inferNative, inferNativeReason } from "../ffi/infer_native.ts";
import { type GgmlCpu, openGgmlCpu, rowProducts } from "./reference/ggml_cpu.ts";
import { ggmlSkipReason, openGgmlReference } from "./reference/ggml.ts";
import { llamaEvalSkipReason, openLlamaEval } from "./reference/llama_eval.ts";
import { seededRandom } from "../src/common/random.ts";
import { cosine } from "./support/infer_fixtures.ts";
import { ggmlTypeByName } from "../src/gguf/types.ts";
import {
  forLevelsAndThreads,
  INFER_TEST_LEVELS,
  writeRequantizedLlama,
} from "./support/requantize.ts";
import { InferenceModel } from "../src/infer/model.ts";
import { generate } from "../src/infer/generate.ts";

const native = inferNative();
const ggml = openGgmlReference();
const oracles: GgmlCpu[] = [];
for (const variant of ["haswell", "zen4"] as const) {
  const opened = openGgmlCpu(variant);
  if (typeof opened === "string") console.warn(`K-quant oracle ${variant} skipped: ${opened}`);
  else oracles.push(opened);
}
const skip = native === null
  ? `native inference kernels unavailable: ${inferNativeReason()}`
  : ggml === null
  ? `ggml reference unavailable: ${ggmlSkipReason()}`
  : oracles.length === 0
  ? "no ggml-cpu library could be opened"
  : "";
if (skip) console.warn(`skipping the K-quant kernel tests: ${skip}`);

const rng = seededRandom(31);
const BYTES = { Q2_K: 84, Q3_K: 110, Q4_K: 144, Q5_K: 176, Q6_K: 210, IQ4_XS: 136 } as const;

/** Activations over several magnitudes, with an all-zero block and a single-spike block. */
function activations(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.normal() * Math.exp(rng.normal());
  x.fill(0, 256, 512);
  if (n >= 1024) {
    x.fill(0, 512, 768);
    x[600] = -7.25;
  }
  return x;
}

Deno.test(
  { name: "Q2_K…Q6_K and IQ4_XS kernels are bit-exact with ggml", ignore: !!skip },
  async (t) => {
    const nat = native!;
    const rows = 21, cols = 1024, ntok = 3;
    const q8kBytes = cols / 256 * 292;
    const x = activations(ntok * cols);

    await t.step("Q8_K activation blocks equal ggml's quantize_row_q8_K at every level", () => {
      for (const oracle of oracles) {
        const want = oracle.quantizeRowQ8_K(x);
        for (const level of INFER_TEST_LEVELS) {
          nat.setLevel(level);
          const got = new Uint8Array(ntok * q8kBytes);
          nat.quantizeBlocks("q8_k", x, ntok, cols, got);
          assert.deepEqual(got, want, `${level} vs ${oracle.path}`);
        }
      }
      nat.setLevel("best");
    });

    for (const type of ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS"] as const) {
      await t.step(
        `${type} products equal ggml's vec_dot at every level, thread count, batch`,
        () => {
          const wf = new Float32Array(rows * cols).map(() => rng.normal() * 0.05);
          const w = ggml!.quantize(ggmlTypeByName(type)!.id, wf, rows, cols);
          const rowBytes = cols / 256 * BYTES[type];
          const xq = oracles[0].quantizeRowQ8_K(x);
          for (const oracle of oracles) {
            const want = rowProducts(
              rows,
              ntok,
              w,
              rowBytes,
              xq,
              q8kBytes,
              (wr, xr) => oracle.vecDotK(type, cols, wr, xr),
            );
            const kernel = type.toLowerCase() as Lowercase<typeof type>;
            forLevelsAndThreads(nat, (level, threads) => {
              const y = new Float32Array(ntok * rows);
              nat.matmulBlocks(kernel, w, rows, cols, xq, ntok, y);
              assert.deepEqual(y, want, `${type} ${level}, ${threads} threads vs ${oracle.path}`);
            });
          }
        },
      );
    }
  },
);

const llama = skip ? null : openLlamaEval();
const llamaSkip = skip || (llama === null ? `libllama unavailable: ${llamaEvalSkipReason()}` : "");

Deno.test({
  name: "a Q4_K/Q6_K llama model agrees with libllama and with the f32 reference",
  ignore: !!llamaSkip,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-kquants-" });
  try {
    // the fixture weights as plain llama; projections re-quantized by ggml: ffn_down and attn_v
    // to Q6_K, the others to Q4_K (the shape of llama.cpp's Q4_K_M mix)
    const path = `${dir}/llama-q4_k_m.gguf`;
    await writeRequantizedLlama(
      path,
      ggml!,
      (kind) => kind === "ffn_down" || kind === "attn_v" ? "Q6_K" : "Q4_K",
    );
    const prompt = [1, 5, 9, 100, 300, 7, 42, 512];
    const session = llama!.open(path, { threads: 1 });
    try {
      const theirs = session.logitsPerPosition(prompt);
      const theirGreedy = session.greedy([1, 5, 9], 32);
      const V = session.nVocab;
      for (const backend of ["native", "ref"] as const) {
        using model = await InferenceModel.fromGguf(path, { backend, threads: 2 });
        const ours = model.forward(prompt, true).slice();
        let worst = 1;
        for (let i = 0; i < prompt.length; i++) {
          worst = Math.min(worst, cosine(ours.subarray(i * V, (i + 1) * V), theirs[i]));
        }
        model.reset();
        const greedy = generate(model, [1, 5, 9], { maxTokens: 32, stopOnEos: false });
        console.log(`llama Q4_K/Q6_K ${backend}: min cosine ${worst.toFixed(6)} against libllama`);
        assert.ok(worst >= 0.999, `${backend}: min cosine ${worst}`);
        assert.deepEqual(greedy.tokens, theirGreedy, backend);
      }
    } finally {
      session.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

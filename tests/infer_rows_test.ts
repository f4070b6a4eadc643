/**
 * Row-by-row dequantizing products (`dequantize: "rows"`, the default for types without an
 * integer kernel): each weight row is dequantized by the dequant library's bit-exact kernels on
 * the inference threads. Checked: the same bits as dequantizing the whole tensor to f32 at load and
 * using the f32 kernel, for IQ2/IQ3/IQ1 types and BF16 data written by ggml's own
 * quantizers, at every SIMD level and thread count; and a `llama` model with BF16 projections,
 * whose logits are the same bits either way and agree with libllama. Skips with a reason when the
 * native kernels or the ggml reference are unavailable.
 */

import assert from "node:assert/strict";
import { inferNative, inferNativeReason } from "../ffi/infer_native.ts";
import { nativeKernels } from "../ffi/native.ts";
import { openGgmlReference } from "./reference/ggml.ts";
import { ggmlSkipReason } from "./reference/ggml.ts";
import { allocQuantizedActs, linearNative, makeLinear } from "../src/infer/linear.ts";
import { ggmlTypeByName } from "../src/gguf/types.ts";
import { seededRandom } from "../src/common/random.ts";
import { InferenceModel } from "../src/infer/model.ts";
import { cosine } from "./support/infer_fixtures.ts";
import { forLevelsAndThreads, writeRequantizedLlama } from "./support/requantize.ts";
import { llamaEvalSkipReason, openLlamaEval } from "./reference/llama_eval.ts";

const infer = inferNative();
const dequant = nativeKernels();
const ggml = openGgmlReference();
const skip = infer === null
  ? `native inference kernels unavailable: ${inferNativeReason()}`
  : dequant === null
  ? "the native dequant library is unavailable"
  : ggml === null
  ? `ggml reference unavailable: ${ggmlSkipReason()}`
  : "";
if (skip) console.warn(`skipping the row-dequantizing product tests: ${skip}`);

const rng = seededRandom(21);
// types without an integer kernel of their own (Q8_0/Q4_0/Q5_0/IQ4_NL/Q4_1/Q5_1:
// infer_q8_0_test.ts; Q2_K…Q6_K,
// IQ4_XS: infer_kquants_test.ts)
const TYPES = ["IQ3_S", "IQ3_XXS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M", "BF16"];

Deno.test(
  { name: "row-dequantizing products equal the f32 path bit for bit", ignore: !!skip },
  () => {
    const nat = infer!;
    const rows = 19, cols = 512, ntok = 3;
    const x = new Float32Array(ntok * cols).map(() => rng.normal());
    for (const name of TYPES) {
      const type = ggmlTypeByName(name)!;
      const wf = new Float32Array(rows * cols).map(() => rng.normal() * 0.1);
      const data = ggml!.quantize(type.id, wf, rows, cols);
      const viaRows = makeLinear(
        "w",
        type,
        rows,
        cols,
        data,
        1,
        "native",
        true,
      );
      const atLoad = makeLinear("w", type, rows, cols, data, 1, "native");
      assert.equal(viaRows.kernel, "rows");
      assert.equal(viaRows.f32, undefined, "no f32 copy");
      assert.equal(atLoad.kernel, "f32");
      const acts = allocQuantizedActs(ntok, cols);
      forLevelsAndThreads(nat, (level, threads) => {
        // the f32 dot of this level on the whole-tensor dequantization
        const want = new Float32Array(ntok * rows);
        linearNative(nat, atLoad, x, ntok, want, acts);
        const y = new Float32Array(ntok * rows);
        linearNative(nat, viaRows, x, ntok, y, acts);
        assert.deepEqual(y, want, `${name} at ${level}, ${threads} threads`);
      });
    }
  },
);

const llama = skip ? null : openLlamaEval();
const llamaSkip = skip || (llama === null ? `libllama unavailable: ${llamaEvalSkipReason()}` : "");

Deno.test({
  name: "a BF16 llama model: rows and load agree bit for bit and with libllama",
  ignore: !!llamaSkip,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-rows-" });
  try {
    // the fixture weights as plain llama, projections re-quantized to BF16 by ggml itself
    const path = `${dir}/llama-bf16.gguf`;
    await writeRequantizedLlama(path, ggml!, () => "BF16");
    const prompt = [1, 5, 9, 100, 300, 7];
    const logits = async (dequantize: "rows" | "load") => {
      using model = await InferenceModel.fromGguf(path, { threads: 2, dequantize });
      infer!.setLevel("avx2"); // the tuner may pick another level per load: compare at one
      const out = model.forward(prompt, true).slice();
      infer!.setLevel("best");
      return out;
    };
    const rows = await logits("rows");
    assert.deepEqual(rows, await logits("load"));
    const session = llama!.open(path, { threads: 1 });
    try {
      const theirs = session.logitsPerPosition(prompt);
      const V = session.nVocab;
      let worst = 1;
      for (let i = 0; i < prompt.length; i++) {
        worst = Math.min(worst, cosine(rows.subarray(i * V, (i + 1) * V), theirs[i]));
      }
      console.log(`llama BF16, rows: min cosine against libllama ${worst.toFixed(6)}`);
      // llama.cpp multiplies BF16 weights by bf16-rounded activations; bitload keeps them f32
      assert.ok(worst >= 0.999, `min cosine ${worst}`);
    } finally {
      session.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

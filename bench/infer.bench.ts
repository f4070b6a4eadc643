/**
 * Inference speed, bitload against llama.cpp (libllama from npm) in the same run, on the same
 * upstream-`bitnet` TQ2_0 model with random weights, plus bitload on the `bitnet-b1.58` I2_S model
 * of the same shape:
 * - `tg`: one generated token (decode of 1 token with a warm KV cache), also with the LM head
 *   requantized to int8 (`lmHead: "q8"`);
 * - `pp32`: a 32-token prompt from an empty cache;
 * - `llama Q8_0 tg` (tiny and 125M shapes): the same weights as plain `llama` with Q8_0
 *   projections, bitload's integer Q8_0 kernel against llama.cpp's;
 * - `llama Q4_K_M tg` (tiny and 125M, when ggml's quantizer is installed): projections written by
 *   ggml as Q4_K, with attn_v and ffn_down as Q6_K (llama.cpp's Q4_K_M mix), bitload's integer
 *   K-quant kernels against llama.cpp;
 * - `llama BF16 tg`: a type without an integer kernel, bitload dequantizing row by row
 *   (`dequantize: "rows"`, memory = file size) and from an f32 copy made at load (`"load"`),
 *   against llama.cpp.
 *
 * Shapes: `tiny` (2 × 256), `125M` (12 × 768, vocab 32000); `BITLOAD_BENCH_2B=1` adds the
 * 2B-4T shape (30 × 2560, FFN 6912, 20/5 heads, vocab 128256; ≈ 2.7 GB of files written to a
 * temporary directory, about two minutes to generate). Threads: `BITLOAD_BENCH_THREADS` (default 2).
 *
 * llama.cpp's thread pool spin-waits; on a machine where other processes compete for the cores
 * its numbers collapse, so compare runs on an otherwise idle machine.
 *
 * Run: `deno bench -A bench/infer.bench.ts`
 */

import { bitnetModelParts, type BitnetSynthOptions } from "../src/synth/bitnet_model.ts";
import { writeGguf } from "../src/gguf/writer.ts";
import { bitnetToUpstream, rescaleTernary } from "../src/infer/convert.ts";
import { InferenceModel } from "../src/infer/model.ts";
import { type LlamaSession, openLlamaEval } from "../tests/reference/llama_eval.ts";
import { openGgmlReference } from "../tests/reference/ggml.ts";
import { writeRequantizedLlama } from "../tests/support/requantize.ts";

const THREADS = Number(Deno.env.get("BITLOAD_BENCH_THREADS") ?? 2);
const SHAPES: Record<string, BitnetSynthOptions> = {
  tiny: { layers: 2, dim: 256, ffn: 768, heads: 4, kvHeads: 2, vocab: 1024 },
  "125M": { layers: 12, dim: 768, ffn: 2048, heads: 12, kvHeads: 4, vocab: 32000 },
};
if (Deno.env.get("BITLOAD_BENCH_2B") === "1") {
  SHAPES["2B"] = { layers: 30, dim: 2560, ffn: 6912, heads: 20, kvHeads: 5, vocab: 128256 };
}

const dir = await Deno.makeTempDir({ prefix: "bitload-infer-bench-" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* already gone */ }
});
const llama = openLlamaEval();
const ggml = openGgmlReference();
/** One llama.cpp decode step on its own session of `path` (positions wrap at 500). */
function llamaStep(path: string): () => void {
  const session = llama!.open(path, { threads: THREADS, nCtx: 512 });
  let pos = 0;
  return () => {
    if (pos >= 500) {
      session.reset();
      pos = 0;
    }
    session.decode([pos % 1000]);
    pos++;
  };
}

const PROMPT = Array.from({ length: 32 }, (_, i) => (i * 37 + 11) % 1000);

for (const [label, shape] of Object.entries(SHAPES)) {
  const b158 = `${dir}/${label}-b158.gguf`;
  const tq2 = `${dir}/${label}-tq2.gguf`;
  const p = rescaleTernary(bitnetModelParts(shape), 0.01);
  await writeGguf(b158, p.metadata, p.tensors);
  const up = bitnetToUpstream(rescaleTernary(bitnetModelParts(shape), 0.01), "TQ2_0");
  await writeGguf(tq2, up.metadata, up.tensors);

  const q8 = `${dir}/${label}-llama-q8_0.gguf`;
  const q4km = `${dir}/${label}-llama-q4_k_m.gguf`;
  const bf16 = `${dir}/${label}-llama-bf16.gguf`;
  if (label !== "2B") {
    const l8 = bitnetToUpstream(rescaleTernary(bitnetModelParts(shape), 0.01), "Q8_0", "llama");
    await writeGguf(q8, l8.metadata, l8.tensors);
    if (ggml) {
      // F16 projections re-quantized by ggml's own quantizers
      const mix = (kind: string) => kind === "ffn_down" || kind === "attn_v" ? "Q6_K" : "Q4_K";
      await writeRequantizedLlama(q4km, ggml, mix, shape);
      await writeRequantizedLlama(bf16, ggml, () => "BF16", shape);
    }
  }

  const ours = await InferenceModel.fromGguf(tq2, { threads: THREADS, contextLength: 512 });
  const oursI2s = await InferenceModel.fromGguf(b158, { threads: THREADS, contextLength: 512 });
  const oursQ8 = await InferenceModel.fromGguf(tq2, {
    threads: THREADS,
    contextLength: 512,
    lmHead: "q8",
  });
  let theirs: LlamaSession | null = null;
  let theirPos = 0;
  if (llama) theirs = llama.open(tq2, { threads: THREADS, nCtx: 512 });

  const step = (m: typeof ours) => () => {
    if (m.position >= 500) m.reset();
    m.forward([m.position % 1000]);
  };
  Deno.bench({
    name: `bitload tg (bitnet TQ2_0, ${ours.kernelInfo})`,
    group: `${label} tg`,
    baseline: true,
    fn: step(ours),
  });
  Deno.bench({
    name: `bitload tg (bitnet-b1.58 I2_S)`,
    group: `${label} tg`,
    fn: step(oursI2s),
  });
  Deno.bench({
    name: `bitload tg (bitnet TQ2_0, int8 LM head)`,
    group: `${label} tg`,
    fn: step(oursQ8),
  });
  if (theirs) {
    const t = theirs;
    Deno.bench({
      name: `llama.cpp tg (bitnet TQ2_0, ${THREADS} threads)`,
      group: `${label} tg`,
      fn: () => {
        if (theirPos >= 500) {
          t.reset();
          theirPos = 0;
        }
        t.decode([theirPos % 1000]);
        theirPos++;
      },
    });
  }
  Deno.bench({
    name: `bitload pp32 (bitnet TQ2_0)`,
    group: `${label} pp32`,
    baseline: true,
    fn: () => {
      ours.reset();
      ours.forward(PROMPT);
    },
  });
  Deno.bench({
    name: `bitload pp32 (bitnet-b1.58 I2_S)`,
    group: `${label} pp32`,
    fn: () => {
      oursI2s.reset();
      oursI2s.forward(PROMPT);
    },
  });
  if (theirs) {
    const t = theirs;
    Deno.bench({
      name: `llama.cpp pp32 (bitnet TQ2_0)`,
      group: `${label} pp32`,
      fn: () => {
        t.reset();
        theirPos = 0;
        t.decode(PROMPT);
        theirPos = PROMPT.length;
      },
    });
  }

  if (label !== "2B") {
    const oursQ8_0 = await InferenceModel.fromGguf(q8, { threads: THREADS, contextLength: 512 });
    Deno.bench({
      name: `bitload tg (llama Q8_0, ${oursQ8_0.kernelInfo})`,
      group: `${label} llama Q8_0 tg`,
      baseline: true,
      fn: step(oursQ8_0),
    });
    if (llama) {
      Deno.bench({
        name: `llama.cpp tg (llama Q8_0, ${THREADS} threads)`,
        group: `${label} llama Q8_0 tg`,
        fn: llamaStep(q8),
      });
    }
  }
  if (label !== "2B" && ggml) {
    const km = await InferenceModel.fromGguf(q4km, { threads: THREADS, contextLength: 512 });
    Deno.bench({
      name: `bitload tg (llama Q4_K_M, ${km.kernelInfo})`,
      group: `${label} llama Q4_K_M tg`,
      baseline: true,
      fn: step(km),
    });
    if (llama) {
      Deno.bench({
        name: `llama.cpp tg (llama Q4_K_M, ${THREADS} threads)`,
        group: `${label} llama Q4_K_M tg`,
        fn: llamaStep(q4km),
      });
    }
    for (const dequantize of ["rows", "load"] as const) {
      const m = await InferenceModel.fromGguf(bf16, {
        threads: THREADS,
        contextLength: 512,
        dequantize,
      });
      Deno.bench({
        name: `bitload tg (llama BF16, dequantize: ${dequantize})`,
        group: `${label} llama BF16 tg`,
        baseline: dequantize === "rows",
        fn: step(m),
      });
    }
    if (llama) {
      Deno.bench({
        name: `llama.cpp tg (llama BF16, ${THREADS} threads)`,
        group: `${label} llama BF16 tg`,
        fn: llamaStep(bf16),
      });
    }
  }
}

/**
 * Multi-sequence decoding (`InferenceModel.forwardSlots`): eight sequences with prompts of
 * different lengths, joining at different steps with their prompts cut into chunks while the
 * others decode, give bit-identical logits (so the same greedy tokens) as each sequence run alone
 * with `forward`.
 */

import { InferError } from "../src/infer/errors.ts";
import assert from "node:assert/strict";
import { inferNative } from "../ffi/infer_native.ts";
import { InferenceModel, type SlotTokens } from "../src/infer/model.ts";
import { argmax } from "../src/infer/sample.ts";
import { synthesizeBitnetModel } from "../src/synth/bitnet_model.ts";

const SEQS = 8;
const STEPS = 6;
const PROMPTS = Array.from(
  { length: SEQS },
  (_, i) => Array.from({ length: 3 + 5 * i }, (_, j) => (i * 37 + j * 11 + 1) % 500),
);

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.slice().buffer);
}

/** Each sequence alone: prompt as one batch, then STEPS greedy tokens; logits of every step. */
function alone(model: InferenceModel): Uint32Array[][] {
  return PROMPTS.map((prompt) => {
    model.reset();
    const rows: Uint32Array[] = [];
    let logits = model.forward(prompt);
    for (let s = 0; s < STEPS; s++) {
      rows.push(bits(logits));
      logits = model.forward([argmax(logits)]);
    }
    return rows;
  });
}

/** All together: sequence i joins at step i, its prompt fed in chunks of at most 4 tokens. */
function together(model: InferenceModel): Uint32Array[][] {
  const V = model.config.nVocab;
  model.allocateSlots(SEQS);
  for (let i = 0; i < SEQS; i++) model.resetSlot(i);
  const fed = new Array(SEQS).fill(0);
  const next: number[] = new Array(SEQS).fill(-1);
  const out: Uint32Array[][] = PROMPTS.map(() => []);
  for (let step = 0; out.some((r) => r.length < STEPS); step++) {
    const entries: SlotTokens[] = [];
    for (let i = 0; i < SEQS && i <= step; i++) {
      if (out[i].length >= STEPS) continue;
      if (fed[i] < PROMPTS[i].length) {
        const chunk = PROMPTS[i].slice(fed[i], fed[i] + 4);
        fed[i] += chunk.length;
        entries.push({ slot: i, tokens: chunk });
      } else entries.push({ slot: i, tokens: [next[i]] });
    }
    const logits = model.forwardSlots(entries);
    entries.forEach((e, k) => {
      const i = e.slot;
      if (fed[i] < PROMPTS[i].length) return; // prompt not finished: no token yet
      const row = logits.subarray(k * V, (k + 1) * V);
      out[i].push(bits(row));
      next[i] = argmax(row);
    });
  }
  return out;
}

Deno.test("forwardSlots: eight sequences batched give the bits of each alone", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-slots-" });
  try {
    const path = `${dir}/tiny.gguf`;
    await synthesizeBitnetModel(path, { layers: 2, dim: 256, ffn: 512, vocab: 512, seed: 3 });
    const backends = inferNative() ? ["native", "ref"] as const : ["ref"] as const;
    for (const backend of backends) {
      await t.step(backend, async () => {
        using model = await InferenceModel.fromGguf(path, {
          backend,
          threads: 1,
          contextLength: 64,
          maxBatch: 32,
        });
        const a = alone(model);
        const b = together(model);
        for (let i = 0; i < SEQS; i++) {
          for (let s = 0; s < STEPS; s++) {
            assert.deepEqual(b[i][s], a[i][s], `sequence ${i}, step ${s}: logits differ`);
          }
        }
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("forwardSlots: bad steps are InferErrors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-slots-" });
  try {
    const path = `${dir}/tiny.gguf`;
    await synthesizeBitnetModel(path, { layers: 1, dim: 256, ffn: 256, vocab: 300, seed: 1 });
    using model = await InferenceModel.fromGguf(path, {
      backend: "ref",
      contextLength: 8,
      maxBatch: 5,
    });
    model.allocateSlots(2);
    assert.equal(model.slotCount, 2);
    assert.throws(() => model.forwardSlots([{ slot: 2, tokens: [1] }]), InferError);
    assert.throws(
      () => model.forwardSlots([{ slot: 1, tokens: [1] }, { slot: 1, tokens: [2] }]),
      InferError,
    );
    assert.throws(() => model.forwardSlots([{ slot: 1, tokens: [1, 2, 3, 4, 5, 6] }]), InferError);
    model.forwardSlots([{ slot: 1, tokens: [1, 2, 3, 4] }, { slot: 0, tokens: [5] }]);
    assert.equal(model.slotPosition(1), 4);
    assert.equal(model.position, 1);
    model.forwardSlots([{ slot: 1, tokens: [1, 2, 3, 4] }]);
    assert.throws(() => model.forwardSlots([{ slot: 1, tokens: [1] }]), InferError); // full
    model.resetSlot(1);
    assert.equal(model.slotPosition(1), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { PlanError } from "../src/plan/errors.ts";
import { readGguf, serializeGguf } from "../src/gguf/mod.ts";
import { bitnetModelParts } from "../src/synth/mod.ts";
import {
  accountWeights,
  applyMargins,
  kvCacheBytes,
  layerIndex,
  modelShape,
  scratchBytes,
  tensorRole,
} from "../src/plan/accounting.ts";
import { bitnetShapes, headerOnlyModel, transformerShapes } from "../src/plan/shapes.ts";

const MiB = 1024 ** 2;

/**
 * llama.cpp's KV size, written out independently from its sources: per layer
 * `ggml_nbytes(k) = ggml_row_size(type_k, n_embd_k_gqa) * kv_size` with
 * `n_embd_k_gqa = n_embd_head_k * n_head_kv(il)` (src/llama-hparams.cpp) and
 * `n_embd_head_k = n_embd / n_head` unless `key_length` is set (src/llama-model.cpp),
 * `kv_size = GGML_PAD(n_ctx, 256)` (src/llama-context.cpp), same for V.
 */
function llamaCppKv(
  s: {
    layers: number;
    embd: number;
    heads: number;
    headsKv: number | number[];
    keyLength?: number;
    valueLength?: number;
  },
  nCtx: number,
  type: { blck: number; size: number },
): number {
  const kvSize = Math.ceil(nCtx / 256) * 256;
  const headK = s.keyLength ?? s.embd / s.heads;
  const headV = s.valueLength ?? s.embd / s.heads;
  let total = 0;
  for (let il = 0; il < s.layers; il++) {
    const nKv = Array.isArray(s.headsKv) ? s.headsKv[il] : s.headsKv;
    total += (headK * nKv / type.blck) * type.size * kvSize;
    total += (headV * nKv / type.blck) * type.size * kvSize;
  }
  return total;
}
const F16 = { blck: 1, size: 2 };
const Q8_0 = { blck: 32, size: 34 };
const Q4_0 = { blck: 32, size: 18 };

function shapeModel(o: {
  arch?: string;
  layers: number;
  embd: number;
  heads: number;
  headsKv: number | number[];
  keyLength?: number;
  valueLength?: number;
}) {
  const arch = o.arch ?? "llama";
  const metadata = [
    { key: "general.architecture", type: 8 as const, value: arch },
    { key: `${arch}.block_count`, type: 4 as const, value: o.layers },
    { key: `${arch}.embedding_length`, type: 4 as const, value: o.embd },
    { key: `${arch}.attention.head_count`, type: 4 as const, value: o.heads },
    Array.isArray(o.headsKv)
      ? {
        key: `${arch}.attention.head_count_kv`,
        type: 9 as const,
        arrayType: 5 as const,
        value: Int32Array.from(o.headsKv),
      }
      : { key: `${arch}.attention.head_count_kv`, type: 4 as const, value: o.headsKv },
    ...(o.keyLength
      ? [{ key: `${arch}.attention.key_length`, type: 4 as const, value: o.keyLength }]
      : []),
    ...(o.valueLength
      ? [{ key: `${arch}.attention.value_length`, type: 4 as const, value: o.valueLength }]
      : []),
  ];
  return headerOnlyModel(metadata, [{
    name: "token_embd.weight",
    type: "F16",
    dims: [o.embd, 32],
  }]);
}

Deno.test("kvCacheBytes(): the official BitNet b1.58 2B-4T shape at 4096 tokens", () => {
  const { metadata, tensors } = bitnetShapes();
  const shape = modelShape(headerOnlyModel(metadata, tensors));
  assert.equal(shape.layers, 30);
  assert.equal(shape.embd, 2560);
  assert.equal(shape.heads, 20);
  assert.deepEqual([...new Set(shape.headsKv)], [5]);
  assert.equal(shape.headDimK, 128);
  const kv = kvCacheBytes(shape, { ctx: 4096, kvType: "f16" });
  // 2 (K and V) × 30 layers × 4096 tokens × 640 (128 × 5 KV heads) × 2 bytes.
  assert.equal(kv.totalBytes, 2 * 30 * 4096 * 640 * 2);
  assert.equal(kv.totalBytes, 314_572_800);
  assert.equal(kv.kBytes, kv.vBytes);
  assert.equal(kv.perLayer.length, 30);
  assert.equal(kv.perLayer[0], 2 * 4096 * 640 * 2);
});

Deno.test("kvCacheBytes() equals llama.cpp's formula for other shapes and types", async (t) => {
  const shapes = [
    // Llama-2-7B: llama.cpp prints "KV self size = 2048.00 MiB" at n_ctx 4096.
    { name: "llama-2-7b", layers: 32, embd: 4096, heads: 32, headsKv: 32, ctx: 4096, f16MiB: 2048 },
    // Llama-3-8B (GQA 8): "KV self size = 1024.00 MiB" at 8192.
    { name: "llama-3-8b", layers: 32, embd: 4096, heads: 32, headsKv: 8, ctx: 8192, f16MiB: 1024 },
    // Llama-3-70B: 2560 MiB at 8192.
    { name: "llama-3-70b", layers: 80, embd: 8192, heads: 64, headsKv: 8, ctx: 8192, f16MiB: 2560 },
    // Gemma-7B: key_length 256 ≠ 3072 / 16.
    {
      name: "gemma-7b",
      layers: 28,
      embd: 3072,
      heads: 16,
      headsKv: 16,
      keyLength: 256,
      valueLength: 256,
      ctx: 8192,
      f16MiB: 3584,
    },
    // Variable KV heads per layer (OpenELM style array), a context llama.cpp pads to 256.
    { name: "per-layer", layers: 4, embd: 1024, heads: 8, headsKv: [2, 4, 8, 1], ctx: 1000 },
  ];
  for (const s of shapes) {
    await t.step(s.name, () => {
      const shape = modelShape(shapeModel(s));
      for (const [kvType, type] of [["f16", F16], ["q8_0", Q8_0], ["q4_0", Q4_0]] as const) {
        const got = kvCacheBytes(shape, { ctx: s.ctx, kvType }).totalBytes;
        assert.equal(got, llamaCppKv(s, s.ctx, type), `${s.name} ${kvType}`);
      }
      if (s.f16MiB) assert.equal(kvCacheBytes(shape, { ctx: s.ctx }).totalBytes, s.f16MiB * MiB);
    });
  }
  await t.step("q8_0 is 34/32 and q4_0 18/32 of the element count", () => {
    const shape = modelShape(shapeModel({ layers: 2, embd: 256, heads: 4, headsKv: 2 }));
    const elems = 2 * 2 * 256 * 128; // K+V, 2 layers, 256 tokens, 128 wide
    assert.equal(kvCacheBytes(shape, { ctx: 256, kvType: "q8_0" }).totalBytes, elems * 34 / 32);
    assert.equal(kvCacheBytes(shape, { ctx: 256, kvType: "q4_0" }).totalBytes, elems * 18 / 32);
  });
  await t.step("padding to 256 like llama.cpp, or not", () => {
    const shape = modelShape(shapeModel({ layers: 1, embd: 64, heads: 1, headsKv: 1 }));
    assert.equal(kvCacheBytes(shape, { ctx: 1 }).ctx, 256);
    assert.equal(kvCacheBytes(shape, { ctx: 1, pad: false }).totalBytes, 2 * 64 * 2);
  });
  await t.step("quantized KV needs rows of whole blocks; bad contexts throw", () => {
    const shape = modelShape(shapeModel({ layers: 1, embd: 48, heads: 3, headsKv: 1 }));
    assert.throws(
      () => kvCacheBytes(shape, { ctx: 256, kvType: "q8_0" }),
      /multiple of 32, got 16/,
    );
    const badOption = (e: unknown) => e instanceof PlanError && e.code === "BAD_OPTION";
    assert.throws(() => kvCacheBytes(shape, { ctx: 0 }), badOption);
    assert.throws(() => kvCacheBytes(shape, { ctx: 1.5 }), badOption);
  });
});

Deno.test("modelShape() never throws: missing keys become warnings", () => {
  const m = headerOnlyModel([], [{ name: "blk.3.x.weight", type: "F32", dims: [4] }]);
  const s = modelShape(m);
  assert.equal(s.layers, 4);
  assert.equal(s.heads, 0);
  assert.equal(kvCacheBytes(s, { ctx: 512 }).totalBytes, 0);
  assert.match(s.warnings.join("\n"), /general\.architecture is missing/);
});

Deno.test("accountWeights() totals equal the sum of tensor bytes exactly", async (t) => {
  await t.step("a model read back by the GGUF reader", async () => {
    const { metadata, tensors } = bitnetModelParts({ layers: 3, vocab: 512 });
    const file = await readGguf(serializeGguf(metadata, tensors));
    const w = accountWeights(file.tensors, 3);
    const sum = file.tensors.reduce((a, t) => a + t.byteSize, 0);
    assert.equal(w.totalBytes, sum);
    assert.equal(
      w.layerBytes.reduce((a, b) => a + b, 0) + w.inputBytes + w.outputBytes + w.otherBytes,
      sum,
    );
    assert.equal(w.inputBytes, 256 * 512 * 2); // F16 token_embd
    assert.equal(w.outputBytes, 256 * 4); // output_norm
    // Per layer: 4 norms (3 × 256, 768) f32 + 7 I2_S projections of n/4 + 32 bytes each.
    const i2s = (n: number) => n / 4 + 32;
    const layer = (3 * 256 + 768) * 4 +
      2 * i2s(256 * 256) + 2 * i2s(256 * 128) + 3 * i2s(256 * 768);
    assert.deepEqual(w.layerBytes, [layer, layer, layer]);
  });
  await t.step("the 2B-4T shape and a 70B shape", () => {
    for (
      const parts of [
        bitnetShapes(),
        transformerShapes({
          layers: 80,
          embd: 8192,
          heads: 64,
          headsKv: 8,
          ffn: 28672,
          vocab: 128256,
        }),
      ]
    ) {
      const m = headerOnlyModel(parts.metadata, parts.tensors);
      const w = accountWeights(m.tensors);
      assert.equal(w.totalBytes, m.tensors.reduce((a, t) => a + t.byteSize, 0));
      assert.equal(w.tensorCount, m.tensors.length);
    }
  });
});

Deno.test("tensorRole() and layerIndex() follow llama.cpp's layer assignment", () => {
  assert.equal(layerIndex("blk.0.attn_q.weight"), 0);
  assert.equal(layerIndex("blk.79.ffn_up.weight"), 79);
  assert.equal(layerIndex("blkx.1.a"), null);
  assert.equal(tensorRole("token_embd.weight"), "input");
  assert.equal(tensorRole("output.weight"), "output");
  assert.equal(tensorRole("output_norm.weight"), "output");
  assert.equal(tensorRole("output_norm.bias"), "output");
  assert.equal(tensorRole("blk.1.attn_norm.weight"), "layer");
  assert.equal(tensorRole("rope_freqs.weight"), "other");
});

Deno.test("scratchBytes() is the documented sum of live activations", () => {
  const s = { heads: 20, embd: 2560, ffn: 6912, vocab: 128256 };
  const batch = 512, ctx = 4096;
  const kq = 20 * ctx * batch * 4, ffn = 2 * 6912 * batch * 4, stream = 4 * 2560 * batch * 4;
  assert.equal(scratchBytes(s, { ctx, batch }), kq + ffn + stream);
  assert.equal(scratchBytes(s, { ctx, batch, flashAttention: true }), ffn + stream);
  assert.equal(
    scratchBytes(s, { ctx, batch, output: true }),
    kq + ffn + stream + 128256 * batch * 4,
  );
  assert.equal(scratchBytes(s, { ctx, batch, layers: false }), stream);
  assert.equal(scratchBytes(s, { ctx, batch: 1 }) * 512, scratchBytes(s, { ctx, batch }));
});

Deno.test("applyMargins(): 10 % of weights overhead, 15 % safety, both options", () => {
  const d = applyMargins({ weights: 1000, kv: 200, scratch: 100 });
  assert.deepEqual(d, {
    weights: 1000,
    kv: 200,
    scratch: 100,
    overhead: 100,
    needed: 1400,
    margin: 210,
  });
  const none = applyMargins({ weights: 1000, kv: 200, scratch: 100 }, { overhead: 0, safety: 0 });
  assert.equal(none.needed, 1300);
  assert.equal(none.margin, 0);
  assert.equal(applyMargins({ weights: 3, kv: 0, scratch: 0 }).overhead, 1, "rounds up");
});

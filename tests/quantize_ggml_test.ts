import assert from "node:assert/strict";
import { join } from "node:path";
import { dequantizeToNew } from "../src/quant/dequantize.ts";
import {
  fp32ToBf16Bits,
  fp32ToFp16Bits,
  i2sScale,
  quantize,
  quantizeF16,
  quantizeI2S,
} from "../src/quant/quantize.ts";
import { type ModelTargetType, quantizeModel } from "../src/quant/quantize_model.ts";
import { openGguf } from "../src/pipeline/open.ts";
import { openGgufModel } from "../src/gguf/split.ts";
import { packI2S } from "../src/quant/i2s_pack.ts";
import { seededRandom } from "../src/common/random.ts";
import { synthesizeBitnetModel } from "../src/synth/bitnet_model.ts";
import { findGgmlLibrary, ggmlSkipReason, openGgmlReference } from "./reference/ggml.ts";

/** Opens `inPath` (mapped), converts it to `type` and writes `outPath`. */
async function quantizeFile(inPath: string, outPath: string, type: ModelTargetType) {
  using model = await openGguf(inPath);
  return await quantizeModel(model, outPath, type);
}

const ref = openGgmlReference();
const GGML_IDS: Record<string, number> = { F16: 1, BF16: 30, Q8_0: 8, Q4_0: 2, TQ2_0: 35 };

/** Random data of several shapes: normal, ternary, wide magnitudes, and edge values. */
function data(kind: string, n: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  const x = new Float32Array(n);
  const edges = [0, -0, 65504, 65520, 1e-8, -1e-7, 6e-5, 2.5, -2.5, 0.5, 3.4e38, -1e-45];
  for (let i = 0; i < n; i++) {
    switch (kind) {
      case "normal":
        x[i] = r.normal() * 0.7;
        break;
      case "ternary":
        x[i] = [-0.3, 0, 0.3][r.int(3)];
        break;
      case "wide":
        x[i] = (r.float() - 0.5) * 10 ** (r.int(24) - 12);
        break;
      default:
        x[i] = edges[r.int(edges.length)];
    }
  }
  // A few blocks with ties for the largest magnitude (Q4_0 keeps the first).
  x.set([1, -1, 1, -1], 64);
  return x;
}

Deno.test({
  name: "quantizers are bit-exact with ggml_quantize_chunk on random data",
  ignore: ref === null,
  fn: async (t) => {
    for (const [type, id] of Object.entries(GGML_IDS)) {
      await t.step(type, () => {
        for (const [k, kind] of ["normal", "ternary", "wide", "edges"].entries()) {
          const rows = 8, perRow = 512;
          const x = data(kind, rows * perRow, 100 + k);
          const ours = quantize(type, x);
          const theirs = ref!.quantize(id, x, rows, perRow);
          assert.equal(ours.length, theirs.length);
          const first = ours.findIndex((b, i) => b !== theirs[i]);
          assert.equal(first, -1, `${type} ${kind}: first differing byte ${first}`);
        }
      });
    }
  },
});

if (ref === null) console.warn(`quantize_ggml_test: ggml cases skipped: ${ggmlSkipReason()}`);

Deno.test("fp16/bf16 conversions round to nearest even and keep NaN quiet", () => {
  assert.equal(fp32ToFp16Bits(1), 0x3c00);
  assert.equal(fp32ToFp16Bits(-2), 0xc000);
  assert.equal(fp32ToFp16Bits(65504), 0x7bff);
  assert.equal(fp32ToFp16Bits(65520), 0x7c00);
  assert.equal(fp32ToFp16Bits(Infinity), 0x7c00);
  assert.equal(fp32ToFp16Bits(NaN) & 0x7fff, 0x7e00);
  assert.equal(fp32ToFp16Bits(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(fp32ToFp16Bits(1 + 2 ** -11), 0x3c00); // a tie rounds to even
  assert.equal(fp32ToBf16Bits(1), 0x3f80);
  assert.equal(fp32ToBf16Bits(1 + 2 ** -8), 0x3f80); // tie to even
  assert.equal(fp32ToBf16Bits(NaN) & 0x7fc0, 0x7fc0);
});

Deno.test({
  name: "fp32ToFp16Bits equals ggml_fp32_to_fp16_row bit for bit, NaN signs and payloads included",
  ignore: findGgmlLibrary() === null,
  fn() {
    const lib = Deno.dlopen(findGgmlLibrary()!, {
      ggml_fp32_to_fp16_row: { parameters: ["buffer", "buffer", "i64"], result: "void" },
    });
    const words = new Uint32Array(1 << 16);
    let x = 0x9e3779b9;
    for (let i = 0; i < words.length; i++) {
      x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      words[i] = x;
    }
    // NaNs with payloads and both signs, infinities, the rounding edges.
    words.set([0x7f800001, 0xff800001, 0x7fc00000, 0xffc00001, 0x7f802000, 0x7fffffff, 0x7f800000]);
    words.set([0x477fefff, 0x477ff000, 0x33000000, 0x33000001, 0x38800000, 0x387fe000], 8);
    const theirs = new Uint16Array(words.length);
    lib.symbols.ggml_fp32_to_fp16_row(words, theirs, BigInt(words.length));
    lib.close();
    const values = new Float32Array(words.buffer);
    const ours = new Uint16Array(quantizeF16(values).buffer);
    for (let i = 0; i < words.length; i++) {
      if (ours[i] !== theirs[i]) {
        assert.fail(
          `0x${words[i].toString(16)}: ours 0x${ours[i].toString(16)}, ggml 0x${
            theirs[i].toString(16)
          }`,
        );
      }
    }
  },
});

Deno.test("I2_S follows microsoft/BitNet: scale max|x|, sign codes, |x| < 1e-6 is zero", () => {
  const x = new Float32Array(256);
  for (let i = 0; i < 256; i++) x[i] = [0.25, -0.25, 0, 5e-7, -0.7][i % 5];
  const scale = i2sScale(x);
  assert.equal(scale, Math.fround(0.7));
  const packed = quantizeI2S(x);
  assert.equal(packed.length, 256 / 4 + 32);
  const values = dequantizeToNew("I2_S", packed, 256, { backend: "ts" });
  for (let i = 0; i < 256; i++) {
    const expected = Math.abs(x[i]) < 1e-6 ? 0 : Math.sign(x[i]) * scale;
    assert.equal(values[i], Math.fround(expected), `element ${i}`);
  }
  // Ternary input packs exactly as packI2S does.
  const ternary = new Int8Array(384).map((_, i) => (i % 3) - 1);
  const f = Float32Array.from(ternary, (v) => v * 0.5);
  assert.deepEqual(quantizeI2S(f), packI2S(ternary, 0.5));
  assert.throws(() => quantizeI2S(new Float32Array(100)), /multiple of 128/);
  assert.throws(() => quantize("Q5_K", new Float32Array(256)), /Cannot quantize to "Q5_K"/);
});

Deno.test("quantizing a BitNet model's f32 form back to I2_S reproduces its tensors bit for bit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-quantize-" });
  try {
    const original = join(dir, "i2s.gguf");
    await synthesizeBitnetModel(original, { layers: 1, vocab: 300 });
    await quantizeFile(original, join(dir, "f32.gguf"), "F32");
    await quantizeFile(join(dir, "f32.gguf"), join(dir, "back.gguf"), "I2_S");
    const a = await openGgufModel(original);
    const b = await openGgufModel(join(dir, "back.gguf"));
    const bytesA = await Deno.readFile(original);
    const bytesB = await Deno.readFile(join(dir, "back.gguf"));
    assert.equal(a.tensors.length, b.tensors.length);
    for (let i = 0; i < a.tensors.length; i++) {
      const ta = a.tensors[i], tb = b.tensors[i];
      assert.equal(tb.type.name, ta.type.name, ta.name);
      assert.deepEqual(
        bytesB.subarray(tb.fileOffset, tb.fileOffset + tb.byteSize),
        bytesA.subarray(ta.fileOffset, ta.fileOffset + ta.byteSize),
        ta.name,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

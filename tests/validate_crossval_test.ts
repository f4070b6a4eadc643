import assert from "node:assert/strict";
import { ggmlTypeByName } from "../src/gguf/types.ts";
import type { GgufTensorInfo } from "../src/gguf/model.ts";
import { dequantizeToNew } from "../src/quant/dequantize.ts";
import { F16_TO_F32 } from "../src/quant/float.ts";
import { quantize } from "../src/quant/quantize.ts";
import { seededRandom } from "../src/common/random.ts";
import { compareArrays } from "../src/validate/compare.ts";
import {
  CROSSVAL_DEFAULTS,
  crossValidateTensor,
  F16_ROUNDING_BOUND,
  i2sToTq2,
  sampleIndices,
} from "../src/validate/crossval.ts";
import { findGgmlLibrary } from "./reference/ggml.ts";
import { openGgmlReferenceLibrary } from "../src/validate/ggml_reference.ts";

const opened = openGgmlReferenceLibrary(findGgmlLibrary() ?? undefined);
const ref = "reference" in opened ? opened.reference : null;
if (!ref) {
  console.warn(
    `validate_crossval_test: ggml cases skipped: ${(opened as { reason: string }).reason}`,
  );
}

function info(type: string, dims: number[], byteSize: number): GgufTensorInfo {
  return {
    name: `t.${type}`,
    dims,
    type: ggmlTypeByName(type)!,
    offset: 0,
    fileOffset: 0,
    byteSize,
    elementCount: dims.reduce((a, b) => a * b, 1),
    part: 0,
  };
}

function normal(n: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => r.normal());
}

Deno.test("compareArrays: figures computed by hand", () => {
  const s = compareArrays(Float32Array.of(1, 2, 3, 4.5), Float32Array.of(1, 2, 3, 4), {
    within: 1e-6,
    atol: 0.1,
    rtol: 0,
  });
  assert.equal(s.maxAbsError, 0.5);
  assert.equal(s.maxRelError, 0.125);
  assert.equal(s.l2, 0.5);
  assert.equal(s.withinFraction, 0.75);
  assert.equal(s.mismatched, 1);
  assert.equal(s.firstMismatch, 3);
  assert.equal(s.toleranceViolations, 1);
  // cosine = (1+4+9+18) / (sqrt(1+4+9+20.25)·sqrt(30))
  assert.ok(Math.abs(s.cosine - 32 / (Math.sqrt(34.25) * Math.sqrt(30))) < 1e-15);
  const nan = compareArrays(Float32Array.of(NaN, 1), Float32Array.of(NaN, Infinity));
  assert.equal(nan.nonFiniteMismatches, 1);
  assert.equal(nan.maxAbsError, Infinity);
  assert.equal(compareArrays(new Float32Array(3), new Float32Array(3)).cosine, 1);
  assert.throws(() => compareArrays(new Float32Array(1), new Float32Array(2)), /lengths differ/);
});

Deno.test("sampleIndices is seeded: the same seed picks the same tensors", () => {
  assert.deepEqual(sampleIndices(100, 5, 42), sampleIndices(100, 5, 42));
  assert.notDeepEqual(sampleIndices(100, 5, 42), sampleIndices(100, 5, 43));
  const s = sampleIndices(100, 5, 42);
  assert.deepEqual([...s].sort((a, b) => a - b), s);
  assert.equal(new Set(s).size, 5);
});

Deno.test({
  name: "crossval passes on correct data for every type ggml can decode",
  ignore: ref === null,
  fn: async (t) => {
    const x = normal(8 * 512, 7);
    for (const type of ["F32", "F16", "BF16", "Q8_0", "Q4_0", "TQ2_0"]) {
      await t.step(type, () => {
        const bytes = quantize(type, x);
        const row = crossValidateTensor(info(type, [512, 8], bytes.length), bytes, ref!);
        assert.equal(row.status, "pass", row.detail);
        assert.equal(row.figures.maxAbsError, 0);
        assert.equal(row.figures.l2, 0);
        assert.equal(row.figures.withinFraction, 1);
        assert.equal(row.figures.cosine, 1);
      });
    }
  },
});

Deno.test({
  name: "crossval fails with the right figures when one block scale has flipped bits",
  ignore: ref === null,
  fn: () => {
    const x = normal(4 * 256, 11);
    const good = quantize("Q8_0", x);
    const bad = good.slice();
    const block = 5;
    bad[block * 34 + 1] ^= 0x04; // flip an exponent bit of block 5's f16 d: d ×/÷ 2
    const t = info("Q8_0", [256, 4], good.length);
    // bitload reads the corrupted copy, ggml the original: a wrong implementation in miniature.
    const row = crossValidateTensor(t, good, ref!, {
      decode: (tensor) => dequantizeToNew(tensor.type, bad, tensor.elementCount),
    });
    assert.equal(row.status, "fail");
    const d0 = F16_TO_F32[good[block * 34] | (good[block * 34 + 1] << 8)];
    const d1 = F16_TO_F32[bad[block * 34] | (bad[block * 34 + 1] << 8)];
    const q = new Int8Array(bad.buffer, block * 34 + 2, 32);
    let maxAbs = 0, nonZero = 0, first = -1, sum2 = 0;
    for (let j = 0; j < 32; j++) {
      const diff = Math.abs(Math.fround(q[j] * d1) - Math.fround(q[j] * d0));
      maxAbs = Math.max(maxAbs, diff);
      sum2 += diff * diff;
      if (q[j] !== 0) {
        nonZero++;
        if (first < 0) first = block * 32 + j;
      }
    }
    assert.equal(row.figures.maxAbsError, maxAbs);
    assert.equal(row.figures.mismatched, nonZero);
    assert.equal(row.figures.firstMismatch, first);
    assert.equal(row.figures.withinFraction, 1 - nonZero / 1024);
    assert.ok(Math.abs((row.figures.l2 as number) - Math.sqrt(sum2)) < 1e-12);
    assert.match(row.detail!, /elements out of tolerance/);
    assert.match(row.detail!, /L2 .* ≥ 0.00001|L2 .* ≥ 1e-5/);
  },
});

Deno.test({
  name: "I2_S is cross-validated through ggml's TQ2_0 on repacked blocks, f16 scale stated",
  ignore: ref === null,
  fn: () => {
    const r = seededRandom(3);
    const n = 3 * 128; // not a multiple of 256: the last TQ2_0 block is padded
    const x = Float32Array.from({ length: n }, () => [-0.3, 0, 0.3][r.int(3)]);
    const bytes = quantize("I2_S", x);
    const t = info("I2_S", [128, 3], bytes.length);
    const row = crossValidateTensor(t, bytes, ref!);
    assert.equal(row.status, "pass", row.detail);
    assert.equal(row.figures.codeMismatches, 0);
    assert.equal(row.figures.scale, Math.fround(0.3));
    assert.equal(row.figures.f16Scale, F16_TO_F32[0x34cd]);
    const rounding = row.figures.scaleRounding as number;
    assert.ok(rounding > 0 && rounding <= F16_ROUNDING_BOUND, String(rounding));
    assert.ok((row.figures.maxRelError as number) <= F16_ROUNDING_BOUND);
    const { blocks, elements } = i2sToTq2(bytes, n);
    assert.equal(elements, 512);
    assert.equal(blocks.length, 2 * 66);
    // A code 3 (never written; the fork decodes 0, TQ2_0 +2) is a disagreement.
    const corrupt = bytes.slice();
    corrupt[40] |= 0b11;
    const bad = crossValidateTensor(t, corrupt, ref!);
    assert.equal(bad.status, "fail");
    assert.equal(bad.figures.codeMismatches, 1);
    assert.equal(bad.figures.firstCodeMismatch, 128 + 96 + 8); // block 1, byte 8, group 3
  },
});

Deno.test({
  name: "types without a ggml to_float are skipped with the reason; defaults are the seed's",
  ignore: ref === null,
  fn: () => {
    const row = crossValidateTensor(info("I32", [4], 16), new Uint8Array(16), ref!);
    assert.equal(row.status, "skip");
    assert.match(row.detail!, /no to_float for I32/);
    assert.equal(CROSSVAL_DEFAULTS.absoluteTolerance, 1e-5);
    assert.equal(CROSSVAL_DEFAULTS.relativeTolerance, 1e-4);
    assert.equal(CROSSVAL_DEFAULTS.quantizedTolerance, 1e-3);
    assert.equal(CROSSVAL_DEFAULTS.minCosine, 0.99);
    assert.equal(CROSSVAL_DEFAULTS.maxL2, 1e-5);
    assert.equal(CROSSVAL_DEFAULTS.minWithinFraction, 0.999);
  },
});

globalThis.addEventListener("unload", () => ref?.close());

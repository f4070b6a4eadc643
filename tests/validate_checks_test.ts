import assert from "node:assert/strict";
import { ggmlTypeByName } from "../src/gguf/types.ts";
import type { GgufTensorInfo } from "../src/gguf/model.ts";
import { dequantize } from "../src/quant/dequantize.ts";
import { quantize } from "../src/quant/quantize.ts";
import { seededRandom } from "../src/common/random.ts";
import { checkTensorData, scanTensorData } from "../src/validate/check_tensors.ts";
import {
  ACCURACY_DEFAULTS,
  accuracyMetrics,
  accuracyRow,
  accuracyVerdict,
} from "../src/validate/accuracy.ts";
import { findGgmlLibrary } from "./reference/ggml.ts";
import { openGgmlReferenceLibrary } from "../src/validate/ggml_reference.ts";

function info(type: string, n: number, byteSize: number): GgufTensorInfo {
  return {
    name: "w",
    dims: [n],
    type: ggmlTypeByName(type)!,
    offset: 0,
    fileOffset: 0,
    byteSize,
    elementCount: n,
    part: 0,
  };
}

function normal(n: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => r.normal());
}

Deno.test("check-tensors: clean data passes for every quantizable type", () => {
  const x = normal(1024, 1);
  for (const type of ["F32", "F16", "BF16", "Q8_0", "Q4_0", "TQ2_0", "I2_S"]) {
    const bytes = quantize(type, x);
    const row = checkTensorData(info(type, 1024, bytes.length), bytes);
    assert.equal(row.status, "pass", `${type}: ${row.detail}`);
    assert.equal(row.figures.badBlocks, 0);
    assert.equal(row.figures.firstBadBlock, -1);
  }
});

Deno.test("check-tensors: non-finite scales are found with the first bad block", () => {
  const x = normal(32 * 10, 2);
  const q8 = quantize("Q8_0", x);
  q8[3 * 34 + 1] = 0x7c; // block 3: d = ±Inf
  q8[3 * 34] = 0;
  q8[7 * 34 + 1] = 0x7e; // block 7: NaN
  const f = scanTensorData("Q8_0", q8, 320);
  assert.deepEqual(f, {
    badBlocks: 2,
    firstBadBlock: 3,
    problem: "non-finite scale d",
    checked: true,
  });
  const neg = quantize("Q8_0", x);
  neg[4 * 34 + 1] |= 0x80; // block 4: d < 0, impossible for amax/127
  assert.equal(scanTensorData("Q8_0", neg, 320).problem, "negative scale d");
  assert.equal(scanTensorData("Q8_0", neg, 320).firstBadBlock, 4);
  // Q4_0's d = max/−8 may be negative: not a finding.
  const q4 = quantize("Q4_0", x);
  assert.equal(scanTensorData("Q4_0", q4, 320).badBlocks, 0);
  const tq2 = quantize("TQ2_0", normal(512, 3));
  tq2[66 + 65] = 0xfc; // block 1: d = −Inf
  assert.equal(scanTensorData("TQ2_0", tq2, 512).firstBadBlock, 1);
});

Deno.test("check-tensors: NaN and infinity in float tensors, by element", () => {
  const f32 = Float32Array.of(1, 2, NaN, 4, Infinity);
  const r = checkTensorData(info("F32", 5, 20), new Uint8Array(f32.buffer));
  assert.equal(r.status, "fail");
  assert.equal(r.figures.badBlocks, 2);
  assert.equal(r.figures.firstBadBlock, 2);
  assert.equal(r.detail, "NaN in block 2");
  const f16 = quantize("F16", Float32Array.of(0, 1, 70000));
  assert.equal(scanTensorData("F16", f16, 3).problem, "infinity");
  const bf16 = quantize("BF16", Float32Array.of(NaN, 1));
  assert.equal(scanTensorData("BF16", bf16, 2).firstBadBlock, 0);
});

Deno.test("check-tensors: I2_S code 3 and a bad tensor scale", () => {
  const x = Float32Array.from({ length: 512 }, (_, i) => [-1, 0, 1][i % 3]);
  const good = quantize("I2_S", x);
  const bad = good.slice();
  bad[2 * 32 + 5] |= 0b1100; // block 2 gets a code 3
  bad[3 * 32 + 0] = 0xff; // block 3 too
  const f = scanTensorData("I2_S", bad, 512);
  assert.equal(f.badBlocks, 2);
  assert.equal(f.firstBadBlock, 2);
  assert.equal(f.problem, "I2_S code 3");
  const nanScale = good.slice();
  new DataView(nanScale.buffer).setFloat32(128, NaN, true);
  assert.equal(scanTensorData("I2_S", nanScale, 512).problem, "non-finite tensor scale");
  const negScale = good.slice();
  new DataView(negScale.buffer).setFloat32(128, -1, true);
  assert.equal(scanTensorData("I2_S", negScale, 512).problem, "negative tensor scale");
  assert.equal(checkTensorData(info("I32", 4, 16), new Uint8Array(16)).status, "skip");
});

Deno.test("check-tensors agrees with ggml_validate_row_data on ggml's own types", () => {
  const opened = openGgmlReferenceLibrary(findGgmlLibrary() ?? undefined);
  if ("reason" in opened) return; // reported by the crossval tests
  using ref = opened.reference;
  const x = normal(256 * 4, 5);
  const cases: [string, number][] = [["Q8_0", 8], ["Q4_0", 2], ["TQ2_0", 35], ["F16", 1]];
  for (const [type, id] of cases) {
    const bytes = quantize(type, x);
    assert.equal(ref.validateRowData(id, bytes), scanTensorData(type, bytes, 1024).badBlocks === 0);
    const broken = bytes.slice();
    const at = type === "TQ2_0" ? 65 : 1;
    broken[at] = 0x7c;
    broken[at - 1] = 0x01; // NaN
    assert.equal(ref.validateRowData(id, broken), false);
    assert.ok(scanTensorData(type, broken, 1024).badBlocks > 0, type);
  }
});

Deno.test("accuracy metrics match values computed by hand", () => {
  const x = Float32Array.of(1, -1, 2, 0);
  const y = Float32Array.of(1, -0.5, 2, 0);
  const m = accuracyMetrics(x, y, 2);
  // Σx² = 6, Σe² = 0.25, Σxy = 1 + 0.5 + 4 = 5.5, Σy² = 5.25.
  assert.ok(Math.abs(m.cosine - 5.5 / Math.sqrt(6 * 5.25)) < 1e-15);
  assert.ok(Math.abs(m.snrDb - 10 * Math.log10(6 / 0.25)) < 1e-12);
  assert.ok(Math.abs(m.snrLossDb - 10 * Math.log10(1 + 0.25 / 6)) < 1e-12);
  // Row 0: p = softmax(1, −1), q = softmax(1, −0.5); row 1 identical → 0.
  const p = [Math.exp(1), Math.exp(-1)].map((v, _, a) => v / (a[0] + a[1]));
  const q = [Math.exp(1), Math.exp(-0.5)].map((v, _, a) => v / (a[0] + a[1]));
  const kl0 = p[0] * Math.log(p[0] / q[0]) + p[1] * Math.log(p[1] / q[1]);
  assert.ok(Math.abs(m.klMean - kl0 / 2) < 1e-15);
  assert.ok(Math.abs(m.klMax - kl0) < 1e-15);
  // Range: original [−1, 2], quantized [−0.5, 2] → 2.5 / 3.
  assert.ok(Math.abs(m.rangeCovered - 2.5 / 3) < 1e-15);
  assert.equal(m.maxAbsError, 0.5);
  assert.equal(m.rmse, Math.sqrt(0.25 / 4));
  const exact = accuracyMetrics(x, x, 4);
  assert.equal(exact.snrDb, Infinity);
  assert.equal(exact.snrLossDb, 0);
  assert.equal(exact.cosine, 1);
  assert.equal(exact.klMean, 0);
  assert.equal(accuracyVerdict(exact), "");
  assert.match(accuracyVerdict(m), /cosine .* < 0.99/);
  assert.match(accuracyVerdict(m), /range 83.3 % ≤ 95 %/);
  assert.deepEqual(ACCURACY_DEFAULTS, {
    minCosine: 0.99,
    maxKl: 0.01,
    minRangeCovered: 0.95,
    maxSnrLossDb: 1,
  });
});

Deno.test("accuracy of the quantizers on normal data: Q8_0 and Q4_0 pass, I2_S does not", () => {
  const x = normal(64 * 256, 9);
  const figures: Record<string, number> = {};
  for (const type of ["Q8_0", "Q4_0", "TQ2_0", "I2_S"]) {
    const y = new Float32Array(x.length);
    const bytes = quantize(type, x);
    const row = accuracyRow("w", type, x, deq(type, bytes, x.length, y), 256);
    figures[type] = row.figures.cosine as number;
    if (type === "Q8_0" || type === "Q4_0") {
      assert.equal(row.status, "pass", `${type}: ${row.detail}`);
    }
  }
  assert.ok(figures.Q8_0 > 0.9999);
  assert.ok(figures.Q4_0 > 0.99);
  // Sign × max|x| keeps only about sqrt(2/π)·E|x|/max of the signal: a ternary format needs ternary input.
  assert.ok(figures.I2_S < 0.9);
});

function deq(type: string, bytes: Uint8Array, _n: number, out: Float32Array): Float32Array {
  dequantize(type, bytes, out);
  return out;
}

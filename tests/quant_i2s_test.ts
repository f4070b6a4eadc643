/**
 * BitNet I2_S decoding: hand-built known-answer blocks (docs gguf-and-quant-formats.md §3.2), a
 * round trip through the synthetic-model packer, and a bit-exact comparison with ggml's TQ2_0 on
 * the equivalent repacked blocks (I2_S byte = TQ2_0 byte with its four 2-bit fields reversed;
 * d = f16(scale), with scales chosen exactly representable in f16).
 */

import assert from "node:assert/strict";
import { ggmlTypeByName } from "../src/gguf/types.ts";
import { dequantizeTs } from "../src/quant/dequantize_ts.ts";
import { dequantizeI2SCodes, readI2sScale } from "../src/quant/ternary.ts";
import { packI2S } from "../src/quant/i2s_pack.ts";
import { ggmlSkipReason, openGgmlReference } from "./reference/ggml.ts";
import { assertBitsEqual } from "./support/bits.ts";
import { i2sToTq2Blocks, packI2SCodes } from "./support/i2s_layout.ts";

const I2_S = ggmlTypeByName("I2_S")!;
const ref = openGgmlReference();
const skipReason = ref === null ? ggmlSkipReason() : "";
if (ref === null) console.warn(`quant_i2s_test: ggml reference skipped: ${skipReason}`);

/** Code → value of the BitNet fork's `map2bit`. */
const VALUE_OF_CODE = [-1, 0, 1, 0];

function decode(bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  dequantizeTs(I2_S, bytes, out);
  return out;
}

Deno.test("I2_S known answers", async (t) => {
  await t.step("codes 0, 1, 2 in a rotating pattern, scale 1.0", () => {
    const codes = new Uint8Array(128).map((_, i) => ((i % 32) + Math.floor(i / 32)) % 3);
    const out = decode(packI2SCodes(codes, 1), 128);
    for (let i = 0; i < 128; i++) assert.equal(out[i], VALUE_OF_CODE[codes[i]], `element ${i}`);
    // Element order within a block: byte 0 holds elements 0, 32, 64, 96 in bits 7:6 … 1:0.
    assert.deepEqual([out[0], out[32], out[64], out[96]], [-1, 0, 1, -1]);
  });

  await t.step("a hand-written block: byte 0b10_01_00_10, scale 0.3 (f32)", () => {
    const bytes = new Uint8Array(64);
    bytes.fill(0b10_01_00_10, 0, 32);
    new DataView(bytes.buffer).setFloat32(32, 0.3, true);
    const out = decode(bytes, 128);
    const s = Math.fround(0.3);
    for (let p = 0; p < 32; p++) {
      assert.equal(out[p], s);
      assert.equal(out[32 + p], 0);
      assert.equal(out[64 + p], -s);
      assert.equal(out[96 + p], s);
    }
    assert.equal(readI2sScale(bytes, 128), s);
  });

  await t.step("code 3 decodes to 0 (map2bit), and 0 × a negative scale is −0", () => {
    const codes = new Uint8Array(128).fill(3);
    codes[1] = 1;
    codes[2] = 0;
    const out = decode(packI2SCodes(codes, -0.5), 128);
    assert.ok(Object.is(out[0], -0), "code 3 with scale -0.5 gives -0");
    assert.ok(Object.is(out[1], -0), "code 1 with scale -0.5 gives -0");
    assert.equal(out[2], 0.5);
  });

  await t.step("several rows: 3 × 256 random codes, scale 0.3", () => {
    let seed = 7;
    const codes = new Uint8Array(768).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) % 3);
    const s = Math.fround(0.3);
    const out = decode(packI2SCodes(codes, 0.3), 768);
    for (let i = 0; i < 768; i++) {
      assert.equal(out[i], Math.fround(VALUE_OF_CODE[codes[i]] * s), `element ${i}`);
    }
  });

  await t.step("round trip through the synthetic-model packer (src/quant/i2s_pack.ts)", () => {
    const values = new Int8Array(512).map((_, i) => ((i * 7) % 3) - 1);
    const out = decode(packI2S(values, 0.75), 512);
    for (let i = 0; i < 512; i++) assert.equal(out[i], values[i] * 0.75, `element ${i}`);
  });

  await t.step("part of a tensor: one row with the tensor's scale", () => {
    const codes = new Uint8Array(256).map((_, i) => i % 3);
    const tensor = packI2SCodes(codes, 2);
    const secondRow = new Float32Array(128);
    dequantizeI2SCodes(tensor.subarray(32, 64), readI2sScale(tensor, 256), secondRow);
    assertBitsEqual(secondRow, decode(tensor, 256).subarray(128), "second row");
  });
});

/** Reverses the four 2-bit fields of a byte (I2_S group g at shift 6−2g ↔ TQ2_0 at 2g). */
Deno.test("I2_S equals ggml's TQ2_0 on the repacked blocks", async (t) => {
  // [f32 scale, the same value as f16 bits]
  const scales: [number, number][] = [
    [1, 0x3c00],
    [0.375, 0x3600],
    [-0.5, 0xb800],
    [2 ** -20, 0x0010], // an f16 subnormal
    [65504, 0x7bff],
  ];
  for (const [scale, f16] of scales) {
    await t.step({
      name: `scale ${scale}${
        ref === null ? " (skipped: no ggml reference, see the warning above)" : ""
      }`,
      ignore: ref === null,
      fn: () => {
        const n = 4 * 256;
        let seed = Math.round(scale * 1000) + 11;
        const codes = new Uint8Array(n).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) % 3);
        const i2s = packI2SCodes(codes, scale);
        const tq2 = i2sToTq2Blocks(i2s, n, f16);
        assertBitsEqual(decode(i2s, n), ref!.dequantize(35, tq2, n), `scale ${scale}`);
      },
    });
  }
});

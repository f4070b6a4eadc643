/**
 * byteSwapTensor: swaps exactly the fields gguf_convert_endian.py swaps, is its own inverse, and
 * refuses the types that script refuses.
 */

import assert from "node:assert/strict";
import { ggmlTypeByName } from "../src/gguf/types.ts";
import { dequantizeToNew } from "../src/quant/dequantize.ts";
import { byteSwapTensor, canByteSwap } from "../src/quant/endian.ts";

function bigEndianF16Bytes(values: number[]): Uint8Array {
  // f16 bit patterns written most significant byte first.
  return Uint8Array.from(values.flatMap((bits) => [bits >> 8, bits & 0xff]));
}

Deno.test("byteSwapTensor", async (t) => {
  await t.step("F16 and BF16 swap every element", () => {
    const bytes = bigEndianF16Bytes([0x3c00, 0xc000]);
    byteSwapTensor(ggmlTypeByName("F16")!, bytes);
    assert.deepEqual(Array.from(dequantizeToNew("F16", bytes, 2, { backend: "ts" })), [1, -2]);
    const bf = bigEndianF16Bytes([0x3fc0]);
    byteSwapTensor(ggmlTypeByName("BF16")!, bf);
    assert.deepEqual(Array.from(dequantizeToNew("BF16", bf, 1, { backend: "ts" })), [1.5]);
  });
  await t.step("F32 reverses each 4-byte word", () => {
    const bytes = Uint8Array.of(0x3f, 0xc0, 0x00, 0x00, 0xc0, 0x20, 0x00, 0x00);
    byteSwapTensor(ggmlTypeByName("F32")!, bytes);
    assert.deepEqual(Array.from(dequantizeToNew("F32", bytes, 2, { backend: "ts" })), [1.5, -2.5]);
  });
  await t.step("block types swap only their f16 fields", () => {
    const cases: [string, number[]][] = [
      ["Q4_0", [0]],
      ["Q8_0", [0]],
      ["Q1_0", [0]],
      ["Q4_K", [0, 2]],
      ["Q6_K", [208]],
      ["TQ2_0", [64]],
      ["MXFP4", []],
      ["NVFP4", []],
    ];
    for (const [name, fields] of cases) {
      const type = ggmlTypeByName(name)!;
      const original = new Uint8Array(2 * type.typeSize).map((_, i) => (i * 37 + 11) & 0xff);
      const swapped = original.slice();
      byteSwapTensor(type, swapped);
      const expected = original.slice();
      for (let b = 0; b < 2; b++) {
        for (const f of fields) {
          const o = b * type.typeSize + f;
          [expected[o], expected[o + 1]] = [original[o + 1], original[o]];
        }
      }
      assert.deepEqual(swapped, expected, name);
      byteSwapTensor(type, swapped);
      assert.deepEqual(swapped, original, `${name} round trip`);
    }
  });
  await t.step("other types are refused, as gguf_convert_endian.py refuses them", () => {
    for (const name of ["Q5_K", "IQ2_XXS", "I2_S", "Q4_1"]) {
      const type = ggmlTypeByName(name)!;
      assert.equal(canByteSwap(type), false);
      assert.throws(() => byteSwapTensor(type, new Uint8Array(0)), /Cannot byte-swap type/);
    }
    assert.throws(
      () => byteSwapTensor(ggmlTypeByName("Q4_K")!, new Uint8Array(100)),
      /not a multiple of its 144-byte block/,
    );
  });
});

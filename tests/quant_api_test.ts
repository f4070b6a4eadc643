/**
 * The public dequantize API: type resolution by name and id, backend selection, and the error
 * cases (wrong byte length, bad counts, refused types, unknown names).
 */

import { QuantError } from "../src/quant/errors.ts";
import assert from "node:assert/strict";
import { ggmlType, ggmlTypeByName } from "../src/gguf/types.ts";
import {
  dequantize,
  dequantizeToNew,
  nativeDequantizeAvailable,
  resolveGgmlType,
} from "../src/quant/dequantize.ts";
import { dequantizeTs, expectedByteLength } from "../src/quant/dequantize_ts.ts";

function q8Block(d16: number, first: number): Uint8Array {
  const block = new Uint8Array(34);
  block[0] = d16 & 0xff;
  block[1] = d16 >> 8;
  block[2] = first & 0xff;
  return block;
}

Deno.test("type resolution", async (t) => {
  await t.step("names are case-insensitive", () => {
    assert.equal(resolveGgmlType("q4_k").id, 12);
    assert.equal(resolveGgmlType("Q4_K").id, 12);
    assert.equal(resolveGgmlType("i2_s").name, "I2_S");
  });
  await t.step("numbers are upstream ids, except 36 = I2_S", () => {
    assert.equal(resolveGgmlType(39).name, "MXFP4");
    assert.equal(resolveGgmlType(36).name, "I2_S");
    assert.equal(resolveGgmlType(38).name, "IQ4_NL_8_8");
  });
  await t.step("unknown names and ids are QuantErrors (UNKNOWN_TYPE)", () => {
    assert.throws(() => resolveGgmlType("Q9_K"), {
      name: "QuantError",
      code: "UNKNOWN_TYPE",
      reason: 'Unknown ggml type name "Q9_K"',
    });
    assert.throws(() => resolveGgmlType(99), {
      name: "QuantError",
      code: "UNKNOWN_TYPE",
      message: /Unknown ggml type id 99/,
    });
    assert.throws(
      () => dequantizeToNew("nope", new Uint8Array(0), 0),
      /Unknown ggml type name "nope"/,
    );
  });
});

Deno.test("dequantize and dequantizeToNew", async (t) => {
  await t.step("TS backend by name, id and registry entry", () => {
    const block = q8Block(0x3c00, -3);
    for (const type of ["Q8_0", 8, ggmlType(8)!]) {
      const out = dequantizeToNew(type, block, 32, { backend: "ts" });
      assert.equal(out[0], -3);
      assert.equal(out[1], 0);
    }
  });
  await t.step("auto gives the same bits as ts", () => {
    const block = q8Block(0x2e66, 101);
    const a = dequantizeToNew("Q8_0", block, 32, { backend: "auto" });
    const b = dequantizeToNew("Q8_0", block, 32, { backend: "ts" });
    assert.deepEqual(new Uint32Array(a.buffer), new Uint32Array(b.buffer));
  });
  await t.step("native: same bits when available, a clear Error otherwise", () => {
    const block = q8Block(0x2e66, 101);
    if (nativeDequantizeAvailable()) {
      const a = dequantizeToNew("Q8_0", block, 32, { backend: "native", threads: 2 });
      const b = dequantizeToNew("Q8_0", block, 32, { backend: "ts" });
      assert.deepEqual(new Uint32Array(a.buffer), new Uint32Array(b.buffer));
    } else {
      assert.throws(
        () => dequantizeToNew("Q8_0", block, 32, { backend: "native" }),
        /native kernels are unavailable/,
      );
    }
  });
  await t.step("auto falls back to TS for a type the native kernels lack (Q8_1)", () => {
    const block = new Uint8Array(36);
    block[1] = 0x3c; // d = 1.0
    block[4] = 9;
    assert.equal(dequantizeToNew("Q8_1", block, 32, { backend: "auto" })[0], 9);
  });
  await t.step("an unknown backend is refused", () => {
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => dequantize("F32", new Uint8Array(4), new Float32Array(1), { backend: "gpu" as any }),
      /Unknown dequantize backend "gpu"/,
    );
  });
  await t.step("zero elements", () => {
    assert.equal(dequantizeToNew("Q4_K", new Uint8Array(0), 0, { backend: "ts" }).length, 0);
  });
});

Deno.test("error cases", async (t) => {
  await t.step("wrong byte length", () => {
    assert.throws(
      () => dequantizeTs(ggmlTypeByName("Q4_K")!, new Uint8Array(100), new Float32Array(256)),
      {
        name: "QuantError",
        code: "BAD_LENGTH",
        reason: "Expected 144 bytes of Q4_K data for 256 elements but got 100",
      },
    );
    assert.throws(
      () => dequantize("Q8_0", new Uint8Array(35), new Float32Array(32), { backend: "ts" }),
      { code: "BAD_LENGTH", reason: "Expected 34 bytes of Q8_0 data for 32 elements but got 35" },
    );
    // I2_S needs the whole tensor: n/4 bytes of codes plus the 32-byte scale slot.
    assert.throws(
      () => dequantize("I2_S", new Uint8Array(36), new Float32Array(128), { backend: "ts" }),
      { code: "BAD_LENGTH", reason: "Expected 64 bytes of I2_S data for 128 elements but got 36" },
    );
  });
  await t.step("counts that are not whole blocks", () => {
    assert.throws(
      () => dequantize("Q4_K", new Uint8Array(144), new Float32Array(100), { backend: "ts" }),
      { code: "BAD_LENGTH", message: /multiple of its block size 256/ },
    );
    assert.throws(
      () => dequantize("I2_S", new Uint8Array(64), new Float32Array(64), { backend: "ts" }),
      { code: "BAD_LENGTH", message: /multiple of its block size 128/ },
    );
    assert.throws(() => dequantizeToNew("F32", new Uint8Array(0), -1), QuantError);
  });
  await t.step("TL1/TL2 without dims, and I8_S, are refused with a reason", () => {
    for (const name of ["TL1", "TL2"]) {
      const type = ggmlTypeByName(name)!;
      assert.throws(() => dequantizeTs(type, new Uint8Array(64), new Float32Array(128)), {
        name: "QuantError",
        code: "UNSUPPORTED_TYPE",
        message: new RegExp(
          `Cannot dequantize type "${name}" \\(id \\d+\\): .*kernel_config\\.ini`,
        ),
      });
    }
    assert.throws(
      () => dequantizeTs(ggmlTypeByName("I8_S")!, new Uint8Array(1), new Float32Array(1)),
      /Cannot dequantize type "I8_S" \(id 37\): it is BitNet's activation type/,
    );
  });
  await t.step("removed ids (tombstones) are refused", () => {
    for (const id of [4, 5, 31, 32, 33, 36, 37, 38]) {
      const type = ggmlType(id, "ggml")!;
      assert.throws(() => dequantizeTs(type, new Uint8Array(0), new Float32Array(0)), {
        message: new RegExp(
          `Cannot dequantize type "${type.name}" \\(id ${id}\\): ${
            type.refusal!.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")
          }`,
        ),
      });
    }
  });
  await t.step("expectedByteLength", () => {
    assert.equal(expectedByteLength(ggmlTypeByName("Q4_K")!, 512), 288);
    assert.equal(expectedByteLength(ggmlTypeByName("I2_S")!, 2560 * 640), 2560 * 640 / 4 + 32);
    assert.equal(expectedByteLength(ggmlTypeByName("F16")!, 3), 6);
  });
});

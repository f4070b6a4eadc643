import assert from "node:assert/strict";
import { allGgmlTypes, GGML_TYPE_COUNT, ggmlType, tensorByteSize } from "../src/gguf/mod.ts";
import { isWellFormedUtf8 } from "../src/gguf/utf8.ts";
import { ggmlSkipReason, openGgmlReference } from "./reference/ggml.ts";
import { seededRandom } from "../src/common/random.ts";

const ggml = openGgmlReference();

Deno.test({
  name: `type registry matches ggml's own type traits for ids 0–42${
    ggml ? "" : ` [skipped: ${ggmlSkipReason()}]`
  }`,
  ignore: ggml === null,
  fn: () => {
    for (let id = 0; id < GGML_TYPE_COUNT; id++) {
      const ours = ggmlType(id, "ggml")!;
      const theirs = ggml!.traits(id);
      assert.ok(ours, `id ${id} missing`);
      assert.equal(ours.blockSize, theirs.blockSize, `${ours.name} block size`);
      assert.equal(ours.typeSize, theirs.typeSize, `${ours.name} type size`);
      if (theirs.blockSize > 0) {
        assert.equal(ours.name.toLowerCase(), theirs.name.toLowerCase(), `name of id ${id}`);
      } else {
        // ggml names ids 4 and 5 only "DEPRECATED"; the others "TYPE_<NAME> REMOVED, …".
        if (id !== 4 && id !== 5) {
          assert.match(theirs.name, new RegExp(`TYPE_${ours.name} REMOVED`), `tombstone ${id}`);
        }
      }
    }
  },
});

Deno.test("BitNet dialect: ids 36–39 are I2_S, I8_S, TL1, TL2 with the fork's sizes", () => {
  assert.deepEqual([36, 37, 38, 39].map((id) => ggmlType(id, "bitnet")!.name), [
    "I2_S",
    "I8_S",
    "TL1",
    "TL2",
  ]);
  // 2B-4T shapes: attn_k [2560, 640] → 409,600 + 32 bytes; the whole I2_S part of the file is
  // 521,017,920 bytes (gguf-and-quant-formats.md §3.4).
  const i2s = ggmlType(36, "bitnet")!;
  assert.equal(tensorByteSize(i2s, [2560, 640]), 409_632);
  const perBlock = [[2560, 2560], [2560, 640], [2560, 640], [2560, 2560], [2560, 6912], [
    2560,
    6912,
  ], [6912, 2560]].reduce((a, d) => a + tensorByteSize(i2s, d)!, 0);
  assert.equal(perBlock * 30, 521_017_920);
  // TL2 (fork ggml_nbytes): K = 2560, M = 2560 → (2304·2560/3·5/8) + (256·2560/2·4/8) = 1,392,640
  // → pad32 → + 32.
  assert.equal(tensorByteSize(ggmlType(39, "bitnet")!, [2560, 2560]), 1_392_640 + 32);
  // TL1/TL2 decode given a tile configuration (src/quant/tl_config.ts), so the registry has no
  // blanket refusal for them any more.
  assert.ok(ggmlType(38, "bitnet")!.dequantizable);
  assert.equal(ggmlType(39, "bitnet")!.refusal, undefined);
  assert.equal(ggmlType(39, "ggml")!.name, "MXFP4");
  assert.equal(ggmlType(36, "ggml")!.blockSize, 0);
});

Deno.test("every registered name is unique and looks up by id", () => {
  const names = allGgmlTypes().map((t) => t.name);
  assert.equal(new Set(names).size, names.length);
  assert.ok(names.includes("I2_S") && names.includes("MXFP4") && names.includes("Q2_0"));
});

Deno.test("the UTF-8 check accepts exactly what a fatal TextDecoder accepts", () => {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const rng = seededRandom(3);
  const interesting = [
    0x00,
    0x7f,
    0x80,
    0xbf,
    0xc0,
    0xc1,
    0xc2,
    0xdf,
    0xe0,
    0xed,
    0xef,
    0xf0,
    0xf4,
    0xf5,
    0xff,
    0x90,
    0xa0,
    0x9f,
  ];
  let valid = 0;
  for (let i = 0; i < 50_000; i++) {
    const n = 1 + rng.int(6);
    const b = new Uint8Array(n);
    for (let j = 0; j < n; j++) {
      b[j] = rng.int(2) ? interesting[rng.int(interesting.length)] : rng.int(256);
    }
    let expected = true;
    try {
      decoder.decode(b);
    } catch {
      expected = false;
    }
    if (expected) valid++;
    assert.equal(isWellFormedUtf8(b, 0, n), expected, `bytes ${[...b].map((x) => x.toString(16))}`);
  }
  assert.ok(valid > 1000 && valid < 49_000, `a mix of valid (${valid}) and invalid inputs`);
});

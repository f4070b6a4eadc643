/**
 * Property tests: random valid models (every metadata value type, every writable tensor type,
 * both byte orders, alignments 1–4096, BitNet I2_S) go through writer → reader and come back
 * exactly; serialization is deterministic; `writeGguf` + `openGguf(path)` agrees with the bytes
 * path.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { GgufError, type GgufMetadataEntry, openGguf } from "../mod.ts";
import {
  type GgufFile,
  GgufStringArray,
  GgufValueType,
  kv,
  readGguf,
  serializeGguf,
  writeGguf,
} from "../src/gguf/mod.ts";
import {
  floatBits,
  type RandomModel,
  randomModel,
  Rng,
  walkGguf,
  withU32,
} from "./support/gguf_builders.ts";

const MODELS = 500;
const BASE_SEED = 0x5eed_2026;

const TYPED: Record<number, string> = {
  [GgufValueType.UINT8]: "Uint8Array",
  [GgufValueType.INT8]: "Int8Array",
  [GgufValueType.UINT16]: "Uint16Array",
  [GgufValueType.INT16]: "Int16Array",
  [GgufValueType.UINT32]: "Uint32Array",
  [GgufValueType.INT32]: "Int32Array",
  [GgufValueType.FLOAT32]: "Float32Array",
  [GgufValueType.FLOAT64]: "Float64Array",
  [GgufValueType.UINT64]: "BigUint64Array",
  [GgufValueType.INT64]: "BigInt64Array",
};

const TWO_53 = 2n ** 53n;

/** Asserts one read scalar equals the written one, with the documented number/bigint rule. */
function assertScalar(type: number, actual: unknown, expected: unknown, where: string): void {
  switch (type) {
    case GgufValueType.FLOAT32:
    case GgufValueType.FLOAT64: {
      assert.equal(typeof actual, "number", where);
      const f32 = type === GgufValueType.FLOAT32;
      assert.equal(floatBits(actual as number, f32), floatBits(expected as number, f32), where);
      return;
    }
    case GgufValueType.UINT64: {
      const e = BigInt(expected as number | bigint);
      assert.equal(BigInt(actual as number | bigint), e, where);
      assert.equal(typeof actual, e >= TWO_53 ? "bigint" : "number", `${where}: u64 form`);
      return;
    }
    case GgufValueType.INT64: {
      const e = BigInt(expected as number | bigint);
      assert.equal(BigInt(actual as number | bigint), e, where);
      const big = e > TWO_53 || e < -TWO_53;
      assert.equal(typeof actual, big ? "bigint" : "number", `${where}: i64 form`);
      return;
    }
    default:
      assert.equal(actual, expected, where);
  }
}

/** Asserts a read array value equals the written one (typed arrays, bigint, NaN bits, nesting). */
function assertArray(elementType: number, actual: unknown, expected: unknown, where: string): void {
  if (elementType === GgufValueType.ARRAY) {
    const a = actual as { nested: true; items: { elementType: number; values: unknown }[] };
    const e = expected as { items: { elementType: number; values: unknown }[] };
    assert.equal(a.nested, true, where);
    assert.equal(a.items.length, e.items.length, `${where}: nested length`);
    a.items.forEach((item, i) => {
      assert.equal(item.elementType, e.items[i].elementType, `${where}[${i}] element type`);
      assertArray(item.elementType, item.values, e.items[i].values, `${where}[${i}]`);
    });
    return;
  }
  const exp = [...(expected as ArrayLike<unknown> & Iterable<unknown>)];
  if (elementType === GgufValueType.STRING) {
    assert.ok(actual instanceof GgufStringArray, `${where}: GgufStringArray`);
    assert.deepEqual(actual.toArray(), exp, where);
    for (let i = 0; i < exp.length; i++) {
      assert.equal(actual.get(i), exp[i], `${where}[${i}]`);
      assert.deepEqual(actual.bytesAt(i), new TextEncoder().encode(exp[i] as string));
    }
    return;
  }
  if (elementType === GgufValueType.BOOL) {
    assert.ok(Array.isArray(actual), `${where}: boolean[]`);
    assert.deepEqual(actual, exp, where);
    return;
  }
  const ctor = (actual as object).constructor.name;
  assert.equal(ctor, TYPED[elementType], `${where}: typed array class`);
  const arr = actual as ArrayLike<number | bigint>;
  assert.equal(arr.length, exp.length, `${where}: length`);
  for (let i = 0; i < exp.length; i++) {
    if (elementType === GgufValueType.FLOAT32 || elementType === GgufValueType.FLOAT64) {
      const f32 = elementType === GgufValueType.FLOAT32;
      assert.equal(
        floatBits(arr[i] as number, f32),
        floatBits(exp[i] as number, f32),
        `${where}[${i}]`,
      );
    } else if (elementType === GgufValueType.UINT64 || elementType === GgufValueType.INT64) {
      assert.equal(arr[i], BigInt(exp[i] as number | bigint), `${where}[${i}]`);
    } else {
      assert.equal(arr[i], exp[i], `${where}[${i}]`);
    }
  }
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** Asserts that `file` (read from `bytes`) is exactly `model`. */
function assertRoundTrip(
  model: RandomModel,
  file: GgufFile,
  bytes: Uint8Array,
  version: 2 | 3,
  tag: string,
): void {
  const { alignment, littleEndian } = model.options;
  assert.equal(file.version, version, `${tag}: version`);
  assert.equal(file.littleEndian, littleEndian, `${tag}: byte order`);
  assert.equal(file.alignment, alignment, `${tag}: alignment`);
  assert.equal(file.fileSize, bytes.length, `${tag}: file size`);
  assert.equal(file.dialect, model.bitnet ? "bitnet" : "ggml", `${tag}: dialect`);
  assert.deepEqual(file.warnings, [], `${tag}: warnings`);
  assert.deepEqual([...file.metadata.keys()], model.keys, `${tag}: keys in order`);

  for (const input of model.metadata) {
    const entry = file.metadata.get(input.key) as GgufMetadataEntry;
    const where = `${tag}: "${input.key}"`;
    assert.equal(entry.key, input.key, where);
    assert.equal(entry.type, input.type, `${where}: type`);
    if (input.type === GgufValueType.ARRAY) {
      assert.equal(entry.arrayType, input.arrayType, `${where}: element type`);
      assertArray(input.arrayType!, entry.value, input.value, where);
    } else {
      assertScalar(input.type, entry.value, input.value, where);
    }
  }
  if (alignment !== 32) {
    const e = file.metadata.get("general.alignment")!;
    assert.equal(e.type, GgufValueType.UINT32, `${tag}: alignment key type`);
    assert.equal(e.value, alignment, `${tag}: alignment key value`);
  }

  // Layout computed independently: directory end from the walker, offsets packed in order.
  const walked = walkGguf(bytes);
  assert.equal(walked.littleEndian, littleEndian, `${tag}: walker byte order`);
  const dataOffset = model.tensors.length > 0
    ? alignUp(walked.directoryEnd, alignment)
    : walked.directoryEnd;
  assert.equal(file.dataOffset, dataOffset, `${tag}: data offset`);
  assert.equal(file.tensors.length, model.tensors.length, `${tag}: tensor count`);
  let offset = 0;
  model.tensors.forEach((t, i) => {
    const r = file.tensors[i];
    const where = `${tag}: tensor "${t.name}"`;
    assert.equal(r.name, t.name, where);
    assert.deepEqual([...r.dims], [...t.dims], `${where}: dims`);
    assert.equal(r.type.id, t.type.id, `${where}: type id`);
    assert.equal(r.type.name, t.type.name, `${where}: type name`);
    assert.equal(r.offset, offset, `${where}: offset`);
    assert.equal(r.offset % alignment, 0, `${where}: aligned`);
    assert.equal(r.fileOffset, dataOffset + offset, `${where}: file offset`);
    assert.equal(r.byteSize, t.data.length, `${where}: byte size`);
    assert.equal(r.elementCount, t.dims.reduce((a, b) => a * b, 1), `${where}: elements`);
    assert.equal(r.part, 0);
    assert.deepEqual(
      bytes.subarray(r.fileOffset, r.fileOffset + r.byteSize),
      t.data,
      `${where}: data bytes`,
    );
    offset = alignUp(offset + t.data.length, alignment);
  });
  const expectedSize = model.tensors.length > 0 ? dataOffset + offset : walked.directoryEnd;
  assert.equal(bytes.length, expectedSize, `${tag}: total size`);
}

function modelFor(i: number): { rng: Rng; model: RandomModel } {
  const rng = new Rng(BASE_SEED + i);
  // Every 10th model is a BitNet model with I2_S tensors; the rest are random.
  const model = randomModel(rng, i % 10 === 0 ? { bitnet: true } : {});
  return { rng, model };
}

function serialize(model: RandomModel): Uint8Array {
  return serializeGguf(model.metadata, model.tensors, model.options);
}

Deno.test("gguf property: random valid models round-trip writer → reader", async (t) => {
  const started = performance.now();
  const seen = { le: 0, be: 0, bitnet: 0, i2s: 0, nested: 0, aligns: new Set<number>() };
  const valueTypes = new Set<number>();
  const elementTypes = new Set<number>();
  const tensorTypes = new Set<string>();

  await t.step(`${MODELS} random models round-trip exactly (v3, and patched to v2)`, async () => {
    for (let i = 0; i < MODELS; i++) {
      const { rng, model } = modelFor(i);
      const tag = `model seed ${BASE_SEED + i}`;
      const bytes = serialize(model);
      assertRoundTrip(model, await readGguf(bytes), bytes, 3, tag);

      // v2 has the same byte layout: patch the version and read again.
      if (rng.chance(0.25)) {
        const v2 = withU32(bytes, 4, 2, model.options.littleEndian);
        assertRoundTrip(model, await readGguf(v2), v2, 2, `${tag} (v2)`);
      }
      if (model.options.littleEndian) seen.le++;
      else seen.be++;
      if (model.bitnet) seen.bitnet++;
      if (model.tensors.some((x) => x.type.name === "I2_S")) seen.i2s++;
      seen.aligns.add(model.options.alignment);
      for (const e of model.metadata) {
        valueTypes.add(e.type);
        if (e.arrayType !== undefined) elementTypes.add(e.arrayType);
        if (e.arrayType === GgufValueType.ARRAY) seen.nested++;
      }
      for (const x of model.tensors) tensorTypes.add(x.type.name);
    }
  });

  await t.step("the generator covers every value type, element type and byte order", () => {
    for (let v = 0; v <= 12; v++) assert.ok(valueTypes.has(v), `value type ${v} generated`);
    for (let v = 0; v <= 12; v++) assert.ok(elementTypes.has(v), `element type ${v} generated`);
    assert.ok(seen.le > 0 && seen.be > 0, "both byte orders");
    assert.ok(seen.bitnet > 0 && seen.i2s > 0, "BitNet models with I2_S");
    assert.ok(seen.nested > 0, "nested arrays");
    assert.deepEqual([...seen.aligns].sort((a, b) => a - b), [1, 8, 32, 64, 4096]);
    assert.ok(tensorTypes.size >= 30, `tensor types covered: ${[...tensorTypes].join(",")}`);
  });

  await t.step("serializeGguf is deterministic", () => {
    for (let i = 0; i < 50; i++) {
      const { model } = modelFor(i);
      assert.deepEqual(serialize(model), serialize(model), `model seed ${BASE_SEED + i}`);
    }
  });

  await t.step(
    "writeGguf + openGguf(path) agree with serializeGguf + readGguf(bytes)",
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "bitload-gguf-prop-" });
      try {
        for (let i = 0; i < 40; i++) {
          const { model } = modelFor(i);
          const tag = `model seed ${BASE_SEED + i}`;
          const path = join(dir, `m${i}.gguf`);
          await writeGguf(path, model.metadata, model.tensors, model.options);
          const bytes = serialize(model);
          assert.deepEqual(await Deno.readFile(path), bytes, `${tag}: file bytes`);
          const opened = await openGguf(path);
          assert.equal(opened.parts.length, 1);
          assertRoundTrip(model, opened.parts[0], bytes, 3, `${tag} (openGguf)`);
          assert.equal(opened.parts[0].source, path);
          assert.equal(opened.dialect, opened.parts[0].dialect);
          assert.deepEqual(opened.tensors, opened.parts[0].tensors);
          assert.deepEqual([...opened.metadata.keys()], model.keys);
          const fromBytes = await readGguf(bytes);
          assert.deepEqual(
            { ...opened.parts[0], source: "" },
            { ...fromBytes, source: "" },
            `${tag}: path and bytes readers agree`,
          );
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );

  const seconds = (performance.now() - started) / 1000;
  console.log(
    `gguf property: ${MODELS} models (${seen.le} LE, ${seen.be} BE, ${seen.bitnet} BitNet, ` +
      `${seen.i2s} with I2_S, ${seen.nested} nested arrays, ${tensorTypes.size} tensor types) ` +
      `in ${seconds.toFixed(1)} s`,
  );
  assert.ok(seconds < 20, `property run took ${seconds.toFixed(1)} s`);
});

// Regression test (fixed in src/gguf): bitload decodes keys and strings with
// `TextDecoder` whose default `ignoreBOM: false` strips a leading U+FEFF, so "\uFEFFx" reads back
// as "x" (src/gguf/parse.ts `utf8`, src/gguf/string_array.ts `decoder`), and keys "\uFEFFk" and
// "k" are refused as DUPLICATE_KEY (tensor names "\uFEFFt" and "t" as DUPLICATE_TENSOR, a key
// that is just U+FEFF as BAD_KEY "empty"). Fixed: the decoders use `ignoreBOM: true`.
Deno.test({
  name: "regression: a leading U+FEFF in keys and strings survives a round trip",
  ignore: false,
  fn: async () => {
    const bytes = serializeGguf([
      { key: "s", type: GgufValueType.STRING, value: "\uFEFFx" },
      { key: "a", type: GgufValueType.ARRAY, arrayType: GgufValueType.STRING, value: ["\uFEFFy"] },
      { key: "\uFEFFk", type: GgufValueType.UINT8, value: 1 },
      { key: "k", type: GgufValueType.UINT8, value: 2 },
    ], [F32("\uFEFFt", [1], 4), F32("t", [1], 4)]);
    const file = await readGguf(bytes);
    assert.equal(file.metadata.get("s")?.value, "\uFEFFx");
    assert.deepEqual((file.metadata.get("a")?.value as GgufStringArray).toArray(), ["\uFEFFy"]);
    assert.deepEqual([...file.metadata.keys()], ["s", "a", "\uFEFFk", "k"]);
    assert.deepEqual(file.tensors.map((t) => t.name), ["\uFEFFt", "t"]);
  },
});

/** Calls `f` and returns the GgufError code it throws, or a description of what else happened. */
function thrownCode(f: () => unknown): string {
  try {
    f();
    return "no error";
  } catch (e) {
    return e instanceof GgufError ? e.code : `${(e as Error).name}: ${(e as Error).message}`;
  }
}

const F32 = (name: string, dims: number[], bytes: number) => ({
  name,
  type: "F32",
  dims,
  data: new Uint8Array(bytes),
});

Deno.test("gguf property: the writer refuses what it cannot encode with a GgufError", async (t) => {
  const cases: [string, () => unknown][] = [
    ["u32 1.5", () => serializeGguf([kv.u32("a", 1.5)], [])],
    ["u8 256", () => serializeGguf([kv.u8("a", 256)], [])],
    ["i8 -129", () => serializeGguf([kv.i8("a", -129)], [])],
    ["u64 -1", () => serializeGguf([kv.u64("a", -1)], [])],
    ["u64 2^64", () => serializeGguf([kv.u64("a", 2n ** 64n)], [])],
    ["i64 2^63", () => serializeGguf([kv.i64("a", 2n ** 63n)], [])],
    ["f32 given a bigint", () => serializeGguf([{ key: "a", type: 6, value: 1n }], [])],
    ["string given a number", () => serializeGguf([{ key: "a", type: 8, value: 3 }], [])],
    ["value type 13", () => serializeGguf([{ key: "a", type: 13 as 8, value: 3 }], [])],
    ["array without element type", () => serializeGguf([{ key: "a", type: 9, value: [1] }], [])],
    ["array of arrays given numbers", () => serializeGguf([kv.array("a", 9, [1])], [])],
    ["bool array given numbers", () => serializeGguf([kv.array("a", 7, [1])], [])],
    ["empty key", () => serializeGguf([kv.u8("", 1)], [])],
    ["duplicate key", () => serializeGguf([kv.u8("a", 1), kv.u8("a", 2)], [])],
    ["alignment 3", () => serializeGguf([], [], { alignment: 3 })],
    ["alignment 0", () => serializeGguf([], [], { alignment: 0 })],
    [
      "alignment option and key disagree",
      () => serializeGguf([kv.u32("general.alignment", 64)], [], { alignment: 32 }),
    ],
    ["empty tensor name", () => serializeGguf([], [F32("", [1], 4)])],
    ["tensor name of 64 bytes", () => serializeGguf([], [F32("x".repeat(64), [1], 4)])],
    ["duplicate tensor", () => serializeGguf([], [F32("t", [1], 4), F32("t", [1], 4)])],
    ["5 dims", () => serializeGguf([], [F32("t", [1, 1, 1, 1, 1], 4)])],
    [
      "ne0 not a block multiple",
      () => serializeGguf([], [{ name: "t", type: "Q4_0", dims: [16], data: new Uint8Array(9) }]),
    ],
    [
      "unknown type name",
      () => serializeGguf([], [{ name: "t", type: "Q9_9", dims: [1], data: new Uint8Array(1) }]),
    ],
    [
      "removed type",
      () =>
        serializeGguf([], [{ name: "t", type: "Q4_0_4_4", dims: [32], data: new Uint8Array(18) }]),
    ],
    ["wrong data length", () => serializeGguf([], [F32("t", [4], 15)])],
    ["dims overflowing 2^53", () => serializeGguf([], [F32("t", [2 ** 30, 2 ** 30, 2 ** 30], 0)])],
  ];
  for (const [name, f] of cases) {
    await t.step(name, () => {
      const code = thrownCode(f);
      assert.ok(
        code === "BAD_ARGUMENT" || code === "TENSOR_TOO_LARGE",
        `expected a GgufError, got ${code}`,
      );
    });
  }
});

// Regression (fixed in src/gguf/writer.ts): the writer throws a RangeError instead of a
// GgufError for negative dims and for a TL2 tensor with ne[0] = 0 (NaN size), and writes files its
// own reader refuses: alignment 2^31 (reader: BAD_ALIGNMENT, above MAX_ALIGNMENT) and a
// general.alignment key that is not a UINT32. Un-ignore once fixed.
Deno.test({
  name: "regression: the writer refuses bad dims and unreadable alignments with BAD_ARGUMENT",
  ignore: false,
  fn: () => {
    assert.equal(thrownCode(() => serializeGguf([], [F32("t", [-32], 0)])), "BAD_ARGUMENT");
    assert.equal(
      thrownCode(() =>
        serializeGguf([kv.string("general.architecture", "bitnet-b1.58")], [
          { name: "t", type: "TL2", dims: [0, 4], data: new Uint8Array(0) },
        ])
      ),
      "BAD_ARGUMENT",
    );
    assert.equal(thrownCode(() => serializeGguf([], [], { alignment: 2 ** 31 })), "BAD_ARGUMENT");
    assert.equal(
      thrownCode(() => serializeGguf([kv.u64("general.alignment", 64)], [])),
      "BAD_ARGUMENT",
    );
  },
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { GgufError, openGguf } from "../mod.ts";
import {
  ggmlType,
  type GgufStringArray,
  GgufValueType,
  inspectJson,
  kv,
  readGguf,
  rewriteGgufMetadata,
  serializeGguf,
  splitPartPath,
  tensorByteSize,
  writeGguf,
} from "../src/gguf/mod.ts";
import { bitnetModelParts } from "../src/synth/mod.ts";
import { openGgmlReference } from "./reference/ggml.ts";
import { referenceVocab, vocabSkipReason } from "./reference/assets.ts";

/** Asserts that `fn` rejects with a GgufError of `code` and returns it. */
async function expectGgufError(fn: () => Promise<unknown>, code: string): Promise<GgufError> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof GgufError, `expected GgufError ${code}, got ${e}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.reason}`);
    assert.ok(e.offset >= 0);
    assert.ok(e.reason.length > 0);
    return e;
  }
  assert.fail(`expected GgufError ${code}, but nothing was thrown`);
}

/**
 * A hand-built GGUF v3 file with full control over tensor offsets and type ids (the writer
 * refuses to produce such files): one string key, then tensor infos as given, then `dataSize`
 * zero bytes of data.
 */
function rawGguf(
  arch: string,
  tensors: { name: string; dims: number[]; typeId: number; offset: number }[],
  dataSize: number,
  alignment = 32,
): Uint8Array {
  const parts: number[] = [];
  const u32 = (v: number) => parts.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
  const u64 = (v: number) => {
    u32(v % 2 ** 32);
    u32(Math.floor(v / 2 ** 32));
  };
  const str = (s: string) => {
    const b = new TextEncoder().encode(s);
    u64(b.length);
    parts.push(...b);
  };
  parts.push(0x47, 0x47, 0x55, 0x46);
  u32(3);
  u64(tensors.length);
  u64(1);
  str("general.architecture");
  u32(8);
  str(arch);
  for (const t of tensors) {
    str(t.name);
    u32(t.dims.length);
    for (const d of t.dims) u64(d);
    u32(t.typeId);
    u64(t.offset);
  }
  while (parts.length % alignment !== 0) parts.push(0);
  const out = new Uint8Array(parts.length + dataSize);
  out.set(parts);
  return out;
}

Deno.test("synthetic BitNet model has the official 2B-4T key set, names and types", async () => {
  const { metadata, tensors } = bitnetModelParts({ layers: 2 });
  const file = await readGguf(serializeGguf(metadata, tensors));
  assert.equal(file.version, 3);
  assert.equal(file.dialect, "bitnet");
  assert.deepEqual([...file.metadata.keys()].sort(), [
    "bitnet-b1.58.attention.head_count",
    "bitnet-b1.58.attention.head_count_kv",
    "bitnet-b1.58.attention.layer_norm_rms_epsilon",
    "bitnet-b1.58.block_count",
    "bitnet-b1.58.context_length",
    "bitnet-b1.58.embedding_length",
    "bitnet-b1.58.feed_forward_length",
    "bitnet-b1.58.rope.dimension_count",
    "bitnet-b1.58.rope.freq_base",
    "bitnet-b1.58.vocab_size",
    "general.architecture",
    "general.file_type",
    "general.name",
    "general.quantization_version",
    "tokenizer.chat_template",
    "tokenizer.ggml.add_bos_token",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.merges",
    "tokenizer.ggml.model",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.pre",
    "tokenizer.ggml.scores",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.tokens",
  ]);
  assert.equal(file.metadata.size, 25); // ggml-model-i2_s.gguf's 24 and tokenizer.ggml.pre
  assert.equal(file.tensors[0].name, "token_embd.weight");
  assert.equal(file.tensors[0].type.name, "F16");
  assert.equal(file.tensors.at(-1)!.name, "output_norm.weight");
  assert.ok(!file.tensors.some((t) => t.name === "output.weight"), "tied LM head");
  const byType = (name: string) => file.tensors.filter((t) => t.type.name === name).length;
  assert.equal(byType("I2_S"), 2 * 7);
  assert.equal(byType("F32"), 2 * 4 + 1);
  for (const t of file.tensors.filter((t) => t.type.name === "I2_S")) {
    assert.equal(t.type.id, 36);
    assert.equal(t.byteSize, t.elementCount / 4 + 32);
  }
  const tokens = file.metadata.get("tokenizer.ggml.tokens")!.value as GgufStringArray;
  assert.equal(tokens.length, 1024);
  assert.equal(tokens.get(32), "Ġ");
  assert.equal(tokens.get(1022), "<|begin_of_text|>");
  assert.equal(file.metadata.get("tokenizer.ggml.bos_token_id")!.value, 1022);
});

Deno.test("synthesis is deterministic per seed", async () => {
  const hash = async (seed: number) => {
    const { metadata, tensors } = bitnetModelParts({ layers: 1, seed });
    const bytes = serializeGguf(metadata, tensors);
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)).toHex();
  };
  assert.equal(await hash(7), await hash(7));
  assert.notEqual(await hash(7), await hash(8));
});

Deno.test("u64/i64 values stay exact; JSON shows big ones as decimal strings", async () => {
  const big = 2n ** 53n + 1n;
  const bytes = serializeGguf([
    kv.u64("a.big", big),
    kv.u64("a.small", 12345),
    kv.i64("a.negative", -(2n ** 62n)),
    kv.array("a.list", GgufValueType.UINT64, [1n, 2n ** 64n - 1n]),
    kv.f32("a.nan", NaN),
  ], []);
  const file = await readGguf(bytes);
  assert.equal(file.metadata.get("a.big")!.value, big);
  assert.equal(file.metadata.get("a.small")!.value, 12345);
  assert.equal(file.metadata.get("a.negative")!.value, -(2n ** 62n));
  const json = inspectJson({
    parts: [file],
    metadata: file.metadata,
    tensors: file.tensors,
    dialect: file.dialect,
    warnings: [],
  });
  assert.equal(json.metadata["a.big"], "9007199254740993");
  assert.equal(json.metadata["a.small"], 12345);
  assert.deepEqual(json.metadata["a.list"], [1, "18446744073709551615"]);
  assert.equal(json.metadata["a.nan"], "NaN");
});

Deno.test("big-endian files read the same as little-endian ones", async () => {
  const { metadata, tensors } = bitnetModelParts({ layers: 1, vocab: 300 });
  const le = await readGguf(serializeGguf(metadata, tensors));
  const be = await readGguf(serializeGguf(metadata, tensors, { littleEndian: false }));
  assert.equal(be.littleEndian, false);
  assert.deepEqual(inspectJsonOf(be), inspectJsonOf(le));
});

function inspectJsonOf(file: Awaited<ReturnType<typeof readGguf>>) {
  return inspectJson({
    parts: [file],
    metadata: file.metadata,
    tensors: file.tensors,
    dialect: file.dialect,
    warnings: [],
  });
}

Deno.test("versions: v2 accepted, v1 and v4 refused, bad magic refused", async () => {
  const bytes = serializeGguf([kv.string("general.architecture", "llama")], []);
  const v2 = bytes.slice();
  v2[4] = 2;
  assert.equal((await readGguf(v2)).version, 2);
  const v1 = bytes.slice();
  v1[4] = 1;
  const e = await expectGgufError(() => readGguf(v1), "UNSUPPORTED_VERSION");
  assert.match(e.reason, /v1/);
  const v4 = bytes.slice();
  v4[4] = 4;
  await expectGgufError(() => readGguf(v4), "UNSUPPORTED_VERSION");
  const zip = bytes.slice();
  zip.set([0x50, 0x4b, 3, 4]);
  const m = await expectGgufError(() => readGguf(zip), "BAD_MAGIC");
  assert.match(m.reason, /PK\\x03\\x04/);
});

Deno.test("general.alignment must be a UINT32 power of two", async () => {
  // The writer refuses both a non-UINT32 key and 48, so write a UINT32 32 and patch the bytes.
  await expectGgufError(
    () => Promise.resolve().then(() => serializeGguf([kv.u64("general.alignment", 32)], [])),
    "BAD_ARGUMENT",
  );
  const int32 = serializeGguf([kv.u32("general.alignment", 32)], []);
  new DataView(int32.buffer).setUint32(int32.length - 8, 5, true); // value type UINT32 → INT32
  const t = await expectGgufError(() => readGguf(int32), "BAD_ALIGNMENT");
  assert.match(t.reason, /must be a UINT32 but is a INT32/);
  const bytes = serializeGguf([kv.u32("general.alignment", 32)], []);
  new DataView(bytes.buffer).setUint32(bytes.length - 4, 48, true);
  const e = await expectGgufError(() => readGguf(bytes), "BAD_ALIGNMENT");
  assert.match(e.reason, /48/);
  const file = await readGguf(
    serializeGguf([kv.string("general.architecture", "llama")], [
      { name: "w", type: "F32", dims: [8], data: new Uint8Array(32) },
    ], { alignment: 4096 }),
  );
  assert.equal(file.alignment, 4096);
  assert.equal(file.dataOffset % 4096, 0);
});

Deno.test("tensor placement: bounds, alignment, overlap, duplicates, removed and unknown types", async (t) => {
  await t.step("in bounds", async () => {
    const f = await readGguf(
      rawGguf("llama", [{ name: "a", dims: [8], typeId: 0, offset: 0 }], 32),
    );
    assert.equal(f.tensors[0].byteSize, 32);
  });
  await t.step("out of bounds", async () => {
    await expectGgufError(
      () => readGguf(rawGguf("llama", [{ name: "a", dims: [8], typeId: 0, offset: 0 }], 16)),
      "TENSOR_OUT_OF_BOUNDS",
    );
  });
  await t.step("misaligned", async () => {
    await expectGgufError(
      () => readGguf(rawGguf("llama", [{ name: "a", dims: [8], typeId: 0, offset: 4 }], 64)),
      "TENSOR_MISALIGNED",
    );
  });
  await t.step("overlap", async () => {
    await expectGgufError(() =>
      readGguf(rawGguf("llama", [
        { name: "a", dims: [16], typeId: 0, offset: 0 },
        { name: "b", dims: [8], typeId: 0, offset: 32 },
      ], 128)), "TENSOR_OVERLAP");
  });
  await t.step("duplicate name", async () => {
    await expectGgufError(() =>
      readGguf(rawGguf("llama", [
        { name: "a", dims: [8], typeId: 0, offset: 0 },
        { name: "a", dims: [8], typeId: 0, offset: 32 },
      ], 64)), "DUPLICATE_TENSOR");
  });
  await t.step("removed type is refused by name", async () => {
    const e = await expectGgufError(
      () => readGguf(rawGguf("llama", [{ name: "a", dims: [32], typeId: 31, offset: 0 }], 64)),
      "REMOVED_TYPE",
    );
    assert.match(e.reason, /Q4_0_4_4/);
  });
  await t.step("unknown type id", async () => {
    await expectGgufError(
      () => readGguf(rawGguf("llama", [{ name: "a", dims: [32], typeId: 43, offset: 0 }], 64)),
      "UNKNOWN_TYPE",
    );
  });
  await t.step("ne0 not a multiple of the block size", async () => {
    await expectGgufError(
      () => readGguf(rawGguf("llama", [{ name: "a", dims: [33], typeId: 8, offset: 0 }], 64)),
      "BAD_BLOCK_MULTIPLE",
    );
  });
  await t.step("five dims", async () => {
    await expectGgufError(
      () =>
        readGguf(
          rawGguf("llama", [{ name: "a", dims: [1, 1, 1, 1, 1], typeId: 0, offset: 0 }], 32),
        ),
      "BAD_DIMS",
    );
  });
});

Deno.test("ids 36–39: the architecture picks the dialect, the gaps confirm or overrule it", async (t) => {
  const i2s = ggmlType(36, "bitnet")!;
  const size = tensorByteSize(i2s, [256, 4])!; // 256·4/4 + 32 = 288
  assert.equal(size, 288);
  await t.step("BitNet architecture, I2_S sizes: I2_S", async () => {
    const f = await readGguf(rawGguf("bitnet-b1.58", [
      { name: "a", dims: [256, 4], typeId: 36, offset: 0 },
      { name: "b", dims: [256, 4], typeId: 36, offset: 288 },
    ], 576));
    assert.equal(f.dialect, "bitnet");
    assert.equal(f.tensors[1].type.name, "I2_S");
    assert.equal(f.warnings.length, 0);
  });
  await t.step("llama architecture, I2_S sizes: switch to BitNet with a warning", async () => {
    const f = await readGguf(rawGguf("llama", [
      { name: "a", dims: [256, 4], typeId: 36, offset: 0 },
    ], 288));
    assert.equal(f.dialect, "bitnet");
    assert.equal(f.tensors[0].type.name, "I2_S");
    assert.match(f.warnings[0], /fits the 288-byte gap/);
  });
  await t.step("BitNet architecture, MXFP4 sizes on id 39: read as MXFP4", async () => {
    // MXFP4 [256, 4]: 32 blocks × 17 = 544 bytes; TL2 would be 288.
    const f = await readGguf(rawGguf("bitnet-b1.58", [
      { name: "a", dims: [256, 4], typeId: 39, offset: 0 },
    ], 544));
    assert.equal(f.dialect, "ggml");
    assert.equal(f.tensors[0].type.name, "MXFP4");
    assert.match(f.warnings[0], /TL2 \(288 bytes\)/);
  });
  await t.step("neither fits: DIALECT_MISMATCH naming both", async () => {
    const e = await expectGgufError(() =>
      readGguf(rawGguf("bitnet-b1.58", [
        { name: "a", dims: [256, 4], typeId: 39, offset: 0 },
      ], 200)), "DIALECT_MISMATCH");
    assert.match(e.reason, /TL2/);
    assert.match(e.reason, /MXFP4/);
  });
  await t.step("llama architecture, id 36 that fits nothing: refused as removed type", async () => {
    const e = await expectGgufError(
      () => readGguf(rawGguf("llama", [{ name: "a", dims: [256, 4], typeId: 36, offset: 0 }], 64)),
      "REMOVED_TYPE",
    );
    assert.match(e.reason, /IQ4_NL_4_4/);
  });
});

Deno.test("metadata from a stream and from HTTP range requests equals the file's", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "m.gguf");
    const { metadata, tensors } = bitnetModelParts({
      layers: 8,
      dim: 1024,
      ffn: 2816,
      vocab: 2048,
    });
    await writeGguf(path, metadata, tensors);
    const bytes = await Deno.readFile(path);
    const fromPath = await readGguf(path);
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 7919) c.enqueue(bytes.slice(i, i + 7919));
        c.close();
      },
    });
    const fromStream = await readGguf(chunks);
    assert.deepEqual(inspectJsonOf(fromStream), inspectJsonOf(fromPath));

    let served = 0;
    let requests = 0;
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      requests++;
      if (req.method === "HEAD") {
        return new Response(null, { headers: { "content-length": String(bytes.length) } });
      }
      const m = /bytes=(\d+)-(\d+)/.exec(req.headers.get("range") ?? "");
      if (!m) return new Response(bytes);
      const start = Number(m[1]);
      const end = Math.min(Number(m[2]), bytes.length - 1);
      if (start >= bytes.length) return new Response(null, { status: 416 });
      served += end - start + 1;
      return new Response(bytes.slice(start, end + 1), {
        status: 206,
        headers: { "content-range": `bytes ${start}-${end}/${bytes.length}` },
      });
    });
    try {
      const url = `http://127.0.0.1:${server.addr.port}/m.gguf`;
      const remote = await readGguf(url);
      assert.deepEqual(inspectJsonOf(remote), inspectJsonOf(fromPath));
      assert.equal(remote.fileSize, bytes.length);
      // Only the header region was fetched, not the tensor data.
      assert.ok(served >= fromPath.dataOffset - 32, `served ${served}`);
      assert.ok(served < bytes.length / 4, `served ${served} of ${bytes.length}`);
      assert.ok(requests <= 4, `${requests} requests`);
    } finally {
      await server.shutdown();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("split models: any part opens the whole model; missing and inconsistent parts are refused", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const { metadata, tensors } = bitnetModelParts({ layers: 2, vocab: 300 });
    const prefix = join(dir, "model");
    const count = 3;
    const per = Math.ceil(tensors.length / count);
    const writeParts = async (
      tweak: (i: number) => { no?: number; count?: number; total?: number } = () => ({}),
    ) => {
      for (let i = 0; i < count; i++) {
        const mine = tensors.slice(i * per, (i + 1) * per);
        const w = tweak(i);
        const split = [
          kv.u16("split.no", w.no ?? i),
          kv.u16("split.count", w.count ?? count),
          kv.i32("split.tensors.count", w.total ?? tensors.length),
        ];
        await writeGguf(
          splitPartPath(prefix, i, count),
          i === 0 ? [...metadata, ...split] : split,
          mine,
        );
      }
    };
    await writeParts();
    await t.step("open from part 2", async () => {
      const model = await openGguf(splitPartPath(prefix, 1, count));
      assert.equal(model.parts.length, 3);
      assert.deepEqual(model.tensors.map((x) => x.name), tensors.map((x) => x.name));
      assert.deepEqual([...new Set(model.tensors.map((x) => x.part))], [0, 1, 2]);
      assert.equal(model.metadata.get("general.architecture")!.value, "bitnet-b1.58");
    });
    await t.step("inconsistent split.count", async () => {
      await writeParts((i) => (i === 2 ? { count: 4 } : {}));
      await expectGgufError(() => openGguf(splitPartPath(prefix, 0, count)), "SPLIT_INCONSISTENT");
    });
    await t.step("wrong split.tensors.count", async () => {
      await writeParts(() => ({ total: 5 }));
      await expectGgufError(() => openGguf(splitPartPath(prefix, 0, count)), "SPLIT_INCONSISTENT");
    });
    await t.step("missing part", async () => {
      await writeParts();
      await Deno.remove(splitPartPath(prefix, 2, count));
      const e = await expectGgufError(
        () => openGguf(splitPartPath(prefix, 0, count)),
        "SPLIT_MISSING_PART",
      );
      assert.match(e.reason, /00003-of-00003/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metadata rewrite keeps tensor data byte for byte and never edits in place", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "m.gguf");
    const { metadata, tensors } = bitnetModelParts({ layers: 1, vocab: 300 });
    await writeGguf(path, metadata, tensors);
    const before = await Deno.readFile(path);
    const file = await readGguf(path);
    const out = join(dir, "renamed.gguf");
    await rewriteGgufMetadata(
      file,
      out,
      (entries) =>
        entries.map((e) =>
          e.key === "general.name" ? kv.string("general.name", "a much longer name than before") : e
        ),
    );
    assert.deepEqual(await Deno.readFile(path), before, "source untouched");
    const renamed = await readGguf(out);
    assert.equal(renamed.metadata.get("general.name")!.value, "a much longer name than before");
    const after = await Deno.readFile(out);
    assert.deepEqual(
      after.subarray(renamed.dataOffset),
      before.subarray(file.dataOffset),
      "data section identical",
    );
    assert.deepEqual(renamed.tensors.map((x) => x.offset), file.tensors.map((x) => x.offset));
    const leftovers = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
      n.endsWith(".tmp")
    );
    assert.deepEqual(leftovers, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const ggml = openGgmlReference();
const bpe = referenceVocab("llama-bpe");

Deno.test({
  name: `the Llama-3 vocabulary (128,256 tokens) reads like ggml reads it${
    bpe ? "" : ` [skipped: ${vocabSkipReason("llama-bpe")}]`
  }`,
  ignore: bpe === null,
  fn: async () => {
    const file = await readGguf(bpe!);
    const tokens = file.metadata.get("tokenizer.ggml.tokens")!.value as GgufStringArray;
    const merges = file.metadata.get("tokenizer.ggml.merges")!.value as GgufStringArray;
    assert.equal(tokens.length, 128256);
    assert.equal(merges.length, 280147);
    assert.equal(tokens.get(128000), "<|begin_of_text|>");
    assert.equal(merges.get(0), "Ġ Ġ");
    if (ggml) {
      const ref = ggml.readGguf(bpe!)!;
      assert.deepEqual([...file.metadata.keys()], ref.keys);
      assert.equal(file.dataOffset, ref.dataOffset);
      assert.equal(file.alignment, ref.alignment);
    }
  },
});

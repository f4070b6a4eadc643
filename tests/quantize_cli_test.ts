import assert from "node:assert/strict";
import { join } from "node:path";
import { openGgufModel } from "../src/gguf/split.ts";
import { kv, writeGguf } from "../src/gguf/writer.ts";
import { metadataNumber } from "../src/gguf/metadata.ts";
import { synthesizeBitnetModel } from "../src/synth/bitnet_model.ts";
import { QUANTIZE_HELP, runQuantize } from "../src/cli/quantize.ts";
import { byteSwapTensor } from "../src/quant/endian.ts";
import { ggmlTypeByName } from "../src/gguf/types.ts";
import { seededRandom } from "../src/common/random.ts";

const dir = await Deno.makeTempDir({ prefix: "bitload-quantize-cli-" });
const model = join(dir, "m.gguf");
await synthesizeBitnetModel(model, { layers: 1, vocab: 300 });

async function run(args: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const code = await runQuantize(args, (s) => lines.push(s));
  return { code, text: lines.join("\n") };
}

Deno.test("bitload quantize converts the matrices and keeps 1-D tensors", async () => {
  const f32 = join(dir, "f32.gguf");
  assert.equal((await run([model, f32, "--type", "f32", "--quiet"])).code, 0);
  for (const type of ["Q8_0", "Q4_0", "TQ2_0", "I2_S", "F16", "BF16"]) {
    const out = join(dir, `${type}.gguf`);
    const r = await run([f32, out, "--type", type]);
    assert.equal(r.code, 0);
    assert.match(r.text, new RegExp(`→ .*${type}\\.gguf: \\d+ of 13 tensors converted to ${type}`));
    const m = await openGgufModel(out);
    const byName = new Map(m.tensors.map((t) => [t.name, t.type.name]));
    assert.equal(byName.get("blk.0.ffn_up.weight"), type);
    assert.equal(byName.get("blk.0.attn_norm.weight"), "F32");
    assert.equal(
      byName.get("token_embd.weight"),
      type === "I2_S" || type === "TQ2_0" ? "F16" : type,
    );
    assert.equal(metadataNumber(m.metadata, "general.file_type") !== undefined, true);
    assert.deepEqual(m.warnings, []);
  }
  const entries = await Array.fromAsync(Deno.readDir(dir));
  assert.equal(entries.filter((e) => e.name.endsWith(".tmp")).length, 0);
});

Deno.test("bitload quantize: I2_S needs a BitNet architecture; usage errors", async () => {
  const llama = join(dir, "llama.gguf");
  await writeGguf(llama, [kv.string("general.architecture", "llama")], [
    { name: "w", type: "F32", dims: [128, 2], data: new Uint8Array(1024) },
  ]);
  await assert.rejects(
    () => run([llama, join(dir, "x.gguf"), "--type", "I2_S"]),
    /only in BitNet files/,
  );
  assert.equal((await run([llama, join(dir, "l8.gguf"), "--type", "Q8_0"])).code, 0);
  await assert.rejects(
    () => run([model, join(dir, "y.gguf"), "--type", "Q5_K"]),
    /--type must be one of/,
  );
  await assert.rejects(() => run([model]), /needs IN.gguf and OUT.gguf/);
  assert.equal((await run(["--help"])).text, QUANTIZE_HELP);
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

Deno.test("bitload quantize: a big-endian source gives the same little-endian output", async () => {
  const r = seededRandom(8);
  const x = Float32Array.from({ length: 2 * 256 }, () => r.normal());
  const le = new Uint8Array(x.buffer.slice(0));
  const be = le.slice();
  byteSwapTensor(ggmlTypeByName("F32")!, be);
  const meta = [kv.string("general.architecture", "llama")];
  await writeGguf(join(dir, "le.gguf"), meta, [{
    name: "w",
    type: "F32",
    dims: [256, 2],
    data: le,
  }]);
  await writeGguf(join(dir, "be.gguf"), meta, [{
    name: "w",
    type: "F32",
    dims: [256, 2],
    data: be,
  }], {
    littleEndian: false,
  });
  await run([join(dir, "le.gguf"), join(dir, "le8.gguf"), "--type", "Q8_0"]);
  await run([join(dir, "be.gguf"), join(dir, "be8.gguf"), "--type", "Q8_0"]);
  assert.deepEqual(
    await Deno.readFile(join(dir, "be8.gguf")),
    await Deno.readFile(join(dir, "le8.gguf")),
  );
});

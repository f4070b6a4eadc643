import assert from "node:assert/strict";
import { join } from "node:path";
import { dequantizeToNew } from "../mod.ts";
import { openGgufModel } from "../src/gguf/mod.ts";
import { synthesizeBitnetModel } from "../src/synth/mod.ts";
import { runCli } from "./support/cli.ts";

const dir = await Deno.makeTempDir({ prefix: "bitload-dequant-cli-" });
const model = join(dir, "m.gguf");
await synthesizeBitnetModel(model, { layers: 1, vocab: 300 });

Deno.test("bitload dequant writes the tensor as f32, the same on both backends", async () => {
  const info = await openGgufModel(model);
  const bytes = await Deno.readFile(model);
  for (const name of ["blk.0.ffn_down.weight", "token_embd.weight", "blk.0.attn_norm.weight"]) {
    const t = info.tensors.find((x) => x.name === name)!;
    const expected = dequantizeToNew(
      t.type,
      bytes.subarray(t.fileOffset, t.fileOffset + t.byteSize),
      t.elementCount,
      {
        backend: "ts",
      },
    );
    for (const backend of ["native", "ts"]) {
      const out = join(dir, `${name}.${backend}.f32`);
      const r = await runCli([
        "dequant",
        model,
        "--tensor",
        name,
        "--out",
        out,
        "--backend",
        backend,
        "--threads",
        "2",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`${t.type.name} \\[${t.dims.join(", ")}\\]`));
      const written = new Float32Array((await Deno.readFile(out)).buffer);
      assert.deepEqual(
        new Uint32Array(written.buffer),
        new Uint32Array(expected.buffer),
        `${name} ${backend}`,
      );
    }
  }
});

Deno.test("bitload dequant: unknown tensor exits 1, missing flags exit 2", async () => {
  const r = await runCli(["dequant", model, "--tensor", "nope", "--out", join(dir, "x")]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^bitload: .*no tensor named "nope"\n$/);
  assert.equal((await runCli(["dequant", model, "--tensor", "nope"])).code, 2);
});

Deno.test("bitload kernels reports the native library, or the fallback and why", async () => {
  const native = JSON.parse((await runCli(["kernels", "--json"])).stdout);
  assert.equal(native.backend, "native");
  assert.match(native.simd, /scalar|avx2|avx512|neon/);
  assert.match(native.origin, /^(env|cache|built)$/);
  const capped = JSON.parse(
    (await runCli(["kernels", "--json"], { BITLOAD_SIMD: "scalar" })).stdout,
  );
  assert.equal(capped.simd, "scalar");
  const off = await runCli(["kernels"], { BITLOAD_NATIVE: "0" });
  assert.match(off.stdout, /pure-TypeScript kernels \(disabled by BITLOAD_NATIVE=0\)/);
  assert.match(off.stderr, /^bitload: native kernels unavailable/);
  const offJson = JSON.parse((await runCli(["kernels", "--json"], { BITLOAD_NATIVE: "0" })).stdout);
  assert.equal(offJson.origin, "fallback");
});

Deno.test("cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});

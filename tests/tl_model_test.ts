/**
 * TL1/TL2 models end to end: a synthetic BitNet model quantized to TL2 (and TL1) with an explicit
 * kernel_config.ini inspects with its configurations, validates, dequantizes to the I2_S model's
 * floats, and runs to the same tokens and logits as the I2_S model with the same weights (its TL
 * weights are transcoded to I2_S at load). Without a configuration every command refuses, naming
 * the shape.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { synthesizeBitnetModel } from "../src/synth/bitnet_model.ts";
import { quantizeModel } from "../src/quant/quantize_model.ts";
import { InferenceModel } from "../src/infer/model.ts";
import { openGgufModel } from "../src/gguf/split.ts";
import { openGguf } from "../src/pipeline/open.ts";
import { parseKernelConfigIni } from "../src/quant/tl_config.ts";
import { transcodeTlTensor } from "../src/quant/tl_tensor.ts";
import { runCli } from "./support/cli.ts";
import { findGgmlLibrary } from "./reference/ggml.ts";
import { InspectJsonSchema, RunJsonSchema } from "../src/cli/schemas.ts";

const dir = await Deno.makeTempDir({ prefix: "bitload-tl-model-" });
const i2s = join(dir, "i2s.gguf");
// dim 256, ffn 768, 4 heads / 2 kv heads: weights 256x256, 128x256, 768x256, 256x768 (M x K)
await synthesizeBitnetModel(i2s, { layers: 2, vocab: 300, seed: 3 });
const INI = `; a kernel_config.ini for the synthetic shapes (TL2: bmm = 32, BK a multiple of 24)
[Kernels_0]
m = 256
k = 256
bm = 128
bk = 96
bmm = 32

[Kernels_1]
m = 128
k = 256
bm = 64
bk = 192
bmm = 32

[Kernels_2]
m = 768
k = 256
bm = 256
bk = 96
bmm = 32

[Kernels_3]
m = 256
k = 768
bm = 128
bk = 96
bmm = 32
`;
const TL1_INI = INI.replaceAll("bk = 96", "bk = 64").replaceAll("bk = 192", "bk = 128")
  .replace("bmm = 32", "bmm = 64");
const ini = join(dir, "kernel_config.ini");
await Deno.writeTextFile(ini, INI);
const tl2 = join(dir, "tl2.gguf");
{
  using source = await openGguf(i2s);
  await quantizeModel(source, tl2, "TL2", { tlConfig: parseKernelConfigIni(INI, ini) });
}

Deno.test("a TL2 model runs to the same tokens and logits as the I2_S model with the same weights", async () => {
  const tokens = [1, 17, 42, 99, 5];
  using a = await InferenceModel.fromGguf(i2s, { threads: 1, contextLength: 64 });
  using b = await InferenceModel.fromGguf(tl2, {
    threads: 2, // the transcode runs on the kernels' pool; results do not depend on the count
    contextLength: 64,
    tlConfig: parseKernelConfigIni(INI, ini),
  });
  assert.equal(a.tlTranscode.tensors, 0);
  assert.equal(b.tlTranscode.tensors, 14, "7 projections × 2 layers transcoded");
  assert.ok(b.tlTranscode.bytes > 0);
  const la = Float32Array.from(a.forward(tokens, true));
  const lb = Float32Array.from(b.forward(tokens, true));
  assert.equal(la.length, lb.length);
  assert.deepEqual(new Uint32Array(lb.buffer), new Uint32Array(la.buffer), "logits bit-identical");
  for (let step = 0; step < 4; step++) {
    const x = Array.from(a.forward([step + 7]));
    const y = Array.from(b.forward([step + 7]));
    assert.deepEqual(y, x, `decode step ${step}`);
  }
});

Deno.test("TL2 with --tl-config: inspect names the configuration, validate passes, dequant equals I2_S, run gives the same tokens", async () => {
  const r = await runCli(["inspect", tl2, "--tensors", "--tl-config", ini]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /TL tile configurations/);
  assert.match(r.stdout, /BM=256 BK=96 bm=32 \(.*kernel_config\.ini \[Kernels_2\]\)/);
  const j = InspectJsonSchema.parse(
    JSON.parse((await runCli(["inspect", tl2, "--json", "--tl-config", ini])).stdout),
  );
  const up = j.tensors.find((t) => t.name === "blk.0.ffn_up.weight")!;
  assert.equal(up.type, "TL2");
  assert.deepEqual(up.tlConfig, {
    BM: 256,
    BK: 96,
    bm: 32,
    source: "file",
    origin: `${ini} [Kernels_2]`,
  });
  const plain = await runCli(["inspect", tl2, "--tensors"]);
  assert.equal(plain.code, 0, "inspect works without a configuration and says so");
  assert.match(plain.stdout, /none known: pass --tl-config/);

  const v = await runCli(["validate", tl2, "--check-tensors", "--json", "--tl-config", ini]);
  assert.equal(v.code, 0, v.stdout + v.stderr);

  for (const [file, cfg] of [[i2s, []], [tl2, ["--tl-config", ini]]] as const) {
    const out = join(dir, `${file === i2s ? "a" : "b"}.f32`);
    const d = await runCli([
      "dequant",
      file,
      "--tensor",
      "blk.1.ffn_down.weight",
      "--out",
      out,
      ...cfg,
    ]);
    assert.equal(d.code, 0, d.stderr);
  }
  assert.deepEqual(
    await Deno.readFile(join(dir, "b.f32")),
    await Deno.readFile(join(dir, "a.f32")),
  );

  const none = await runCli([
    "dequant",
    tl2,
    "--tensor",
    "blk.1.ffn_down.weight",
    "--out",
    join(dir, "c"),
  ]);
  assert.equal(none.code, 1);
  assert.match(
    none.stderr,
    /^bitload: blk\.1\.ffn_down\.weight is TL2 with M = 256, K = 768 .*--tl-config/,
  );

  const runs = [];
  for (const [file, cfg] of [[i2s, []], [tl2, ["--tl-config", ini]]] as const) {
    const run = await runCli([
      "run",
      file,
      "--tokens",
      "1,2,3",
      "-n",
      "6",
      "--threads",
      "1",
      "--json",
      ...cfg,
    ]);
    assert.equal(run.code, 0, run.stderr);
    runs.push(RunJsonSchema.parse(JSON.parse(run.stdout.trim().split("\n").pop()!)));
  }
  assert.deepEqual(runs[1].tokens, runs[0].tokens);
  assert.equal(runs[1].tlTranscode?.tensors, 14);
});

Deno.test("quantize --type TL1|TL2 writes the converter's layout; a shape without configuration is refused before writing", async () => {
  const tl1Ini = join(dir, "tl1.ini");
  await Deno.writeTextFile(tl1Ini, TL1_INI);
  const tl1 = join(dir, "tl1.gguf");
  const q = await runCli(["quantize", i2s, tl1, "--type", "TL1", "--tl-config", tl1Ini, "--quiet"]);
  assert.equal(q.code, 0, q.stderr);
  assert.match(q.stdout, /14 of \d+ tensors converted to TL1/);
  const m = await openGgufModel(tl1);
  const t = m.tensors.find((x) => x.name === "blk.0.attn_q.weight")!;
  assert.equal(t.type.name, "TL1");
  assert.equal(t.byteSize, 256 * 256 / 4 + 32);
  const out = join(dir, "nope.gguf");
  const r = await runCli(["quantize", i2s, out, "--type", "TL2"]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^bitload: .*is TL2 with M = \d+, K = \d+ .*no tile configuration .*--tl-config/,
  );
  await assert.rejects(Deno.stat(out));
});

Deno.test("from f32: quantize → TL2 → transcode equals quantize → I2_S, tensor by tensor", async () => {
  const tlConfig = parseKernelConfigIni(INI, ini);
  const f32 = join(dir, "f32.gguf");
  const direct = join(dir, "direct-i2s.gguf");
  const viaTl = join(dir, "via-tl2.gguf");
  {
    using source = await openGguf(i2s, { mmap: true });
    await quantizeModel(source, f32, "F32");
  }
  {
    using source = await openGguf(f32, { mmap: true });
    await quantizeModel(source, direct, "I2_S");
    await quantizeModel(source, viaTl, "TL2", { tlConfig });
  }
  using a = await openGguf(direct, { mmap: true });
  using b = await openGguf(viaTl, { mmap: true });
  let compared = 0;
  for (const t of b.tensors) {
    if (t.type.name !== "TL2") continue;
    const { data } = transcodeTlTensor("TL2", b.tensorData(t.name), t.dims, { tlConfig });
    assert.deepEqual(data, a.tensorData(t.name), t.name);
    compared++;
  }
  assert.equal(compared, 14);
});

Deno.test("validate --check-tensors decodes every TL code when a configuration is known", async () => {
  const info = await openGgufModel(tl2);
  const t = info.tensors.find((x) => x.name === "blk.0.attn_q.weight")!;
  const bytes = await Deno.readFile(tl2);
  bytes[t.fileOffset + 40] = 0xf0; // triple magnitude 15: never written by the converter
  const bad = join(dir, "bad-tl2.gguf");
  await Deno.writeFile(bad, bytes);
  const r = await runCli(["validate", bad, "--check-tensors", "--json", "--tl-config", ini]);
  assert.equal(r.code, 1, r.stderr);
  const row = JSON.parse(r.stdout).tensors.find((x: { name: string }) => x.name === t.name);
  assert.equal(row.status, "fail");
  assert.match(row.detail, /triple index 15 at byte 40, .* in block 1/);
  const ok = await runCli(["validate", bad, "--check-tensors", "--json"]);
  assert.equal(ok.code, 0, "without a configuration only the scale is checked");
});

Deno.test("plan counts TL tensors at the fork's exact ggml_nbytes", async () => {
  const r = await runCli(["plan", tl2, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const plan = JSON.parse(r.stdout);
  const info = await openGgufModel(tl2);
  // the fork's ggml_nbytes for TL2, computed here independently: C integer arithmetic, pad32, +32
  const fork = (K: number, M: number) =>
    Math.ceil((Math.trunc(Math.trunc((K - 256) * M / 3) * 5 / 8) + 256 * M / 2 * 4 / 8) / 32) * 32 +
    32;
  let tl = 0;
  for (const t of plan.tensors as { name: string; bytes: number; type: string }[]) {
    const file = info.tensors.find((x) => x.name === t.name)!;
    assert.equal(t.bytes, file.byteSize, t.name);
    if (t.type === "TL2") {
      assert.equal(t.bytes, fork(file.dims[0], file.dims[1]), t.name);
      tl++;
    }
  }
  assert.equal(tl, 14);
  assert.equal(plan.model.weightBytes, info.tensors.reduce((s, t) => s + t.byteSize, 0));
});

const ggmlLib = findGgmlLibrary();
Deno.test({
  name: "validate --reference ggml: TL2 tensors against ggml's TQ2_0 by way of the I2_S transcode" +
    (ggmlLib ? "" : " — skipped: no ggml library (npm install)"),
  ignore: ggmlLib === null,
  async fn() {
    const r = await runCli(["validate", tl2, "--reference", "ggml", "--json", "--tl-config", ini], {
      BITLOAD_GGML_LIB: ggmlLib!,
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rows = JSON.parse(r.stdout).tensors.filter((x: { check: string; type: string }) =>
      x.check === "crossval" && x.type === "TL2"
    );
    assert.equal(rows.length, 14);
    for (const row of rows) {
      assert.equal(row.status, "pass", JSON.stringify(row));
      assert.equal(row.figures.codeMismatches, 0);
      assert.match(row.figures.reference, /TL2 → I2_S transcode/);
    }
  },
});

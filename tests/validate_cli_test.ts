import assert from "node:assert/strict";
import { join } from "node:path";
import { z } from "npm:zod@^4";
import { openGgufModel } from "../src/gguf/split.ts";
import { synthesizeBitnetModel } from "../src/synth/bitnet_model.ts";
import { type ModelTargetType, quantizeModel } from "../src/quant/quantize_model.ts";
import { openGguf } from "../src/pipeline/open.ts";
import { renderValidationReport, runValidate, VALIDATE_HELP } from "../src/cli/validate.ts";
import { exportGgmlLibraryPath, findGgmlLibrary } from "./reference/ggml.ts";
import { kv, writeGguf } from "../src/gguf/writer.ts";
import { ggmlTypeByName } from "../src/gguf/types.ts";
import { byteSwapTensor } from "../src/quant/endian.ts";
import { quantize } from "../src/quant/quantize.ts";
import { seededRandom } from "../src/common/random.ts";

/** Opens `inPath` (mapped), converts it to `type` and writes `outPath`. */
async function quantizeFile(inPath: string, outPath: string, type: ModelTargetType) {
  using model = await openGguf(inPath);
  return await quantizeModel(model, outPath, type);
}

const figures = z.record(z.string(), z.union([z.number(), z.string(), z.boolean(), z.null()]));
const status = z.enum(["pass", "fail", "skip", "not-run"]);
const ReportSchema = z.object({
  file: z.string(),
  ok: z.boolean(),
  checks: z.array(
    z.object({
      name: z.enum(["structure", "crossval", "tensors", "accuracy", "determinism"]),
      status,
      summary: z.string(),
      figures,
    }).strict(),
  ),
  tensors: z.array(
    z.object({
      check: z.string(),
      name: z.string(),
      type: z.string(),
      status,
      detail: z.string().optional(),
      figures,
    }).strict(),
  ),
}).strict();

exportGgmlLibraryPath(); // the CLI runs in-process and finds the oracle through BITLOAD_GGML_LIB
const hasRef = findGgmlLibrary() !== null;
const dir = await Deno.makeTempDir({ prefix: "bitload-validate-cli-" });
const model = join(dir, "m.gguf");
const f32 = join(dir, "f32.gguf");
await synthesizeBitnetModel(model, { layers: 1, vocab: 300 });
await quantizeFile(model, f32, "F32");

async function run(args: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const code = await runValidate(args, (s) => lines.push(s));
  return { code, text: lines.join("\n") };
}

Deno.test({
  name: "bitload validate --json: every check passes on the synthetic model, schema-valid",
  ignore: !hasRef,
  fn: async () => {
    const r = await run([
      model,
      "--reference",
      "ggml",
      "--check-tensors",
      "--accuracy",
      f32,
      "--determinism",
      "--sample",
      "4",
      "--json",
    ]);
    const report = ReportSchema.parse(JSON.parse(r.text));
    assert.equal(r.code, 0, r.text);
    assert.equal(report.ok, true);
    assert.deepEqual(report.checks.map((c) => c.name), [
      "structure",
      "crossval",
      "tensors",
      "accuracy",
      "determinism",
    ]);
    assert.equal(report.tensors.filter((t) => t.check === "crossval").length, 4);
    assert.equal(report.tensors.filter((t) => t.check === "tensors").length, 13);
    const i2s = report.tensors.find((t) => t.check === "crossval" && t.type === "I2_S");
    if (i2s) assert.equal(i2s.figures.codeMismatches, 0);
  },
});

Deno.test({
  name: "bitload validate: converted models (f32 → Q8_0, Q4_0, TQ2_0, I2_S) pass, tables printed",
  ignore: !hasRef,
  fn: async () => {
    for (const type of ["Q8_0", "Q4_0", "TQ2_0", "I2_S"] as const) {
      const out = join(dir, `${type}.gguf`);
      await quantizeFile(f32, out, type);
      const r = await run([out, "--reference", "ggml", "--check-tensors", "--accuracy", f32]);
      assert.equal(r.code, 0, r.text);
      assert.match(r.text, /accuracy:\ntensor\s+type\s+status\s+cosine\s+SNR dB/);
      assert.match(r.text, /validation passed$/);
    }
  },
});

Deno.test("bitload validate: corrupted block scale fails --check-tensors with exit 1", async () => {
  const info = await openGgufModel(model);
  const t = info.tensors.find((x) => x.name === "blk.0.attn_q.weight")!;
  const bytes = await Deno.readFile(model);
  // I2_S: a code 3 in block 2, and the F16 embedding gets an infinity.
  bytes[t.fileOffset + 2 * 32 + 1] = 0xff;
  const emb = info.tensors.find((x) => x.name === "token_embd.weight")!;
  bytes[emb.fileOffset + 2 * 7 + 1] = 0x7c;
  bytes[emb.fileOffset + 2 * 7] = 0x00;
  const bad = join(dir, "bad.gguf");
  await Deno.writeFile(bad, bytes);
  const r = await run([bad, "--check-tensors", "--json"]);
  assert.equal(r.code, 1);
  const report = ReportSchema.parse(JSON.parse(r.text));
  assert.equal(report.ok, false);
  const rows = report.tensors.filter((x) => x.status === "fail");
  assert.deepEqual(rows.map((x) => [x.name, x.detail]), [
    ["token_embd.weight", "infinity in block 7"],
    ["blk.0.attn_q.weight", "I2_S code 3 in block 2"],
  ]);
  const text = await run([bad, "--check-tensors"]);
  assert.match(text.text, /tensors\s+FAIL\s+11 of 13 tensors passed, 2 failed/);
  assert.match(text.text, /validation FAILED$/);
});

Deno.test("bitload validate: a missing reference is NOT RUN and fails the run", async () => {
  const saved = Deno.env.get("BITLOAD_GGML_LIB");
  Deno.env.set("BITLOAD_GGML_LIB", join(dir, "no-such-lib.so"));
  try {
    const r = await run([model, "--reference", "ggml", "--json"]);
    assert.equal(r.code, 1);
    const report = ReportSchema.parse(JSON.parse(r.text));
    assert.equal(report.checks[1].status, "not-run");
    assert.match(report.checks[1].summary, /not found/);
  } finally {
    if (saved === undefined) Deno.env.delete("BITLOAD_GGML_LIB");
    else Deno.env.set("BITLOAD_GGML_LIB", saved);
  }
});

Deno.test("bitload validate: structure only, help, usage errors, unreadable file", async () => {
  const ok = await run([model]);
  assert.equal(ok.code, 0);
  assert.match(ok.text, /structure\s+pass\s+13 tensors in 1 part\(s\), no warnings/);
  assert.equal((await run(["--help"])).text, VALIDATE_HELP);
  await assert.rejects(() => run([]), /needs a model FILE or -m FILE/);
  await assert.rejects(() => run([model, "--reference", "llama"]), /--reference must be "ggml"/);
  await assert.rejects(() => run([model, "--sample", "0"]), /--sample must be a positive integer/);
  const junk = join(dir, "junk.gguf");
  await Deno.writeFile(junk, new TextEncoder().encode("not a gguf file at all"));
  const r = await run([junk, "--json"]);
  assert.equal(r.code, 1);
  const report = ReportSchema.parse(JSON.parse(r.text));
  assert.equal(report.checks[0].status, "fail");
  assert.match(renderValidationReport(report), /structure\s+FAIL/);
});

Deno.test({
  name: "bitload validate: a big-endian file is checked in host order",
  ignore: !hasRef,
  fn: async () => {
    const r = seededRandom(5);
    const x = Float32Array.from({ length: 4 * 256 }, () => r.normal());
    const tensors = (["Q8_0", "F32", "Q5_K"] as const).map((type) => {
      const bytes = type === "Q5_K" ? new Uint8Array(4 * 176) : quantize(type, x);
      if (type !== "Q5_K") byteSwapTensor(ggmlTypeByName(type)!, bytes);
      return { name: type, type, dims: [256, 4], data: bytes };
    });
    const be = join(dir, "be.gguf");
    await writeGguf(be, [kv.string("general.architecture", "llama")], tensors, {
      littleEndian: false,
    });
    const res = await run([be, "--reference", "ggml", "--check-tensors", "--json"]);
    const report = ReportSchema.parse(JSON.parse(res.text));
    assert.equal(res.code, 0, res.text);
    const rows = report.tensors.map((t) => `${t.check} ${t.name} ${t.status}`);
    assert.deepEqual(rows, [
      "crossval Q8_0 pass",
      "crossval F32 pass",
      "crossval Q5_K skip",
      "tensors Q8_0 pass",
      "tensors F32 pass",
      "tensors Q5_K skip",
    ]);
    assert.match(report.tensors[2].detail!, /big-endian Q5_K has no defined byte order/);
  },
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

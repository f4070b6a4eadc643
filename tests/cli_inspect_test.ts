import assert from "node:assert/strict";
import { join } from "node:path";
import { z } from "npm:zod@^4";
import { kv, writeGguf } from "../src/gguf/mod.ts";
import { bitnetModelParts } from "../src/synth/mod.ts";
import { runCli } from "./support/cli.ts";

/** The exact `inspect --json` contract of issue #3. */
const JsonValue: z.ZodType<unknown> = z.lazy(() =>
  z.union([z.number(), z.string(), z.boolean(), z.null(), z.array(JsonValue)])
);
const InspectJsonSchema = z.strictObject({
  version: z.number().int(),
  alignment: z.number().int().positive(),
  dataOffset: z.number().int().nonnegative(),
  metadata: z.record(z.string(), JsonValue),
  tensors: z.array(z.strictObject({
    name: z.string(),
    type: z.string().regex(/^[A-Z0-9_]+$/),
    shape: z.array(z.number().int().nonnegative()),
    offset: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
  })),
});

const dir = await Deno.makeTempDir({ prefix: "bitload-cli-test-" });
const model = join(dir, "bitnet.gguf");
const { metadata, tensors } = bitnetModelParts({ layers: 2, vocab: 512 });
await writeGguf(model, [...metadata, kv.u64("test.huge", 2n ** 60n + 3n)], tensors);

Deno.test("inspect --json prints exactly the documented shape", async () => {
  const r = await runCli(["inspect", model, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const doc = InspectJsonSchema.parse(JSON.parse(r.stdout));
  assert.equal(doc.version, 3);
  assert.equal(doc.alignment, 32);
  assert.equal(doc.metadata["general.architecture"], "bitnet-b1.58");
  assert.equal(doc.metadata["test.huge"], "1152921504606846979");
  assert.equal((doc.metadata["tokenizer.ggml.tokens"] as string[]).length, 512);
  const q = doc.tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
  assert.deepEqual(q, {
    name: "blk.0.attn_q.weight",
    type: "I2_S",
    shape: [256, 256],
    offset: q.offset,
    bytes: 256 * 256 / 4 + 32,
  });
  assert.equal(doc.tensors[0].offset, 0);
  assert.equal(doc.tensors.length, 1 + 2 * 11 + 1);
});

Deno.test("inspect prints a readable summary, the tensor table and single keys", async () => {
  const r = await runCli(["inspect", model, "--tensors"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /architecture\s+bitnet-b1\.58/);
  assert.match(r.stdout, /file type MOSTLY_I2_S \(40\)/);
  assert.match(r.stdout, /I2_S\s+14\s/);
  assert.match(r.stdout, /tokenizer\s+gpt2, 512 tokens/);
  assert.match(r.stdout, /blk\.1\.ffn_down\.weight\s+I2_S\s+\[768, 256\]/);
  assert.ok(!r.stdout.includes("\u001b["), "no colour under NO_COLOR");
  const k = await runCli(["inspect", model, "--kv", "bitnet-b1.58.block_count"]);
  assert.equal(k.stdout.trim(), "2");
  const j = await runCli(["inspect", model, "--kv", "general.name", "--json"]);
  assert.equal(JSON.parse(j.stdout), "bitload-synthetic-bitnet");
});

Deno.test("bad input: one bitload: line, exit 1, no stack trace", async (t) => {
  const notGguf = join(dir, "not.gguf");
  await Deno.writeTextFile(notGguf, "PK\x03\x04 this is a zip file, not a model");
  const truncated = join(dir, "truncated.gguf");
  await Deno.writeFile(truncated, (await Deno.readFile(model)).subarray(0, 1000));
  const cases: [string, string[], RegExp][] = [
    [
      "not a GGUF",
      ["inspect", notGguf],
      /^bitload: .*not\.gguf: Not a GGUF file: expected "GGUF" but found "PK\\x03\\x04" \(BAD_MAGIC\)$/,
    ],
    ["truncated", ["inspect", truncated], /^bitload: .*truncated\.gguf: .* \(TRUNCATED\)$/],
    [
      "missing",
      ["inspect", join(dir, "nope.gguf")],
      /^bitload: .*nope\.gguf: No such file \(IO\)$/,
    ],
    [
      "missing key",
      ["inspect", model, "--kv", "no.such.key"],
      /^bitload: .*no metadata key "no\.such\.key"$/,
    ],
  ];
  for (const [name, args, pattern] of cases) {
    await t.step(name, async () => {
      const r = await runCli(args);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], pattern);
    });
  }
  await t.step("--debug adds the stack", async () => {
    const r = await runCli(["inspect", notGguf, "--debug"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /GgufError/);
  });
});

Deno.test("usage errors exit 2; --help works on every command", async () => {
  for (
    const args of [["inspect"], ["frobnicate"], ["inspect", model, "--bogus"], [
      "synth",
      join(dir, "x.gguf"),
      "--dim",
      "100",
    ]]
  ) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^bitload( [a-z]+)?: /);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  }
  for (const args of [["--help"], ["inspect", "--help"], ["synth", "--help"], ["demo", "--help"]]) {
    const r = await runCli(args);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: bitload/);
  }
  const v = await runCli(["--version"]);
  assert.match(v.stdout, /^bitload \d+\.\d+\.\d+/);
});

Deno.test("synth writes deterministic bytes; demo runs on the built-in default", async () => {
  const a = join(dir, "a.gguf");
  const b = join(dir, "b.gguf");
  const args = [
    "--layers",
    "1",
    "--dim",
    "128",
    "--ffn",
    "256",
    "--heads",
    "1",
    "--kv-heads",
    "1",
    "--vocab",
    "300",
    "--seed",
    "9",
  ];
  assert.equal((await runCli(["synth", a, ...args])).code, 0);
  assert.equal((await runCli(["synth", b, ...args])).code, 0);
  assert.deepEqual(await Deno.readFile(a), await Deno.readFile(b));
  const demo = await runCli(["demo"], { BITNET_GGUF: "" });
  assert.equal(demo.code, 0, demo.stderr);
  assert.match(demo.stdout, /wrote a synthetic BitNet b1\.58 model/);
  // The story in one screen: what it holds, where it fits, the load, a sentence, validated.
  for (const label of ["holds", "fits", "loaded", "says", "valid"]) {
    assert.match(demo.stdout, new RegExp(`\\n  ${label} +\\S`), label);
  }
  assert.match(demo.stdout, /holds +bitnet-b1\.58, /);
  assert.match(demo.stdout, /valid +validated: structure pass, tensors pass/);
  assert.doesNotMatch(demo.stderr, /pre-tokenizer/, "no warning about its own synthetic model");
  const lines = demo.stdout.trimEnd().split("\n");
  assert.ok(lines.length <= 24, `one screen, got ${lines.length} lines`);
  assert.ok(lines.every((l) => [...l].length <= 100), "100 columns");
  const withFile = await runCli(["demo", "--tensors"], { BITNET_GGUF: a });
  assert.equal(withFile.code, 0, withFile.stderr);
  assert.match(withFile.stdout, /1 layers/);
  assert.match(withFile.stdout, /\nname +type +shape +offset +bytes/);
});

Deno.test("cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});

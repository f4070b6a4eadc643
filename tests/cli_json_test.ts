/**
 * Every command's `--json` output against its zod schema (`src/cli/schemas.ts`), on real output
 * of the real commands run in-process, and the committed JSON Schemas in `docs/schemas/` equal to
 * what `scripts/json_schemas.ts` generates from those zod schemas. (`bench --json` is checked
 * against the same schema by tests/bench_test.ts, which runs the suite.)
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { z } from "npm:zod@^4";
import { generatedSchemas } from "../scripts/json_schemas.ts";
import * as S from "../src/cli/schemas.ts";
import { runInspect } from "../src/cli/inspect.ts";
import { runLoad } from "../src/cli/load.ts";
import { runDequant, runKernels } from "../src/cli/dequant.ts";
import { runPlan } from "../src/cli/plan.ts";
import { runDetokenize, runTokenize } from "../src/cli/tokenize.ts";
import { runValidate } from "../src/cli/validate.ts";
import { runHash } from "../src/cli/hash.ts";
import { runQuantize } from "../src/cli/quantize.ts";
import { runRun } from "../src/cli/run.ts";
import { runSynth } from "../src/cli/synth.ts";

type Command = (args: string[], out: (s: string) => void) => Promise<number>;

const dir = await Deno.makeTempDir({ prefix: "bitload-cli-json-" });
const model = join(dir, "m.gguf");
const SMALL = ["--layers", "1", "--dim", "256", "--ffn", "256", "--heads", "2", "--kv-heads", "1"];

/** Runs a command in-process; returns its one line of JSON, parsed. */
async function json(run: Command, args: string[], code = 0): Promise<unknown> {
  const lines: string[] = [];
  assert.equal(await run(args, (s) => lines.push(s)), code, args.join(" "));
  assert.equal(lines.length, 1, `${args.join(" ")}: one line of JSON, got ${lines.length}`);
  return JSON.parse(lines[0]);
}

function check(schema: z.ZodType, value: unknown, what: string): void {
  const r = schema.safeParse(value);
  assert.ok(r.success, `${what}: ${r.success ? "" : r.error.message}`);
}

Deno.test("the committed docs/schemas/*.schema.json equal the ones generated from the zod schemas", async () => {
  const generated = generatedSchemas();
  const committed = [...Deno.readDirSync(new URL("../docs/schemas/", import.meta.url))]
    .map((e) => e.name).filter((n) => n.endsWith(".schema.json")).sort();
  assert.deepEqual(committed, Object.keys(generated).sort(), "one file per schema, no strays");
  for (const [file, schema] of Object.entries(generated)) {
    const text = await Deno.readTextFile(new URL(`../docs/schemas/${file}`, import.meta.url));
    assert.deepEqual(JSON.parse(text), schema, `${file} is stale: run scripts/json_schemas.ts`);
  }
});

Deno.test("every command's --json output follows its schema", async (t) => {
  await t.step("synth", async () => {
    check(S.SynthJsonSchema, await json(runSynth, [model, ...SMALL, "--json"]), "synth");
  });
  await t.step("inspect", async () => {
    check(S.InspectJsonSchema, await json(runInspect, [model, "--json"]), "inspect");
    check(
      S.InspectJsonSchema,
      await json(runInspect, [model, "--json", "--no-arrays"]),
      "inspect --no-arrays",
    );
  });
  await t.step("load", async () => {
    check(S.LoadJsonSchema, await json(runLoad, [model, "--json"]), "load");
  });
  await t.step("dequant and kernels", async () => {
    const out = join(dir, "t.f32");
    const d = await json(runDequant, [
      model,
      "--tensor",
      "output_norm.weight",
      "--out",
      out,
      "--json",
    ]);
    check(S.DequantJsonSchema, d, "dequant");
    check(S.KernelsJsonSchema, await json(runKernels, ["--json"]), "kernels");
  });
  await t.step("plan", async () => {
    const devices = ["--devices", "cpu:8GiB,cuda0:64MiB"];
    check(S.PlanJsonSchema, await json(runPlan, [model, ...devices, "--json"]), "plan");
    check(
      S.PlanJsonSchema,
      await json(runPlan, [model, ...devices, "--json", "--emit", "llama.cpp"]),
      "plan --emit",
    );
    check(
      S.PlanSweepJsonSchema,
      await json(runPlan, [model, ...devices, "--sweep", "--json"]),
      "plan --sweep",
    );
  });
  await t.step("tokenize and detokenize", async () => {
    const ids = await json(runTokenize, [model, "--json", "--text", "hello world"]);
    check(S.TokenizeJsonSchema, ids, "tokenize");
    const text = await json(runDetokenize, [model, "--json", "--ids", (ids as number[]).join(",")]);
    check(S.DetokenizeJsonSchema, text, "detokenize");
  });
  await t.step("validate", async () => {
    check(S.ValidateJsonSchema, await json(runValidate, [model, "--json"]), "validate");
  });
  await t.step("hash and hash --check", async () => {
    const manifest = await json(runHash, [model]);
    check(S.HashManifestSchema, manifest, "hash");
    const path = join(dir, "m.manifest.json");
    await Deno.writeTextFile(path, JSON.stringify(manifest));
    check(S.HashCheckJsonSchema, await json(runHash, [model, "--check", path, "--json"]), "check");
  });
  await t.step("quantize", async () => {
    const out = join(dir, "q.gguf");
    check(
      S.QuantizeJsonSchema,
      await json(runQuantize, [model, out, "--type", "F32", "--json"]),
      "quantize",
    );
  });
  await t.step("demo", async () => {
    const { runDemo } = await import("../src/cli/demo.ts");
    const doc = await json(runDemo, [model, "--json"]);
    check(S.DemoJsonSchema, doc, "demo");
    assert.equal((doc as { synthetic: boolean }).synthetic, false);
  });
  await t.step("logits and compare-logits", async () => {
    const { runCompareLogits, runLogits } = await import("../src/cli/logits.ts");
    const doc = await json(runLogits, [model, "--tokens", "1,2,3", "--json"]);
    check(S.LogitsJsonSchema, doc, "logits");
    const path = join(dir, "logits.json");
    await Deno.writeTextFile(path, JSON.stringify(doc));
    const same = await json(runCompareLogits, [path, path, "--json"]);
    check(S.CompareLogitsJsonSchema, same, "compare-logits");
    assert.equal((same as { identical: boolean }).identical, true);
  });
  await t.step("run", async () => {
    check(
      S.RunJsonSchema,
      await json(runRun, [
        model,
        "--tokens",
        "1,2,3",
        "-n",
        "2",
        "--no-mmap",
        "--check-tensors",
        "-ngl",
        "0",
        "--json",
      ]),
      "run",
    );
  });
});

Deno.test({
  name: "cleanup",
  fn: async () => await Deno.remove(dir, { recursive: true }),
});

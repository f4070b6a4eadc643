import assert from "node:assert/strict";
import { join } from "node:path";
import { z } from "npm:zod@^4";
import { writeGguf } from "../src/gguf/mod.ts";
import { bitnetModelParts } from "../src/synth/mod.ts";
import { asF16 } from "./support/gguf_builders.ts";
import { UsageError } from "../src/cli/output.ts";
import { parseOverride, PLAN_HELP, renderPlan, runPlan } from "../src/cli/plan.ts";
import { parseDeviceSpec } from "../src/plan/devices.ts";
import { planPlacement } from "../src/plan/strategies.ts";
import { runCli } from "./support/cli.ts";

const dir = await Deno.makeTempDir({ prefix: "bitload-plan-cli-" });
const model = join(dir, "bitnet.gguf");
const { metadata, tensors } = bitnetModelParts({ layers: 2, vocab: 512 });
// F16 projections instead of I2_S: these tests place layers on simulated GPUs, and a CUDA backend
// has no I2_S kernel (plan would leave the GPUs out; tests/plan_judgement_test.ts checks that).
await writeGguf(model, metadata, tensors.map(asF16));

/** The `plan --json` contract (the fields users script against). */
const PlanJson = z.object({
  status: z.enum(["ok", "does-not-fit", "refused"]),
  strategy: z.enum(["auto", "cpu", "gpu", "hybrid", "split"]),
  resolved: z.enum(["cpu", "gpu", "hybrid", "split"]),
  ctx: z.number().int().positive(),
  kvType: z.enum(["f32", "f16", "q8_0", "q4_0"]),
  gpuLayers: z.number().int().nonnegative(),
  kv: z.object({ totalBytes: z.number().int().nonnegative() }),
  tensors: z.array(z.object({
    name: z.string(),
    device: z.string(),
    bytes: z.number().int().nonnegative(),
  })),
  devices: z.array(z.object({
    device: z.string(),
    weights: z.number().int(),
    kv: z.number().int(),
    scratch: z.number().int(),
    margin: z.number().int(),
    needed: z.number().int(),
    available: z.number().int(),
    freeAfter: z.number().int(),
    fits: z.boolean(),
    shortBy: z.number().int().nonnegative(),
  })),
  steps: z.array(z.object({ action: z.string(), fits: z.boolean(), detail: z.string() })),
  warnings: z.array(z.string()),
});

async function run(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await runPlan(args, (s) => lines.push(s));
  return { code, out: lines.join("\n") };
}

Deno.test("plan prints a table per device, the steps and exit 0 when it fits", async () => {
  const r = await run([model, "--devices", "cpu:8GiB,cuda0:24MiB", "--ctx", "1024"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /^plan .*bitnet\.gguf — bitnet-b1\.58, 2 layers, 24 tensors/);
  assert.match(r.out, /strategy auto → hybrid · ctx 1024 · KV f16/);
  assert.match(r.out, /device\s+layers\s+weights\s+KV\s+scratch\s+overhead\s+margin\s+reserved/);
  assert.match(r.out, /\n\s+cpu\s+/);
  assert.match(r.out, /\n\s+cuda0\s+/);
  assert.match(r.out, /steps\n\s+1\. hybrid/);
  assert.ok(!r.out.includes("\x1b["), "no colour under NO_COLOR");
});

Deno.test("plan --json follows the documented shape and equals the API's plan", async () => {
  const r = await run([model, "--devices", "cpu:8GiB,cuda0:24MiB", "--ctx", "1024", "--json"]);
  assert.equal(r.code, 0);
  const doc = PlanJson.parse(JSON.parse(r.out));
  assert.equal(doc.status, "ok");
  assert.equal(doc.tensors.length, 24);
  const sum = doc.tensors.reduce((a, t) => a + t.bytes, 0);
  assert.equal(sum, doc.devices.reduce((a, d) => a + d.weights, 0));
  const { openGgufModel } = await import("../src/gguf/split.ts");
  const api = planPlacement(await openGgufModel(model), parseDeviceSpec("cpu:8GiB,cuda0:24MiB"), {
    ctx: 1024,
  });
  assert.deepEqual(JSON.parse(r.out), JSON.parse(JSON.stringify(api)));
});

Deno.test("plan --emit llama.cpp prints the equivalent flags", async () => {
  const r = await run([
    model,
    "--devices",
    "cpu:8GiB,cuda0:20MiB,cuda1:20MiB",
    "--kv-type",
    "q8_0",
    "--override",
    "ffn_down=cpu",
    "--emit",
    "llama.cpp",
  ]);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /llama-server -m \S+bitnet\.gguf -c 4096 -ctk q8_0 -ctv q8_0 -ngl \d+/);
  assert.match(r.out, /-ot ffn_down=CPU/);
  assert.match(r.out, /--fit off/);
  assert.match(r.out, /ffn_down → cpu: 2 tensors/);
  const j = await run([model, "--devices", "cpu:8GiB", "--json", "--emit", "llama.cpp"]);
  const doc = JSON.parse(j.out);
  assert.equal(doc.llamaCpp.args[doc.llamaCpp.args.indexOf("-ngl") + 1], "0");
});

Deno.test("plan exits 1 with the numbers when it does not fit", async () => {
  const r = await run([model, "--devices", "cpu:4MiB"]);
  assert.equal(r.code, 1);
  assert.match(r.out, /status\s+refused/);
  assert.match(r.out, /refused: Does not fit even at ctx 512 .*cpu short by/);
  const s = await run([model, "--devices", "cpu:8GiB,cuda0:1MiB", "--strategy", "split"]);
  assert.equal(s.code, 1);
  assert.match(s.out, /does not fit/);
  assert.match(s.out, /no, short/);
});

Deno.test("plan reads a JSON devices file and fills in this machine's CPU", async () => {
  const path = join(dir, "devices.json");
  await Deno.writeTextFile(
    path,
    JSON.stringify([{ name: "cuda0", kind: "cuda", totalBytes: 2 ** 30, freeBytes: 2 ** 29 }]),
  );
  const r = await run([model, "--devices", path, "--json"]);
  const doc = PlanJson.parse(JSON.parse(r.out));
  assert.deepEqual(doc.devices.map((d) => d.device), ["cpu", "cuda0"]);
  assert.equal(doc.devices[1].available, 2 ** 29);
  const mine = await run([model, "--json"]);
  assert.equal(PlanJson.parse(JSON.parse(mine.out)).devices[0].device, "cpu");
});

Deno.test("plan usage errors are UsageErrors with one clear line", async () => {
  const cases: [string[], RegExp][] = [
    [[], /needs a model FILE or -m FILE/],
    [[model, model], /unexpected argument/],
    [[model, "--kv-type", "q5_1"], /--kv-type must be f32 or f16, got q5_1/],
    [[model, "--kv-type", "q8_0"], /--kv-type q8_0 is not supported by bitload's engine/],
    [[model, "--strategy", "fast"], /--strategy must be one of auto, cpu, gpu, hybrid, split/],
    [[model, "--ctx=-5"], /--ctx-size must be a non-negative integer, got -5/],
    [[model, "--ctx", "-5"], /--ctx-size must be a non-negative integer, got -5/],
    [[model, "--ctx", "0"], /--ctx-size must be at least 1/],
    [[model, "--ctx", "1.5"], /--ctx-size must be a non-negative integer/],
    [[model, "--emit", "vllm"], /--emit supports only "llama.cpp"/],
    [[model, "--override", "nodevice"], /--override must be REGEX=DEVICE/],
    [[model, "--override", "(=cpu"], /invalid regular expression/],
    [[model, "--devices", "cpu:8GiB", "--override", "x=cuda0"], /not in the device list/],
    [[model, "--devices", "tpu0:8GiB"], /unknown device "tpu0"/],
    [[model, "--tensor-split", "1,x"], /--tensor-split must be a non-negative number/],
  ];
  for (const [args, message] of cases) {
    await assert.rejects(() => run(args), (e: unknown) => {
      assert.ok(e instanceof UsageError, `${args.join(" ")}: ${e}`);
      assert.match(e.message, message);
      return true;
    });
  }
  assert.deepEqual(parseOverride("a=b=cuda0"), { pattern: "a=b", device: "cuda0" });
  assert.equal((await run(["--help"])).out, PLAN_HELP);
});

Deno.test("renderPlan() is usable on its own (the demo's simulated 2-GPU machine)", async () => {
  const { openGgufModel } = await import("../src/gguf/split.ts");
  const plan = planPlacement(
    await openGgufModel(model),
    parseDeviceSpec("cpu:16GiB,cuda0:24GiB,cuda1:8GiB"),
    { strategy: "split" },
  );
  const text = renderPlan(plan, { file: "synthetic.gguf" });
  assert.match(text, /strategy split/);
  assert.match(text, /cuda1/);
});

const wired = (await Deno.readTextFile(new URL("../src/cli/main.ts", import.meta.url)))
  .includes("runPlan");

Deno.test({
  name: "bitload plan runs as a subprocess (once main.ts wires the command)",
  ignore: !wired,
  fn: async () => {
    const r = await runCli(["plan", model, "--devices", "cpu:8GiB,cuda0:24MiB", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    PlanJson.parse(JSON.parse(r.stdout));
    const bad = await runCli(["plan", model, "--kv-type", "q5_1"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^bitload: --kv-type must be/);
    const no = await runCli(["plan", model, "--devices", "cpu:4MiB"]);
    assert.equal(no.code, 1);
  },
});

Deno.test({
  name: "cleanup",
  fn: async () => await Deno.remove(dir, { recursive: true }),
});

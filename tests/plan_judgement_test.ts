/**
 * Planning with judgement: accelerators that cannot run the layers' weight types are left out
 * (BitNet's I2_S on CUDA), a context beyond the training context is warned about, and
 * `plan --sweep` gives one exact plan per context size × offloaded layer count.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeGguf } from "../src/gguf/mod.ts";
import { bitnetModelParts } from "../src/synth/mod.ts";
import { runsWeightType, unsupportedWeightTypes } from "../src/plan/backends.ts";
import { parseDeviceSpec } from "../src/plan/devices.ts";
import { bitnetShapes, headerOnlyModel } from "../src/plan/shapes.ts";
import { planPlacement } from "../src/plan/strategies.ts";
import { sweepContextSizes, sweepLayerCounts, sweepPlacement } from "../src/plan/sweep.ts";
import { runPlan } from "../src/cli/plan.ts";
import { PlanSweepJsonSchema } from "../src/cli/schemas.ts";
import { asF16 } from "./support/gguf_builders.ts";

const b2 = bitnetShapes();
const bitnet2b = headerOnlyModel(b2.metadata, b2.tensors);
const gpu = parseDeviceSpec("cpu:16GiB,cuda0:24GiB");

Deno.test("which weight types each backend runs", () => {
  assert.ok(runsWeightType("cpu", "I2_S"));
  assert.ok(!runsWeightType("cuda", "I2_S"));
  assert.ok(!runsWeightType("cuda", "TQ2_0"));
  assert.ok(runsWeightType("cuda", "Q4_K"));
  assert.ok(runsWeightType("rpc", "TQ2_0"));
  assert.ok(!runsWeightType("rpc", "TL1"));
  assert.deepEqual(unsupportedWeightTypes("cuda", ["F32", "I2_S", "F16", "I2_S"]), ["I2_S"]);
});

Deno.test("a BitNet model is never planned with layers on a GPU that cannot run I2_S", () => {
  for (const strategy of ["auto", "hybrid", "gpu", "split"] as const) {
    const plan = planPlacement(bitnet2b, gpu, { strategy, gpuLayers: undefined });
    assert.equal(plan.gpuLayers, 0, strategy);
    assert.deepEqual(plan.devices.map((d) => d.device), ["cpu"], strategy);
    assert.ok(plan.tensors.every((t) => t.device === "cpu"), strategy);
    assert.ok(
      plan.warnings.some((w) => /cuda0 is not used: .*I2_S.*ternary kernels are CPU-only/.test(w)),
      `${strategy}: ${plan.warnings.join("; ")}`,
    );
  }
  // Bytes only (an engine with its own kernels for every type) still offloads.
  const bytes = planPlacement(bitnet2b, gpu, { checkWeightTypes: false });
  assert.ok(bytes.gpuLayers > 0);
  // The same shape with F16 projections runs on the GPU.
  const f16 = bitnetShapes();
  const f16Model = headerOnlyModel(
    f16.metadata,
    f16.tensors.map((t) => t.type === "I2_S" ? { ...t, type: "F16" } : t),
  );
  assert.ok(planPlacement(f16Model, gpu).gpuLayers > 0);
});

Deno.test("plan warns when the context exceeds the training context", () => {
  const trained = planPlacement(bitnet2b, gpu, { ctx: 1024 }).model.shape.contextLength;
  assert.ok(trained > 0);
  const over = planPlacement(bitnet2b, gpu, { ctx: trained * 4 });
  assert.ok(
    over.warnings.some((w) => w.startsWith(`ctx ${trained * 4} is beyond the ${trained} tokens`)),
    over.warnings.join("; "),
  );
  const within = planPlacement(bitnet2b, gpu, { ctx: trained });
  assert.ok(!within.warnings.some((w) => w.includes("trained on")));
});

Deno.test("plan --sweep: one exact plan per context size and layer count", async () => {
  assert.deepEqual(sweepContextSizes(4096), [512, 1024, 2048, 4096]);
  assert.deepEqual(sweepContextSizes(4096, [3000]), [512, 1024, 2048, 3000, 4096]);
  assert.deepEqual(sweepLayerCounts(30), [0, 8, 15, 23, 30, 31]);
  assert.deepEqual(sweepLayerCounts(2), [0, 1, 2, 3]);

  const dir = await Deno.makeTempDir({ prefix: "bitload-sweep-" });
  try {
    const model = join(dir, "f16.gguf");
    const { metadata, tensors } = bitnetModelParts({ layers: 2, vocab: 512 });
    await writeGguf(model, metadata, tensors.map(asF16));
    const lines: string[] = [];
    const devices = "cpu:8GiB,cuda0:48MiB";
    const code = await runPlan(
      [model, "--devices", devices, "--sweep", "-c", "3000", "--json"],
      (s) => lines.push(s),
    );
    assert.equal(code, 0);
    const sweep = PlanSweepJsonSchema.parse(JSON.parse(lines[0]));
    assert.deepEqual(sweep.ctxSizes, [512, 1024, 2048, 3000, 4096]);
    assert.deepEqual(sweep.gpuLayers, [0, 1, 2, 3]);
    assert.equal(sweep.cells.length, 5 * 4);
    // Each cell is the plan `bitload plan -c C -ngl N` would give.
    const { openGgufModel } = await import("../src/gguf/split.ts");
    const m = await openGgufModel(model);
    for (const c of sweep.cells) {
      const plan = planPlacement(m, parseDeviceSpec(devices), {
        strategy: c.gpuLayers === 0 ? "cpu" : "hybrid",
        gpuLayers: c.gpuLayers === 0 ? undefined : c.gpuLayers,
        ctx: c.ctx,
        minCtx: c.ctx,
      });
      assert.equal(c.fits, plan.status === "ok", `ctx ${c.ctx} -ngl ${c.gpuLayers}`);
      for (const d of plan.devices) assert.equal(c.bytes[d.device], d.reserved);
    }
    // More context never needs less memory on the same split.
    for (const n of sweep.gpuLayers) {
      const col = sweep.cells.filter((c) => c.gpuLayers === n).map((c) => c.bytes.cpu);
      for (let i = 1; i < col.length; i++) assert.ok(col[i] >= col[i - 1]);
    }
    const text: string[] = [];
    await runPlan([model, "--devices", devices, "--sweep"], (s) => text.push(s));
    assert.match(text.join("\n"), /ctx\s+-ngl\s+cpu\s+cuda0\s+fits/);
    assert.match(text.join("\n"), /largest that fits: ctx \d+ with -ngl \d+/);
    // A BitNet (I2_S) model sweeps the CPU only.
    const i2s = join(dir, "i2s.gguf");
    await writeGguf(i2s, metadata, tensors);
    const cpuOnly = sweepPlacement(await openGgufModel(i2s), parseDeviceSpec(devices));
    assert.deepEqual(cpuOnly.gpuLayers, [0]);
    assert.deepEqual(cpuOnly.devices, ["cpu"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

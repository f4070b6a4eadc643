import assert from "node:assert/strict";
import { readGguf, serializeGguf } from "../src/gguf/mod.ts";
import { bitnetModelParts } from "../src/synth/mod.ts";
import { type Device, parseDeviceSpec } from "../src/plan/devices.ts";
import { bufferTypeName, llamaCppArgs, namesRegex } from "../src/plan/emit_llamacpp.ts";
import { bitnetShapes, headerOnlyModel, transformerShapes } from "../src/plan/shapes.ts";
import {
  llamaCppLayerSplit,
  type PlacementPlan,
  type PlanOptions,
  planPlacement as planWithWeightTypes,
  validateMemoryRequirements,
} from "../src/plan/strategies.ts";
import type { GgufModel } from "../src/gguf/model.ts";

/**
 * These tests check the strategies' byte arithmetic on the BitNet shape, with simulated GPUs:
 * bytes only (`checkWeightTypes: false`), since a CUDA backend cannot run I2_S and the plan would
 * otherwise leave the GPUs out (that judgement is tested in tests/plan_judgement_test.ts).
 */
function planPlacement(
  model: Pick<GgufModel, "tensors" | "metadata">,
  devices: readonly Device[],
  options: PlanOptions = {},
): PlacementPlan {
  return planWithWeightTypes(model, devices, { checkWeightTypes: false, ...options });
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const b2 = bitnetShapes();
/** The official BitNet b1.58 2B-4T shape, header only. */
const bitnet2b = headerOnlyModel(b2.metadata, b2.tensors);
const WEIGHTS_2B = bitnet2b.tensors.reduce((a, t) => a + t.byteSize, 0);

/** Invariants every plan keeps. */
function checkInvariants(plan: PlacementPlan, devices: readonly Device[]) {
  const real = plan.tensors.filter((t) => !t.duplicate);
  assert.equal(real.length, plan.model.tensorCount);
  assert.equal(real.reduce((a, t) => a + t.bytes, 0), plan.model.weightBytes);
  const dup = plan.tensors.filter((t) => t.duplicate).reduce((a, t) => a + t.bytes, 0);
  assert.equal(plan.devices.reduce((a, d) => a + d.weights, 0), plan.model.weightBytes + dup);
  for (const d of plan.devices) {
    const onDevice = plan.tensors.filter((t) => t.device === d.device);
    assert.equal(onDevice.reduce((a, t) => a + t.bytes, 0), d.weights, d.device);
    assert.equal(d.needed, d.weights + d.kv + d.scratch + d.overhead);
    assert.equal(d.reserved, d.needed + d.margin);
    assert.equal(d.freeAfter, d.available - d.reserved);
    assert.equal(d.fits, d.reserved <= d.available);
  }
  assert.equal(plan.devices.reduce((a, d) => a + d.kv, 0), plan.kv.totalBytes);
  assert.equal(plan.kv.totalBytes, plan.kv.kBytes + plan.kv.vBytes);
  // token_embd (the input layer) always stays on the CPU unless an override moves it.
  const embd = plan.tensors.find((t) => t.name === "token_embd.weight" && !t.duplicate);
  if (embd && !embd.pinned) assert.equal(embd.device, "cpu");
  const verdicts = validateMemoryRequirements(plan, devices);
  for (const v of verdicts) {
    const d = plan.devices.find((x) => x.device === v.device)!;
    assert.equal(v.fits, d.fits || d.needed === 0);
  }
  JSON.parse(JSON.stringify(plan)); // plain data
}

Deno.test("cpu strategy: everything on the CPU, fits or says by how much", () => {
  const devices = parseDeviceSpec("cpu:8GiB,cuda0:24GiB");
  const plan = planPlacement(bitnet2b, devices, { strategy: "cpu", ctx: 4096 });
  checkInvariants(plan, devices);
  assert.equal(plan.status, "ok");
  assert.equal(plan.gpuLayers, 0);
  assert.ok(plan.tensors.every((t) => t.device === "cpu"));
  const cpu = plan.devices[0];
  assert.equal(cpu.weights, WEIGHTS_2B);
  assert.equal(cpu.kv, 314_572_800);
  assert.equal(cpu.overhead, Math.ceil(WEIGHTS_2B * 0.1));
  assert.deepEqual(cpu.layers, [...Array(30).keys()]);
  assert.equal(plan.devices[1].reserved, 0);

  const small = parseDeviceSpec("cpu:1GiB");
  const no = planPlacement(bitnet2b, small, { strategy: "cpu" });
  checkInvariants(no, small);
  assert.equal(no.status, "does-not-fit");
  assert.equal(no.devices[0].shortBy, no.devices[0].reserved - GiB);
  assert.equal(validateMemoryRequirements(no, small)[0].shortBy, no.devices[0].shortBy);
});

Deno.test("hybrid strategy: whole layers, last first, like -ngl", async (t) => {
  await t.step("everything fits on a big GPU: -ngl 31 (30 layers + output)", () => {
    const devices = parseDeviceSpec("cpu:8GiB,cuda0:24GiB");
    const plan = planPlacement(bitnet2b, devices, { strategy: "hybrid" });
    checkInvariants(plan, devices);
    assert.equal(plan.status, "ok");
    assert.equal(plan.gpuLayers, 31);
    assert.equal(plan.devices[1].kv, 314_572_800);
    assert.ok(plan.devices[1].output);
    assert.equal(plan.tensors.find((t) => t.name === "output_norm.weight")!.device, "cuda0");
  });
  await t.step("a small GPU takes the last layers and the output", () => {
    const devices = parseDeviceSpec("cpu:8GiB,cuda0:1GiB");
    const plan = planPlacement(bitnet2b, devices, { strategy: "hybrid" });
    checkInvariants(plan, devices);
    assert.equal(plan.status, "ok");
    const gpu = plan.devices[1];
    const n = plan.gpuLayers - 1;
    assert.ok(n > 0 && n < 30);
    assert.deepEqual(gpu.layers, Array.from({ length: n }, (_, i) => 30 - n + i));
    // One more layer would not fit.
    const more = planPlacement(bitnet2b, devices, { strategy: "hybrid", gpuLayers: n + 2 });
    assert.equal(more.status, "does-not-fit");
    assert.ok(!more.devices[1].fits);
  });
  await t.step("--gpu-layers fixes the count, 0 means CPU only", () => {
    const devices = parseDeviceSpec("cpu:8GiB,cuda0:24GiB");
    const plan = planPlacement(bitnet2b, devices, { strategy: "hybrid", gpuLayers: 11 });
    assert.equal(plan.gpuLayers, 11);
    assert.deepEqual(plan.devices[1].layers, [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
    assert.ok(plan.devices[1].output);
    assert.equal(
      planPlacement(bitnet2b, devices, { strategy: "hybrid", gpuLayers: 0 }).gpuLayers,
      0,
    );
  });
  await t.step("tight: exactly the reserved bytes fit, one byte less does not", () => {
    const probe = planPlacement(bitnet2b, parseDeviceSpec("cpu:8GiB,cuda0:24GiB"), {
      strategy: "hybrid",
      gpuLayers: 31,
    });
    const exact = probe.devices[1].reserved;
    const fit = parseDeviceSpec(`cpu:8GiB,cuda0:${exact}`);
    const a = planPlacement(bitnet2b, fit, { strategy: "hybrid" });
    assert.equal(a.gpuLayers, 31);
    assert.equal(a.devices[1].freeAfter, 0);
    const b = planPlacement(bitnet2b, parseDeviceSpec(`cpu:8GiB,cuda0:${exact - 1}`), {
      strategy: "hybrid",
    });
    assert.ok(b.gpuLayers < 31);
    // Between needed and needed + margin: does not fit, and the plan says it would without margin.
    const c = planPlacement(
      bitnet2b,
      parseDeviceSpec(`cpu:8GiB,cuda0:${probe.devices[1].needed + 1}`),
      { strategy: "hybrid", gpuLayers: 31 },
    );
    assert.equal(c.status, "does-not-fit");
    assert.match(c.warnings.join("\n"), /cuda0 fits only without the 15 % safety margin/);
  });
});

Deno.test("split strategy: proportional to free memory or a ratio, 3 uneven GPUs", async (t) => {
  const devices = parseDeviceSpec("cpu:16GiB,cuda0:12GiB,cuda1:4GiB,cuda2:2GiB");
  await t.step("by free memory, llama.cpp's upper_bound rule", () => {
    const plan = planPlacement(bitnet2b, devices, { strategy: "split" });
    checkInvariants(plan, devices);
    assert.equal(plan.gpuLayers, 31);
    const counts = plan.layerSplit.map((s) => s.layers);
    assert.deepEqual(counts, llamaCppLayerSplit(31, [12, 4, 2]));
    assert.deepEqual(counts, [21, 7, 3]);
    assert.equal(counts.reduce((a, b) => a + b), 31);
    // Layers go in order: cuda0 gets the first of the range, cuda2 the last and the output.
    assert.deepEqual(plan.devices[1].layers, [...Array(21).keys()]);
    assert.ok(plan.devices[3].output);
    // Each GPU holds the KV of its own layers.
    for (const d of plan.devices.slice(1)) {
      assert.equal(d.kv, d.layers.length * plan.kv.perLayerBytes[0]);
    }
  });
  await t.step("by a user ratio", () => {
    const plan = planPlacement(bitnet2b, devices, { strategy: "split", tensorSplit: [1, 1, 1] });
    assert.deepEqual(plan.layerSplit.map((s) => s.layers), [11, 10, 10]);
    assert.deepEqual(llamaCppLayerSplit(31, [1, 1, 1]), [11, 10, 10]);
  });
  await t.step("a ratio that overloads a small GPU does not fit, with numbers", () => {
    const tiny = parseDeviceSpec("cpu:16GiB,cuda0:12GiB,cuda1:4GiB,cuda2:256MiB");
    const plan = planPlacement(bitnet2b, tiny, { strategy: "split", tensorSplit: [1, 1, 8] });
    checkInvariants(plan, tiny);
    assert.equal(plan.status, "does-not-fit");
    assert.ok(!plan.devices[3].fits && plan.devices[3].shortBy > 0);
    assert.match(plan.steps[0].detail, /cuda2 short by/);
  });
});

Deno.test("gpu strategy: critical tensors first, the rest stays on the CPU", () => {
  const devices = parseDeviceSpec("cpu:8GiB,cuda0:1300MiB");
  const plan = planPlacement(bitnet2b, devices, { strategy: "gpu" });
  checkInvariants(plan, devices);
  assert.equal(plan.status, "ok");
  assert.equal(plan.resolved, "gpu");
  const on = (re: RegExp) => plan.tensors.filter((t) => re.test(t.name));
  assert.ok(on(/norm/).every((t) => t.device === "cuda0"), "all norms on the GPU");
  assert.ok(on(/attn_/).every((t) => t.device === "cuda0"), "all attention on the GPU");
  const ffn = on(/ffn_(up|gate|down)/);
  const gpuFfn = ffn.filter((t) => t.device === "cuda0");
  assert.ok(gpuFfn.length > 0 && gpuFfn.length < ffn.length, "some FFN spills to the CPU");
  // The FFN tensors that made it are from the last layers.
  const minGpuLayer = Math.min(...gpuFfn.map((t) => t.layer!));
  assert.ok(ffn.filter((t) => t.device === "cpu").every((t) => t.layer! <= minGpuLayer));
  assert.equal(plan.devices[1].kv, 314_572_800, "KV of every layer with its home on the GPU");
  assert.equal(plan.tensors.find((t) => t.name === "token_embd.weight")!.device, "cpu");
  const emitted = llamaCppArgs(plan, { devices });
  assert.equal(emitted.args[emitted.args.indexOf("-ngl") + 1], "31");
  const ot = emitted.args[emitted.args.lastIndexOf("-ot") + 1];
  assert.match(ot, /=CPU$/);
  const re = new RegExp(ot.slice(0, -"=CPU".length));
  for (const t of plan.tensors) {
    assert.equal(re.test(t.name), t.device === "cpu" && t.role === "layer", t.name);
  }
});

Deno.test("overrides pin tensors by regex, like -ot", async (t) => {
  const devices = parseDeviceSpec("cpu:8GiB,cuda0:24GiB,cuda1:24GiB");
  await t.step("ffn to the CPU, norms of layer 0 to cuda1", () => {
    const plan = planPlacement(bitnet2b, devices, {
      strategy: "hybrid",
      overrides: [{ pattern: "ffn_(up|gate|down)", device: "cpu" }, {
        pattern: /^blk\.0\..*norm/,
        device: "cuda1",
      }],
    });
    checkInvariants(plan, devices);
    for (const t of plan.tensors) {
      if (/ffn_(up|gate|down)/.test(t.name)) {
        assert.equal(t.device, "cpu", t.name);
        assert.equal(t.pinned, true);
      }
    }
    assert.deepEqual(plan.overrides, [
      { pattern: "ffn_(up|gate|down)", device: "cpu", matched: 90 },
      { pattern: "^blk\\.0\\..*norm", device: "cuda1", matched: 4 },
    ]);
    assert.equal(plan.tensors.find((t) => t.name === "blk.0.ffn_sub_norm.weight")!.device, "cuda1");
    const args = llamaCppArgs(plan, { devices }).args;
    assert.ok(args.includes("ffn_(up|gate|down)=CPU"));
    assert.ok(args.includes("^blk\\.0\\..*norm=CUDA1"));
  });
  await t.step("first match wins; no match is a warning; unknown device throws", () => {
    const plan = planPlacement(bitnet2b, devices, {
      overrides: [{ pattern: "attn_q", device: "cuda1" }, { pattern: "attn", device: "cpu" }, {
        pattern: "nothing-matches",
        device: "cpu",
      }],
    });
    assert.ok(plan.tensors.filter((t) => /attn_q/.test(t.name)).every((t) => t.device === "cuda1"));
    assert.match(plan.warnings.join("\n"), /"nothing-matches" matched no tensor/);
    assert.throws(
      () => planPlacement(bitnet2b, devices, { overrides: [{ pattern: "x", device: "cuda7" }] }),
      /names device "cuda7", which is not in the device list \(cpu, cuda0, cuda1\)/,
    );
  });
});

Deno.test("auto: the fallback chain, each step with why", async (t) => {
  await t.step("no accelerator: CPU", () => {
    const plan = planPlacement(bitnet2b, parseDeviceSpec("cpu:8GiB"));
    assert.equal(plan.resolved, "cpu");
    assert.deepEqual(plan.steps.map((s) => [s.action, s.fits]), [["cpu", true]]);
  });
  await t.step("full offload first", () => {
    const plan = planPlacement(bitnet2b, parseDeviceSpec("cpu:8GiB,cuda0:24GiB"));
    assert.equal(plan.resolved, "hybrid");
    assert.equal(plan.gpuLayers, 31);
    assert.equal(plan.steps.length, 1);
  });
  await t.step("fewer GPU layers, the rest on the CPU", () => {
    const devices = parseDeviceSpec("cpu:8GiB,cuda0:1GiB");
    const plan = planPlacement(bitnet2b, devices);
    checkInvariants(plan, devices);
    assert.equal(plan.status, "ok");
    assert.deepEqual(plan.steps.map((s) => [s.action, s.fits]), [["hybrid", false], [
      "hybrid",
      true,
    ]]);
    assert.match(plan.steps[0].detail, /all 31 layers on the accelerator: cuda0 short by/);
    assert.match(plan.steps[1].detail, /fewer GPU layers: \d+ of 31 fit/);
    const hybrid = planPlacement(bitnet2b, devices, { strategy: "hybrid" });
    assert.equal(plan.gpuLayers, hybrid.gpuLayers);
  });
  await t.step("3 uneven GPUs: proportional fails, filling each in turn fits", () => {
    const devices = parseDeviceSpec("cpu:8GiB,cuda0:1GiB,cuda1:800MiB,cuda2:600MiB");
    const plan = planPlacement(bitnet2b, devices);
    checkInvariants(plan, devices);
    assert.equal(plan.status, "ok");
    assert.equal(plan.steps[0].fits, false);
    assert.ok(plan.devices.every((d) => d.fits));
    const emitted = llamaCppArgs(plan, { devices });
    const split = emitted.args[emitted.args.indexOf("--tensor-split") + 1].split(",").map(Number);
    assert.deepEqual(split, plan.layerSplit.map((s) => s.layers));
    assert.deepEqual(llamaCppLayerSplit(plan.gpuLayers, split), split, "llama.cpp reproduces it");
    assert.equal(emitted.notes.filter((n) => /would split/.test(n)).length, 0);
  });
  await t.step("smaller context when nothing else fits", () => {
    // Weights fit in 2 GiB of CPU, the f16 KV and scratch for 4096 tokens do not.
    const devices = parseDeviceSpec("cpu:2GiB");
    const plan = planPlacement(bitnet2b, devices, { ctx: 4096 });
    checkInvariants(plan, devices);
    assert.equal(plan.status, "ok");
    assert.equal(plan.ctx, 2048);
    assert.equal(plan.requestedCtx, 4096);
    const actions = plan.steps.map((s) => s.action);
    assert.equal(actions[0], "cpu");
    assert.ok(actions.includes("smaller context"));
    assert.match(
      plan.steps.find((s) => s.action === "smaller context")!.detail,
      /halve the context/,
    );
  });
  await t.step("refuse with the numbers", () => {
    const devices = parseDeviceSpec("cpu:1GiB,cuda0:256MiB");
    const plan = planPlacement(bitnet2b, devices);
    checkInvariants(plan, devices);
    assert.equal(plan.status, "refused");
    assert.equal(plan.ctx, 512);
    assert.equal(plan.steps.at(-1)!.action, "refuse");
    assert.match(
      plan.refusal!,
      /Does not fit even at ctx 512.*cpu short by .* GiB.*weights alone are 1\.10 GiB/,
    );
  });
  await t.step("no CPU device: a refusal, not a crash", () => {
    const plan = planPlacement(bitnet2b, parseDeviceSpec("cuda0:24GiB"));
    assert.equal(plan.status, "refused");
    assert.match(plan.refusal!, /No CPU device/);
  });
  await t.step("an RPC server counts as an accelerator, before local GPUs", () => {
    const devices = parseDeviceSpec("cpu:8GiB,cuda0:2GiB,rpc:10.0.0.2:50052:2GiB");
    const plan = planPlacement(bitnet2b, devices);
    assert.deepEqual(plan.devices.map((d) => d.device), ["cpu", "rpc0", "cuda0"]);
    const args = llamaCppArgs(plan, { devices }).args;
    assert.equal(args[args.indexOf("--rpc") + 1], "10.0.0.2:50052");
  });
});

Deno.test("llama.cpp details: tied output copy, mixed precision suggestion, emit flags", async (t) => {
  const llama = transformerShapes({
    layers: 4,
    embd: 512,
    heads: 8,
    headsKv: 2,
    ffn: 1024,
    vocab: 2048,
    tied: true,
  });
  await t.step("a tied head is duplicated on the output device (not for BitNet)", () => {
    const m = headerOnlyModel(llama.metadata, llama.tensors);
    const devices = parseDeviceSpec("cpu:4GiB,cuda0:4GiB");
    const plan = planPlacement(m, devices);
    checkInvariants(plan, devices);
    const dup = plan.tensors.filter((t) => t.duplicate);
    assert.equal(dup.length, 1);
    assert.equal(dup[0].device, "cuda0");
    assert.equal(dup[0].bytes, m.tensors[0].byteSize);
    const b = planPlacement(bitnet2b, parseDeviceSpec("cpu:8GiB,cuda0:24GiB"));
    assert.equal(b.tensors.filter((t) => t.duplicate).length, 0);
  });
  await t.step("small quantized critical tensors on a GPU get an f16 suggestion", () => {
    const untied = transformerShapes({
      layers: 2,
      embd: 512,
      heads: 8,
      headsKv: 2,
      ffn: 1024,
      vocab: 2048,
    });
    const m = headerOnlyModel(untied.metadata, untied.tensors);
    const plan = planPlacement(m, parseDeviceSpec("cpu:4GiB,cuda0:4GiB"));
    const names = plan.suggestions.map((s) => s.name).sort();
    assert.deepEqual(names, [
      "blk.0.attn_k.weight",
      "blk.0.attn_v.weight",
      "blk.1.attn_k.weight",
      "blk.1.attn_v.weight",
      "output.weight",
    ]);
    const out = plan.suggestions.find((s) => s.name === "output.weight")!;
    assert.equal(out.f16Bytes, 512 * 2048 * 2);
    assert.equal(out.from, "Q6_K");
    // None on the CPU, none for ternary BitNet weights.
    const cpuOnly = planPlacement(m, parseDeviceSpec("cpu:4GiB"));
    assert.deepEqual(cpuOnly.suggestions, []);
    assert.deepEqual(
      planPlacement(bitnet2b, parseDeviceSpec("cpu:8GiB,cuda0:24GiB")).suggestions,
      [],
    );
  });
  await t.step("emitted flags", () => {
    const devices = parseDeviceSpec("cpu:8GiB,cuda0:1GiB");
    const plan = planPlacement(bitnet2b, devices, { kvType: "q8_0", ctx: 2048 });
    const e = llamaCppArgs(plan, { model: "my model.gguf", devices });
    assert.deepEqual(e.args.slice(0, 8), [
      "-m",
      "my model.gguf",
      "-c",
      "2048",
      "-ctk",
      "q8_0",
      "-ctv",
      "q8_0",
    ]);
    assert.equal(e.args[e.args.indexOf("-ngl") + 1], String(plan.gpuLayers));
    assert.ok(e.args.includes("--fit"));
    assert.match(e.command, /^llama-server -m 'my model\.gguf' -c 2048 /);
    assert.match(e.notes.join("\n"), /microsoft\/BitNet's llama\.cpp fork/);
    assert.equal(bufferTypeName({ name: "cpu", kind: "cpu" }), "CPU");
    assert.equal(
      namesRegex([
        "output.weight",
        "blk.1.ffn_up.weight",
        "blk.2.ffn_up.weight",
        "blk.1.ffn_down.weight",
        "blk.2.ffn_down.weight",
      ]),
      "^(output\\.weight|blk\\.(1|2)\\.(ffn_up\\.weight|ffn_down\\.weight))$",
    );
  });
});

Deno.test("llamaCppLayerSplit() matches llama.cpp's upper_bound on float split points", () => {
  // Independent transcription of src/llama-model.cpp: cumulative sums normalised, then
  // upper_bound(splits, float(il - i_gpu_start) / act_gpu_layers).
  const reference = (ngl: number, w: number[]) => {
    const f = Math.fround;
    const splits: number[] = [];
    let sum = 0;
    for (const x of w) splits.push(sum = f(sum + f(x)));
    for (let i = 0; i < splits.length; i++) splits[i] = f(splits[i] / sum);
    const counts = w.map(() => 0);
    for (let il = 0; il < ngl; il++) {
      const v = f(f(il) / f(ngl));
      let lo = 0, hi = splits.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (v < splits[mid]) hi = mid;
        else lo = mid + 1;
      }
      counts[Math.min(lo, w.length - 1)]++;
    }
    return counts;
  };
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 500; i++) {
    const n = 1 + Math.floor(rand() * 4);
    const w: number[] = Array.from({ length: n }, () => Math.floor(rand() * 48) * GiB / 2);
    if (!w.some((x) => x > 0)) w[0] = GiB;
    const ngl = Math.floor(rand() * 120);
    assert.deepEqual(llamaCppLayerSplit(ngl, w), reference(ngl, w), `${ngl} ${w}`);
  }
});

Deno.test("a plan from the GGUF reader equals the header-only plan", async () => {
  const { metadata, tensors } = bitnetModelParts({ layers: 3, vocab: 512 });
  const file = await readGguf(serializeGguf(metadata, tensors));
  const model = { metadata: file.metadata, tensors: file.tensors };
  const shapes = headerOnlyModel(
    metadata,
    tensors.map((t) => ({ name: t.name, type: t.type as string, dims: t.dims })),
  );
  const devices = parseDeviceSpec("cpu:1GiB,cuda0:40MiB");
  const a = planPlacement(model, devices);
  const b = planPlacement(shapes, devices);
  checkInvariants(a, devices);
  assert.deepEqual(a, b);
  assert.ok(
    a.devices[0].weights + a.devices[1].weights ===
      file.tensors.reduce((s, t) => s + t.byteSize, 0),
  );
  assert.ok(MiB > 0);
});

Deno.test("never crashes: random models, devices, strategies and overrides (seeded)", () => {
  let seed = 20261125;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const strategies = ["auto", "cpu", "gpu", "hybrid", "split"] as const;
  for (let i = 0; i < 150; i++) {
    const heads = pick([4, 8, 16]);
    const shape = transformerShapes({
      layers: 1 + Math.floor(rand() * 40),
      embd: heads * 64,
      heads,
      headsKv: pick([1, 2, 4].filter((h) => h <= heads)),
      ffn: pick([256, 512, 1024]),
      vocab: pick([256, 1000, 32000]),
      tied: rand() < 0.3,
      weightType: pick(["Q4_0", "Q8_0", "F16", "Q4_K"]),
      embdType: pick(["F16", "Q6_K", "Q8_0"]),
    });
    const m = headerOnlyModel(shape.metadata, shape.tensors);
    const size = () => Math.floor(rand() * 512 * MiB);
    const specs = [`cpu:${size()}`];
    const gpus = Math.floor(rand() * 4);
    for (let g = 0; g < gpus; g++) specs.push(`cuda${g}:${size()}`);
    if (rand() < 0.2) specs.push(`rpc:10.0.0.${i % 200}:50052:${size()}`);
    const devices = parseDeviceSpec(specs.join(","));
    const strategy = pick(strategies);
    const overrides = rand() < 0.3
      ? [{
        pattern: pick(["ffn_up", "attn_v", "^output", "blk\\.0\\."]),
        device: pick(devices).name,
      }]
      : [];
    const options = {
      strategy,
      ctx: pick([256, 512, 2048, 8192]),
      kvType: pick(["f16", "q8_0", "q4_0"] as const),
      overrides,
      tensorSplit: rand() < 0.3 && gpus > 1
        ? Array.from({ length: gpus }, () => 1 + Math.floor(rand() * 3))
        : undefined,
    };
    const label = `${i}: ${specs.join(",")} ${JSON.stringify(options)}`;
    const plan = planPlacement(m, devices, options);
    checkInvariants(plan, devices);
    const allFit = plan.devices.every((d) => d.fits);
    if (plan.status === "ok") assert.ok(allFit, label);
    if (plan.status === "does-not-fit") assert.ok(!allFit && strategy !== "auto", label);
    if (plan.status === "refused") assert.ok(plan.refusal && strategy === "auto", label);
    assert.ok(plan.steps.length > 0, label);
    const emitted = llamaCppArgs(plan, { devices });
    assert.ok(emitted.args.includes("-ngl"), label);
  }
});

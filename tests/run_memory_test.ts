import assert from "node:assert/strict";
import { join } from "node:path";
import { RunJsonSchema } from "../src/cli/schemas.ts";
import { readModelConfig } from "../src/infer/config.ts";
import { fitRunShape, kvCacheBytesOf, MIN_FITTED_CONTEXT } from "../src/infer/run_memory.ts";
import { bitnetShapes, headerOnlyModel } from "../src/plan/shapes.ts";
import { synthesizeBitnetModel } from "../src/synth/mod.ts";
import { runCli } from "./support/cli.ts";

/**
 * The project's bound on planned vs measured peak: 3 %. The run commits its KV cache and arena
 * up front, and the token loop allocates nothing, so the peak is the plan.
 */
const TOLERANCE = 0.03;

Deno.test("run --json: planned memory (weights + KV + arena + copies + runtime) next to the measured peak", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-runmem-" });
  try {
    const model = join(dir, "m.gguf");
    await synthesizeBitnetModel(model, {
      layers: 2,
      dim: 512,
      ffn: 1280,
      heads: 4,
      kvHeads: 2,
      vocab: 600,
      context: 4096,
    });
    const args = ["run", model, "--tokens", "1,2,3", "-n", "2", "-t", "1", "--json"];
    // The first run of a fresh checkout also compiles and caches every module Deno loads (a
    // transient of ~3 MB, once per source version, on a ~80 MB process here): warm that up, so
    // the peak compared below is a run's own.
    await runCli(args, { BITLOAD_SIMD: "scalar" });
    const r = await runCli(args, { BITLOAD_SIMD: "scalar" });
    assert.equal(r.code, 0, r.stderr);
    const out = RunJsonSchema.parse(JSON.parse(r.stdout.trim().split("\n").at(-1)!));
    const m = out.memory!;
    // The plan's formula and the engine's arrays agree exactly.
    assert.equal(m.planned.kvCache, m.allocated.kvCache);
    assert.equal(m.planned.arena, m.allocated.arena);
    assert.equal(m.planned.logits, m.allocated.logits);
    // 2 layers × K and V × 2048 tokens (default: min(training context, 2048)) × 2 KV heads × 128 × f32
    assert.equal(m.planned.kvCache, 2 * 2 * 2048 * 2 * 128 * 4);
    assert.equal(m.planned.weightCopies, 0, "an I2_S model runs on its mapped tensors");
    const sum = m.planned.weights + m.planned.kvCache + m.planned.arena + m.planned.logits +
      m.planned.weightCopies + m.planned.runtime + m.planned.engineOther;
    assert.equal(m.planned.total, sum);
    if (m.measuredPeakBytes === 0) return; // no /proc
    const off = Math.abs(m.planned.total / m.measuredPeakBytes - 1);
    assert.ok(off <= TOLERANCE, `planned ÷ measured ${m.plannedToMeasured}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("default context and KV type: the 2B-4T shape fits the 1.5× target where the plan says it can", () => {
  const s = bitnetShapes();
  const header = headerOnlyModel(s.metadata, s.tensors);
  const config = readModelConfig(header.metadata);
  const weights = header.tensors.reduce((n, t) => n + t.byteSize, 0);
  const fileBytes = weights + 8e6;
  const fit = (runtime: number, extra: { contextLength?: number; kvType?: "f32" | "f16" } = {}) =>
    fitRunShape(config, {
      fileBytes,
      limit: 1.5,
      judged: true,
      maxBatch: 64,
      given: { weights, weightCopies: 0, runtime },
      ...extra,
    });
  // 30 layers × 2 × 2048 × 640 × 4 B: the f32 default's KV cache.
  assert.equal(
    kvCacheBytesOf({ config, contextLength: 2048, maxBatch: 64, kvType: "f32" }),
    314572800,
  );
  const roomy = fit(100e6);
  assert.deepEqual([roomy.contextLength, roomy.kvType, roomy.fits], [2048, "f32", true]);
  assert.deepEqual(roomy.notes, []);
  // Less room: f16 KV first, then a shorter context, each only as far as needed.
  const free = 1.5 * fileBytes - weights;
  const tight = fit(free - 230e6);
  assert.deepEqual([tight.kvType, tight.contextLength], ["f16", 2048]);
  assert.ok(tight.fits && tight.planned.total <= 1.5 * fileBytes);
  assert.match(tight.notes[0], /KV cache f16, \d+ tokens: the defaults \(f32, 2048 tokens\)/);
  const tighter = fit(free - 120e6);
  assert.ok(tighter.contextLength < 2048 && tighter.contextLength >= MIN_FITTED_CONTEXT);
  assert.ok(tighter.fits);
  // What the caller gave is kept; a plan that cannot fit keeps the defaults.
  assert.equal(fit(free - 120e6, { kvType: "f32", contextLength: 2048 }).kvType, "f32");
  const hopeless = fit(free + 1e9);
  assert.deepEqual([hopeless.contextLength, hopeless.kvType, hopeless.fits], [2048, "f32", false]);
});

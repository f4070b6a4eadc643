import assert from "node:assert/strict";
import { join } from "node:path";
import { RunJsonSchema } from "../src/cli/schemas.ts";
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
    const r = await runCli(["run", model, "--tokens", "1,2,3", "-n", "2", "-t", "1", "--json"], {
      BITLOAD_SIMD: "scalar",
    });
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

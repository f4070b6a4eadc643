import assert from "node:assert/strict";
import { join } from "node:path";
import { synthesizeBitnetModel } from "../src/synth/mod.ts";
import { openGgufModel } from "../src/gguf/split.ts";
import { loadModel } from "../src/load/loader.ts";
import { parseDeviceSpec } from "../src/plan/devices.ts";
import { planPlacement } from "../src/plan/strategies.ts";

/**
 * Issue #6 proof: the planned CPU weight memory against what a real load makes resident. The
 * planner's `weights` are exact bytes; the loader's memory report measures the resident pages of
 * the mapping (`/proc/self/smaps`), so the two agree up to page rounding and the header pages.
 */
Deno.test("planned CPU weights are within 5 % of a real load's measured memory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-plan-load-" });
  try {
    const path = join(dir, "model.gguf");
    await synthesizeBitnetModel(path, { layers: 8, dim: 1024, ffn: 2816, heads: 8, kvHeads: 2 });
    const model = await openGgufModel(path);
    const plan = planPlacement(model, parseDeviceSpec("cpu:16GiB"), { strategy: "cpu", ctx: 512 });
    const planned = plan.devices[0].weights;
    using loaded = await loadModel(path, { mmap: true });
    const r = loaded.report;
    assert.equal(r.fileBytes, planned, "the loader loads exactly the planned tensor bytes");
    if (!r.mapped || !r.measured) {
      console.log(
        `not measured (mapped ${r.mapped}, measured ${r.measured}): skipped the 5 % check`,
      );
      return;
    }
    // The mapping's own resident pages (smaps): immune to other tests' heap in --parallel runs.
    const measured = r.fileBackedBytes;
    const error = Math.abs(measured - planned) / planned;
    console.log(
      `planned ${planned} B, measured ${measured} B (file-backed ${r.fileBackedBytes}, anon ${r.anonBytes}), error ${
        (error * 100).toFixed(2)
      } %`,
    );
    assert.ok(error <= 0.05, `planned ${planned}, measured ${measured}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

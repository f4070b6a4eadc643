/**
 * `validateModel`'s progress feed (what `bitload validate` draws on a terminal): every check
 * reports its bytes after each tensor, never backwards, and ends at 100 %.
 */

import assert from "node:assert/strict";
import { synthesizeBitnetModel } from "../src/synth/bitnet_model.ts";
import { validateModel } from "../src/validate/validate.ts";

Deno.test("validateModel reports each check's progress up to its total", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-validate-progress-" });
  try {
    const path = `${dir}/tiny.gguf`;
    await synthesizeBitnetModel(path, { layers: 1, dim: 256, ffn: 256, vocab: 512, seed: 5 });
    const seen = new Map<string, { done: number; total: number; calls: number }>();
    const report = await validateModel(path, {
      checkTensors: true,
      determinism: true,
      sample: 3,
      onProgress: (done, total, check) => {
        const last = seen.get(check);
        if (last) {
          assert.equal(total, last.total, `${check}: the total stays`);
          assert.ok(done >= last.done, `${check}: progress never goes back`);
        }
        seen.set(check, { done, total, calls: (last?.calls ?? 0) + 1 });
      },
    });
    assert.ok(report.ok);
    assert.deepEqual([...seen.keys()], ["tensors", "determinism"]);
    const tensors = seen.get("tensors")!;
    assert.equal(tensors.calls, report.tensors.filter((t) => t.check === "tensors").length);
    for (const [check, p] of seen) {
      assert.ok(p.total > 0, check);
      assert.equal(p.done, p.total, `${check} ends at 100 %`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

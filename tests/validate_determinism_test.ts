import assert from "node:assert/strict";
import { join } from "node:path";
import { ggmlTypeByName } from "../src/gguf/types.ts";
import type { GgufTensorInfo } from "../src/gguf/model.ts";
import { quantize } from "../src/quant/quantize.ts";
import { seededRandom } from "../src/common/random.ts";
import { synthesizeBitnetModel } from "../src/synth/bitnet_model.ts";
import {
  checkDeterminism,
  DETERMINISM_VARIANCE_LIMIT,
  determinismSettings,
} from "../src/validate/determinism.ts";
import { reportToJson } from "../src/validate/report.ts";
import { validateModel } from "../src/validate/validate.ts";

function info(type: string, n: number, byteSize: number): GgufTensorInfo {
  return {
    name: `w.${type}`,
    dims: [n],
    type: ggmlTypeByName(type)!,
    offset: 0,
    fileOffset: 0,
    byteSize,
    elementCount: n,
    part: 0,
  };
}

Deno.test("BITNET_DETERMINISTIC / BITNET_SEED settings", () => {
  assert.deepEqual(determinismSettings({ BITNET_DETERMINISTIC: "1" }), {
    deterministic: true,
    seed: 42,
    seedSource: "default",
  });
  assert.deepEqual(determinismSettings({ BITNET_DETERMINISTIC: "1", BITNET_SEED: "7" }), {
    deterministic: true,
    seed: 7,
    seedSource: "BITNET_SEED",
  });
  const random = determinismSettings({});
  assert.equal(random.deterministic, false);
  assert.equal(random.seedSource, "random");
  assert.throws(() => determinismSettings({ BITNET_SEED: "x" }), /non-negative integer/);
  assert.equal(DETERMINISM_VARIANCE_LIMIT, 1e-8);
});

Deno.test("dequantization is bit-identical across runs and 1/2/4 threads", () => {
  const r = seededRandom(42);
  const x = Float32Array.from({ length: 256 * 512 }, () => r.normal());
  for (const type of ["F16", "BF16", "Q8_0", "Q4_0", "TQ2_0", "I2_S"]) {
    const bytes = quantize(type, x);
    const row = checkDeterminism(info(type, x.length, bytes.length), bytes, {
      runs: 2,
      threads: [1, 2, 4],
    });
    assert.equal(row.status, "pass", `${type}: ${row.detail}`);
    assert.equal(row.figures.maxVariance, 0);
    assert.equal(row.figures.identical, true);
    assert.equal(row.figures.runs, 7); // 3 thread counts × 2 runs + the TypeScript kernels
  }
});

Deno.test("validate under BITNET_DETERMINISTIC=1, BITNET_SEED=42: identical reports across runs and thread counts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-determinism-" });
  try {
    const path = join(dir, "m.gguf");
    await synthesizeBitnetModel(path, { layers: 2, vocab: 300 });
    const settings = determinismSettings({ BITNET_DETERMINISTIC: "1", BITNET_SEED: "42" });
    const reports: string[] = [];
    for (const threads of [1, 2, 4, 1]) {
      const report = await validateModel(path, {
        checkTensors: true,
        determinism: true,
        sample: 5,
        threads,
        settings,
      });
      assert.equal(report.ok, true);
      // Timings are the only thing allowed to vary.
      for (const c of report.checks) delete c.figures.milliseconds;
      reports.push(reportToJson(report));
    }
    assert.equal(new Set(reports).size, 1);
    assert.match(reports[0], /"seed":42,"seedSource":"BITNET_SEED","deterministic":true/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * The cost of profiling: the same progressive load with and without a {@link PerfMonitor}
 * (spans for parse, map, every batch). The goal is < 1 % overhead; Deno prints the ratio.
 *
 * @module
 */

import { join } from "node:path";
import { ProgressiveLoader } from "../src/load/mod.ts";
import { synthesizeBitnetModel } from "../src/synth/mod.ts";
import { PerfMonitor } from "../src/bench/mod.ts";

const dir = await Deno.makeTempDir({ prefix: "bitload-monitor-bench-" });
const path = join(dir, "model.gguf");
await synthesizeBitnetModel(path, {
  layers: 8,
  dim: 1024,
  ffn: 2816,
  heads: 8,
  kvHeads: 2,
  vocab: 4096,
});

Deno.bench({
  name: "load without a monitor",
  group: "perf monitor overhead",
  baseline: true,
  async fn() {
    using _ = await new ProgressiveLoader(path, { progressive: true, batchLayers: 1 }).load();
  },
});

Deno.bench({
  name: "load with a PerfMonitor",
  group: "perf monitor overhead",
  async fn() {
    using _ = await new ProgressiveLoader(path, {
      progressive: true,
      batchLayers: 1,
      monitor: new PerfMonitor(),
    }).load();
  },
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

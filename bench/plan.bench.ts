/**
 * Planning speed (issue #6 target: < 5 ms per plan, metadata only, no tensor data read):
 *
 * - the official BitNet b1.58 2B-4T shape (30 layers, 332 tensors), every strategy;
 * - a 70B-shaped header (80 layers, 8192 dims, 64/8 heads, Q4_K, with Q/K/V/O biases: 1,043
 *   tensors) on two 24 GiB GPUs, where `auto` walks its fallback chain (full offload does not
 *   fit, fewer layers do), on three uneven GPUs, and on a CPU too small for it (context
 *   halving down to 512, then a refusal: the slowest path).
 *
 * The headers are built without tensor data (`headerOnlyModel`), as the planner only reads
 * tensor infos. There is no in-process peer planner to time in the same run (llama.cpp's
 * `--fit` is a dry-run load inside the C++ engine), so this bench records bitload's own numbers.
 *
 * @module
 */

import { parseDeviceSpec } from "../src/plan/devices.ts";
import { bitnetShapes, headerOnlyModel, llama70bShapes } from "../src/plan/shapes.ts";
import { planPlacement, type Strategy } from "../src/plan/strategies.ts";

const b2 = bitnetShapes();
const bitnet2b = headerOnlyModel(b2.metadata, b2.tensors);

const s70 = llama70bShapes();
const llama70b = headerOnlyModel(s70.metadata, s70.tensors);
if (llama70b.tensors.length < 1000) throw new Error("the 70B header should have ≥ 1000 tensors");

const oneGpu = parseDeviceSpec("cpu:32GiB,cuda0:8GiB");
const twoGpus = parseDeviceSpec("cpu:64GiB,cuda0:24GiB,cuda1:24GiB");
const threeUneven = parseDeviceSpec("cpu:64GiB,cuda0:24GiB,cuda1:12GiB,cuda2:8GiB");

for (const strategy of ["auto", "cpu", "gpu", "hybrid", "split"] as Strategy[]) {
  Deno.bench({
    name: `2B-4T shape, ${strategy}`,
    group: "plan BitNet 2B-4T (332 tensors)",
    baseline: strategy === "auto",
    fn: () => {
      planPlacement(bitnet2b, oneGpu, { strategy, ctx: 4096 });
    },
  });
}

Deno.bench({
  name: "70B shape, auto, 2 × 24 GiB (fallback: fewer layers)",
  group: "plan 70B (1,043 tensors)",
  baseline: true,
  fn: () => {
    const plan = planPlacement(llama70b, twoGpus, { ctx: 8192 });
    if (plan.status !== "ok") throw new Error(plan.refusal);
  },
});

Deno.bench({
  name: "70B shape, auto, 3 uneven GPUs",
  group: "plan 70B (1,043 tensors)",
  fn: () => {
    planPlacement(llama70b, threeUneven, { ctx: 8192 });
  },
});

Deno.bench({
  name: "70B shape, gpu (critical tensors first)",
  group: "plan 70B (1,043 tensors)",
  fn: () => {
    planPlacement(llama70b, twoGpus, { strategy: "gpu", ctx: 8192 });
  },
});

Deno.bench({
  name: "70B shape, auto, CPU 16 GiB (context halving, then refusal)",
  group: "plan 70B (1,043 tensors)",
  fn: () => {
    planPlacement(llama70b, parseDeviceSpec("cpu:16GiB"), { ctx: 8192 });
  },
});

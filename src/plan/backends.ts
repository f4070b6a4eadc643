/**
 * Which weight types each kind of device can run for inference, so that a plan never puts a
 * layer on an accelerator that could only hold its bytes: llama.cpp keeps a tensor whose type
 * the GPU backend lacks in CPU memory and runs it there, and BitNet's ternary types (I2_S,
 * TL1, TL2) exist only in microsoft/BitNet's fork, whose kernels are CPU-only.
 *
 * @module
 */

import type { DeviceKind } from "./devices.ts";

/**
 * The weight types ggml's CUDA backend multiplies (`ggml_cuda_supports_op` for `MUL_MAT` /
 * `GET_ROWS` in llama.cpp b6000+: floats, the legacy and K-quants, the i-quants, MXFP4). Not in
 * it: TQ1_0/TQ2_0 (CPU kernels only) and the fork's I2_S/TL1/TL2.
 */
export const CUDA_WEIGHT_TYPES: ReadonlySet<string> = new Set([
  "F32",
  "F16",
  "BF16",
  "Q4_0",
  "Q4_1",
  "Q5_0",
  "Q5_1",
  "Q8_0",
  "Q2_K",
  "Q3_K",
  "Q4_K",
  "Q5_K",
  "Q6_K",
  "IQ1_S",
  "IQ1_M",
  "IQ2_XXS",
  "IQ2_XS",
  "IQ2_S",
  "IQ3_XXS",
  "IQ3_S",
  "IQ4_NL",
  "IQ4_XS",
  "MXFP4",
]);

/** Types only microsoft/BitNet's llama.cpp fork runs, on the CPU alone. */
const FORK_CPU_ONLY: ReadonlySet<string> = new Set(["I2_S", "TL1", "TL2"]);

/**
 * Whether a device of `kind` runs inference on weights of `type`. The CPU runs every type; CUDA
 * the {@link CUDA_WEIGHT_TYPES}; an RPC server runs whatever its own ggml backend does, so
 * everything mainline ggml has (not the fork's ternary types).
 *
 * @example
 * ```ts
 * import { runsWeightType } from "./backends.ts";
 * runsWeightType("cuda", "Q4_K"); // true
 * runsWeightType("cuda", "I2_S"); // false
 * runsWeightType("cpu", "I2_S"); // true
 * ```
 */
export function runsWeightType(kind: DeviceKind, type: string): boolean {
  if (kind === "cpu") return true;
  if (kind === "cuda") return CUDA_WEIGHT_TYPES.has(type);
  return !FORK_CPU_ONLY.has(type);
}

/**
 * The weight types among `types` that a device of `kind` cannot run, sorted.
 *
 * @example
 * ```ts
 * import { unsupportedWeightTypes } from "./backends.ts";
 * unsupportedWeightTypes("cuda", ["F16", "I2_S", "F32"]); // ["I2_S"]
 * ```
 */
export function unsupportedWeightTypes(kind: DeviceKind, types: Iterable<string>): string[] {
  return [...new Set(types)].filter((t) => !runsWeightType(kind, t)).sort();
}

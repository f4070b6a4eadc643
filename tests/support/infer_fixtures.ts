/**
 * Small random models for inference tests and benchmarks: one synthetic `bitnet-b1.58` model
 * (I2_S) and the same ternary weights as upstream `bitnet` with F16, TQ2_0 or I2_S projections.
 *
 * @module
 */

import { join } from "node:path";
import { bitnetModelParts, type BitnetSynthOptions } from "../../src/synth/bitnet_model.ts";
import { writeGguf } from "../../src/gguf/writer.ts";
import {
  bitnetToUpstream,
  rescaleTernary,
  type UpstreamWeightType,
} from "../../src/infer/convert.ts";

/** The tiny shape the tests use: 2 blocks, width 256, FFN 768, 4 heads / 2 KV heads, vocab 1024. */
export const TINY_SHAPE: BitnetSynthOptions = {
  layers: 2,
  dim: 256,
  ffn: 768,
  heads: 4,
  kvHeads: 2,
  vocab: 1024,
  seed: 3,
};

/**
 * Ternary scale multiplier of the fixtures: small enough that llama.cpp's activation quantization
 * leaves the 32-token greedy continuation unchanged (see `rescaleTernary`).
 */
export const FIXTURE_SCALE = 0.01;

/** Paths of the fixture models. */
export interface FixturePaths {
  /** `bitnet-b1.58`, I2_S projections. */
  b158: string;
  /** Upstream `bitnet` variants by projection type. */
  bitnet: Record<UpstreamWeightType, string>;
  /** The same weights as plain `llama` (F16 projections, no sub-norms). */
  llama: string;
  /** The same `llama` model with Q8_0 projections. */
  llamaQ8_0: string;
}

/**
 * Writes the fixture models into `dir` (created if needed) and returns their paths.
 *
 * @example
 * ```ts ignore
 * import { writeFixtureModels } from "./infer_fixtures.ts";
 * const paths = await writeFixtureModels(await Deno.makeTempDir());
 * console.log(paths.bitnet.TQ2_0);
 * ```
 */
export async function writeFixtureModels(
  dir: string,
  shape: BitnetSynthOptions = TINY_SHAPE,
  scale = FIXTURE_SCALE,
): Promise<FixturePaths> {
  await Deno.mkdir(dir, { recursive: true });
  const parts = () => rescaleTernary(bitnetModelParts(shape), scale);
  const b158 = join(dir, "bitnet-b158-i2s.gguf");
  const p = parts();
  await writeGguf(b158, p.metadata, p.tensors);
  const bitnet = {} as Record<UpstreamWeightType, string>;
  for (const t of ["F16", "TQ2_0", "I2_S"] as const) {
    const path = join(dir, `bitnet-${t.toLowerCase()}.gguf`);
    const up = bitnetToUpstream(parts(), t);
    await writeGguf(path, up.metadata, up.tensors);
    bitnet[t] = path;
  }
  const llama = join(dir, "llama-f16.gguf");
  const l = bitnetToUpstream(parts(), "F16", "llama");
  await writeGguf(llama, l.metadata, l.tensors);
  const llamaQ8_0 = join(dir, "llama-q8_0.gguf");
  const l8 = bitnetToUpstream(parts(), "Q8_0", "llama");
  await writeGguf(llamaQ8_0, l8.metadata, l8.tensors);
  return { b158, bitnet, llama, llamaQ8_0 };
}

/**
 * Cosine similarity of two vectors (f64 sums).
 *
 * @example
 * ```ts
 * import { cosine } from "./infer_fixtures.ts";
 * cosine(Float32Array.of(1, 0), Float32Array.of(1, 0)); // 1
 * ```
 */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

/**
 * Largest absolute difference of two vectors.
 *
 * @example
 * ```ts
 * import { maxAbsDiff } from "./infer_fixtures.ts";
 * maxAbsDiff([1, 2], [1.5, 2]); // 0.5
 * ```
 */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

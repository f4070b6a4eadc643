/**
 * Test fixtures with weight types only ggml can write: the fixture weights as a plain `llama`
 * model whose projections ggml's own quantizers (`ggml_quantize_chunk`) re-quantize, and a loop
 * over the native inference kernels' SIMD levels and thread counts.
 *
 * @module
 */

import type { BitnetSynthOptions } from "../../src/synth/bitnet_model.ts";
import { bitnetModelParts } from "../../src/synth/bitnet_model.ts";
import { bitnetToUpstream, rescaleTernary } from "../../src/infer/convert.ts";
import { FIXTURE_SCALE, TINY_SHAPE } from "./infer_fixtures.ts";
import { ggmlTypeByName } from "../../src/gguf/types.ts";
import { writeGguf } from "../../src/gguf/writer.ts";
import type { InferLevel, InferNative } from "../../ffi/infer_native.ts";

/** What quantizes rows: `openGgmlReference().quantize`. */
export interface RowQuantizer {
  quantize(typeId: number, src: Float32Array, nRows: number, nPerRow: number): Uint8Array;
}

const PROJECTION = /^blk\.\d+\.(attn_[qkv]|attn_output|ffn_(gate|up|down))\.weight$/;

/**
 * Writes the fixture weights (`shape`) as plain `llama` to `path`, each projection re-quantized to
 * `typeOf(kind)` (kind: `attn_q`, `attn_v`, `ffn_down`…) by `ggml`; other tensors stay as written.
 *
 * @example
 * ```ts ignore
 * await writeRequantizedLlama("m.gguf", ggml, (kind) => kind === "ffn_down" ? "Q6_K" : "Q4_K");
 * ```
 */
export async function writeRequantizedLlama(
  path: string,
  ggml: RowQuantizer,
  typeOf: (kind: string) => string,
  shape: BitnetSynthOptions = TINY_SHAPE,
): Promise<void> {
  const parts = rescaleTernary(bitnetModelParts(shape), FIXTURE_SCALE);
  const l = bitnetToUpstream(parts, "F16", "llama");
  const tensors = l.tensors.map((t) => {
    const m = PROJECTION.exec(t.name);
    if (!m) return t;
    const type = typeOf(m[1]);
    const raw = typeof t.data === "function" ? t.data() : t.data;
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const values = new Float32Array(t.dims[0] * t.dims[1]);
    for (let i = 0; i < values.length; i++) values[i] = dv.getFloat16(2 * i, true);
    const data = ggml.quantize(ggmlTypeByName(type)!.id, values, t.dims[1], t.dims[0]);
    return { ...t, type, data };
  });
  await writeGguf(path, l.metadata, tensors);
}

/** The SIMD levels of the inference kernels, slowest first. */
export const INFER_TEST_LEVELS: readonly InferLevel[] = ["scalar", "avx2", "avx512"];

/**
 * Calls `fn` at every SIMD level (capped to what the CPU has) with 1 and 2 threads, then restores
 * the best level and the previous thread count.
 *
 * @example
 * ```ts ignore
 * forLevelsAndThreads(native, (level, threads) => check(`${level} × ${threads}`));
 * ```
 */
export function forLevelsAndThreads(
  native: InferNative,
  fn: (level: InferLevel, threads: number) => void,
): void {
  const before = native.threads;
  try {
    for (const level of INFER_TEST_LEVELS) {
      native.setLevel(level);
      for (const threads of [1, 2]) {
        native.setThreads(threads);
        fn(level, threads);
      }
    }
  } finally {
    native.setLevel("best");
    native.setThreads(before);
  }
}

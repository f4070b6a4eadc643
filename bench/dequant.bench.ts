/**
 * Dequantization throughput: ggml's own `to_float` (llama.cpp v0.5.0 libggml-base, the generic build
 * npm ships) as the baseline of each type's group, against bitload's native kernels at the scalar
 * level, the best SIMD level, and the best level on 2 threads. Each call writes 16 MiB of f32
 * (4,194,304 values). Run: `deno bench -A bench/dequant.bench.ts`.
 *
 * Without ggml the baselines are skipped (and said so); without native kernels nothing runs.
 */

import { findGgmlLibrary, ggmlSkipReason, openGgmlReference } from "../tests/reference/ggml.ts";
import { openGgmlReferenceLibrary } from "../src/validate/ggml_reference.ts";
import { kernelInfo, nativeKernels, supportedSimdLevels } from "../ffi/native.ts";

/** f32 values written per call: 16 MiB. */
const OUTPUT_VALUES = 4 * 1024 * 1024;
/** Iterations per benchmark, kept small so CI stays fast. */
const ITERATIONS = { n: 10, warmup: 2 };

const ref = openGgmlReference();
const opened = openGgmlReferenceLibrary(findGgmlLibrary() ?? undefined);
const ggml = "reference" in opened ? opened.reference : null;
const native = nativeKernels();
const levels = supportedSimdLevels();
const best = levels[levels.length - 1] ?? "scalar";

if (ref === null) console.error(`dequant.bench: ggml baselines skipped: ${ggmlSkipReason()}`);
const info = kernelInfo();
console.error(
  `dequant.bench: bitload ${info.backend} ${info.simd ?? ""} (${info.library ?? info.reason}), ` +
    `${navigator.hardwareConcurrency} hardware threads, ${
      OUTPUT_VALUES * 4 / 2 ** 20
    } MiB out per call`,
);

interface BenchType {
  id: number;
  name: string;
  blockElements: number;
  blockBytes: number;
  /** Byte offsets of f16 scales in a block, set to sane values. */
  f16Scales: number[];
}

const TYPES: BenchType[] = [
  { id: 1, name: "F16", blockElements: 1, blockBytes: 2, f16Scales: [] },
  { id: 30, name: "BF16", blockElements: 1, blockBytes: 2, f16Scales: [] },
  { id: 2, name: "Q4_0", blockElements: 32, blockBytes: 18, f16Scales: [0] },
  { id: 3, name: "Q4_1", blockElements: 32, blockBytes: 20, f16Scales: [0, 2] },
  { id: 6, name: "Q5_0", blockElements: 32, blockBytes: 22, f16Scales: [0] },
  { id: 7, name: "Q5_1", blockElements: 32, blockBytes: 24, f16Scales: [0, 2] },
  { id: 8, name: "Q8_0", blockElements: 32, blockBytes: 34, f16Scales: [0] },
  { id: 10, name: "Q2_K", blockElements: 256, blockBytes: 84, f16Scales: [80, 82] },
  { id: 11, name: "Q3_K", blockElements: 256, blockBytes: 110, f16Scales: [108] },
  { id: 12, name: "Q4_K", blockElements: 256, blockBytes: 144, f16Scales: [0, 2] },
  { id: 13, name: "Q5_K", blockElements: 256, blockBytes: 176, f16Scales: [0, 2] },
  { id: 14, name: "Q6_K", blockElements: 256, blockBytes: 210, f16Scales: [208] },
  { id: 16, name: "IQ2_XXS", blockElements: 256, blockBytes: 66, f16Scales: [0] },
  { id: 17, name: "IQ2_XS", blockElements: 256, blockBytes: 74, f16Scales: [0] },
  { id: 22, name: "IQ2_S", blockElements: 256, blockBytes: 82, f16Scales: [0] },
  { id: 18, name: "IQ3_XXS", blockElements: 256, blockBytes: 98, f16Scales: [0] },
  { id: 21, name: "IQ3_S", blockElements: 256, blockBytes: 110, f16Scales: [0] },
  { id: 19, name: "IQ1_S", blockElements: 256, blockBytes: 50, f16Scales: [0] },
  { id: 29, name: "IQ1_M", blockElements: 256, blockBytes: 56, f16Scales: [] },
  { id: 20, name: "IQ4_NL", blockElements: 32, blockBytes: 18, f16Scales: [0] },
  { id: 23, name: "IQ4_XS", blockElements: 256, blockBytes: 136, f16Scales: [0] },
  { id: 34, name: "TQ1_0", blockElements: 256, blockBytes: 54, f16Scales: [52] },
  { id: 35, name: "TQ2_0", blockElements: 256, blockBytes: 66, f16Scales: [64] },
  { id: 39, name: "MXFP4", blockElements: 32, blockBytes: 17, f16Scales: [] },
  { id: 40, name: "NVFP4", blockElements: 64, blockBytes: 36, f16Scales: [] },
  { id: 41, name: "Q1_0", blockElements: 128, blockBytes: 18, f16Scales: [0] },
  { id: 42, name: "Q2_0", blockElements: 64, blockBytes: 18, f16Scales: [0] },
];

/** Deterministic random blocks with sane f16 scales (xorshift32). */
function randomBlocks(type: BenchType, nBlocks: number): Uint8Array {
  const bytes = new Uint8Array(nBlocks * type.blockBytes);
  const words = new Uint32Array(bytes.buffer, 0, bytes.byteLength >>> 2);
  let state = 0x9e3779b9 ^ type.id;
  for (let i = 0; i < words.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[i] = state >>> 0;
  }
  const view = new DataView(bytes.buffer);
  for (let b = 0; b < nBlocks; b++) {
    for (const off of type.f16Scales) {
      view.setUint16(b * type.blockBytes + off, 0x2000 + (b & 0x3ff), true);
    }
  }
  if (type.blockElements === 1 && type.id === 1) {
    // Keep f16 finite: clear the top exponent bit of every value.
    for (let i = 0; i < bytes.length; i += 2) bytes[i + 1] &= 0xbf;
  }
  return bytes;
}

const out = new Float32Array(OUTPUT_VALUES);

/**
 * ggml's `to_float` of a type, called on the preallocated output (so the baseline pays for no
 * allocation, as the native benches do not). Reads `ggml_type_traits.to_float` at offset 40.
 */
function ggmlToFloat(typeId: number): ((src: Uint8Array) => void) | null {
  if (ggml === null || !ggml.hasToFloat(typeId)) return null;
  const lib = ggml;
  return (src) => lib.dequantizeInto(typeId, src, out);
}

function addNativeBenches(group: string, typeId: number, src: Uint8Array): void {
  if (native === null) return;
  const kernels = native;
  Deno.bench({
    name: `bitload scalar`,
    group,
    ...ITERATIONS,
    fn() {
      kernels.setSimd("scalar");
      kernels.dequantize(typeId, src, out);
    },
  });
  Deno.bench({
    name: `bitload ${best}`,
    group,
    ...ITERATIONS,
    fn() {
      kernels.setSimd("best");
      kernels.dequantize(typeId, src, out);
    },
  });
  Deno.bench({
    name: `bitload ${best} 2 threads`,
    group,
    ...ITERATIONS,
    fn() {
      kernels.setSimd("best");
      kernels.dequantize(typeId, src, out, 2);
    },
  });
}

for (const type of TYPES) {
  const src = randomBlocks(type, OUTPUT_VALUES / type.blockElements);
  const group = type.name;
  const toFloat = ggmlToFloat(type.id);
  Deno.bench({
    name: `ggml to_float`,
    group,
    baseline: true,
    ignore: toFloat === null,
    ...ITERATIONS,
    fn() {
      toFloat!(src);
    },
  });
  addNativeBenches(group, type.id, src);
}

// BitNet I2_S: ggml cannot decode it, so its baseline is ggml's TQ2_0 on the same codes (repacked).
{
  const codes = randomBlocks({
    id: 36,
    name: "I2_S",
    blockElements: 4,
    blockBytes: 1,
    f16Scales: [],
  }, OUTPUT_VALUES / 4);
  const i2s = new Uint8Array(OUTPUT_VALUES / 4 + 32);
  for (let i = 0; i < codes.length; i++) {
    // Codes 0..2 only: replace 3 with 1 in each field.
    let v = codes[i];
    for (let shift = 0; shift < 8; shift += 2) if (((v >> shift) & 3) === 3) v ^= 2 << shift;
    i2s[i] = v;
  }
  new DataView(i2s.buffer).setFloat32(OUTPUT_VALUES / 4, 0.3125, true);
  const tq2 = new Uint8Array((OUTPUT_VALUES / 256) * 66);
  for (let k = 0; k < OUTPUT_VALUES / 256; k++) {
    for (let j = 0; j < 64; j++) {
      const v = i2s[64 * k + j];
      tq2[66 * k + j] = ((v >> 6) & 3) | (((v >> 4) & 3) << 2) | (((v >> 2) & 3) << 4) |
        ((v & 3) << 6);
    }
    tq2[66 * k + 64] = 0x00;
    tq2[66 * k + 65] = 0x35;
  }
  const tq2ToFloat = ggmlToFloat(35);
  Deno.bench({
    name: `ggml to_float (TQ2_0, same codes)`,
    group: "I2_S",
    baseline: true,
    ignore: tq2ToFloat === null,
    ...ITERATIONS,
    fn() {
      tq2ToFloat!(tq2);
    },
  });
  addNativeBenches("I2_S", 36, i2s);
}

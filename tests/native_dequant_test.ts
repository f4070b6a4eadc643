/**
 * The native kernels against ggml's own `to_float` (llama.cpp v0.5.0 libggml-base), bit for bit, for
 * every SIMD level this CPU has and for 1 and 2 threads. Values are compared as Uint32 so NaN payloads
 * count. Without the reference library these tests are ignored with the reason in their name.
 */

import assert from "node:assert/strict";

import { prng } from "./support/random.ts";
import { ggmlSkipReason, openGgmlReference } from "./reference/ggml.ts";
import { assertBitsEqual } from "./support/bits.ts";
import { i2sToTq2Blocks, packI2SCodes } from "./support/i2s_layout.ts";
import { type NativeKernels, nativeKernels, supportedSimdLevels } from "../ffi/native.ts";

const ref = openGgmlReference();
const native = nativeKernels();
const levels = supportedSimdLevels();
const refMissing = ref === null ? ` (NOT RUN: ${ggmlSkipReason()})` : "";
const nativeMissing = native === null ? " (NOT RUN: native kernels unavailable)" : "";
if (ref === null) console.log(`native_dequant_test: ggml reference missing: ${ggmlSkipReason()}`);

/** Layout of one type for the generators: where its f16 scales sit in a block. */
interface TypeCase {
  id: number;
  name: string;
  blockElements: number;
  blockBytes: number;
  /** Byte offsets of f16 scale fields inside a block. */
  f16Scales: number[];
  /** Whether ggml_quantize_chunk can make realistic blocks of it. */
  quantizable: boolean;
}

function tc(
  id: number,
  name: string,
  blockElements: number,
  blockBytes: number,
  f16Scales: number[],
  quantizable = true,
): TypeCase {
  return { id, name, blockElements, blockBytes, f16Scales, quantizable };
}

/** Every type ggml can dequantize (Q8_K through its exported dequantize_row_q8_K). */
const TYPES: TypeCase[] = [
  tc(1, "F16", 1, 2, []),
  tc(30, "BF16", 1, 2, []),
  tc(2, "Q4_0", 32, 18, [0]),
  tc(3, "Q4_1", 32, 20, [0, 2]),
  tc(6, "Q5_0", 32, 22, [0]),
  tc(7, "Q5_1", 32, 24, [0, 2]),
  tc(8, "Q8_0", 32, 34, [0]),
  tc(10, "Q2_K", 256, 84, [80, 82]),
  tc(11, "Q3_K", 256, 110, [108]),
  tc(12, "Q4_K", 256, 144, [0, 2]),
  tc(13, "Q5_K", 256, 176, [0, 2]),
  tc(14, "Q6_K", 256, 210, [208]),
  tc(15, "Q8_K", 256, 292, [], false),
  tc(16, "IQ2_XXS", 256, 66, [0]),
  tc(17, "IQ2_XS", 256, 74, [0]),
  tc(22, "IQ2_S", 256, 82, [0]),
  tc(18, "IQ3_XXS", 256, 98, [0]),
  tc(21, "IQ3_S", 256, 110, [0]),
  tc(19, "IQ1_S", 256, 50, [0]),
  tc(29, "IQ1_M", 256, 56, []),
  tc(20, "IQ4_NL", 32, 18, [0]),
  tc(23, "IQ4_XS", 256, 136, [0]),
  tc(34, "TQ1_0", 256, 54, [52]),
  tc(35, "TQ2_0", 256, 66, [64]),
  tc(39, "MXFP4", 32, 17, []),
  tc(40, "NVFP4", 64, 36, []),
  tc(41, "Q1_0", 128, 18, [0]),
  tc(42, "Q2_0", 64, 18, [0]),
];

/** Edge f16 scale bit patterns: max, NaNs, infinities, subnormals, zeros. */
const EDGE_F16 = [
  0x7bff,
  0x7e00,
  0x7c01,
  0x7fff,
  0x7c00,
  0xfc00,
  0x0001,
  0x03ff,
  0x0400,
  0x8000,
  0x0000,
  0xfbff,
];

function randomBytes(n: number, seed: number): Uint8Array {
  const rnd = prng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rnd() * 256);
  return out;
}

function gaussian(n: number, seed: number, std = 0.08): Float32Array {
  const rnd = prng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rnd(), 1e-12);
    out[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
  }
  return out;
}

/** Random blocks whose f16 scales are sane (|d| in about [2^-10, 2^-2]). */
function saneBlocks(t: TypeCase, nBlocks: number, seed: number): Uint8Array {
  const bytes = randomBytes(nBlocks * t.blockBytes, seed);
  const view = new DataView(bytes.buffer);
  const rnd = prng(seed ^ 0x5eed);
  for (let b = 0; b < nBlocks; b++) {
    for (const off of t.f16Scales) {
      const exp = 5 + Math.floor(rnd() * 8); // biased exponent 5..12
      const bits = (rnd() < 0.5 ? 0x8000 : 0) | (exp << 10) | Math.floor(rnd() * 1024);
      view.setUint16(b * t.blockBytes + off, bits, true);
    }
    if (t.id === 15) view.setFloat32(b * t.blockBytes, (rnd() - 0.5) * 0.01, true);
  }
  return bytes;
}

/** One block per edge scale, plus an all-zero block. */
function edgeBlocks(t: TypeCase, seed: number): Uint8Array {
  const patterns = t.f16Scales.length > 0 ? EDGE_F16 : [0];
  const bytes = randomBytes((patterns.length + 1) * t.blockBytes, seed);
  const view = new DataView(bytes.buffer);
  patterns.forEach((bits, b) => {
    for (const off of t.f16Scales) view.setUint16(b * t.blockBytes + off, bits, true);
  });
  bytes.fill(0, patterns.length * t.blockBytes);
  return bytes;
}

/** Every binary16/bfloat16 bit pattern, then 3 more elements (not a multiple of the SIMD width). */
function allHalfPatterns(): Uint8Array {
  const halves = new Uint16Array(65536 + 3);
  for (let i = 0; i < 65536; i++) halves[i] = i;
  halves.set([0x7c01, 0xfe00, 0x3c00], 65536);
  return new Uint8Array(halves.buffer);
}

interface DataCase {
  label: string;
  bytes: Uint8Array;
  n: number;
}

function casesFor(t: TypeCase): DataCase[] {
  const cases: DataCase[] = [];
  const add = (label: string, bytes: Uint8Array) =>
    cases.push({ label, bytes, n: (bytes.byteLength / t.blockBytes) * t.blockElements });
  if (ref !== null && t.quantizable) {
    const perRow = t.blockElements === 1 ? 256 : t.blockElements * 3;
    add("ggml-quantized, 3 rows", ref.quantize(t.id, gaussian(perRow * 3, t.id), 3, perRow));
  }
  const sizes = t.blockElements === 1 ? [1, 15, 1000 + 7] : [1, 3, 7];
  for (const nb of sizes) {
    add(`random, sane scales, ${nb} blocks`, saneBlocks(t, nb, 17 * t.id + nb));
  }
  add(
    "random bytes, 5 blocks",
    randomBytes(5 * t.blockBytes * Math.max(1, 64 / t.blockElements), t.id),
  );
  add("edge scales and a zero block", edgeBlocks(t, 99 + t.id));
  if (t.blockElements === 1) add("all 65536 bit patterns + 3", allHalfPatterns());
  // Large enough that 2 and 3 threads really split it (> 768 KiB of output, uneven shares).
  const bigBlocks = Math.ceil(200_000 / t.blockElements) + 1;
  add(`random, sane scales, ${bigBlocks} blocks`, saneBlocks(t, bigBlocks, 4242 + t.id));
  return cases;
}

let q8KRef: ((bytes: Uint8Array, n: number) => Float32Array) | null = null;
function referenceDequantize(t: TypeCase, bytes: Uint8Array, n: number): Float32Array {
  if (ref === null) throw new Error("no reference");
  if (t.id !== 15) return ref.dequantize(t.id, bytes, n);
  if (q8KRef === null) {
    // ggml registers no to_float for Q8_K but exports dequantize_row_q8_K.
    const lib = Deno.dlopen(
      ref.path,
      {
        dequantize_row_q8_K: { parameters: ["buffer", "buffer", "i64"], result: "void" },
      } as const,
    );
    q8KRef = (b, count) => {
      const out = new Float32Array(count);
      lib.symbols.dequantize_row_q8_K(b, out, BigInt(count));
      return out;
    };
  }
  return q8KRef(bytes, n);
}

function runLevels(
  kernels: NativeKernels,
  body: (level: string) => void,
): (t: Deno.TestContext) => Promise<void> {
  return async (t) => {
    try {
      for (const level of levels) {
        await t.step(level, () => {
          kernels.setSimd(level);
          assert.equal(kernels.simdLevel(), level);
          body(level);
        });
      }
    } finally {
      kernels.setSimd("best");
    }
  };
}

for (const type of TYPES) {
  Deno.test({
    name: `native ${type.name} matches ggml bit for bit${refMissing}${nativeMissing}`,
    ignore: ref === null || native === null,
    fn: native === null ? () => {} : runLevels(native, (level) => {
      for (const c of casesFor(type)) {
        const expected = referenceDequantize(type, c.bytes, c.n);
        for (const threads of [1, 2, 3]) {
          const out = new Float32Array(c.n);
          native.dequantize(type.id, c.bytes, out, threads);
          assertBitsEqual(out, expected, `${type.name} ${level} threads=${threads} ${c.label}`);
        }
      }
    }),
  });
}

// ---- BitNet I2_S ----

Deno.test({
  name: `native I2_S known answers${nativeMissing}`,
  ignore: native === null,
  fn: native === null ? () => {} : runLevels(native, () => {
    const values = [-1, 0, 1, 0];
    for (const scale of [1.0, 0.3, -2.5]) {
      const n = 128 * 5;
      const codes = new Uint8Array(n);
      // Patterns: constant codes, a 0/1/2 cycle, and the never-written code 3.
      for (let i = 0; i < n; i++) {
        const block = Math.floor(i / 128);
        codes[i] = block < 3 ? block : block === 3 ? (i * 7) % 3 : 3 - (i % 2);
      }
      const bytes = packI2SCodes(codes, scale);
      const s = Math.fround(scale);
      const expected = Float32Array.from(codes, (c) => values[c] * s);
      for (const threads of [1, 2]) {
        const out = new Float32Array(n);
        native.dequantize(36, bytes, out, threads);
        assertBitsEqual(out, expected, `I2_S scale ${scale} threads=${threads}`);
      }
    }
    // Byte 0 of a block holds elements 0, 32, 64, 96 in bits 7:6, 5:4, 3:2, 1:0.
    const one = new Uint8Array(32 + 4);
    one.fill(0x55, 0, 32); // every code 1 -> 0
    one[0] = 0b00_01_10_00; // element 0: -1, 32: 0, 64: +1, 96: -1
    new DataView(one.buffer).setFloat32(32, 1, true);
    const out = new Float32Array(128);
    native.dequantize(36, one, out);
    assert.deepEqual([out[0], out[32], out[64], out[96], out[1]], [-1, 0, 1, -1, 0]);
  }),
});

Deno.test({
  name: `native I2_S matches ggml TQ2_0 on repacked blocks${refMissing}${nativeMissing}`,
  ignore: ref === null || native === null,
  fn: native === null ? () => {} : runLevels(native, () => {
    for (const blocks of [1, 3, 600]) {
      const n = 256 * blocks;
      const rnd = prng(blocks);
      const codes = Uint8Array.from({ length: n }, () => Math.floor(rnd() * 3));
      const scale = 0.3125; // exactly representable in f16 (0x3500)
      const i2s = packI2SCodes(codes, scale);
      const tq2 = i2sToTq2Blocks(i2s, n, 0x3500);
      const expected = ref!.dequantize(35, tq2, n);
      for (const threads of [1, 2]) {
        const out = new Float32Array(n);
        native.dequantize(36, i2s, out, threads);
        assertBitsEqual(out, expected, `I2_S vs TQ2_0, ${blocks} TQ2_0 blocks, threads=${threads}`);
      }
    }
  }),
});

// ---- plain arrays without a ggml to_float ----

Deno.test({
  name: `native plain-array conversions (F32, I8, I16, I32, I64, F64)${nativeMissing}`,
  ignore: native === null,
  fn: native === null ? () => {} : runLevels(native, () => {
    const f32 = new Float32Array([1.5, -0, NaN, Infinity, 3e-45, -7]);
    const out = new Float32Array(f32.length);
    native.dequantize(0, new Uint8Array(f32.buffer), out);
    assertBitsEqual(out, f32, "F32 copy");
    const cases: [number, ArrayLike<number | bigint> & { buffer: ArrayBufferLike }, number[]][] = [
      [24, new Int8Array([-128, -1, 0, 127]), [-128, -1, 0, 127]],
      [25, new Int16Array([-32768, 12345, 0, 32767]), [-32768, 12345, 0, 32767]],
      [26, new Int32Array([-(2 ** 31), 16777217, 2 ** 31 - 1, 5]), [
        -(2 ** 31),
        16777216,
        2 ** 31,
        5,
      ]],
      [27, new BigInt64Array([-(2n ** 63n), 3n, 2n ** 53n + 1n, 0n]), [-(2 ** 63), 3, 2 ** 53, 0]],
      [28, new Float64Array([0.1, -1e300, 1e-50, 2.5]), [Math.fround(0.1), -Infinity, 0, 2.5]],
    ];
    for (const [id, array, expected] of cases) {
      const bytes = new Uint8Array(array.buffer as ArrayBuffer);
      const result = new Float32Array(expected.length);
      native.dequantize(id, bytes, result);
      assert.deepEqual(Array.from(result), expected.map(Math.fround), `type ${id}`);
    }
  }),
});

// ---- argument checking ----

Deno.test({
  name: `native dequantize rejects bad arguments with clear errors${nativeMissing}`,
  ignore: native === null,
  fn() {
    const k = native!;
    assert.throws(() => k.dequantize(8, new Uint8Array(34), new Float32Array(31)), {
      name: "NativeKernelError",
      code: "BAD_ARGUMENT",
      message: /not a multiple of the block size 32/,
    });
    assert.throws(() => k.dequantize(8, new Uint8Array(33), new Float32Array(32)), {
      name: "NativeKernelError",
      code: "BAD_ARGUMENT",
      message: /need 34 source bytes but got 33/,
    });
    assert.throws(() => k.dequantize(36, new Uint8Array(32), new Float32Array(128)), {
      name: "NativeKernelError",
      code: "BAD_ARGUMENT",
      message: /need 36 source bytes/,
    });
    assert.throws(() => k.dequantize(4, new Uint8Array(64), new Float32Array(32)), {
      name: "NativeKernelError",
      code: "UNKNOWN_TYPE",
      message: /type 4/,
    });
    assert.throws(
      () => k.dequantize(8, [] as unknown as Uint8Array, new Float32Array(32)),
      { name: "NativeKernelError", code: "BAD_ARGUMENT", message: /Source must be a Uint8Array/ },
    );
    assert.throws(
      () => k.dequantize(8, new Uint8Array(34), new Float64Array(32) as never),
      { name: "NativeKernelError", code: "BAD_ARGUMENT", message: /Output must be a Float32Array/ },
    );
    assert.throws(() => k.dequantize(8, new Uint8Array(34), new Float32Array(32), 0), {
      name: "NativeKernelError",
      code: "BAD_ARGUMENT",
      message: /Thread count must be a positive integer/,
    });
    assert.throws(() => k.setSimd("sse9" as never), {
      name: "NativeKernelError",
      code: "BAD_ARGUMENT",
      message: /Unknown SIMD level "sse9"/,
    });
    // An empty tensor is fine.
    k.dequantize(8, new Uint8Array(0), new Float32Array(0));
  },
});

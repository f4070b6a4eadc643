/**
 * Bit-exactness of bitload's pure-TypeScript dequantizers against ggml's own `to_float`
 * (`libggml-base.so` of llama.cpp v0.5.0, see tests/reference/ggml.ts): blocks quantized by ggml
 * itself, random raw blocks with sane scales, and edge cases (zero blocks; max, NaN, Inf,
 * subnormal and negative-zero scales), compared as u32 bit patterns so NaN payloads count.
 *
 * When the reference library is missing, every comparison is skipped with the reason printed; it
 * is never reported as passed.
 */

import assert from "node:assert/strict";
import { ggmlType, ggmlTypeByName, type GgmlTypeInfo } from "../src/gguf/types.ts";
import { dequantizeTs } from "../src/quant/dequantize_ts.ts";
import { prng as rng } from "./support/random.ts";
import { ggmlSkipReason, openGgmlReference } from "./reference/ggml.ts";
import { assertBitsEqual } from "./support/bits.ts";

const ref = openGgmlReference();
const skipReason = ref === null ? ggmlSkipReason() : "";
if (ref === null) console.warn(`quant_dequant_test: ggml reference skipped: ${skipReason}`);

/** Q8_K's `dequantize_row_q8_K`: exported by ggml-base but not wired to its type traits. */
const q8KRef = ref === null ? null : Deno.dlopen(ref.path, {
  dequantize_row_q8_K: { parameters: ["buffer", "buffer", "i64"], result: "void" },
});

function gaussian(next: () => number, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(next(), 1e-12);
    out[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  }
  return out;
}

function randomBytes(next: () => number, n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (next() * 256) | 0;
  return out;
}

function ts(type: GgmlTypeInfo, bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  dequantizeTs(type, bytes, out);
  return out;
}

/** Where a type keeps its f16 scales inside a block (byte offsets). */
interface ScaleLayout {
  /** f16 fields (d, dmin, m). */
  f16?: number[];
  /** Byte-wide scales (E8M0 for MXFP4, UE4M3 for NVFP4). */
  byteScales?: number[];
  /** IQ1_M: the f16 is spread over the top nibbles of the u16 words at these offsets. */
  nibbleF16?: number[];
  /** Q8_K: an f32 at this offset. */
  f32?: number;
}

const LAYOUTS: Record<string, ScaleLayout> = {
  Q4_0: { f16: [0] },
  Q4_1: { f16: [0, 2] },
  Q5_0: { f16: [0] },
  Q5_1: { f16: [0, 2] },
  Q8_0: { f16: [0] },
  Q2_K: { f16: [80, 82] },
  Q3_K: { f16: [108] },
  Q4_K: { f16: [0, 2] },
  Q5_K: { f16: [0, 2] },
  Q6_K: { f16: [208] },
  Q8_K: { f32: 0 },
  IQ2_XXS: { f16: [0] },
  IQ2_XS: { f16: [0] },
  IQ2_S: { f16: [0] },
  IQ3_XXS: { f16: [0] },
  IQ3_S: { f16: [0] },
  IQ1_S: { f16: [0] },
  IQ1_M: { nibbleF16: [48, 50, 52, 54] },
  IQ4_NL: { f16: [0] },
  IQ4_XS: { f16: [0] },
  TQ1_0: { f16: [52] },
  TQ2_0: { f16: [64] },
  MXFP4: { byteScales: [0] },
  NVFP4: { byteScales: [0, 1, 2, 3] },
  Q1_0: { f16: [0] },
  Q2_0: { f16: [0] },
};

/** f16 bit patterns for the edge cases. */
const SPECIAL_F16 = [
  0x0000, // +0
  0x8000, // -0
  0x0001, // smallest subnormal
  0x03ff, // largest subnormal
  0x8001, // negative subnormal
  0x0400, // smallest normal
  0x7bff, // max
  0xfbff, // -max
  0x7c00, // +Inf
  0xfc00, // -Inf
  0x7e00, // quiet NaN
  0x7c01, // signalling NaN
  0xfe5a, // negative NaN with a payload
  0x3c00, // 1
  0xb800, // -0.5
];

const SPECIAL_BYTE_SCALES = [0, 1, 2, 127, 128, 200, 254, 255, 0x7f, 0x80, 0xff, 0x38];

const SPECIAL_F32 = [0, -0, 1e-45, 1.17e-38, 3.4e38, -3.4e38, Infinity, -Infinity, NaN, 0.1];

function setF16(block: Uint8Array, offset: number, bits: number): void {
  block[offset] = bits & 0xff;
  block[offset + 1] = bits >> 8;
}

/** Writes an f16 into IQ1_M's four scale words (top nibble of each u16). */
function setNibbleF16(block: Uint8Array, offsets: number[], bits: number): void {
  for (let k = 0; k < 4; k++) {
    const hi = offsets[k] + 1;
    block[hi] = (block[hi] & 0x0f) | (((bits >> (4 * k)) & 0xf) << 4);
  }
}

/** A sane random f16 scale: |d| in about [2^-14, 2^4], either sign. */
function saneF16(next: () => number): number {
  const exponent = 1 + ((next() * 18) | 0);
  const mantissa = (next() * 1024) | 0;
  const sign = next() < 0.5 ? 0x8000 : 0;
  return sign | (exponent << 10) | mantissa;
}

/** Overwrites every scale field of every block with `pick(blockIndex, fieldIndex)`. */
function setScales(
  type: GgmlTypeInfo,
  bytes: Uint8Array,
  layout: ScaleLayout,
  f16: (block: number, field: number) => number,
  byteScale: (block: number, field: number) => number,
  f32: (block: number) => number,
): void {
  const nBlocks = bytes.length / type.typeSize;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < nBlocks; b++) {
    const o = b * type.typeSize;
    const block = bytes.subarray(o, o + type.typeSize);
    layout.f16?.forEach((off, k) => setF16(block, off, f16(b, k)));
    layout.byteScales?.forEach((off, k) => (block[off] = byteScale(b, k)));
    if (layout.nibbleF16) setNibbleF16(block, layout.nibbleF16, f16(b, 0));
    if (layout.f32 !== undefined) view.setFloat32(o + layout.f32, f32(b), true);
  }
}

/** Dequantizes with ggml (Q8_K through its exported row function). */
function refDequantize(type: GgmlTypeInfo, bytes: Uint8Array, n: number): Float32Array {
  if (type.name === "Q8_K") {
    const out = new Float32Array(n);
    q8KRef!.symbols.dequantize_row_q8_K(bytes, out, BigInt(n));
    return out;
  }
  return ref!.dequantize(type.id, bytes, n);
}

const BLOCK_TYPES = Object.keys(LAYOUTS);

Deno.test("dequantizeTs matches ggml bit for bit on every quantized type", async (t) => {
  for (const name of BLOCK_TYPES) {
    const type = ggmlTypeByName(name)!;
    await t.step({
      name: `${name}${ref === null ? " (skipped: no ggml reference, see the warning above)" : ""}`,
      ignore: ref === null,
      fn: () => {
        const next = rng(0x5eed + type.id);
        const layout = LAYOUTS[name];

        // 1. Data quantized by ggml itself: 3 rows (Q8_K has no quantize_chunk). Most of this
        // suite's time is ggml_quantize_init building the IQ1/IQ2 grids (about 15 s), once.
        if (name !== "Q8_K") {
          const nRows = 3;
          const nPerRow = 512;
          const data = gaussian(next, nRows * nPerRow, 0.08);
          for (let i = 0; i < 8; i++) data[(next() * data.length) | 0] *= 12; // some outliers
          const bytes = ref!.quantize(type.id, data, nRows, nPerRow);
          const n = nRows * nPerRow;
          assertBitsEqual(ts(type, bytes, n), refDequantize(type, bytes, n), `${name} quantized`);
        }

        // 2. Random raw blocks with sane scales.
        {
          const nBlocks = 24;
          const bytes = randomBytes(next, nBlocks * type.typeSize);
          setScales(
            type,
            bytes,
            layout,
            () => saneF16(next),
            () => 100 + ((next() * 50) | 0),
            () => Math.fround((next() - 0.5) * 0.02),
          );
          const n = nBlocks * type.blockSize;
          assertBitsEqual(ts(type, bytes, n), refDequantize(type, bytes, n), `${name} random`);
        }

        // 3. Zero blocks.
        {
          const bytes = new Uint8Array(4 * type.typeSize);
          const n = 4 * type.blockSize;
          assertBitsEqual(ts(type, bytes, n), refDequantize(type, bytes, n), `${name} zeros`);
        }

        // 4. Special scales: every special value as d, paired with every other field's specials.
        {
          const specials = layout.byteScales ? SPECIAL_BYTE_SCALES : SPECIAL_F16;
          const nBlocks = specials.length * 2;
          const bytes = randomBytes(next, nBlocks * type.typeSize);
          setScales(
            type,
            bytes,
            layout,
            (b, k) => specials[(b + 3 * k) % specials.length],
            (b, k) => specials[(b + 3 * k) % specials.length],
            (b) => SPECIAL_F32[b % SPECIAL_F32.length],
          );
          const n = nBlocks * type.blockSize;
          const expected = refDequantize(type, bytes, n);
          assertBitsEqual(ts(type, bytes, n), expected, `${name} specials`);

          // 5. The same once the JIT has optimized the decoder (NaN handling must not change).
          const out = new Float32Array(n);
          for (let i = 0; i < 300; i++) dequantizeTs(type, bytes, out);
          assertBitsEqual(out, expected, `${name} specials, optimized`);
        }
      },
    });
  }
});

Deno.test("F16 and BF16 match ggml on all 65,536 bit patterns", async (t) => {
  const all = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) all[i] = i;
  const bytes = new Uint8Array(all.buffer);
  for (const name of ["F16", "BF16"]) {
    const type = ggmlTypeByName(name)!;
    await t.step({
      name: `${name}${ref === null ? " (skipped: no ggml reference, see the warning above)" : ""}`,
      ignore: ref === null,
      fn: () => {
        assertBitsEqual(ts(type, bytes, 65536), ref!.dequantize(type.id, bytes, 65536), name);
        // Unaligned source (odd byte offset) takes the byte-wise path.
        const shifted = new Uint8Array(bytes.length + 1);
        shifted.set(bytes, 1);
        assertBitsEqual(
          ts(type, shifted.subarray(1), 65536),
          ref!.dequantize(type.id, bytes, 65536),
          `${name} unaligned`,
        );
      },
    });
  }
});

Deno.test("plain numeric types convert like a C cast", async (t) => {
  const next = rng(42);
  await t.step("F32 (bit copy, NaN payloads kept)", () => {
    const bits = Uint32Array.of(
      0x3f800000,
      0x7fc00001,
      0xff800000,
      0x00000001,
      0x80000000,
      0x7f800001,
    );
    const type = ggmlTypeByName("F32")!;
    const out = ts(type, new Uint8Array(bits.buffer), bits.length);
    assert.deepEqual(Array.from(new Uint32Array(out.buffer)), Array.from(bits));
  });
  await t.step("F64", () => {
    const values = Float64Array.of(0.1, -1e300, 1e-320, 3.4028235677973366e38, Infinity, -0, 1 / 3);
    const out = ts(ggmlTypeByName("F64")!, new Uint8Array(values.buffer), values.length);
    assertBitsEqual(out, Float32Array.from(values), "F64");
  });
  await t.step("I8, I16, I32", () => {
    for (
      const [name, Ctor] of [["I8", Int8Array], ["I16", Int16Array], ["I32", Int32Array]] as const
    ) {
      const raw = randomBytes(next, 64 * Ctor.BYTES_PER_ELEMENT);
      const ints = new Ctor(raw.buffer);
      ints[0] = -1;
      if (name === "I32") ints[1] = 0x7fffffff; // rounds to 2^31
      if (name === "I32") ints[2] = 16777217; // ties to even: 16777216
      const out = ts(ggmlTypeByName(name)!, raw, ints.length);
      assertBitsEqual(out, Float32Array.from(ints), name);
    }
  });
  await t.step("I64 rounds once (no double rounding)", () => {
    // 2^60 + 2^36 + 1: the nearest f64 is a tie for f32 that double rounding would break wrongly.
    const values = BigInt64Array.of(-5n, 2n ** 60n + 2n ** 36n + 1n, -(2n ** 63n), 2n ** 53n + 1n);
    const out = ts(ggmlTypeByName("I64")!, new Uint8Array(values.buffer), values.length);
    assert.equal(out[0], -5);
    assert.equal(out[1], Math.fround(2 ** 60 + 2 ** 37)); // rounds up: above the tie
    assert.equal(out[2], -(2 ** 63));
    assert.equal(out[3], 2 ** 53);
  });
});

Deno.test("Q8_1 equals ggml's Q8_0 on the same d and quants", {
  ignore: ref === null,
}, () => {
  const next = rng(81);
  const nBlocks = 16;
  const q81 = randomBytes(next, nBlocks * 36);
  const q80 = new Uint8Array(nBlocks * 34);
  for (let b = 0; b < nBlocks; b++) {
    setF16(q81, b * 36, b < SPECIAL_F16.length ? SPECIAL_F16[b] : saneF16(next));
    q80.set(q81.subarray(b * 36, b * 36 + 2), b * 34);
    q80.set(q81.subarray(b * 36 + 4, b * 36 + 36), b * 34 + 2);
  }
  assertBitsEqual(
    ts(ggmlTypeByName("Q8_1")!, q81, nBlocks * 32),
    ref!.dequantize(8, q80, nBlocks * 32),
    "Q8_1",
  );
});

Deno.test("the type registry and the decoders agree on block geometry", () => {
  for (const name of [...BLOCK_TYPES, "Q8_1"]) {
    const type = ggmlTypeByName(name)!;
    if (ref !== null && name !== "Q8_1") {
      const traits = ref.traits(type.id);
      assert.equal(traits.blockSize, type.blockSize, `${name} block size`);
      assert.equal(traits.typeSize, type.typeSize, `${name} type size`);
    }
  }
  assert.equal(ggmlType(39, "ggml")?.name, "MXFP4");
});

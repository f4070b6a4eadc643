/**
 * CUDA dequant kernels vs the CPU kernels, bit for bit.
 *
 * - Host emulation (runs wherever the CUDA library builds or is cached, GPU or not): the kernels' own
 *   decoders compiled for the host, with and without the GPU's canonical-NaN arithmetic model.
 * - GPU: the device kernels through `cudaDequantize`; skipped, with the reason in the test name, where
 *   there is no driver or device.
 *
 * The CPU reference is `nativeKernels()` (ffi/native.ts) at its best SIMD level; f16 output is compared
 * with `quantizeF16` of the CPU's f32 output (F16 → f16 is a copy of the source bits).
 */
import assert from "node:assert/strict";

import {
  cudaDequantize,
  cudaDequantizeEmulated,
  cudaRuntime,
  cudaUnavailableReason,
  openCudaLibrary,
} from "../ffi/cuda.ts";
import { CUDA_TYPES } from "../ffi/cuda_symbols.ts";
import { nativeKernels } from "../ffi/native.ts";
import { F16_TO_F32 } from "../src/quant/float.ts";
import { fp32ToFp16Bits, quantizeF16 } from "../src/quant/quantize.ts";
import { fillRandom, I2S_SPECIAL_SCALE_BITS, randomTensorBytes } from "./support/gpu_fixtures.ts";

const library = openCudaLibrary();
const libraryReason = library.ok ? "" : ` (skipped: ${library.reason})`;
const native = nativeKernels();
const gpu = cudaRuntime();
const gpuReason = gpu ? "" : ` (skipped: ${cudaUnavailableReason()})`;

/** [name, id, elements per block]; 64 blocks of random data per type (plus I2_S special scales). */
const TYPES = Object.entries(CUDA_TYPES).map(([name, id]) => {
  const elements = id === 36 ? 128 : [0, 1, 30].includes(id) ? 1 : id === 2 || id === 8 ? 32 : 256;
  return { name, id, elements };
});

function cpuF32(id: number, src: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  native!.dequantize(id, src, out);
  return out;
}

function firstMismatch(a: Uint32Array | Uint16Array, b: Uint32Array | Uint16Array): string | null {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      return `element ${i}: expected 0x${a[i].toString(16)}, got 0x${b[i].toString(16)}`;
    }
  }
  return null;
}

function cases(): { label: string; id: number; n: number; src: Uint8Array }[] {
  const out: { label: string; id: number; n: number; src: Uint8Array }[] = [];
  for (const { name, id, elements } of TYPES) {
    const n = elements === 1 ? 64 * 256 : 64 * elements;
    out.push({ label: name, id, n, src: randomTensorBytes(id, n, 1000 + id) });
    if (id === CUDA_TYPES.F16 || id === CUDA_TYPES.BF16) {
      const all = new Uint16Array(0x10000).map((_, i) => i);
      out.push({
        label: `${name}, all 65,536 patterns`,
        id,
        n: all.length,
        src: new Uint8Array(all.buffer),
      });
    }
    if (id === CUDA_TYPES.I2_S) {
      for (const bits of I2S_SPECIAL_SCALE_BITS) {
        out.push({
          label: `I2_S scale 0x${bits.toString(16)}`,
          id,
          n: 256,
          src: randomTensorBytes(id, 256, bits, bits),
        });
      }
    }
  }
  return out;
}

async function compareAll(
  t: Deno.TestContext,
  run: (id: number, src: Uint8Array, n: number, out: "f32" | "f16") => Float32Array | Uint16Array,
): Promise<void> {
  for (const c of cases()) {
    await t.step(`${c.label}: f32 and f16 output`, () => {
      const ref = cpuF32(c.id, c.src, c.n);
      const f32 = run(c.id, c.src, c.n, "f32") as Float32Array;
      const f32Mismatch = firstMismatch(
        new Uint32Array(ref.buffer),
        new Uint32Array(f32.buffer, f32.byteOffset, f32.length),
      );
      assert.equal(f32Mismatch, null, `${c.label} f32: ${f32Mismatch}`);
      const expected16 = c.id === CUDA_TYPES.F16
        ? new Uint16Array(c.src.buffer, c.src.byteOffset, c.n)
        : new Uint16Array(quantizeF16(ref).buffer);
      const f16 = run(c.id, c.src, c.n, "f16") as Uint16Array;
      const f16Mismatch = firstMismatch(expected16, f16);
      assert.equal(f16Mismatch, null, `${c.label} f16: ${f16Mismatch}`);
    });
  }
}

Deno.test("fp32ToFp16Bits rounds to the nearest binary16, ties to even", () => {
  const scratch = new Uint32Array(1);
  const f32BitsToF16Bits = (bits: number) => {
    scratch[0] = bits;
    return fp32ToFp16Bits(new Float32Array(scratch.buffer)[0]);
  };
  // Every binary16 number converts back to itself.
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue;
    const bits = new Uint32Array(F16_TO_F32.buffer, F16_TO_F32.byteOffset + 4 * h, 1)[0];
    assert.equal(f32BitsToF16Bits(bits), h, `binary16 0x${h.toString(16)}`);
  }
  // Random binary32 values: the result is a nearest neighbour (by exact double arithmetic).
  const words = new Uint32Array(fillRandom(new Uint8Array(4 * 100_000), 5).buffer);
  const asFloat = new Float32Array(words.buffer);
  for (let i = 0; i < words.length; i++) {
    const x = asFloat[i];
    if (Number.isNaN(x)) {
      const h = f32BitsToF16Bits(words[i]);
      assert.equal(h & 0x7e00, 0x7e00, "NaN stays a quiet NaN");
      continue;
    }
    const h = f32BitsToF16Bits(words[i]);
    const y = F16_TO_F32[h];
    if (Math.abs(x) >= 65520) {
      assert.equal(Math.abs(y), Infinity);
      continue;
    }
    const up = F16_TO_F32[(h & 0x7fff) === 0x7bff ? h : h + 1];
    const down = F16_TO_F32[(h & 0x7fff) === 0 ? h : h - 1];
    const err = Math.abs(x - y);
    assert.ok(err <= Math.abs(x - up) && err <= Math.abs(x - down), `0x${words[i].toString(16)}`);
    if (err === Math.abs(x - up) && up !== y || err === Math.abs(x - down) && down !== y) {
      assert.equal(h & 1, 0, `tie to even for 0x${words[i].toString(16)}`);
    }
  }
  // Ties: 1 + 2^-11 (halfway between 1 and the next binary16) goes to the even 1.
  assert.equal(f32BitsToF16Bits(0x3f801000), 0x3c00);
  assert.equal(f32BitsToF16Bits(0x3f803000), 0x3c02);
  assert.equal(f32BitsToF16Bits(0x33000000), 0x0000); // 2^-25: tie between 0 and 2^-24
  assert.equal(f32BitsToF16Bits(0x33000001), 0x0001);
  assert.equal(f32BitsToF16Bits(0x477fefff), 0x7bff);
  assert.equal(f32BitsToF16Bits(0x477ff000), 0x7c00);
  assert.equal(f32BitsToF16Bits(0xff800000), 0xfc00);
  assert.equal(f32BitsToF16Bits(0x7f802000), 0x7e00); // ggml: every NaN is sign | 0x7e00
  assert.equal(f32BitsToF16Bits(0xffc00001), 0xfe00);
});

Deno.test({
  name: `CUDA decoders (host emulation) equal the CPU kernels bit for bit${libraryReason}`,
  ignore: !library.ok || native === null,
  async fn(t) {
    for (const canonicalNan of [false, true]) {
      await t.step(
        canonicalNan ? "GPU canonical-NaN arithmetic model" : "x86 arithmetic",
        async (t) => {
          await compareAll(
            t,
            (id, src, n, out) => cudaDequantizeEmulated(id, src, n, { out, canonicalNan }),
          );
        },
      );
    }
  },
});

Deno.test({
  name: `CUDA emulation rejects bad arguments${libraryReason}`,
  ignore: !library.ok,
  fn() {
    assert.throws(() => cudaDequantizeEmulated(10, new Uint8Array(84), 256), {
      name: "CudaError",
      code: "UNSUPPORTED_TYPE",
      message: /Type 10 is not supported/,
    }); // Q2_K
    assert.throws(() => cudaDequantizeEmulated(8, new Uint8Array(34), 33), {
      name: "CudaError",
      code: "BAD_ARGUMENT",
      message: /not a multiple of the block size 32/,
    });
    assert.throws(() => cudaDequantizeEmulated(8, new Uint8Array(33), 32), {
      name: "CudaError",
      code: "BAD_ARGUMENT",
      message: /need 34 source bytes but got 33/,
    });
    assert.deepEqual(cudaDequantizeEmulated(8, new Uint8Array(0), 0), new Float32Array(0));
  },
});

Deno.test({
  name: `CUDA device kernels equal the CPU kernels bit for bit${gpuReason}`,
  ignore: gpu === null || native === null,
  async fn(t) {
    await compareAll(t, (id, src, n, out) => cudaDequantize(id, src, n, { out }));
    await t.step("a tensor larger than one grid (8 Mi elements of Q4_K)", () => {
      const n = 8 << 20;
      const src = randomTensorBytes(CUDA_TYPES.Q4_K, n, 99);
      const ref = cpuF32(CUDA_TYPES.Q4_K, src, n);
      const got = cudaDequantize(CUDA_TYPES.Q4_K, src, n);
      assert.equal(firstMismatch(new Uint32Array(ref.buffer), new Uint32Array(got.buffer)), null);
    });
  },
});

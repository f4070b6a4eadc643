/**
 * The I2_S × int8 ternary matvec: the library's host build (any machine with the library) and the
 * device kernel (GPU only; skipped with the reason otherwise) against the TypeScript reference, bit for
 * bit. The integer sums are exact, so the warp reduction order cannot change the result.
 */
import assert from "node:assert/strict";

import {
  cudaI2sMatvec,
  cudaI2sMatvecEmulated,
  cudaRuntime,
  cudaUnavailableReason,
  openCudaLibrary,
} from "../ffi/cuda.ts";
import { fillRandom } from "./support/gpu_fixtures.ts";
import { i2sMatvecReference, quantizeActivationsI8 } from "./reference/i2s_matvec.ts";

const library = openCudaLibrary();
const libraryReason = library.ok ? "" : ` (skipped: ${library.reason})`;
const gpu = cudaRuntime();
const gpuReason = gpu ? "" : ` (skipped: ${cudaUnavailableReason()})`;

const SHAPES: [number, number][] = [[1, 128], [7, 256], [33, 2560], [64, 6912], [5, 132096]];

function problem(rows: number, cols: number, seed: number) {
  const w = fillRandom(new Uint8Array((rows * cols) / 4 + 4), seed);
  new DataView(w.buffer).setFloat32((rows * cols) / 4, 0.75 + seed / 1000, true);
  const x = new Float32Array(cols).map((_, i) => Math.sin(i * 0.37 + seed));
  const { q, scale } = quantizeActivationsI8(x);
  return { w, q, scale };
}

function assertBits(expected: Float32Array, got: Float32Array, label: string): void {
  const a = new Uint32Array(expected.buffer);
  const b = new Uint32Array(got.buffer);
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    assert.equal(b[i], a[i], `${label}: row ${i}: ${got[i]} vs ${expected[i]}`);
  }
}

Deno.test("quantizeActivationsI8: absmax scale, values in [-127, 127]", () => {
  const { q, scale } = quantizeActivationsI8(new Float32Array([0.5, -1, 0.25, 0]));
  assert.deepEqual([...q], [64, -127, 32, 0]);
  assert.equal(scale, Math.fround(1 / 127));
  assert.equal(quantizeActivationsI8(new Float32Array(4)).scale, 1);
});

Deno.test({
  name: `I2_S matvec (host build) equals the reference bit for bit${libraryReason}`,
  ignore: !library.ok,
  async fn(t) {
    for (const [rows, cols] of SHAPES) {
      await t.step(`${rows} x ${cols}`, () => {
        const { w, q, scale } = problem(rows, cols, rows + cols);
        assertBits(
          i2sMatvecReference(w, rows, cols, q, scale),
          cudaI2sMatvecEmulated(w, rows, cols, q, scale),
          `${rows}x${cols}`,
        );
      });
    }
    await t.step("extreme activations: every k at +127 and -127", () => {
      const rows = 3, cols = 132096;
      const w = new Uint8Array((rows * cols) / 4 + 4).fill(0xaa); // code 2: +1 everywhere
      new DataView(w.buffer).setFloat32((rows * cols) / 4, 1, true);
      const x = new Int8Array(cols).fill(127);
      const y = cudaI2sMatvecEmulated(w, rows, cols, x, 1);
      assert.deepEqual([...y], [127 * cols, 127 * cols, 127 * cols]);
      assertBits(
        i2sMatvecReference(w, rows, cols, x.fill(-127), 1),
        cudaI2sMatvecEmulated(w, rows, cols, x, 1),
        "neg",
      );
    });
    await t.step("bad shapes are CudaError BAD_ARGUMENT", () => {
      const w = new Uint8Array(1024);
      assert.throws(() => cudaI2sMatvecEmulated(w, 1, 100, new Int8Array(100), 1), {
        name: "CudaError",
        code: "BAD_ARGUMENT",
        message: /whole blocks/,
      });
      assert.throws(
        () => cudaI2sMatvecEmulated(w, 1, 132224, new Int8Array(132224), 1),
        { name: "CudaError", code: "BAD_ARGUMENT", message: /At most 132096 columns/ },
      );
      assert.throws(() => cudaI2sMatvecEmulated(w, 100, 128, new Int8Array(128), 1), {
        name: "CudaError",
        code: "BAD_ARGUMENT",
        message: /need 3204 bytes but got 1024/,
      });
      assert.throws(() => cudaI2sMatvecEmulated(w, 1, 256, new Int8Array(128), 1), {
        name: "CudaError",
        code: "BAD_ARGUMENT",
        message: /Need 256 activations but got 128/,
      });
    });
  },
});

Deno.test({
  name: `I2_S matvec (GPU) equals the reference bit for bit${gpuReason}`,
  ignore: gpu === null,
  async fn(t) {
    for (const [rows, cols] of [...SHAPES, [2560, 6912] as [number, number]]) {
      await t.step(`${rows} x ${cols}`, () => {
        const { w, q, scale } = problem(rows, cols, rows * 3 + cols);
        assertBits(
          i2sMatvecReference(w, rows, cols, q, scale),
          cudaI2sMatvec(w, rows, cols, q, scale),
          `${rows}x${cols}`,
        );
      });
    }
  },
});

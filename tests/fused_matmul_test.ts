/**
 * bl_matmul_i2s_fused (decode's q/k/v and gate/up in one pool job) against separate
 * bl_matmul_i2s calls, bit for bit: every SIMD level, 1 and 2 threads, one token and batches (the
 * prompt tile path), ragged row counts whose 8-row units make pool chunks span two matrices.
 */
import assert from "node:assert/strict";
import { inferNative } from "../ffi/infer_native.ts";
import { seededRandom } from "../src/common/random.ts";

const nat = inferNative();

Deno.test({
  name: "fused I2_S products equal separate calls bit for bit: levels, threads, ragged rows",
  ignore: nat === null,
  fn() {
    const n = nat!;
    const rng = seededRandom(4521);
    const cases: [number[], number][] = [
      [[37, 5, 70], 384],
      [[1, 2, 3], 128],
      [[64, 16, 16], 640],
      [[21, 9], 2560],
      [[40, 8], 256],
    ];
    for (const [rowsList, cols] of cases) {
      const mats = rowsList.map((rows, i) => {
        const w = new Uint8Array(rows * cols / 4 + 32);
        for (let j = 0; j < rows * cols / 4; j++) w[j] = rng.int(256); // code 3 included
        return { w, rows, wscale: 0.5 + 0.125 * i };
      });
      for (const ntok of [1, 3, 5]) {
        const x = new Float32Array(ntok * cols).map(() => rng.normal());
        const q = new Int8Array(ntok * cols), gsum = new Int32Array(ntok * cols / 32);
        const factor = new Float32Array(ntok);
        n.quantizeRows(x, ntok, cols, { q, gsum, factor });
        const acts = { q, gsum, factor };
        const separate = () =>
          mats.map((m) => {
            const y = new Float32Array(ntok * m.rows);
            n.matmulTernary("i2s", m.w, m.rows, cols, m.wscale, acts, ntok, y);
            return y;
          });
        const fused = () => {
          const ys = mats.map((m) => new Float32Array(ntok * m.rows).fill(NaN));
          n.matmulI2sFused(mats.map((m, i) => ({ ...m, y: ys[i] })), cols, acts, ntok);
          return ys;
        };
        n.setLevel("scalar");
        n.setThreads(1);
        const want = separate();
        for (const level of n.levels) {
          const used = n.setLevel(level);
          for (const threads of [1, 2]) {
            n.setThreads(threads);
            const label = `${used} ${threads}t rows ${rowsList} x ${cols} ntok ${ntok}`;
            assert.deepEqual(separate(), want, `separate ${label}`);
            assert.deepEqual(fused(), want, `fused ${label}`);
          }
        }
      }
    }
    n.setLevel("best");
    n.setThreads(navigator.hardwareConcurrency ?? 1);
  },
});

Deno.test({
  name: "fused I2_S products: more than three matrices is a RangeError, not a native call",
  ignore: nat === null,
  fn() {
    const m = { w: new Uint8Array(64), rows: 1, wscale: 1, y: new Float32Array(1) };
    const acts = { q: new Int8Array(128), gsum: new Int32Array(4), factor: new Float32Array(1) };
    assert.throws(() => nat!.matmulI2sFused([m, m, m, m], 128, acts, 1), RangeError);
    assert.throws(() => nat!.matmulI2sFused([], 128, acts, 1), RangeError);
  },
});

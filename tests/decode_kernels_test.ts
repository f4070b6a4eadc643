/**
 * The single-token (decode) kernels against their scalar twins, bit for bit: the AVX-512 I2_S
 * path reorders the activations and multiplies masked, scaled codes (kernels/infer/ternary.c,
 * dot_i2s_zmm_1), so it gets raw random bytes (the invalid code 3 included), extreme
 * activations, every block-count parity, rows that do not fill the pool's chunks, and 1 and 2
 * threads.
 */
import assert from "node:assert/strict";
import { inferNative } from "../ffi/infer_native.ts";
import { seededRandom } from "../src/common/random.ts";

const nat = inferNative();

Deno.test({
  name:
    "I2_S one token: raw code bytes, extreme activations, odd widths: every level gives the scalar bits",
  ignore: nat === null,
  fn() {
    const n = nat!;
    const rng = seededRandom(2121);
    // 128 (a lone odd block), 256 (one pair), 384, 640 (pairs + odd block), 2560, 6912 (2B shapes)
    for (const [rows, cols] of [[9, 128], [3, 256], [37, 384], [21, 640], [70, 2560], [17, 6912]]) {
      const w = new Uint8Array(rows * cols / 4 + 32);
      for (let i = 0; i < rows * cols / 4; i++) w[i] = rng.int(256); // codes 0..3, 3 included
      for (const extreme of [false, true]) {
        const x = new Float32Array(cols);
        for (let i = 0; i < cols; i++) x[i] = extreme ? (i % 2 ? 1e3 : -1e3) : rng.normal();
        const q = new Int8Array(cols), gsum = new Int32Array(cols / 32);
        const factor = new Float32Array(1);
        n.quantizeRows(x, 1, cols, { q, gsum, factor });
        const run = () => {
          const y = new Float32Array(rows);
          n.matmulTernary("i2s", w, rows, cols, 0.8125, { q, gsum, factor }, 1, y);
          return y;
        };
        n.setLevel("scalar");
        n.setThreads(1);
        const want = run();
        // the scalar twin itself against the integer sum by hand, on the first row
        let dot = 0;
        for (let b = 0; b < cols / 128; b++) {
          for (let p = 0; p < 32; p++) {
            const v = w[b * 32 + p];
            for (let k = 0; k < 4; k++) dot += ((v >> (6 - 2 * k)) & 3) * q[b * 128 + 32 * k + p];
          }
        }
        let qsum = 0;
        for (const g of gsum) qsum += g;
        const f = Math.fround;
        assert.equal(want[0], f(f(f(f(dot) - f(qsum)) / factor[0]) * f(0.8125)));
        for (const level of n.levels) {
          const used = n.setLevel(level);
          for (const threads of [1, 2]) {
            n.setThreads(threads);
            assert.deepEqual(run(), want, `${used} ${threads}t ${rows}x${cols} extreme=${extreme}`);
          }
        }
      }
    }
    n.setLevel("best");
    n.setThreads(navigator.hardwareConcurrency ?? 1);
  },
});

Deno.test({
  name: "relu² gating: every level gives the scalar bits, NaN, ±0, ±∞ and a ragged tail included",
  ignore: nat === null,
  fn() {
    const n = nat!;
    const rng = seededRandom(77);
    const len = 8 * 37 + 5;
    const g0 = new Float32Array(len).map(() => rng.normal() * 3);
    const u = new Float32Array(len).map(() => rng.normal());
    g0.set([NaN, -0, 0, Infinity, -Infinity, 1e30, -1e-30, 3e-39], 0);
    u.set([1, 2, 3, NaN, 5, 1e30, 7, 8], 0);
    // the TypeScript twin: a = g > 0 ? g : 0, then (a * a) * u in f32
    const f = Math.fround;
    const want = g0.map((g, i) => {
      const a = g > 0 ? g : 0;
      return f(f(a * a) * u[i]);
    });
    for (const level of n.levels) {
      const used = n.setLevel(level);
      const g = g0.slice();
      n.ffnAct(g, u, len, "relu2");
      assert.deepEqual(g, want, used);
      assert.ok(Object.is(g[1], 0) && Object.is(g[0], 0), `${used}: NaN and -0 give +0`);
    }
    n.setLevel("best");
  },
});

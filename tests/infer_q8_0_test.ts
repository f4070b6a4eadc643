/**
 * The Q8_0, Q4_0, Q5_0, IQ4_NL (on Q8_0 activations), Q4_1 and Q5_1 (on Q8_1) inference kernels
 * against ggml itself (`libggml-cpu-haswell.so` and
 * `-zen4.so` from llama.cpp v0.5.0): activation blocks byte-identical to ggml's
 * `quantize_row_q8_0`, and every output bit-identical to `ggml_vec_dot_q8_0_q8_0` /
 * `ggml_vec_dot_{q4_0,q5_0,iq4_nl}_q8_0` (even and odd block counts), Q8_1 blocks equal to
 * `quantize_row_q8_1` and products to `ggml_vec_dot_q{4,5}_1_q8_1`, at every SIMD level of bitload (scalar twin,
 * AVX2, AVX-512 VNNI), for batches and thread counts. Skips with a reason when the native kernels
 * or the ggml libraries are unavailable.
 */

import assert from "node:assert/strict";
import { inferNative, inferNativeReason } from "../ffi/infer_native.ts";
import { type GgmlCpu, openGgmlCpu, rowProducts } from "./reference/ggml_cpu.ts";
import { seededRandom } from "../src/common/random.ts";
import { ggmlTypeByName } from "../src/gguf/types.ts";
import { ggmlSkipReason, openGgmlReference } from "./reference/ggml.ts";
import { forLevelsAndThreads, INFER_TEST_LEVELS } from "./support/requantize.ts";

const native = inferNative();
const oracles: GgmlCpu[] = [];
let skip = native === null ? `native inference kernels unavailable: ${inferNativeReason()}` : "";
for (const variant of ["haswell", "zen4"] as const) {
  const opened = openGgmlCpu(variant);
  if (typeof opened === "string") console.warn(`Q8_0 oracle ${variant} skipped: ${opened}`);
  else oracles.push(opened);
}
if (!skip && oracles.length === 0) skip = "no ggml-cpu library could be opened";
if (skip) console.warn(`skipping the Q8_0 kernel tests: ${skip}`);

const rng = seededRandom(8);

/** Values over several orders of magnitude, with edge blocks mixed in. */
function values(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.normal() * Math.exp(rng.normal() * 2);
  for (let b = 0; b < n / 32; b++) {
    const block = x.subarray(b * 32, (b + 1) * 32);
    switch (b % 7) {
      case 1: // all zero: d = 0, codes 0
        block.fill(0);
        break;
      case 2: // one non-zero value: the others round to 0, it to ±127
        block.fill(0);
        block[b % 32] = -3.5;
        break;
      case 3: // ties: x * 127 / max lands on k + 0.5 for exact halves
        for (let i = 0; i < 32; i++) block[i] = (i - 16) + 0.5;
        block[31] = 127;
        break;
      case 4: // tiny values whose scale is an f16 subnormal
        for (let i = 0; i < 32; i++) block[i] *= 1e-6;
        break;
      case 5: // large values near the f16 limit of d
        for (let i = 0; i < 32; i++) block[i] = (i % 2 ? 1 : -1) * 60000 * 127 * rng.float();
        break;
    }
  }
  return x;
}

Deno.test(
  {
    name: "Q8_0, Q4_0, Q5_0, IQ4_NL, Q4_1 and Q5_1 kernels are bit-exact with ggml",
    ignore: skip !== "",
  },
  async (t) => {
    const nat = native!;
    const rows = 37, cols = 32 * 24, ntok = 5;
    const rowBytes = cols / 32 * 34;
    const x = values(ntok * cols);
    const wf = values(rows * cols);
    // weights as ggml writes them (its own quantizer), so the oracle and bitload read the same bytes
    const w = oracles[0].quantizeRowQ8_0(wf);

    await t.step("activation blocks equal ggml's quantize_row_q8_0 at every level", () => {
      for (const oracle of oracles) {
        const want = oracle.quantizeRowQ8_0(x);
        for (const level of INFER_TEST_LEVELS) {
          nat.setLevel(level);
          const got = new Uint8Array(ntok * rowBytes);
          nat.quantizeBlocks("q8_0", x, ntok, cols, got);
          assert.deepEqual(got, want, `${level} vs ${oracle.path}`);
        }
      }
      nat.setLevel("best");
    });

    await t.step(
      "products equal ggml_vec_dot_q8_0_q8_0 at every level, batch and thread count",
      () => {
        const xq = oracles[0].quantizeRowQ8_0(x);
        for (const oracle of oracles) {
          const want = rowProducts(
            rows,
            ntok,
            w,
            rowBytes,
            xq,
            rowBytes,
            (wr, xr) => oracle.vecDotQ8_0(cols, wr, xr),
          );
          forLevelsAndThreads(nat, (level, threads) => {
            const y = new Float32Array(ntok * rows);
            nat.matmulBlocks("q8_0", w, rows, cols, xq, ntok, y); // throws on a non-zero status
            assert.deepEqual(y, want, `${level}, ${threads} threads vs ${oracle.path}`);
          });
        }
      },
    );

    // the Q4_0 / Q5_0 / IQ4_NL weights come from ggml's own quantizer (libggml-base)
    const ggml = openGgmlReference();
    if (ggml === null) console.warn(`Q4_0/Q5_0/IQ4_NL steps skipped: ${ggmlSkipReason()}`);
    const BLOCK_BYTES = { Q4_0: 18, Q5_0: 22, IQ4_NL: 18 } as const;
    for (const type of ["Q4_0", "Q5_0", "IQ4_NL"] as const) {
      await t.step({
        name: `${type} products equal ggml's vec_dot at every level and thread count`,
        ignore: ggml === null,
        fn: () => {
          // an even and an odd block count (IQ4_NL pairs blocks and finishes an odd one apart)
          for (const width of [cols, cols - 32]) {
            const xw = values(ntok * width);
            const ww = values(rows * width);
            const wq = ggml!.quantize(ggmlTypeByName(type)!.id, ww, rows, width);
            const rb = width / 32 * BLOCK_BYTES[type];
            const xrb = width / 32 * 34;
            const xq = oracles[0].quantizeRowQ8_0(xw);
            for (const oracle of oracles) {
              const want = rowProducts(
                rows,
                ntok,
                wq,
                rb,
                xq,
                xrb,
                (wr, xr) => oracle.vecDotOnQ8_0(type, width, wr, xr),
              );
              const kernel = type.toLowerCase() as Lowercase<typeof type>;
              forLevelsAndThreads(nat, (level, threads) => {
                const y = new Float32Array(ntok * rows);
                nat.matmulBlocks(kernel, wq, rows, width, xq, ntok, y);
                assert.deepEqual(y, want, `${type} × ${width} ${level}, ${threads} threads`);
              });
            }
          }
        },
      });
    }

    await t.step("Q8_1 activation blocks equal ggml's quantize_row_q8_1 at every level", () => {
      for (const oracle of oracles) {
        const want = oracle.quantizeRowQ8_1(x);
        for (const level of INFER_TEST_LEVELS) {
          nat.setLevel(level);
          const got = new Uint8Array(ntok * (cols / 32) * 36);
          nat.quantizeBlocks("q8_1", x, ntok, cols, got);
          assert.deepEqual(got, want, `${level} vs ${oracle.path}`);
        }
      }
      nat.setLevel("best");
    });

    for (const type of ["Q4_1", "Q5_1"] as const) {
      await t.step({
        name: `${type} products equal ggml's vec_dot at every level and thread count`,
        ignore: ggml === null,
        fn: () => {
          const wq = ggml!.quantize(ggmlTypeByName(type)!.id, wf, rows, cols);
          const rb = cols / 32 * (type === "Q4_1" ? 20 : 24);
          const xrb = cols / 32 * 36;
          const xq = oracles[0].quantizeRowQ8_1(x);
          for (const oracle of oracles) {
            const want = rowProducts(
              rows,
              ntok,
              wq,
              rb,
              xq,
              xrb,
              (wr, xr) => oracle.vecDotOnQ8_1(type, cols, wr, xr),
            );
            const kernel = type === "Q4_1" ? "q4_1" : "q5_1";
            forLevelsAndThreads(nat, (level, threads) => {
              const y = new Float32Array(ntok * rows);
              nat.matmulBlocks(kernel, wq, rows, cols, xq, ntok, y);
              assert.deepEqual(y, want, `${type} ${level}, ${threads} threads vs ${oracle.path}`);
            });
          }
        },
      });
    }

    await t.step("a model's Q8_0 projection uses the kernel", async () => {
      const { makeLinear, linearNative, allocQuantizedActs } = await import(
        "../src/infer/linear.ts"
      );
      const lin = makeLinear("w", ggmlTypeByName("Q8_0")!, rows, cols, w, 1, "native");
      assert.equal(lin.kernel, "q8_0");
      assert.equal(lin.f32, undefined); // no f32 copy: the mapped bytes are used as they are
      const y = new Float32Array(rows);
      linearNative(nat, lin, x.subarray(0, cols), 1, y, allocQuantizedActs(1, cols));
      const xq = oracles[0].quantizeRowQ8_0(x.subarray(0, cols));
      for (let r = 0; r < rows; r++) {
        assert.equal(y[r], oracles[0].vecDotQ8_0(cols, w.subarray(r * rowBytes), xq));
      }
    });
  },
);

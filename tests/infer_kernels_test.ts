/**
 * Native inference kernels against TypeScript references: I2_S and TQ2_0 integer products (every
 * SIMD level bit-identical to the scalar twin, batches bit-identical to single tokens, both equal
 * to the f32 sum on the same int8 activations), F16/F32 products, attention, and thread-count
 * independence.
 */

import assert from "node:assert/strict";
import { inferNative, inferNativeReason } from "../ffi/infer_native.ts";
import { quantizeTQ1_0, quantizeTQ2_0 } from "../src/quant/quantize.ts";
import { packI2S } from "../src/quant/i2s_pack.ts";
import { dequantizeToNew } from "../src/quant/dequantize.ts";
import { seededRandom } from "../src/common/random.ts";
import { fmaF32, rmsNorm } from "../src/infer/model.ts";

const native = inferNative();
const ignore = native === null;
if (ignore) console.warn(`native inference kernels unavailable: ${inferNativeReason()}`);

const rng = seededRandom(11);

function ternary(n: number): Int8Array {
  const v = new Int8Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.int(3) - 1;
  return v;
}

function acts(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.normal();
  return x;
}

Deno.test({ name: "infer kernels", ignore }, async (t) => {
  const nat = native!;
  const rows = 40, cols = 768, ntok = 3;
  const x = acts(ntok * cols);
  const q = new Int8Array(ntok * cols);
  const gsum = new Int32Array(ntok * cols / 32);
  const factor = new Float32Array(ntok);
  for (let r = 0; r < ntok; r++) {
    factor[r] = nat.quantizeAct(
      x.subarray(r * cols, (r + 1) * cols),
      cols,
      q.subarray(r * cols, (r + 1) * cols),
      gsum.subarray(r * cols / 32, (r + 1) * cols / 32),
    );
  }

  await t.step("activation quantization is bitnet.cpp's absmax int8", () => {
    for (let r = 0; r < ntok; r++) {
      let amax = 0;
      for (let i = 0; i < cols; i++) amax = Math.max(amax, Math.abs(x[r * cols + i]));
      // quantize_row_i8_s: (float)(127.0 / max(max|x|, 1e-5)) with a double division
      assert.equal(factor[r], Math.fround(127 / Math.max(amax, 1e-5)));
      for (let i = 0; i < cols; i++) {
        // round half to even of the f32 product
        const v = Math.fround(x[r * cols + i] * factor[r]);
        const f = Math.floor(v), d = v - f;
        const want = d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
        assert.equal(q[r * cols + i], Math.max(-128, Math.min(127, want)));
      }
      let sum = 0;
      for (let i = 0; i < 32; i++) sum += q[r * cols + i];
      assert.equal(gsum[r * cols / 32], sum);
    }
  });

  await t.step("activation quantization: SIMD equals the scalar twin", () => {
    for (let trial = 0; trial < 8; trial++) {
      const v = acts(1024).map((z) => z * (trial + 1));
      if (trial === 3) v.fill(0);
      const out: [Int8Array, Int32Array, number][] = [];
      for (const level of ["scalar", "avx2"] as const) {
        nat.setLevel(level);
        const qq = new Int8Array(1024);
        const gg = new Int32Array(32);
        out.push([qq, gg, nat.quantizeAct(v, 1024, qq, gg)]);
      }
      nat.setLevel("best");
      assert.deepEqual(out[1], out[0]);
    }
  });

  // the f32 value of W · (q / scale), summed in f64
  const expect = (w: Float32Array): Float64Array => {
    const y = new Float64Array(ntok * rows);
    for (let tk = 0; tk < ntok; tk++) {
      for (let r = 0; r < rows; r++) {
        let acc = 0;
        for (let c = 0; c < cols; c++) acc += w[r * cols + c] * q[tk * cols + c];
        y[tk * rows + r] = acc / factor[tk];
      }
    }
    return y;
  };

  const levels = ["scalar", "avx2", "avx512"] as const;

  await t.step("I2_S: every level equals the reference, the scalar twin and the fork", () => {
    const codes = ternary(rows * cols);
    const packed = packI2S(codes, 0.75);
    const w = dequantizeToNew("I2_S", packed, rows * cols);
    const want = expect(w);
    // bitnet.cpp's epilogue, in f32 and in its order: ((float)Σt·q) / act_scale * weight_scale
    const fork = new Float32Array(ntok * rows);
    for (let tk = 0; tk < ntok; tk++) {
      for (let r = 0; r < rows; r++) {
        let dot = 0;
        for (let c = 0; c < cols; c++) dot += codes[r * cols + c] * q[tk * cols + c];
        fork[tk * rows + r] = Math.fround(Math.fround(dot / factor[tk]) * Math.fround(0.75));
      }
    }
    const results: Float32Array[] = [];
    for (const level of levels) {
      const used = nat.setLevel(level);
      const y = new Float32Array(ntok * rows);
      nat.matmulTernary("i2s", packed, rows, cols, 0.75, { q, gsum, factor }, ntok, y);
      for (let i = 0; i < y.length; i++) {
        assert.ok(Math.abs(y[i] - want[i]) <= 1e-5 * (1 + Math.abs(want[i])), `${used} ${i}`);
      }
      assert.deepEqual(y, fork, `${used}: the fork's arithmetic`);
      results.push(y);
    }
    nat.setLevel("best");
    for (const y of results) assert.deepEqual(y, results[0]);
  });

  await t.step("TQ2_0: every level equals the reference", () => {
    const values = new Float32Array(ternary(rows * cols)).map((v) => v * 0.3);
    const packed = quantizeTQ2_0(values);
    const w = dequantizeToNew("TQ2_0", packed, rows * cols);
    const want = expect(w);
    const results: Float32Array[] = [];
    for (const level of levels) {
      nat.setLevel(level);
      const y = new Float32Array(ntok * rows);
      nat.matmulTernary("tq2", packed, rows, cols, 1, { q, gsum, factor }, ntok, y);
      for (let i = 0; i < y.length; i++) {
        assert.ok(Math.abs(y[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])), `${level} ${i}`);
      }
      results.push(y);
    }
    nat.setLevel("best");
    // the float epilogue has one fixed order (8 lanes, see kernels/infer/ternary.c): bitwise equal
    for (const y of results) assert.deepEqual(y, results[0]);
  });

  await t.step(
    "ternary batches give the bits of single tokens; TQ1_0 equals TQ2_0; every level",
    () => {
      const nb = 6; // crosses the 4-token weight-reuse groups
      const xb = acts(nb * cols);
      const qb = new Int8Array(nb * cols);
      const gb = new Int32Array(nb * cols / 32);
      const fb = new Float32Array(nb);
      nat.quantizeRows(xb, nb, cols, { q: qb, gsum: gb, factor: fb });
      const codes = ternary(rows * cols);
      const i2s = packI2S(codes, 0.5);
      const tq2 = quantizeTQ2_0(new Float32Array(codes).map((v) => v * 0.2));
      const tq1 = quantizeTQ1_0(new Float32Array(codes).map((v) => v * 0.2));
      const run = (kind: "i2s" | "tq2" | "tq1", n: number, from: number): Float32Array => {
        const y = new Float32Array(n * rows);
        const qs = qb.subarray(from * cols), gs = gb.subarray(from * cols / 32);
        const fs = fb.subarray(from);
        const w = kind === "i2s" ? i2s : kind === "tq2" ? tq2 : tq1;
        nat.matmulTernary(kind, w, rows, cols, 0.5, { q: qs, gsum: gs, factor: fs }, n, y);
        return y;
      };
      let first: Float32Array | undefined;
      for (const level of levels) {
        nat.setLevel(level);
        // TQ1_0 holds the same ternary values and block scales as TQ2_0: the same bits, every level
        const tq2Batch = run("tq2", nb, 0);
        first ??= tq2Batch;
        assert.deepEqual(tq2Batch, first, `tq2 ${level} vs scalar`);
        assert.deepEqual(run("tq1", nb, 0), tq2Batch, `tq1 vs tq2 at ${level}`);
        for (const kind of ["i2s", "tq2", "tq1"] as const) {
          const batch = run(kind, nb, 0);
          for (let tk = 0; tk < nb; tk++) {
            assert.deepEqual(
              run(kind, 1, tk),
              batch.subarray(tk * rows, (tk + 1) * rows),
              `${kind} ${level} token ${tk}`,
            );
          }
        }
      }
      nat.setLevel("best");
    },
  );

  await t.step(
    "I2_S prompt tiles (rows x tokens): ragged shapes give the scalar twin's bits, every level, 1 and 2 threads",
    () => {
      // rows not a multiple of the 4-row tile, token counts 1..17 (not multiples of the 4-token
      // tile), an odd number of 128-blocks, a 4-row matrix that is all one tile
      const maxTok = 17;
      for (const [nr, nc] of [[37, 384], [4, 128], [70, 640], [9, 2176]] as const) {
        const codes = ternary(nr * nc);
        for (let i = 0; i < 40; i++) codes[rng.int(nr * nc)] = i % 2 === 0 ? 1 : -1;
        const w = packI2S(codes, 0.375);
        const xb = acts(maxTok * nc).map((v, i) => i % 97 === 0 ? v * 40 : v);
        const qb = new Int8Array(maxTok * nc);
        const gb = new Int32Array(maxTok * nc / 32);
        const fb = new Float32Array(maxTok);
        nat.quantizeRows(xb, maxTok, nc, { q: qb, gsum: gb, factor: fb });
        nat.setLevel("scalar");
        // the scalar twin, one token per call
        const want = new Float32Array(maxTok * nr);
        for (let tk = 0; tk < maxTok; tk++) {
          nat.matmulTernary(
            "i2s",
            w,
            nr,
            nc,
            0.375,
            {
              q: qb.subarray(tk * nc),
              gsum: gb.subarray(tk * nc / 32),
              factor: fb.subarray(tk),
            },
            1,
            want.subarray(tk * nr, (tk + 1) * nr),
          );
        }
        for (const level of levels) {
          const used = nat.setLevel(level);
          for (const threads of [1, 2]) {
            nat.setThreads(threads);
            for (let n = 1; n <= maxTok; n++) {
              const y = new Float32Array(n * nr);
              nat.matmulTernary("i2s", w, nr, nc, 0.375, { q: qb, gsum: gb, factor: fb }, n, y);
              assert.deepEqual(
                y,
                want.subarray(0, n * nr),
                `${used} ${threads}t ${nr}x${nc} n=${n}`,
              );
            }
          }
        }
      }
      // the extremes the integer bounds are sized for: every code 3 (not ternary, but a file can
      // hold it) against activations of -128, 17 blocks (past the AVX2 i16 fold of 8 blocks)
      const nr = 6, nc = 2176, nt = 5;
      const w = new Uint8Array(nr * nc / 4 + 4).fill(0xff);
      new DataView(w.buffer).setFloat32(nr * nc / 4, 1, true);
      const qx = new Int8Array(nt * nc).fill(-128);
      const gx = new Int32Array(nt * nc / 32).fill(-128 * 32);
      const fx = new Float32Array(nt).fill(1);
      const outs: Float32Array[] = [];
      for (const level of levels) {
        nat.setLevel(level);
        const y = new Float32Array(nt * nr);
        nat.matmulTernary("i2s", w, nr, nc, 1, { q: qx, gsum: gx, factor: fx }, nt, y);
        outs.push(y);
      }
      // sum(3 * -128) - sum(-128) over 2176 columns, exactly
      assert.equal(outs[0][0], 2 * -128 * nc);
      for (const y of outs) assert.deepEqual(y, outs[0]);
      nat.setLevel("best");
      nat.setThreads(navigator.hardwareConcurrency ?? 1);
    },
  );

  await t.step("F16 and F32 products: tinyBLAS's order, the same bits at every level", () => {
    const wf = acts(rows * cols).map((v) => v * 0.05);
    const h = new Float16Array(wf);
    const w16 = new Float32Array(h);
    // llamafile tinyBLAS: 8 fma lanes (lane l over the elements i = l mod 8), hsum8's order
    const f = Math.fround;
    const tiny = new Float32Array(ntok * rows);
    for (let tk = 0; tk < ntok; tk++) {
      for (let r = 0; r < rows; r++) {
        const lane = new Array(8).fill(0);
        for (let c = 0; c < cols; c++) {
          lane[c % 8] = fmaF32(w16[r * cols + c], x[tk * cols + c], lane[c % 8]);
        }
        const l = lane;
        tiny[tk * rows + r] = f(
          f(f(l[0] + l[4]) + f(l[2] + l[6])) + f(f(l[1] + l[5]) + f(l[3] + l[7])),
        );
      }
    }
    for (const level of levels) {
      nat.setLevel(level);
      const y16 = new Float32Array(ntok * rows);
      const y32 = new Float32Array(ntok * rows);
      nat.matmulF16(new Uint8Array(h.buffer), rows, cols, x, ntok, y16);
      nat.matmulF32(w16, rows, cols, x, ntok, y32);
      for (let tk = 0; tk < ntok; tk++) {
        for (let r = 0; r < rows; r++) {
          let acc = 0;
          for (let c = 0; c < cols; c++) acc += w16[r * cols + c] * x[tk * cols + c];
          assert.ok(Math.abs(y16[tk * rows + r] - acc) < 1e-4, `${level} f16`);
          assert.ok(Math.abs(y32[tk * rows + r] - acc) < 1e-4, `${level} f32`);
        }
      }
      assert.deepEqual(y16, tiny, `${level} f16: tinyBLAS's bits`);
      assert.deepEqual(y32, tiny, `${level} f32: tinyBLAS's bits`);
    }
    nat.setLevel("best");
  });

  await t.step("results do not depend on the thread count", () => {
    const big = 1000;
    const packed = packI2S(ternary(big * cols), 1.25);
    const out: Float32Array[] = [];
    for (const n of [1, 2, 3]) {
      nat.setThreads(n);
      const y = new Float32Array(ntok * big);
      nat.matmulTernary("i2s", packed, big, cols, 1.25, { q, gsum, factor }, ntok, y);
      out.push(y);
    }
    nat.setThreads(navigator.hardwareConcurrency ?? 1);
    assert.deepEqual(out[1], out[0]);
    assert.deepEqual(out[2], out[0]);
  });

  await t.step("RMSNorm, RoPE and the residual add give the bits of their TypeScript twins", () => {
    // 9 rows: two groups of 4 (summed together) and a single one; in place too (the model
    // normalizes the FFN activations in place)
    const width = 96, nr = 9;
    const v = acts(nr * width).map((z, i) => z * 3 * (1 + (i % 7)));
    const w = acts(width);
    const want = new Float32Array(nr * width);
    rmsNorm(v, w, nr, width, 1e-5, want);
    const got = new Float32Array(nr * width);
    nat.rmsNorm(v, w, nr, width, 1e-5, got);
    assert.deepEqual(got, want);
    const inPlace = v.slice();
    nat.rmsNorm(inPlace, w, nr, width, 1e-5, inPlace);
    assert.deepEqual(inPlace, want);
    // RoPE over 3 tokens of 2 heads of 32 (24 rotated dims), both pairings
    const heads = 2, dim = 32, half = 12, nt = 3;
    const cosT = new Float32Array(nt * half), sinT = new Float32Array(nt * half);
    for (let i = 0; i < nt * half; i++) {
      cosT[i] = Math.cos(i * 0.37);
      sinT[i] = Math.sin(i * 0.37);
    }
    for (const neox of [0, 1]) {
      const vec = acts(nt * heads * dim);
      const ref = vec.slice();
      for (let tk = 0; tk < nt; tk++) {
        for (let hd = 0; hd < heads; hd++) {
          const b = (tk * heads + hd) * dim;
          for (let i = 0; i < half; i++) {
            const i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
            const x0 = ref[b + i0], x1 = ref[b + i1];
            const c = cosT[tk * half + i], sn = sinT[tk * half + i];
            ref[b + i0] = fmaF32(x0, c, -Math.fround(x1 * sn));
            ref[b + i1] = fmaF32(x0, sn, Math.fround(x1 * c));
          }
        }
      }
      nat.rope(vec, nt, heads, dim, half, cosT, sinT, neox === 1);
      assert.deepEqual(vec, ref, `neox ${neox}`);
    }
    const a = acts(100), b = acts(100);
    const sum = a.map((z, i) => z + b[i]);
    nat.add(a, b, 100);
    assert.deepEqual(a, sum);
  });

  await t.step(
    "attention: groups of 4 heads, 70 positions, batches, peaky scores: same bits at every level",
    () => {
      // the AVX-512 kernel takes a KV head's query heads together and V in blocks of 32 positions
      const nHead = 8, nKv = 2, D = 64, npos = 70, nt = 3;
      const shape = { nHead, nKv, headDim: D, scale: 0.125 };
      const qv = acts(nt * nHead * D), k = acts(npos * nKv * D), v = acts(npos * nKv * D);
      // q x 30: peaky scores, many exp results and weights subnormal (the integer rounding paths)
      const peaky = qv.map((z) => z * 30);
      const k16 = new Float16Array(k), v16 = new Float16Array(v);
      const byLevel: Float32Array[] = [];
      for (const level of levels) {
        nat.setLevel(level);
        const outs: Float32Array[] = [];
        for (const [kc, vc, q] of [[k, v, qv], [k16, v16, qv], [k16, v16, peaky]] as const) {
          const batch = new Float32Array(nt * nHead * D), one = new Float32Array(nHead * D);
          const dec = new Float32Array(nHead * D);
          nat.attentionBatch(
            q,
            kc,
            vc,
            shape,
            npos - nt,
            nt,
            batch,
            new Float32Array(nt * nHead * npos),
          );
          const last = q.subarray((nt - 1) * nHead * D);
          nat.attentionBatch(last, kc, vc, shape, npos - 1, 1, one, new Float32Array(nHead * npos));
          nat.attentionDecode(last, kc, vc, shape, npos, dec, new Float32Array(nHead * npos));
          // a token gives the same bits alone or as the last of a batch
          assert.deepEqual(one, batch.subarray((nt - 1) * nHead * D));
          outs.push(batch, dec);
        }
        byLevel.push(new Float32Array(outs.flatMap((o) => [...o])));
      }
      nat.setLevel("best");
      for (const o of byLevel) assert.deepEqual(o, byLevel[0]);
    },
  );

  await t.step("attention: subnormal softmax weights have the same bits at every level", () => {
    // scores 0, x, 0, 0 with V = 2^100 only at position 1: the output is w1 * 2^100 exactly, so it
    // shows the bits of w1 = exp(x) / (3 + exp(x)), subnormal for x in about [-104, -87]; the
    // SIMD kernels round those in integer arithmetic (no underflowing multiply), the scalar twin
    // with the FPU
    const D = 8, npos = 4, shape = { nHead: 1, nKv: 1, headDim: D, scale: 1 };
    const k = new Float32Array(npos * D), v = new Float32Array(npos * D);
    k[D] = 1;
    v[D] = 2 ** 100;
    const xs = Array.from({ length: 1200 }, (_, i) => -80 - i * 0.025 - (i % 7) * 1e-5);
    const byLevel: Float32Array[] = [];
    for (const level of levels) {
      nat.setLevel(level);
      const out = new Float32Array(xs.length), o = new Float32Array(D), sc = new Float32Array(npos);
      const q = new Float32Array(D);
      xs.forEach((x, i) => {
        q[0] = x;
        nat.attentionBatch(q, k, v, shape, npos - 1, 1, o, sc);
        out[i] = o[0];
      });
      byLevel.push(out);
    }
    nat.setLevel("best");
    for (const o of byLevel) assert.deepEqual(o, byLevel[0]);
    // they are subnormal weights: between 0 and 2^-126 before the scaling
    assert.ok(byLevel[0].some((w) => w > 0 && w < 2 ** -26));
    assert.ok(byLevel[0].some((w) => w === 0));
  });

  await t.step("attention: GQA softmax over the cache, the same bits at every level", () => {
    const nHead = 4, nKv = 2, D = 40, npos = 11;
    const qv = acts(nHead * D);
    const k = acts(npos * nKv * D);
    const v = acts(npos * nKv * D);
    const k16 = new Float16Array(k), v16 = new Float16Array(v);
    const shape = { nHead, nKv, headDim: D, scale: 0.25 };
    const byLevel: Float32Array[] = [];
    for (const level of levels) {
      nat.setLevel(level);
      const o32 = new Float32Array(nHead * D), o16 = new Float32Array(nHead * D);
      nat.attention(qv, k, v, shape, npos, o32, new Float32Array(nHead * npos));
      nat.attentionBatch(qv, k16, v16, shape, npos - 1, 1, o16, new Float32Array(nHead * npos));
      // ggml's one-token arithmetic (decodeArithmetic "ggml"), both caches, and its f16 head
      const d32 = new Float32Array(nHead * D), d16 = new Float32Array(nHead * D);
      nat.attentionDecode(qv, k, v, shape, npos, d32, new Float32Array(nHead * npos));
      nat.attentionDecode(qv, k16, v16, shape, npos, d16, new Float32Array(nHead * npos));
      const head = new Float32Array(npos);
      nat.matmulF16Decode(new Uint8Array(k16.buffer), npos, nKv * D, v, 1, head, "head");
      byLevel.push(new Float32Array([...o32, ...o16, ...d32, ...d16, ...head]));
      // the one-token V·p differs from the batch order only by rounding
      for (let i = 0; i < o32.length; i++) assert.ok(Math.abs(d32[i] - o32[i]) < 1e-5);
    }
    nat.setLevel("best");
    for (const o of byLevel) assert.deepEqual(o, byLevel[0]);
    const out = byLevel[0].subarray(0, nHead * D);
    for (let h = 0; h < nHead; h++) {
      const kv = Math.floor(h / 2);
      const sc = [];
      for (let p = 0; p < npos; p++) {
        let d = 0;
        for (let i = 0; i < D; i++) d += qv[h * D + i] * k[(p * nKv + kv) * D + i];
        sc.push(d * 0.25);
      }
      const m = Math.max(...sc);
      const e = sc.map((z) => Math.exp(z - m));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let i = 0; i < D; i++) {
        let o = 0;
        for (let p = 0; p < npos; p++) o += e[p] / sum * v[(p * nKv + kv) * D + i];
        assert.ok(Math.abs(out[h * D + i] - o) < 1e-5);
      }
    }
  });
});

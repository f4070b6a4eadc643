import assert from "node:assert/strict";
import { join } from "node:path";
import { probeI2sRate, probeMacRate, probeReadBandwidth } from "../ffi/probe.ts";
import { supportedSimdLevels } from "../ffi/native.ts";
import { RunJsonSchema } from "../src/cli/schemas.ts";
import { openModelFile } from "../src/load/open.ts";
import { decodeBytesPerToken, decodeOpsPerToken } from "../src/infer/decode_bytes.ts";
import { bandwidthSpan, decodeRoofline, readBandwidth } from "../src/infer/decode_roofline.ts";
import {
  bandwidthKey,
  cachedBandwidth,
  MAX_AGE_MS,
  saveBandwidth,
} from "../src/infer/bandwidth_cache.ts";
import { nativeLibrary } from "../ffi/native.ts";
import { InferenceModel } from "../src/infer/model.ts";
import { synthesizeBitnetModel } from "../src/synth/mod.ts";
import { runCli } from "./support/cli.ts";
import { selectBenches } from "../src/bench/suite.ts";
import {
  parseCpuTimes,
  parseProcessCpuSeconds,
  stealNote,
  stealShare,
} from "../src/common/cpu_steal.ts";

const levels = supportedSimdLevels();
/** Every test needs the native library (the probes are C). */
const noNative = levels.length === 0;

const positiveFinite = (v: number | null, what: string) => {
  assert.ok(v !== null && Number.isFinite(v) && v > 0, `${what}: ${v}`);
};

Deno.test({
  name: "probes: read bandwidth, instruction throughput and the I2_S kernel rate are positive",
  ignore: noNative,
  fn() {
    const buf = new Uint8Array(8 << 20).fill(1);
    positiveFinite(probeReadBandwidth(buf, 1, 2), "read, 1 thread");
    positiveFinite(probeReadBandwidth(buf, 2, 2), "read, 2 threads");
    if (levels.includes("avx2")) {
      positiveFinite(probeMacRate("maddubsYmm", 10_000), "maddubs ymm");
      positiveFinite(probeMacRate("fmaYmm", 10_000), "fma ymm");
    }
    if (levels.includes("avx512")) {
      positiveFinite(probeMacRate("dpbusdYmm", 10_000), "vpdpbusd ymm");
      positiveFinite(probeMacRate("dpbusdZmm", 10_000), "vpdpbusd zmm");
    } else assert.equal(probeMacRate("dpbusdZmm", 10_000), 0, "no VNNI: 0");
    positiveFinite(probeI2sRate(64, 256, 3), "I2_S kernel");
    // out-of-range arguments give 0, not a crash
    assert.equal(probeI2sRate(64, 100, 3), 0);
    assert.equal(probeReadBandwidth(new Uint8Array(0), 1, 1), 0);
  },
});

/** The synthetic model's shape (small: the test runs in a second). */
const SHAPE = { layers: 2, dim: 256, ffn: 768, heads: 4, kvHeads: 2, vocab: 600, context: 256 };

Deno.test({
  name: "decode bytes per token: the sum of the tensors a step must read, counted by hand",
  ignore: noNative,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "bitload-decode-" });
    try {
      const path = join(dir, "m.gguf");
      await synthesizeBitnetModel(path, SHAPE);
      using file = await openModelFile(path);
      // by hand: every block tensor (norms F32, projections I2_S with their scale), the output
      // norm, the F16 embedding as the tied head, one F16 embedding row, K and V over the context
      const t = (name: string) => file.tensors.find((x) => x.name === name)!;
      const blockBytes: number = file.tensors.filter((x) => x.name.startsWith("blk."))
        .reduce((n, x) => n + x.byteSize, 0);
      const kvDim = SHAPE.kvHeads * SHAPE.dim / SHAPE.heads;
      const ctx = 10;
      const kv = (elem: number) => 2 * SHAPE.layers * ctx * kvDim * elem;
      const weights = blockBytes + t("output_norm.weight").byteSize;
      const head = t("token_embd.weight").byteSize;
      assert.equal(head, SHAPE.vocab * SHAPE.dim * 2);
      const row = SHAPE.dim * 2;
      const i2sMacs = SHAPE.layers *
        (2 * SHAPE.dim * SHAPE.dim + 2 * kvDim * SHAPE.dim + 3 * SHAPE.ffn * SHAPE.dim);
      for (const lmHead of ["stored", "q8"] as const) {
        for (const kvType of ["f32", "f16"] as const) {
          using model = InferenceModel.fromWeights(file, { threads: 1, lmHead, kvType });
          const reads = model.decodeReads();
          const bytes = decodeBytesPerToken(reads, model.config, kvType, ctx);
          // q8: int8 codes + one f32 scale and one i32 code sum per row
          const headBytes: number = lmHead === "q8" ? SHAPE.vocab * (SHAPE.dim + 8) : head;
          const expected: number = weights + headBytes + row + kv(kvType === "f16" ? 2 : 4);
          assert.equal(bytes.total, expected, `${lmHead} head, ${kvType} KV`);
          assert.equal(bytes.head, headBytes);
          assert.equal(bytes.kvCache, kv(kvType === "f16" ? 2 : 4));
          assert.equal(bytes.embeddingRow, row);
          const ops = decodeOpsPerToken(reads, model.config, ctx);
          const headMacs = SHAPE.vocab * SHAPE.dim;
          const attn = 2 * SHAPE.heads * (SHAPE.dim / SHAPE.heads) * ctx;
          assert.equal(ops.int8Macs, i2sMacs + (lmHead === "q8" ? headMacs : 0));
          assert.equal(ops.f32Fmas, attn + (lmHead === "q8" ? 0 : headMacs));
          const r = decodeRoofline(model, { tokensPerSecond: 100, contextTokens: ctx });
          assert.equal(r.bytesPerToken, expected);
          assert.ok(r.bandwidthBytesPerSecond > 0);
          assert.equal(r.fractionOfBandwidth, expected * 100 / r.bandwidthBytesPerSecond);
          assert.ok(r.kernelBytesPerSecond > 0, "an I2_S model gets the kernel probe");
          const instruction = { avx512: "dpbusdZmm", avx2: "maddubsYmm" }[r.level as string];
          assert.equal(r.int8Instruction, instruction ?? null, `${r.level}: I2_S decodes on it`);
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "run --json: the decode object (bytes per token, bandwidth measured or stored, fraction)",
  ignore: noNative,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "bitload-decode-run-" });
    try {
      const path = join(dir, "m.gguf");
      await synthesizeBitnetModel(path, SHAPE);
      // a cache directory of its own (the built library named, so nothing is rebuilt there)
      const lib = nativeLibrary();
      const env = {
        BITLOAD_CACHE_DIR: join(dir, "cache"),
        ...("path" in lib ? { BITLOAD_NATIVE_LIB: lib.path } : {}),
      };
      const run = () =>
        runCli(
          ["run", path, "--tokens", "1,2,3", "-n", "4", "-t", "1", "--no-eos", "--json"],
          env,
        ).then((r) => {
          assert.equal(r.code, 0, r.stderr);
          return RunJsonSchema.parse(JSON.parse(r.stdout.trim().split("\n").at(-1)!)).decode!;
        });
      const r = await runCli([
        "run",
        path,
        "--tokens",
        "1,2,3",
        "-n",
        "4",
        "-t",
        "1",
        "--kv-type",
        "f32",
        "--no-eos",
        "--json",
      ], env);
      assert.equal(r.code, 0, r.stderr);
      const out = RunJsonSchema.parse(JSON.parse(r.stdout.trim().split("\n").at(-1)!));
      const d = out.decode!;
      assert.ok(d, "native run with ≥ 2 tokens reports decode");
      // 3 prompt tokens + 4 generated / 2: the mean context of the 3 decode steps
      assert.equal(d.contextTokens, 5);
      const kvDim = SHAPE.kvHeads * SHAPE.dim / SHAPE.heads;
      assert.equal(d.bytes.kvCache, 2 * SHAPE.layers * 5 * kvDim * 4);
      assert.equal(
        d.bytesPerToken,
        d.bytes.projections + d.bytes.head + d.bytes.norms + d.bytes.embeddingRow +
          d.bytes.kvCache,
      );
      assert.ok(d.bandwidthBytesPerSecond > 0 && d.fractionOfBandwidth > 0);
      const again = d.bytesPerToken * out.generationTokensPerSecond / d.bandwidthBytesPerSecond;
      assert.ok(Math.abs(again - d.fractionOfBandwidth) < 2e-3, `${again}`);
      assert.ok(d.roofline.int8MacsPerToken > 0 && d.roofline.kernelBytesPerSecond > 0);
      // the hypervisor's share during generation: a number in [0, 1] wherever /proc/stat is
      if (Deno.build.os === "linux") {
        assert.ok(
          d.stealFraction !== null && d.stealFraction >= 0 && d.stealFraction <= 1,
          `${d.stealFraction}`,
        );
      } else assert.equal(d.stealFraction, null);
      // the share of the time the threads ran, likewise
      if (Deno.build.os === "linux") {
        assert.ok(d.cpuShare !== null && d.cpuShare >= 0 && d.cpuShare <= 1, `${d.cpuShare}`);
      } else assert.equal(d.cpuShare, null);
      // an empty cache: measured now
      assert.equal(d.bandwidthSource, "measured");
      assert.ok(Math.abs(Date.parse(d.bandwidthMeasuredAt) - Date.now()) < 600_000);
      // a stored probe for this machine, thread count, library and span is used as it is…
      using file = await openModelFile(path);
      using model = InferenceModel.fromWeights(file, { threads: 1 });
      const key = bandwidthKey(1, bandwidthSpan(model.weights).byteLength);
      const store = (record: object) =>
        Deno.writeTextFile(
          join(dir, "cache", "read-bandwidth.json"),
          JSON.stringify({ [key]: record }),
        );
      const at = new Date(Date.now() - 3600_000).toISOString();
      await store({ bytesPerSecond: 1.25e9, measuredAt: at, stealFraction: 0.01 });
      const cached = await run();
      assert.equal(cached.bandwidthSource, "cached");
      assert.equal(cached.bandwidthMeasuredAt, at);
      assert.equal(cached.bandwidthBytesPerSecond, 1.25e9);
      // …one taken while the hypervisor stole a large share is measured again, and replaced
      await store({ bytesPerSecond: 1.25e9, measuredAt: at, stealFraction: 0.4 });
      const remeasured = await run();
      assert.equal(remeasured.bandwidthSource, "measured");
      assert.notEqual(remeasured.bandwidthMeasuredAt, at);
      // a faster stored figure is kept over a slower new probe; an old one is measured again
      const fast = { bytesPerSecond: 1e15, measuredAt: at, stealFraction: 0 };
      await store(fast);
      const previous = Deno.env.get("BITLOAD_CACHE_DIR");
      Deno.env.set("BITLOAD_CACHE_DIR", join(dir, "cache"));
      try {
        const slower = {
          bytesPerSecond: 1e9,
          measuredAt: new Date().toISOString(),
          stealFraction: 0,
        };
        assert.deepEqual(saveBandwidth(key, slower), fast, "the faster stored figure stays");
        assert.deepEqual(cachedBandwidth(key), fast);
        const faster = { ...slower, bytesPerSecond: 2e15 };
        assert.deepEqual(saveBandwidth(key, faster), faster);
        assert.deepEqual(cachedBandwidth(key), faster);
      } finally {
        if (previous === undefined) Deno.env.delete("BITLOAD_CACHE_DIR");
        else Deno.env.set("BITLOAD_CACHE_DIR", previous);
      }
      await store({ ...fast, measuredAt: new Date(Date.now() - MAX_AGE_MS - 1000).toISOString() });
      assert.equal((await run()).bandwidthSource, "measured");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("bench --only decode selects the decode group alone", () => {
  assert.deepEqual(selectBenches("decode").map((b) => b.id), ["decode"]);
});

Deno.test("hypervisor steal: the share of /proc/stat's cpu line between two readings", () => {
  // two readings of a 2-vCPU guest 8 s apart (100 ticks/s: 1600 ticks of CPU time), 200 stolen;
  // the per-CPU lines and the guest columns (already inside user/nice) must not count
  const at = (user: number, idle: number, steal: number) =>
    `cpu  ${user} 2301043 291661 ${idle} 5217 0 1520 ${steal} 777 0\n` +
    `cpu0 306641 1150156 145327 217811 1094 0 247 48358 0 0\nintr 123 4 5\nctxt 99\n`;
  const a = parseCpuTimes(at(636978, 406515, 96705))!;
  assert.deepEqual(a, {
    steal: 96705,
    total: 636978 + 2301043 + 291661 + 406515 + 5217 + 0 + 1520 + 96705,
  });
  const b = parseCpuTimes(at(636978 + 1100, 406515 + 300, 96705 + 200))!;
  assert.equal(stealShare(a, b), 200 / 1600);
  assert.equal(stealShare(a, a), 0, "no tick passed: no steal seen");
  assert.equal(stealShare(null, b), null);
  assert.equal(parseCpuTimes("cpu0 1 2 3 4 5 6 7 8\n"), null, "no aggregate line");
  assert.equal(parseCpuTimes("cpu  1 2 3 4 5 6 7\n"), null, "no steal field");
  assert.equal(stealNote(0.125), "; hypervisor steal 13 %");
  assert.equal(stealNote(0.009), "");
  assert.equal(stealNote(null), "");
  // /proc/self/stat: utime and stime are fields 14 and 15, after a name that may hold ") "
  const stat = "4242 (deno (x) y) S 1 4242 4242 0 -1 4194560 9 0 0 0 1234 56 0 0 20 0 4 0 7";
  assert.equal(parseProcessCpuSeconds(stat), 12.9);
  assert.equal(parseProcessCpuSeconds("garbage"), null);
});

Deno.test({
  name: "readBandwidth: fresh measures, otherwise this process's figure is reused",
  ignore: noNative,
  fn() {
    const span = new Uint8Array(4 << 20).fill(3);
    const first = readBandwidth(span, 1, { fresh: true, store: false });
    assert.equal(first.source, "measured");
    assert.ok(first.bytesPerSecond > 0);
    const reused = readBandwidth(span, 1);
    assert.equal(reused.source, "cached");
    assert.equal(reused.measuredAt, first.measuredAt);
    assert.equal(readBandwidth(span, 1, { fresh: true, store: false }).source, "measured");
    assert.equal(readBandwidth(new Uint8Array(0), 1).bytesPerSecond, 0);
  },
});

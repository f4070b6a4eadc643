/**
 * The same-run engine comparison (`bench/engines.ts`): on the tiny shape bitload and libllama
 * (TQ2_0) are timed, a peer whose oracle folder is absent is reported as not run with the reason,
 * and the ratios, the markdown tables and the bench metrics are computed from the samples
 * measured (checked against the samples themselves). The table arithmetic is also checked on
 * hand-made results, and llama-bench's JSON parsing on its real output format.
 */

import assert from "node:assert/strict";
import { runEngines } from "../bench/engines.ts";
import {
  engineMarkdown,
  engineMetrics,
  engineRatios,
  type EngineResults,
  rangeStat,
} from "../bench/engines_table.ts";
import { parseLlamaBenchJson } from "../bench/engines_drivers.ts";
import { parseBenchReport } from "../src/bench/report.ts";
import { llamaEvalSkipReason, openLlamaEval } from "./reference/llama_eval.ts";

const noLlama = openLlamaEval() === null;
if (noLlama) console.warn(`skipping the libllama comparison: ${llamaEvalSkipReason()}`);

Deno.test({
  name: "engines: tiny shape, bitload vs libllama in the same run; an absent peer is not run",
  ignore: noLlama,
  async fn() {
    const r = await runEngines({
      shape: "tiny",
      threads: [1],
      reps: 2,
      tests: ["pp32", "tg32"],
      engines: ["bitnet.cpp", "libllama"],
      oracles: "/nonexistent-oracles",
    });
    assert.deepEqual(r.engines.map((e) => e.id), ["bitload", "bitnet.cpp", "libllama"]);
    const missing = r.engines.find((e) => e.id === "bitnet.cpp")!;
    assert.match(missing.notRun ?? "", /bitnet\.cpp oracle is absent.*nonexistent-oracles/);
    for (const id of ["bitload", "libllama"]) {
      for (const test of ["pp32", "tg32"]) {
        const cell = r.cells.find((c) => c.engine === id && c.test === test)!;
        assert.equal(cell.samples.length, 2, `${id} ${test}`);
        assert.ok(cell.samples.every((v) => Number.isFinite(v) && v > 0), `${id} ${test}`);
      }
    }
    assert.ok(!r.cells.some((c) => c.engine === "bitnet.cpp"));

    const ratios = engineRatios(r);
    for (const test of ["pp32", "tg32"] as const) {
      const ours = rangeStat(
        r.cells.find((c) => c.engine === "bitload" && c.test === test)!.samples,
      )!;
      const theirs = rangeStat(
        r.cells.find((c) => c.engine === "libllama" && c.test === test)!.samples,
      )!;
      const peer = ratios.find((x) => x.peer === "libllama" && x.test === test)!;
      assert.equal(peer.ratio, ours.median / theirs.median);
      assert.deepEqual(peer.range, [ours.min / theirs.max, ours.max / theirs.min]);
      const fastest = ratios.find((x) => x.peer === "fastest" && x.test === test)!;
      assert.equal(fastest.fastest, "libllama"); // the only peer that ran
      assert.equal(fastest.ratio, peer.ratio);
    }

    const md = engineMarkdown(r);
    assert.match(md, /^tiny shape \(2 layers, dim 512, FFN 1536, 8\/4 heads, vocab 1024\)/);
    assert.match(md, /\| \*\*bitload I2_S\*\* \| 1 \| [\d.]+ \([\d.]+–[\d.]+\) \|/);
    assert.match(md, /\nMeasured \d{4}-\d\d-\d\dT.* on .+, \d+ hardware threads/);
    assert.match(md, /\| libllama TQ2_0 \| 1 \| /);
    assert.match(md, /\| \*\*fastest peer\*\* \| 1 \| [\d.]+× \([\d.]+–[\d.]+\) libllama TQ2_0 \|/);
    assert.match(md, /- bitnet\.cpp I2_S: not run: the bitnet\.cpp oracle is absent/);
    assert.doesNotMatch(md, /\| bitnet\.cpp I2_S \| 1 \|/);

    const metrics = engineMetrics(r);
    assert.deepEqual(metrics.map((m) => m.id), ["engines.tiny.t1.pp32", "engines.tiny.t1.tg32"]);
    for (const m of metrics) {
      const test = m.id.split(".").at(-1)!;
      const x = ratios.find((y) => y.peer === "fastest" && y.test === test)!;
      assert.equal(m.value, x.bitload);
      assert.deepEqual(m.peer, { name: "libllama TQ2_0", value: x.peerValue, advantage: x.ratio });
    }
    parseBenchReport({
      version: 1,
      date: new Date().toISOString(),
      size: "small",
      machine: {
        cpu: "x",
        cores: 2,
        simd: "avx2",
        memoryBytes: 1,
        memcpyBytesPerSec: 1,
        readBytesPerSec: 1,
        deno: Deno.version.deno,
        target: Deno.build.target,
      },
      metrics,
    });
  },
});

Deno.test({
  name:
    "engines: a peer that dies of SIGILL (a CPU without its instructions) is reported, not fatal",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const oracles = await Deno.makeTempDir({ prefix: "bitload-fake-oracles-" });
    try {
      // what a binary built for a wider CPU does on this one: die of SIGILL
      const bin = `${oracles}/bitnet.cpp/bin/llama-bench`;
      await Deno.mkdir(`${oracles}/bitnet.cpp/bin`, { recursive: true });
      await Deno.writeTextFile(bin, "#!/bin/sh\nkill -ILL $$\n");
      await Deno.chmod(bin, 0o755);
      const r = await runEngines({
        shape: "tiny",
        threads: [1],
        reps: 2,
        tests: ["pp32"],
        engines: ["bitnet.cpp"],
        oracles,
      });
      const peer = r.engines.find((e) => e.id === "bitnet.cpp")!;
      assert.match(peer.notRun ?? "", /SIGILL: this CPU lacks an instruction the build uses/);
      const ours = r.cells.find((c) => c.engine === "bitload" && c.test === "pp32")!;
      assert.equal(ours.samples.length, 2); // bitload still ran both repetitions
      assert.match(engineMarkdown(r), /- bitnet\.cpp I2_S: not run: killed by SIGILL/);
    } finally {
      await Deno.remove(oracles, { recursive: true });
    }
  },
});

Deno.test("engines: ratios pick the fastest peer per column; skipped cells and engines are listed", () => {
  const r: EngineResults = {
    shape: "test shape",
    shapeId: "t",
    threads: [1, 2],
    tests: ["pp512", "tg32@pp512"],
    reps: 3,
    engines: [
      { id: "bitload", label: "bitload I2_S", peer: false },
      { id: "bitload-before", label: "bitload I2_S at abc1234", peer: false, baseline: true },
      { id: "a", label: "peer A", peer: true },
      { id: "b", label: "peer B", peer: true },
      { id: "c", label: "peer C", peer: true, notRun: "its folder is absent" },
    ],
    cells: [
      { engine: "bitload", threads: 1, test: "pp512", samples: [30, 40, 35] },
      { engine: "bitload-before", threads: 1, test: "pp512", samples: [100, 100, 100] },
      { engine: "a", threads: 1, test: "pp512", samples: [70, 60, 80] },
      { engine: "b", threads: 1, test: "pp512", samples: [50, 50, 50] },
      { engine: "bitload", threads: 1, test: "tg32@pp512", samples: [20, 18, 22] },
      { engine: "a", threads: 1, test: "tg32@pp512", samples: [10, 10, 10] },
      { engine: "b", threads: 1, test: "tg32@pp512", samples: [], skipped: "no -gp" },
      { engine: "bitload", threads: 2, test: "pp512", samples: [60] },
      { engine: "b", threads: 2, test: "pp512", samples: [120] },
    ],
  };
  const ratios = engineRatios(r);
  const find = (peer: string, t: number, test: string) =>
    ratios.find((x) => x.peer === peer && x.threads === t && x.test === test);
  assert.equal(find("a", 1, "pp512")!.ratio, 35 / 70);
  assert.deepEqual(find("a", 1, "pp512")!.range, [30 / 80, 40 / 60]);
  assert.equal(find("fastest", 1, "pp512")!.fastest, "a");
  assert.equal(find("fastest", 1, "tg32@pp512")!.fastest, "a");
  assert.equal(find("fastest", 1, "tg32@pp512")!.ratio, 2);
  assert.equal(find("b", 1, "tg32@pp512"), undefined);
  assert.equal(find("fastest", 2, "pp512")!.fastest, "b");
  assert.equal(find("fastest", 2, "pp512")!.ratio, 0.5);
  assert.equal(find("fastest", 2, "tg32@pp512"), undefined);
  assert.equal(ratios.filter((x) => x.peer === "c").length, 0);
  // the "before" row is a ratio (the speed-up), never the fastest peer
  assert.equal(find("bitload-before", 1, "pp512")!.ratio, 0.35);

  const md = engineMarkdown(r);
  assert.match(md, /\| peer A \| 1 \| 70\.0 \(60\.0–80\.0\) \| 10\.0 \(10\.0–10\.0\) \|/);
  assert.match(md, /\| peer B \| 1 \| 50\.0 \(50\.0–50\.0\) \| – \|/);
  assert.match(md, /\| \*\*bitload I2_S\*\* \| 2 \| 60\.0 \| – \|/);
  assert.match(md, /\| \*\*fastest peer\*\* \| 2 \| 0\.50× peer B \| – \|/);
  assert.match(md, /- peer C: not run: its folder is absent/);
  assert.match(md, /\| bitload I2_S at abc1234 \| 1 \| 100 \(100–100\) \| – \|/);
  assert.match(md, /\| bitload I2_S at abc1234 \| 1 \| 0\.35× \(0\.30–0\.40\) \| – \|/);
  assert.match(md, /- peer B, tg32 after pp512: not run: no -gp \(threads 1\)/);
  assert.doesNotMatch(md, /Measured/); // no machine given

  const metrics = engineMetrics(r);
  const m = metrics.find((x) => x.id === "engines.t.t2.tg32@pp512")!;
  assert.equal(m.skipped, "not measured");
  const p = metrics.find((x) => x.id === "engines.t.t1.pp512")!;
  assert.deepEqual(p.spread, [30, 40]);
  assert.deepEqual(p.peer, { name: "peer A", value: 70, advantage: 0.5 });
});

Deno.test("engines: llama-bench JSON (ik's -gp is generation after the prompt, -pg is not)", () => {
  const json = `[
    {"n_prompt": 32, "n_gen": 0, "avg_ts": 40, "samples_ts": [41.5]},
    {"n_prompt": 512, "n_gen": 0, "samples_ts": [38.25, 39]},
    {"n_prompt": 0, "n_gen": 32, "samples_ts": [7.5]},
    {"n_prompt": 512, "n_gen": 32, "samples_ts": [6.5]},
    {"n_prompt": 128, "n_gen": 0, "samples_ts": [1]}
  ]`;
  assert.deepEqual(parseLlamaBenchJson("log line\n" + json, true), {
    pp32: [41.5],
    pp512: [38.25, 39],
    tg32: [7.5],
    "tg32@pp512": [6.5],
  });
  assert.equal(parseLlamaBenchJson(json, false)["tg32@pp512"], undefined);
  assert.throws(() => parseLlamaBenchJson("error: bad model", true), /no JSON array/);
});

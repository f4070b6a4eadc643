import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type BenchReport,
  compareReports,
  gateReports,
  type MachineInfo,
  type Metric,
  parseBenchReport,
  PerfMonitor,
  summarize,
} from "../src/bench/mod.ts";
import { runCli } from "./support/cli.ts";
import { fileURLToPath } from "node:url";
import { kv, splitPartPath, writeGguf } from "../src/gguf/mod.ts";
import { nativeCacheDir } from "../ffi/c_build.ts";

const machine: MachineInfo = {
  cpu: "Test CPU",
  cores: 2,
  simd: "avx512",
  memoryBytes: 24 * 2 ** 30,
  memcpyBytesPerSec: 16 * 2 ** 30,
  readBytesPerSec: 20 * 2 ** 30,
  deno: "2.9.6",
  target: "x86_64-unknown-linux-gnu",
};

function report(metrics: Metric[], m: MachineInfo = machine): BenchReport {
  return { version: 1, date: "2026-11-25T00:00:00.000Z", size: "small", machine: m, metrics };
}

const loadMs = (value: number, advantage = 2): Metric => ({
  id: "load.mmap.ms",
  label: "mmap load",
  unit: "ms",
  kind: "time",
  better: "lower",
  value,
  peer: { name: "plain read", value: value * advantage, advantage },
});
const multiplier = (value: number): Metric => ({
  id: "load.mmap.multiplier",
  label: "multiplier",
  unit: "×",
  kind: "memory",
  better: "lower",
  value,
});
const gibps = (value: number, share: number): Metric => ({
  id: "dequant.Q4_K.gibps",
  label: "Q4_K",
  unit: "GiB/s",
  kind: "throughput",
  better: "higher",
  value,
  ceilingShare: share,
});

Deno.test("summarize drops outliers and reports the spread", () => {
  const s = summarize([10, 11, 10, 12, 10, 95]);
  assert.equal(s.samples, 6);
  assert.equal(s.outliers, 1);
  assert.equal(s.medianMs, 10);
  assert.equal(s.minMs, 10);
  assert.ok(s.p90Ms <= 12);
  assert.equal(summarize([5, 5, 5]).outliers, 0, "zero MAD keeps everything");
});

Deno.test("regression tester on the same machine compares the figures", async (t) => {
  const base = report([loadMs(100), multiplier(1.0), gibps(50, 3)]);
  await t.step("within thresholds: ok", () => {
    const r = compareReports(base, report([loadMs(105), multiplier(1.1), gibps(48, 2.9)]));
    assert.equal(r.ok, true);
    assert.equal(r.sameMachine, true);
    assert.deepEqual(r.metrics.map((m) => m.status), ["ok", "ok", "ok"]);
    assert.ok(r.metrics.every((m) => m.basis === "absolute"));
  });
  await t.step("load time +11 % regresses (threshold 10 %)", () => {
    const r = compareReports(base, report([loadMs(111), multiplier(1.0), gibps(50, 3)]));
    assert.equal(r.ok, false);
    assert.equal(r.metrics[0].status, "regressed");
    assert.ok(Math.abs(r.metrics[0].worsening! - 0.11) < 1e-9);
  });
  await t.step("memory +14 % is ok, +16 % regresses (threshold 15 %)", () => {
    assert.equal(
      compareReports(base, report([loadMs(100), multiplier(1.14), gibps(50, 3)])).ok,
      true,
    );
    const r = compareReports(base, report([loadMs(100), multiplier(1.16), gibps(50, 3)]));
    assert.equal(r.metrics[1].status, "regressed");
  });
  await t.step("throughput -6 % regresses (threshold 5 %), +30 % improves", () => {
    assert.equal(
      compareReports(base, report([loadMs(100), multiplier(1), gibps(47, 3)])).ok,
      false,
    );
    assert.equal(
      compareReports(base, report([loadMs(100), multiplier(1), gibps(44, 3)])).ok,
      false,
    );
    const r = compareReports(base, report([loadMs(100), multiplier(1), gibps(65, 3)]));
    assert.equal(r.metrics[2].status, "improved");
  });
  await t.step("a metric missing now, and a new one", () => {
    const r = compareReports(
      base,
      report([loadMs(100), gibps(50, 3), { ...multiplier(1), id: "x.new" }]),
    );
    assert.deepEqual(r.metrics.map((m) => [m.id, m.status]), [
      ["load.mmap.ms", "ok"],
      ["load.mmap.multiplier", "missing"],
      ["dequant.Q4_K.gibps", "ok"],
      ["x.new", "new"],
    ]);
    assert.equal(r.ok, true, "missing and new metrics do not fail the check");
  });
  await t.step("custom thresholds", () => {
    const r = compareReports(base, report([loadMs(104), multiplier(1), gibps(50, 3)]), {
      time: 0.03,
      memory: 0.15,
      throughput: 0.1,
      ratio: 0.1,
    });
    assert.equal(r.metrics[0].status, "regressed");
  });
});

Deno.test("regression gate: noise inside the spread, a regression, a re-measurement that clears it", async (t) => {
  const spread = (m: Metric, lo: number, hi: number): Metric => ({ ...m, spread: [lo, hi] });
  const base = report([spread(loadMs(100), 95, 106)]);
  await t.step("+12 % inside both runs' spread is noise, not a failure", () => {
    const r = compareReports(base, report([spread(loadMs(112), 104, 125)]));
    assert.equal(r.ok, true);
    assert.equal(r.metrics[0].status, "noise");
    assert.match(r.metrics[0].note!, /run-to-run spread/);
  });
  await t.step("+12 % with the spreads apart regresses", () => {
    const r = compareReports(base, report([spread(loadMs(112), 110, 115)]));
    assert.equal(r.ok, false);
    assert.equal(r.metrics[0].status, "regressed");
  });
  await t.step(
    "a suspected regression is re-measured: cleared when the second run is fine",
    async () => {
      const asked: string[][] = [];
      const r = await gateReports(base, report([spread(loadMs(130), 128, 133)]), {
        remeasure: (ids) => {
          asked.push(ids);
          return Promise.resolve([spread(loadMs(101), 99, 104)]);
        },
      });
      assert.deepEqual(asked, [["load.mmap.ms"]]);
      assert.equal(r.ok, true);
      assert.equal(r.metrics[0].status, "ok");
      assert.equal(r.metrics[0].firstRun, 130);
      assert.match(r.metrics[0].note!, /cleared by re-measurement \(first run 130\.0\)/);
    },
  );
  await t.step("… and fails when the second run confirms it", async () => {
    const r = await gateReports(base, report([spread(loadMs(130), 128, 133)]), {
      remeasure: () => Promise.resolve([spread(loadMs(129), 127, 131)]),
    });
    assert.equal(r.ok, false);
    assert.equal(r.metrics[0].status, "regressed");
    assert.equal(r.metrics[0].note, "confirmed by re-measurement");
  });
  await t.step("nothing suspected: no re-measurement", async () => {
    const r = await gateReports(base, report([spread(loadMs(101), 97, 105)]), {
      remeasure: () => Promise.reject(new Error("must not be called")),
    });
    assert.equal(r.ok, true);
  });
});

Deno.test("regression tester across machines compares ratios, not absolute figures", () => {
  const other = { ...machine, cpu: "Slower CPU" };
  const base = report([loadMs(100, 2), multiplier(1.0), gibps(50, 3)]);
  // Everything is twice as slow in absolute terms, but the advantage over the in-run peer and the
  // share of the memcpy ceiling are unchanged: no regression.
  const slow = compareReports(base, report([loadMs(200, 2), multiplier(1.0), gibps(25, 3)], other));
  assert.equal(slow.sameMachine, false);
  assert.equal(slow.ok, true);
  assert.deepEqual(slow.metrics.map((m) => m.basis), ["peer-ratio", "none", "ceiling-share"]);
  assert.equal(
    slow.metrics[1].status,
    "skipped",
    "a memory figure without a peer is not comparable",
  );
  const worse = compareReports(
    base,
    report([loadMs(100, 1.5), multiplier(1.0), gibps(50, 2)], other),
  );
  assert.deepEqual(worse.metrics.map((m) => m.status), ["regressed", "skipped", "regressed"]);
});

Deno.test("the report schema refuses malformed reports", () => {
  const good = report([loadMs(100)]);
  assert.deepEqual(parseBenchReport(JSON.parse(JSON.stringify(good))), good);
  assert.throws(
    () => parseBenchReport({ ...good, version: 2 }),
    /Not a bitload benchmark report: version/,
  );
  assert.throws(
    () => parseBenchReport({ ...good, metrics: [{ ...loadMs(1), kind: "speed" }] }),
    /metrics\.0\.kind/,
  );
});

Deno.test("PerfMonitor records spans, totals and alerts", () => {
  const monitor = new PerfMonitor({ minBytesPerSec: { batch: 1e18 }, maxMemoryBytes: 100 });
  const seen: string[] = [];
  monitor.addEventListener("alert", (e) => seen.push((e as CustomEvent).detail.kind));
  monitor.record("batch 0", 0, 10, 1000);
  monitor.record("batch 0", 20, 30, 1000);
  monitor.record("parse", 0, 5);
  monitor.checkMemory("rss", 50);
  monitor.checkMemory("rss", 150);
  assert.equal(monitor.spans.length, 3);
  assert.equal(monitor.spans[0].bytesPerSec, 100_000);
  const totals = monitor.totals();
  assert.deepEqual(totals.map((s) => [s.name, s.durationMs, s.bytes]), [["batch 0", 20, 2000], [
    "parse",
    5,
    0,
  ]]);
  assert.deepEqual(seen, ["throughput", "throughput", "memory"]);
  assert.match(monitor.alerts[2].message, /above the/);
  const end = monitor.start("x", 10);
  assert.equal(end().name, "x");
});

Deno.test("bitload bench smoke: JSON report, save and compare (no timing assertions)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const saved = join(dir, "baseline.json");
    const r = await runCli(["bench", "--only", "^load$", "--json", "--save", saved]);
    assert.equal(r.code, 0, r.stderr);
    const rep = parseBenchReport(JSON.parse(r.stdout));
    assert.ok(rep.metrics.some((m) => m.id === "load.mmap.ms"));
    assert.deepEqual(
      parseBenchReport(JSON.parse(await Deno.readTextFile(saved))).metrics.map((m) => m.id),
      rep.metrics.map((m) => m.id),
    );
    // A baseline 100× faster than anything real: the comparison must fail with exit 1.
    const doctored = {
      ...rep,
      metrics: rep.metrics.map((m) =>
        m.id === "load.mmap.ms"
          ? { ...m, value: m.value / 100, spread: m.spread!.map((x) => x / 100) }
          : m
      ),
    };
    await Deno.writeTextFile(join(dir, "fast.json"), JSON.stringify(doctored));
    const c = await runCli(["bench", "--only", "^load$", "--compare", join(dir, "fast.json")]);
    assert.equal(c.code, 1, c.stdout + c.stderr);
    assert.match(c.stdout, /REGRESSED/);
    assert.match(c.stdout, /REGRESSED \(confirmed/, "measured again before failing");
    const usage = await runCli(["bench", "--size", "huge"]);
    assert.equal(usage.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bitload bench --model: the user's model, only ever read (mtime and bytes unchanged)", async () => {
  const dir = await Deno.makeTempDir();
  const scratch = await Deno.makeTempDir();
  try {
    // a split model (two parts): cat and dd read every part, and neither part is ever written
    const data = new Uint8Array(1 << 20).map((_, i) => (i * 2654435761) >>> 24);
    const parts = [0, 1].map((i) => splitPartPath(join(dir, "model"), i, 2));
    for (const [i, part] of parts.entries()) {
      const split = [
        kv.u16("split.no", i),
        kv.u16("split.count", 2),
        kv.i32("split.tensors.count", 2),
      ];
      await writeGguf(
        part,
        i === 0 ? [kv.string("general.architecture", "llama"), ...split] : split,
        [{ name: `${"ab"[i]}.weight`, type: "F32", dims: [512, 512], data }],
      );
      await Deno.chmod(part, 0o444);
    }
    const model = parts[0];
    const before = await Promise.all(parts.map((p) => Deno.stat(p)));
    const bytes = await Promise.all(parts.map((p) => Deno.readFile(p)));
    // Writes allowed only in the bench's own temp dir and the native build cache: opening the
    // model for writing (even to fsync it, as root, where 0444 does not stop a write) would fail.
    const cache = nativeCacheDir();
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        `--allow-write=${[scratch, ...(cache ? [cache] : [])].join(",")}`,
        "--allow-env",
        "--allow-ffi",
        "--allow-run",
        fileURLToPath(new URL("../src/cli/main.ts", import.meta.url)),
        "bench",
        "--only",
        "load",
        "--model",
        model,
        "--json",
      ],
      env: { NO_COLOR: "1", TMPDIR: scratch },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 0, stderr);
    const rep = parseBenchReport(JSON.parse(new TextDecoder().decode(r.stdout)));
    const ids = rep.metrics.map((m) => m.id);
    for (const id of ["load.model.vs_cat", "load.model.cold.vs_dd", "load.model.pmd_share"]) {
      assert.ok(ids.includes(id), `${id} in ${ids}`);
    }
    assert.ok(!ids.includes("load.mmap.ms"), "no generated file with --model");
    const warm = rep.metrics.find((m) => m.id === "load.model.vs_cat")!;
    assert.ok(warm.skipped || (warm.value > 0 && warm.peer!.name.startsWith("cat")));
    const cold = rep.metrics.find((m) => m.id === "load.model.cold.vs_dd")!;
    assert.ok(cold.skipped || cold.value > 0, JSON.stringify(cold));
    const pmd = rep.metrics.find((m) => m.id === "load.model.pmd_share")!;
    assert.ok(pmd.skipped || (pmd.value >= 0 && pmd.value <= 1), JSON.stringify(pmd));
    for (const [i, part] of parts.entries()) {
      const after = await Deno.stat(part);
      assert.equal(after.mtime?.getTime(), before[i].mtime?.getTime(), "mtime unchanged");
      assert.deepEqual(await Deno.readFile(part), bytes[i], "bytes unchanged");
    }
    // --model needs the load group; a missing model fails before anything is measured
    const other = await runCli(["bench", "--only", "plan", "--model", model]);
    assert.equal(other.code, 2, other.stderr);
    assert.match(other.stderr, /load group/);
    const gone = await runCli(["bench", "--only", "load", "--model", join(dir, "none.gguf")]);
    assert.equal(gone.code, 1, gone.stderr);
    assert.match(gone.stderr, /none\.gguf/);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(scratch, { recursive: true });
  }
});

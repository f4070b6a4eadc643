import assert from "node:assert/strict";
import { LoadError } from "../src/load/errors.ts";
import { join } from "node:path";
import {
  ClosedError,
  dequantizeToNew,
  InsufficientMemoryError,
  type LoadProgress,
  openGguf,
} from "../mod.ts";
import { kv, openGgufModel, splitPartPath, writeGguf } from "../src/gguf/mod.ts";
import {
  buildLoadPlan,
  evaluateMemory,
  mapFile,
  memoryLimitFor,
  ProgressiveLoader,
} from "../src/load/mod.ts";
import { bitnetModelParts, synthesizeBitnetModel } from "../src/synth/mod.ts";
import { loadModel } from "../src/load/loader.ts";
import { runCli } from "./support/cli.ts";
import { PerfMonitor } from "../src/common/perf_monitor.ts";
import { cString, LINUX, openLibc } from "../ffi/libc.ts";

const dir = await Deno.makeTempDir({ prefix: "bitload-load-test-" });
const small = join(dir, "small.gguf");
await synthesizeBitnetModel(small, { layers: 6, vocab: 512 });

/** Whether this process currently maps `path` (from /proc/self/maps). */
function isMapped(path: string): boolean {
  return Deno.readTextFileSync("/proc/self/maps").includes(path);
}

Deno.test("load plan: critical tensors first, then layers in batches, then the rest", async () => {
  const model = await openGgufModel(small);
  const plan = buildLoadPlan(model, { batchLayers: 4 });
  assert.deepEqual(plan.batches.map((b) => b.kind), ["critical", "layers", "layers"]);
  assert.deepEqual(plan.batches[0].tensors.sort(), ["output_norm.weight", "token_embd.weight"]);
  assert.deepEqual(plan.batches[1].layers, [0, 3]);
  assert.deepEqual(plan.batches[2].layers, [4, 5]);
  const sum = model.tensors.reduce((a, t) => a + t.byteSize, 0);
  assert.equal(plan.totalBytes, sum);
  assert.equal(plan.batches.at(-1)!.bytesAfter, sum);
  assert.equal(plan.batches.reduce((a, b) => a + b.tensors.length, 0), model.tensors.length);
  assert.deepEqual(JSON.parse(JSON.stringify(plan)), plan, "plain, serialisable data");
  assert.throws(() => buildLoadPlan(model, { batchLayers: 0 }), LoadError);
});

Deno.test("mapped and read loads give identical tensor bytes, equal to the file", async () => {
  const file = await Deno.readFile(small);
  using mapped = await loadModel(small, { progressive: true, batchLayers: 2 });
  using read = await loadModel(small, { mmap: false, progressive: true, batchLayers: 2 });
  assert.equal(mapped.mapped, true);
  assert.equal(read.mapped, false);
  assert.equal(mapped.report.zeroCopyTensors, mapped.model.tensors.length);
  assert.equal(read.report.copiedTensors, read.model.tensors.length);
  for (const t of mapped.model.tensors) {
    const expected = file.subarray(t.fileOffset, t.fileOffset + t.byteSize);
    assert.deepEqual(mapped.tensorData(t.name), expected, t.name);
    assert.deepEqual(read.tensorData(t.name), expected, t.name);
  }
});

Deno.test("zero-copy: a 64 MiB model costs file-backed pages, not anonymous memory", async () => {
  const path = join(dir, "big.gguf");
  await synthesizeBitnetModel(path, {
    layers: 2,
    dim: 2048,
    ffn: 5632,
    heads: 16,
    kvHeads: 4,
    vocab: 8192,
  });
  // Measured in a fresh process so nothing else in this test run moves the numbers.
  const r = await runCli(["load", path, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.mapped, true);
  assert.ok(report.fileBytes > 40 * 1024 * 1024);
  assert.ok(report.anonBytes < 0.05 * report.fileBytes, `anonymous ${report.anonBytes}`);
  assert.ok(
    report.fileBackedBytes > 0.9 * report.fileBytes,
    `file-backed ${report.fileBackedBytes}`,
  );
  assert.ok(report.multiplier <= 1.05, `multiplier ${report.multiplier}`);
  // the page-table state: found in smaps for the mapping (Linux), a share of it
  assert.equal(typeof report.pmdMappedShare, "number", `pmdMappedShare ${report.pmdMappedShare}`);
  assert.ok(report.pmdMappedShare >= 0 && report.pmdMappedShare <= 1);
  const plan = await runCli(["plan", path, "--json"]);
  await Deno.writeTextFile(join(dir, "plan.json"), plan.stdout);
  const withPlan = await runCli(["load", path, "--plan", join(dir, "plan.json")]);
  const gap = /planned vs measured: cpu weights .* \((-?[\d.]+) %\)/.exec(withPlan.stdout);
  assert.ok(gap, withPlan.stdout + withPlan.stderr);
  assert.ok(Math.abs(Number(gap[1])) < 5, `planned vs measured differ by ${gap[1]} %`);
  const copy = JSON.parse((await runCli(["load", path, "--json", "--no-mmap"])).stdout);
  assert.ok(
    copy.anonBytes > 0.9 * copy.fileBytes,
    "the copy path holds the data in anonymous memory",
  );
  assert.equal(copy.pmdMappedShare, null, "no mapping, no page-table share");
  {
    // in process: at most the resident share, from the mapping's own smaps entry; null once closed
    const loaded = await loadModel(path);
    const share = loaded.pmdMappedShare();
    assert.ok(share !== null && share >= 0, `share ${share}`);
    const size = (await Deno.stat(path)).size;
    assert.ok(share * size <= loaded.report.fileBackedBytes + 4 * 1024 * 1024);
    loaded.close();
    assert.equal(loaded.pmdMappedShare(), null);
  }
  const profiled = await runCli(["load", path, "--profile"]);
  assert.match(profiled.stdout, /page tables: [\d.]+ % of the mapping in 2 MiB entries/);
});

Deno.test("a cold file is read ahead during the parse, a warm one is not; same bytes", async () => {
  const path = join(dir, "cold.gguf");
  await Deno.copyFile(small, path);
  const bytes = await Deno.readFile(path);
  const libc = openLibc()!;
  const drop = () => {
    using f = Deno.openSync(path);
    f.syncSync();
    const fd = libc.open(cString(path), LINUX.O_RDONLY | LINUX.O_CLOEXEC);
    libc.posix_fadvise(fd, 0n, 0n, LINUX.POSIX_FADV_DONTNEED);
    libc.close(fd);
    using m = mapFile(path);
    return m.residentBytes(0) === 0; // false where the pages stay (tmpfs, another mapping)
  };
  const spans = async () => {
    const monitor = new PerfMonitor();
    using loaded = await loadModel(path, { monitor });
    for (const t of loaded.model.tensors) {
      assert.deepEqual(
        loaded.tensorData(t.name),
        bytes.subarray(t.fileOffset, t.fileOffset + t.byteSize),
        t.name,
      );
    }
    assert.ok(loaded.report.fileBackedBytes >= 0.9 * loaded.report.fileBytes, "all resident");
    return monitor.spans.filter((s) => s.name === "read-ahead");
  };
  if (drop()) {
    const cold = await spans();
    assert.equal(cold.length, 1, "one read-ahead span for the cold file");
    assert.equal(cold[0].bytes, bytes.length);
  }
  assert.equal((await spans()).length, 0, "a warm file is not read ahead");
  if (drop()) {
    // cancelled while the cold read runs: the load rejects, and the read's own mapping goes
    const controller = new AbortController();
    const loading = loadModel(path, { signal: controller.signal });
    controller.abort(new Error("stop"));
    await assert.rejects(loading, /stop/);
    for (let i = 0; i < 100 && isMapped(path); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(isMapped(path), false, "no mapping left behind");
  }
  // an opened model without readAhead has none either (inspect, plan: metadata only)
  drop();
  using model = await openGguf(path);
  assert.equal(model.file.readAhead.length, 0);
});

Deno.test("a write through a view stays private: the file is untouched", () => {
  const before = Deno.readFileSync(small);
  using m = mapFile(small);
  const v = m.view(0, 8);
  v[0] = 0x58; // copy-on-write page
  assert.equal(v[0], 0x58);
  assert.deepEqual(Deno.readFileSync(small), before);
});

Deno.test("use after close throws instead of touching unmapped memory", async () => {
  const loaded = await loadModel(small);
  const view = loaded.tensorData("blk.0.attn_q.weight");
  assert.ok(view.length > 0);
  loaded.close();
  assert.equal(isMapped(small), false, "unmapped");
  assert.equal(view.length, 0, "the held view is detached");
  assert.equal(view[0], undefined);
  assert.throws(() => view.subarray(0, 1), TypeError);
  assert.throws(() => loaded.tensorData("blk.0.attn_q.weight"), /was closed/);
  assert.throws(() => dequantizeToNew("I2_S", view, 256 * 256), /bytes|detached/);
  const m = mapFile(small);
  m.close();
  assert.throws(() => m.view(0, 4), ClosedError);
  m.close(); // twice is fine
});

Deno.test("openGguf with options gives zero-copy tensor data", async () => {
  using model = await openGguf(small, { mmap: true });
  assert.equal(model.mapped, true);
  const t = model.tensors[1];
  const bytes = await Deno.readFile(small);
  assert.deepEqual(
    model.tensorData(t.name),
    bytes.subarray(t.fileOffset, t.fileOffset + t.byteSize),
  );
  using copy = await openGguf(small, { mmap: false });
  assert.equal(copy.mapped, false);
  assert.deepEqual(copy.tensorData(t.name), model.tensorData(t.name));
});

Deno.test("progress events arrive in order, as a callback and as an async iterable", async () => {
  const seen: LoadProgress[] = [];
  const loader = new ProgressiveLoader(small, {
    progressive: true,
    batchLayers: 2,
    onProgress: (e) => seen.push(e),
  });
  const iterated: LoadProgress[] = [];
  const done = loader.load();
  for await (const e of loader.events()) iterated.push(e);
  using loaded = await done;
  assert.deepEqual(iterated, seen);
  assert.equal(seen[0].phase, "open");
  assert.equal(seen.at(-1)!.phase, "done");
  assert.equal(seen.at(-1)!.bytesDone, loaded.plan.totalBytes);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i].bytesDone >= seen[i - 1].bytesDone);
  assert.equal(seen.filter((e) => e.phase === "tensor").length, loaded.model.tensors.length);
  assert.equal(seen.filter((e) => e.phase === "batch").length, loaded.plan.batches.length);
});

Deno.test("cancelling mid-load releases the mapping; the file can be truncated and reopened", async () => {
  const path = join(dir, "cancel.gguf");
  await Deno.copyFile(small, path);
  const controller = new AbortController();
  let tensors = 0;
  await assert.rejects(
    loadModel(path, {
      progressive: true,
      batchLayers: 1,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.phase === "tensor" && ++tensors === 3) controller.abort(new Error("stop here"));
      },
    }),
    /stop here/,
  );
  assert.equal(isMapped(path), false, "mapping released");
  await Deno.truncate(path, 100);
  await Deno.copyFile(small, path);
  using again = await loadModel(path);
  assert.equal(again.model.tensors.length, 1 + 6 * 11 + 1);
});

Deno.test("memory pressure: the copy path fails early; the mapped path stops prefetching", async () => {
  const size = (await Deno.stat(small)).size;
  const e = await loadModel(small, { mmap: false, memoryBudgetBytes: size / 2 }).then(
    () => assert.fail("should not load"),
    (e) => e,
  );
  assert.ok(e instanceof InsufficientMemoryError, String(e));
  assert.ok(e.needed >= size && e.available === size / 2);
  assert.match(e.message, /short by/);
  using mapped = await loadModel(small, {
    memoryBudgetBytes: size / 2,
    progressive: true,
    batchLayers: 1,
  });
  assert.ok(mapped.warnings.some((w) => /prefetching stopped/.test(w)), mapped.warnings.join("; "));
  assert.equal(mapped.tensorData("output_norm.weight").length, 256 * 4, "still readable on demand");
});

Deno.test("split models: every part is mapped", async () => {
  const { metadata, tensors } = bitnetModelParts({ layers: 2, vocab: 300 });
  const prefix = join(dir, "split");
  const half = Math.ceil(tensors.length / 2);
  for (let i = 0; i < 2; i++) {
    const split = [
      kv.u16("split.no", i),
      kv.u16("split.count", 2),
      kv.i32("split.tensors.count", tensors.length),
    ];
    await writeGguf(
      splitPartPath(prefix, i, 2),
      i === 0 ? [...metadata, ...split] : split,
      tensors.slice(i * half, (i + 1) * half),
    );
  }
  using loaded = await loadModel(splitPartPath(prefix, 1, 2));
  assert.equal(loaded.model.parts.length, 2);
  const last = loaded.model.tensors.at(-1)!;
  assert.equal(last.part, 1);
  const bytes = await Deno.readFile(splitPartPath(prefix, 1, 2));
  assert.deepEqual(
    loaded.tensorData(last.name),
    bytes.subarray(last.fileOffset, last.fileOffset + last.byteSize),
  );
});

Deno.test("dequantize while loading gives the same values as dequantizing afterwards", async () => {
  using loaded = await loadModel(small, { dequant: "f32" });
  for (const t of loaded.model.tensors) {
    const expected = dequantizeToNew(t.type, loaded.tensorData(t.name), t.elementCount);
    assert.deepEqual(loaded.dequantized.get(t.name), expected, t.name);
  }
  assert.equal(loaded.report.copiedTensors, loaded.model.tensors.length);
});

Deno.test("dequantInto fills the caller's own arrays and rejects a wrong destination", async () => {
  const probe = await loadModel(small);
  const sizes = new Map(probe.model.tensors.map((t) => [t.name, t.elementCount]));
  probe.close();
  const own32 = new Map([...sizes].map(([name, n]) => [name, new Float32Array(n)]));
  {
    using loaded = await loadModel(small, {
      dequant: "f32",
      dequantInto: (t) => own32.get(t.name),
    });
    for (const t of loaded.model.tensors) {
      const mine = own32.get(t.name)!;
      assert.equal(loaded.dequantized.get(t.name), mine, `${t.name} is the caller's array`);
      assert.deepEqual(
        mine,
        dequantizeToNew(t.type, loaded.tensorData(t.name), t.elementCount),
        t.name,
      );
    }
  }
  const first = probe.model.tensors[0];
  const own16 = new Float16Array(first.elementCount);
  {
    using loaded = await loadModel(small, {
      dequant: "f16",
      dequantInto: (t) => t.name === first.name ? own16 : undefined,
    });
    assert.equal(loaded.dequantized.get(first.name), own16);
    const reference = Float16Array.from(
      dequantizeToNew(first.type, loaded.tensorData(first.name), first.elementCount),
    );
    assert.deepEqual(own16, reference);
    assert.ok(loaded.dequantized.get(probe.model.tensors[1].name) instanceof Float16Array);
  }
  await assert.rejects(
    loadModel(small, { dequant: "f32", dequantInto: () => new Float32Array(3) }),
    LoadError,
  );
  await assert.rejects(
    loadModel(small, {
      dequant: "f32",
      dequantInto: (t) => new Float16Array(t.elementCount) as unknown as Float32Array,
    }),
    /must return a Float32Array/,
  );
});

Deno.test("memory report limits follow the seed's size classes", () => {
  const GiB = 1024 ** 3;
  assert.equal(memoryLimitFor(GiB), 1.5);
  assert.equal(memoryLimitFor(5 * GiB), 1.3);
  assert.equal(memoryLimitFor(11 * GiB), 1.2);
  const MiB = 1024 * 1024;
  const m = (anon: number, file: number, size = 100 * MiB) =>
    evaluateMemory({
      fileBytes: size,
      mapped: true,
      zeroCopyTensors: 1,
      copiedTensors: 0,
      seconds: 1,
      before: { rss: 0, peakRss: 0, anon: 0, file: 0 },
      after: { rss: anon + file, peakRss: anon + file, anon, file },
    });
  assert.equal(m(0, 100 * MiB).ok, true);
  assert.equal(m(0, 100 * MiB).warnings.length, 0);
  assert.match(m(10 * MiB, 100 * MiB).warnings[0], /above 1.05/);
  assert.equal(m(60 * MiB, 100 * MiB).ok, false);
  const tiny = m(600, 100, 100);
  assert.equal(tiny.ok, true, "too small to judge");
  assert.match(tiny.warnings[0], /too small to judge/);
});

Deno.test("cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});

Deno.test("Ctrl-C during bitload load cancels cleanly: one line, exit 130", async () => {
  const dir2 = await Deno.makeTempDir({ prefix: "bitload-sigint-" });
  try {
    const path = join(dir2, "m.gguf");
    await synthesizeBitnetModel(path, {
      layers: 4,
      dim: 1024,
      ffn: 2816,
      heads: 8,
      kvHeads: 2,
      vocab: 4096,
    });
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../src/cli/main.ts", import.meta.url).pathname,
        "load",
        path,
        "--dequant",
        "f32",
        "--batch-layers",
        "1",
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // Wait until the model is mapped (the SIGINT listener is installed before that), then interrupt
    // while it is still dequantizing.
    const maps = `/proc/${child.pid}/maps`;
    for (let i = 0; i < 2000; i++) {
      if (Deno.readTextFileSync(maps).includes(path)) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill("SIGINT");
    const out = await child.output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 130, stderr);
    assert.equal(
      stderr,
      "bitload: cancelled (Ctrl-C); everything mapped or allocated was released\n",
    );
  } finally {
    await Deno.remove(dir2, { recursive: true });
  }
});

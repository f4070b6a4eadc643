import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  cudaDevices,
  detectDevices,
  loadDevices,
  parseDeviceSpec,
  parseMemInfo,
  readCgroupLimit,
  readNumaNodes,
} from "../src/plan/devices.ts";
import { parseDeviceFile } from "../src/plan/device_file.ts";
import { PlanError } from "../src/plan/errors.ts";
import { parseSize, SizeError } from "../src/common/size.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/cgroup/", import.meta.url));
const root = (name: string) => FIXTURES + name;
const GiB = 1024 ** 3;
const KiB = 1024;

Deno.test("parseSize() reads binary, decimal and bare units", () => {
  assert.equal(parseSize("24GiB"), 24 * GiB);
  assert.equal(parseSize("24G"), 24 * GiB);
  assert.equal(parseSize("1.5gib"), 1.5 * GiB);
  assert.equal(parseSize("512MiB"), 512 * 1024 ** 2);
  assert.equal(parseSize("8GB"), 8e9);
  assert.equal(parseSize("1TiB"), 1024 ** 4);
  assert.equal(parseSize("4096"), 4096);
  assert.equal(parseSize("1e9"), 1e9);
  assert.equal(parseSize("512 MiB"), 512 * 1024 ** 2);
  assert.equal(parseSize("1.5K"), 1536);
  for (const bad of ["", "GiB", "12 parsecs", "-1GiB", "0x10", "1e", "1.GiB"]) {
    assert.throws(
      () => parseSize(bad),
      (e: unknown) => e instanceof SizeError && e.code === "BAD_SIZE",
    );
  }
  assert.throws(
    () => parseSize("1e400"),
    (e: unknown) => e instanceof SizeError && e.code === "SIZE_TOO_LARGE",
  );
});

Deno.test("parseDeviceSpec() parses cpu, cuda and rpc devices", () => {
  const d = parseDeviceSpec("cpu:32GiB,cuda0:24GiB,cuda1:6GiB/8GiB,rpc:10.0.0.2:50052:16GiB");
  assert.deepEqual(d.map((x) => [x.name, x.kind, x.freeBytes, x.totalBytes, x.host]), [
    ["cpu", "cpu", 32 * GiB, 32 * GiB, undefined],
    ["cuda0", "cuda", 24 * GiB, 24 * GiB, undefined],
    ["cuda1", "cuda", 6 * GiB, 8 * GiB, undefined],
    ["rpc0", "rpc", 16 * GiB, 16 * GiB, "10.0.0.2:50052"],
  ]);
  assert.equal(parseDeviceSpec(" CUDA0:1GiB , ")[0].name, "cuda0");
});

Deno.test("parseDeviceSpec() names the bad entry in its PlanError", () => {
  const cases: [string, RegExp][] = [
    ["", /expected e\.g\. cpu:32GiB/],
    ["gpu0:8GiB", /unknown device "gpu0"/],
    ["cuda0", /expected NAME:SIZE/],
    ["cuda0:8 lots", /Invalid size "8 lots"/],
    ["cuda0:8GiB,cuda0:4GiB", /"cuda0" appears twice/],
    ["cpu:1GiB,cpu:2GiB", /"cpu" appears twice/],
    ["rpc:host:8GiB", /expected rpc:HOST:PORT:SIZE/],
    ["rpc:host:99999:8GiB", /port "99999" is invalid/],
    ["rpc::50052:8GiB", /the host is empty/],
    ["cuda0:9GiB/8GiB", /free exceeds total/],
  ];
  for (const [spec, message] of cases) {
    assert.throws(() => parseDeviceSpec(spec), (e: unknown) => {
      assert.ok(e instanceof PlanError && e.code === "BAD_DEVICE_SPEC", spec);
      assert.match(e.message, message, spec);
      return true;
    });
  }
});

Deno.test("parseDeviceFile() validates the JSON form with zod", async (t) => {
  await t.step("accepts an array and {devices}", () => {
    const list = [
      { name: "cpu", kind: "cpu", totalBytes: 64 * GiB, freeBytes: 48 * GiB },
      { name: "cuda0", kind: "cuda", totalBytes: 24 * GiB, freeBytes: 23 * GiB, bandwidth: 1e12 },
      { name: "box", kind: "rpc", totalBytes: GiB, freeBytes: GiB, host: "box.lan:50052" },
    ];
    const a = parseDeviceFile(JSON.stringify(list), "devices.json");
    assert.equal(a.length, 3);
    assert.equal(a[1].bandwidth, 1e12);
    assert.equal(a[2].host, "box.lan:50052");
    assert.equal(a[0].source, "devices.json");
    assert.deepEqual(parseDeviceFile(JSON.stringify({ devices: list })).map((d) => d.name), [
      "cpu",
      "cuda0",
      "box",
    ]);
  });
  await t.step("rejects bad files with every problem listed", () => {
    const cases: [unknown, RegExp][] = [
      [[{ name: "x", kind: "tpu", totalBytes: 1, freeBytes: 1 }], /kind/],
      [[{ name: "x", kind: "cuda", totalBytes: 1, freeBytes: 2 }], /freeBytes must not exceed/],
      [[{ name: "x", kind: "rpc", totalBytes: 1, freeBytes: 1 }], /rpc device needs host/],
      [[{ name: "x", kind: "cuda", totalBytes: -1, freeBytes: 0 }], /totalBytes/],
      [[{ name: "x", kind: "cuda", totalBytes: 1.5, freeBytes: 0 }], /totalBytes/],
      [[{ name: "x", kind: "cuda", totalBytes: 1, freeBytes: 0, extra: 1 }], /extra/],
      [[{ name: "x y", kind: "cuda", totalBytes: 1, freeBytes: 0 }], /device names/],
      [{ gpus: [] }, /Invalid/],
      [[
        { name: "a", kind: "cuda", totalBytes: 1, freeBytes: 1 },
        { name: "a", kind: "cuda", totalBytes: 1, freeBytes: 1 },
      ], /"a" appears twice/],
    ];
    for (const [json, message] of cases) {
      assert.throws(() => parseDeviceFile(JSON.stringify(json), "d.json"), message);
    }
    assert.throws(() => parseDeviceFile("{not json", "d.json"), /Cannot parse d\.json/);
  });
  await t.step("loadDevices() reads .json paths and specs", async () => {
    const dir = await Deno.makeTempDir({ prefix: "bitload-devices-" });
    const path = `${dir}/devices.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify([{ name: "cuda0", kind: "cuda", totalBytes: 100, freeBytes: 90 }]),
    );
    assert.equal((await loadDevices(path))[0].freeBytes, 90);
    assert.equal((await loadDevices("cuda3:1KiB"))[0].totalBytes, 1024);
    await Deno.remove(dir, { recursive: true });
  });
});

Deno.test("parseMemInfo() uses MemAvailable, or free + buffers + cached on old kernels", () => {
  assert.deepEqual(parseMemInfo("MemTotal: 100 kB\nMemFree: 10 kB\nMemAvailable: 60 kB\n"), {
    totalBytes: 100 * KiB,
    availableBytes: 60 * KiB,
  });
  assert.deepEqual(
    parseMemInfo(Deno.readTextFileSync(root("none/proc/meminfo"))),
    { totalBytes: 8 * GiB, availableBytes: (1 + 0.5 + 2) * GiB },
  );
  assert.throws(() => parseMemInfo("garbage"), /no MemTotal/);
});

Deno.test("readCgroupLimit() finds the tightest limit from fixture trees", async (t) => {
  await t.step("v2 nested: the leaf's 4 GiB, usage minus inactive_file", () => {
    assert.deepEqual(readCgroupLimit(root("v2")), {
      version: 2,
      limitBytes: 4 * GiB,
      usedBytes: 1.5 * GiB - 0.25 * GiB,
      file: "/sys/fs/cgroup/user.slice/app.scope/memory.max",
    });
  });
  await t.step("v2: a parent tighter than the leaf wins", () => {
    const c = readCgroupLimit(root("v2-parent"))!;
    assert.equal(c.limitBytes, 2 * GiB);
    assert.equal(c.usedBytes, GiB);
    assert.equal(c.file, "/sys/fs/cgroup/kubepods/pod1/memory.max");
  });
  await t.step("v2: max everywhere is no limit", () => {
    assert.equal(readCgroupLimit(root("v2-unlimited")), undefined);
  });
  await t.step("v2 container: namespaced / reads the mount root", () => {
    const c = readCgroupLimit(root("v2-container"))!;
    assert.equal(c.limitBytes, 3 * GiB);
    assert.equal(c.usedBytes, 2_900_000_000);
  });
  await t.step("v1 docker: memory.limit_in_bytes, the 2^63 root is unlimited", () => {
    assert.deepEqual(readCgroupLimit(root("v1")), {
      version: 1,
      limitBytes: 2 * GiB,
      usedBytes: 768 * 1024 ** 2 - 256 * 1024 ** 2,
      file: "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
    });
    assert.equal(readCgroupLimit(root("v1-unlimited")), undefined);
  });
  await t.step("no cgroup files at all", () => {
    assert.equal(readCgroupLimit(root("none")), undefined);
  });
});

Deno.test("readNumaNodes() lists nodes with their memory", () => {
  assert.deepEqual(readNumaNodes(root("v2")), [
    { id: 0, totalBytes: 16 * GiB, freeBytes: 8 * GiB },
    { id: 1, totalBytes: 16 * GiB, freeBytes: 4 * GiB },
  ]);
  assert.deepEqual(readNumaNodes(root("none")), []);
});

Deno.test("detectDevices() caps the CPU by the cgroup limit", async (t) => {
  await t.step("v2: total 4 GiB, free = limit − working set", () => {
    const [cpu, ...rest] = detectDevices({ root: root("v2") });
    assert.equal(rest.length, 0);
    assert.equal(cpu.name, "cpu");
    assert.equal(cpu.kind, "cpu");
    assert.equal(cpu.totalBytes, 4 * GiB);
    assert.equal(cpu.freeBytes, 4 * GiB - 1.25 * GiB);
    assert.equal(cpu.numaNodes?.length, 2);
    assert.match(cpu.source!, /cgroup v2 \/sys\/fs\/cgroup\/user\.slice\/app\.scope\/memory\.max/);
  });
  await t.step("v1: 2 GiB limit", () => {
    const [cpu] = detectDevices({ root: root("v1") });
    assert.equal(cpu.totalBytes, 2 * GiB);
    assert.equal(cpu.freeBytes, 1.5 * GiB);
  });
  await t.step("container nearly full: free is what the cgroup has left", () => {
    const [cpu] = detectDevices({ root: root("v2-container") });
    assert.equal(cpu.freeBytes, 3 * GiB - 2_900_000_000);
  });
  await t.step("no limit: /proc/meminfo as is", () => {
    const [cpu] = detectDevices({ root: root("v2-unlimited") });
    assert.equal(cpu.totalBytes, 32 * GiB);
    assert.equal(cpu.freeBytes, 20 * GiB);
    assert.equal(cpu.source, "/proc/meminfo");
  });
  await t.step("missing or broken /proc/meminfo is an error", () => {
    assert.throws(() => detectDevices({ root: root("does-not-exist") }), /Cannot read/);
    assert.throws(() => detectDevices({ root: root("broken") }), /no MemTotal/);
  });
  await t.step("this machine: a CPU with plausible numbers, no CUDA yet", () => {
    const [cpu] = detectDevices();
    assert.ok(cpu.totalBytes > 0 && cpu.freeBytes > 0 && cpu.freeBytes <= cpu.totalBytes);
    assert.deepEqual(cudaDevices(), []);
  });
});

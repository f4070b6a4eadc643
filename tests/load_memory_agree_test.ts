import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { kv, writeGguf } from "../src/gguf/writer.ts";
import { selectBenches } from "../src/bench/suite.ts";
import { loadModel } from "../src/load/loader.ts";
import { FileMapping } from "../src/load/mapping.ts";
import { mappedResidentBytes } from "../src/load/memory.ts";
import { runCli } from "./support/cli.ts";

const SUITE = fileURLToPath(new URL("../src/bench/suite.ts", import.meta.url));

Deno.test("--only load runs the load group and nothing else", () => {
  assert.deepEqual(selectBenches("load").map((b) => b.id), ["load"]);
  assert.deepEqual(selectBenches("load,plan").map((b) => b.id), ["load", "plan"]);
  assert.deepEqual(selectBenches("^(parse|plan)$").map((b) => b.id), ["parse", "plan"]);
});

Deno.test("bench's mapped-load multiplier and load's are one figure on the same file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-memagree-" });
  try {
    const path = join(dir, "m.gguf");
    const tensorBytes = 8 << 20;
    const data = new Uint8Array(tensorBytes).map((_, i) => (i * 2654435761) >>> 24);
    await writeGguf(
      path,
      [kv.string("general.architecture", "llama")],
      [0, 1, 2, 3].map((i) => ({
        name: `blk.${i}.ffn_up.weight`,
        type: "F32",
        dims: [1024, tensorBytes / 4 / 1024],
        data,
      })),
    );
    // The bench's measurement in a process whose all-time peak is far above the model (as after
    // the dequant group), with the CLI's permissions (no --allow-all: VmHWM cannot be reset).
    const script = `
      import { mappedLoadMemory } from ${JSON.stringify(SUITE)};
      let junk = new Uint8Array(256 << 20).fill(7);
      junk = new Uint8Array(0);
      (globalThis as unknown as { gc(): void }).gc();
      const r = await mappedLoadMemory(${JSON.stringify(path)});
      console.log(JSON.stringify({ multiplier: r.multiplier, measured: r.measured }));
    `;
    const file = join(dir, "measure.ts");
    await Deno.writeTextFile(file, script);
    const bench = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--v8-flags=--expose-gc",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-ffi",
        file,
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    assert.equal(bench.code, 0, text.decode(bench.stderr));
    const b = JSON.parse(text.decode(bench.stdout).trim().split("\n").at(-1)!);
    const cli = await runCli(["load", path, "--json"]);
    const l = JSON.parse(cli.stdout) as { multiplier: number; measured: boolean };
    if (!b.measured || !l.measured) return; // no /proc: nothing to compare
    // The data is 32 MiB: page rounding and the loader's own objects stay well under 5 %.
    assert.ok(
      Math.abs(b.multiplier - l.multiplier) < 0.05,
      `bench ${b.multiplier} vs load ${l.multiplier}`,
    );
    assert.ok(b.multiplier < 1.1 && b.multiplier > 0.95, `bench multiplier ${b.multiplier}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a mapped load leaves every page resident; mincore and smaps agree on it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-resident-" });
  try {
    const path = join(dir, "r.gguf");
    const data = new Uint8Array(3 << 20).map((_, i) => i & 255);
    await writeGguf(
      path,
      [kv.string("general.architecture", "llama")],
      [0, 1].map((i) => ({
        name: `blk.${i}.ffn_up.weight`,
        type: "I8",
        dims: [data.length],
        data,
      })),
    );
    using loaded = await loadModel(path);
    const [mapping] = loaded.model.data({ mmap: true });
    assert.ok(mapping instanceof FileMapping, "mapped");
    const resident = mapping.residentBytes(loaded.model.parts[0].dataOffset);
    if (resident === null) return; // no mincore on this platform
    const tensors = loaded.model.tensors;
    const start = Math.floor(tensors[0].fileOffset / 4096) * 4096;
    assert.ok(resident >= mapping.size - start - 4096, `${resident} of ${mapping.size} resident`);
    const smaps = mappedResidentBytes([mapping.address]);
    if (smaps !== null) {
      assert.ok(Math.abs(smaps - resident) <= 4 * 4096, `${smaps} vs ${resident}`);
    }
    assert.equal(loaded.report.fileBackedBytes, resident);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

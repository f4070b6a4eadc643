/**
 * What keeps every command's start fast (README "Start-up time"): the native library binds its
 * functions on first use and hashes its build key without `node:crypto`; each command's module
 * graph holds only what the command's common path runs (checked on the static import graph of
 * `deno info --json`: no timing is asserted).
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { sha256Hex } from "../ffi/sha256.ts";
import { openLazyLibrary } from "../ffi/lazy_library.ts";
import { nativeLibrary } from "../ffi/native.ts";
import { BITLOAD_ABI_VERSION, BITLOAD_SYMBOLS } from "../ffi/symbols.ts";
import {
  buildCLibrary,
  compilerCommand,
  compilerVersion,
  KEEP_RECENT_BUILDS,
  pruneBuildCache,
} from "../ffi/c_build.ts";
import { KERNEL_LIBRARY } from "../ffi/library.ts";
import { join } from "node:path";
import { synthesizeBitnetModel } from "../src/synth/bitnet_model.ts";

Deno.test("sha256Hex matches node:crypto (padding edges, UTF-8 strings, 1 MiB)", () => {
  const bytes = new Uint8Array(1 << 20).map((_, i) => (i * 7919 + (i >> 9)) & 255);
  for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 1000, bytes.length]) {
    const data = bytes.subarray(0, n);
    assert.equal(sha256Hex(data), createHash("sha256").update(data).digest("hex"), `${n} bytes`);
  }
  const text = "cc\0gcc (Debian 12.2.0-14) 12.2.0 | Copyright © 2022\0ŝ€𝄞";
  assert.equal(sha256Hex(text), createHash("sha256").update(text).digest("hex"));
});

const native = nativeLibrary();
const libraryPath = "path" in native ? native.path : undefined;

Deno.test({
  name: "openLazyLibrary binds a function when first read, refuses a missing symbol at open",
  ignore: libraryPath === undefined,
  fn() {
    const lib = openLazyLibrary(libraryPath!, {
      symbols: BITLOAD_SYMBOLS,
      eager: ["bl_abi_version"],
    });
    try {
      assert.equal(lib.symbols.bl_abi_version(), BITLOAD_ABI_VERSION);
      const level = Object.getOwnPropertyDescriptor(lib.symbols, "bl_simd_level");
      assert.ok(level?.get, "not bound before it is read");
      assert.equal(typeof lib.symbols.bl_simd_level(), "number");
      assert.equal(lib.symbols.bl_simd_level, lib.symbols.bl_simd_level, "bound once");
      assert.ok("value" in Object.getOwnPropertyDescriptor(lib.symbols, "bl_simd_level")!);
      assert.deepEqual(Object.keys(lib.symbols).sort(), Object.keys(BITLOAD_SYMBOLS).sort());
    } finally {
      lib.close();
    }
    assert.throws(
      () =>
        openLazyLibrary(libraryPath!, {
          symbols: { ...BITLOAD_SYMBOLS, bl_no_such_function: { parameters: [], result: "i32" } },
          eager: ["bl_abi_version"],
        }),
      /bl_no_such_function/,
    );
  },
});

const HEX = (i: number) => i.toString(16).padStart(24, "0");
const MIN = 60_000;

Deno.test("pruneBuildCache keeps the current and recent builds, touches only its own plain files", () => {
  const dir = Deno.makeTempDirSync({ prefix: "bitload-prune-" });
  const outside = Deno.makeTempDirSync({ prefix: "bitload-prune-outside-" });
  try {
    const now = Date.now();
    const file = (name: string, ageMin: number, text = "x") => {
      const path = join(dir, name);
      Deno.writeTextFileSync(path, text);
      const t = new Date(now - ageMin * MIN);
      Deno.utimeSync(path, t, t);
      return path;
    };
    const current = file(`libdemo-${HEX(100)}.so`, 300); // old file, but the current build
    const old = [1, 2, 3, 4, 5, 6].map((i) => file(`libdemo-${HEX(i)}.so`, 120 + i * 10));
    // built long ago, opened 5 minutes ago (its pointer was rewritten): within the grace period
    const reopened = file(`libdemo-${HEX(50)}.so`, 500);
    file(`latest-demo-${HEX(51)}.txt`, 5, reopened);
    const stalePointer = file(`latest-demo-${HEX(52)}.txt`, 200, old[5]);
    const keptPointer = file(`latest-demo-${HEX(53)}.txt`, 200, old[0]);
    const retired = file(`libdemo-old-${HEX(7)}.so`, 600);
    const deadTemp = file(`libdemo-${HEX(8)}.so.4242.0badcafe.tmp`, 60);
    const liveTemp = file(`libdemo-${HEX(9)}.so.4243.0badcafe.tmp`, 1); // a build in progress
    const lock = file(`libdemo-${HEX(10)}.so.lock`, 600);
    const others = [
      file("kernel-choices.json", 600),
      file(`libother-${HEX(11)}.so`, 600),
      file("libdemo-notakey.so", 600),
    ];
    Deno.mkdirSync(join(dir, `libdemo-${HEX(12)}.so`)); // a directory with a build's name
    const target = join(outside, "precious.so");
    Deno.writeTextFileSync(target, "keep me");
    const link = join(dir, `libdemo-${HEX(13)}.so`);
    Deno.symlinkSync(target, link);
    const t = new Date(now - 600 * MIN);
    Deno.utimeSync(link, t, t);

    const spec = { ...KERNEL_LIBRARY, name: "demo", retiredNames: ["demo-old"] };
    // keep 2 besides the current: the reopened one (used 5 minutes ago) and the newest old one
    const result = pruneBuildCache(spec, dir, current, { keep: 2, now });
    assert.deepEqual(
      new Set(result.removed),
      new Set([old[1], old[2], old[3], old[4], old[5], retired, deadTemp, stalePointer]),
      "old builds beyond the 2 most recently used (the reopened one counts), the retired name, " +
        "a dead build's temporary file, the pointer to a removed build",
    );
    assert.deepEqual(new Set(result.kept), new Set([current, reopened, old[0]]));
    for (const path of [current, old[0], reopened, keptPointer, liveTemp, lock, ...others]) {
      assert.ok(Deno.lstatSync(path).isFile, `${path} stays`);
    }
    assert.ok(Deno.lstatSync(link).isSymlink, "a symbolic link is never removed");
    assert.equal(Deno.readTextFileSync(target), "keep me", "nor followed");
    assert.ok(Deno.statSync(join(dir, `libdemo-${HEX(12)}.so`)).isDirectory);
    // idempotent, and never throws (not even for a cache directory that does not exist)
    assert.deepEqual(pruneBuildCache(spec, dir, current, { keep: 2, now }).removed, []);
    assert.deepEqual(pruneBuildCache(spec, join(dir, "missing"), current), {
      removed: [],
      kept: [],
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
    Deno.removeSync(outside, { recursive: true });
  }
});

Deno.test({
  name: "a build into the cache prunes the builds before it (BITLOAD_CACHE_DIR injected)",
  ignore: !compilerAvailable(),
  fn() {
    const dir = Deno.makeTempDirSync({ prefix: "bitload-prune-build-" });
    const before = Deno.env.get("BITLOAD_CACHE_DIR");
    Deno.env.set("BITLOAD_CACHE_DIR", dir);
    try {
      const sources = join(dir, "src");
      Deno.mkdirSync(sources);
      Deno.writeTextFileSync(join(sources, "tiny.c"), "int tiny(void) { return 7; }\n");
      const spec = {
        name: "tiny",
        what: "a test library",
        dir: new URL(`file://${sources}/`),
        sources: ["tiny.c"],
        headers: [],
        cflags: ["-O1", "-shared", "-fPIC"],
      };
      const stale = [1, 2, 3, 4, 5, 6, 7].map((i) => {
        const path = join(dir, `libtiny-${HEX(i)}.so`);
        Deno.writeTextFileSync(path, "old build");
        const t = new Date(Date.now() - (60 + i) * MIN);
        Deno.utimeSync(path, t, t);
        return path;
      });
      const built = buildCLibrary(spec);
      assert.ok(built.built);
      const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("lib"));
      const expected = [built.path, ...stale.slice(0, KEEP_RECENT_BUILDS)];
      assert.deepEqual(new Set(left), new Set(expected.map((p) => p.slice(dir.length + 1))));
      const lib = Deno.dlopen(built.path, { tiny: { parameters: [], result: "i32" } });
      assert.equal(lib.symbols.tiny(), 7);
      lib.close();
    } finally {
      if (before === undefined) Deno.env.delete("BITLOAD_CACHE_DIR");
      else Deno.env.set("BITLOAD_CACHE_DIR", before);
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

function compilerAvailable(): boolean {
  try {
    compilerVersion(compilerCommand());
    return true;
  } catch {
    return false;
  }
}

/** A module's static import graph (`deno info --json`, dynamic imports not followed). */
async function staticGraph(module: string): Promise<Map<string, string | null>> {
  const root = new URL(module, import.meta.url).href;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", root],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  assert.ok(r.success, new TextDecoder().decode(r.stderr));
  const info = JSON.parse(new TextDecoder().decode(r.stdout)) as {
    redirects: Record<string, string>;
    modules: {
      specifier: string;
      dependencies?: { isDynamic?: boolean; code?: { specifier?: string } }[];
    }[];
  };
  const modules = new Map(info.modules.map((m) => [m.specifier, m]));
  const parent = new Map<string, string | null>([[root, null]]);
  const queue = [root];
  while (queue.length > 0) {
    const at = queue.shift()!;
    for (const dep of modules.get(info.redirects[at] ?? at)?.dependencies ?? []) {
      const next = dep.code?.specifier;
      if (dep.isDynamic || next === undefined || parent.has(next)) continue;
      parent.set(next, at);
      queue.push(next);
    }
  }
  return parent;
}

const REPO = new URL("../", import.meta.url).href;
const short = (specifier: string) => specifier.replace(REPO, "");

/** Modules a start-up path must not load, and why (each is imported where it is used). */
const HEAVY: Record<string, string> = {
  "src/pipeline/": "the loader and every stage after it",
  "src/load/loader.ts": "the progressive loader",
  "src/infer/model.ts": "the inference model (every kernel binding)",
  "src/infer/engine.ts": "the inference engine (tokenizer, model)",
  "src/tokenizer/tokenizer.ts": "the tokenizer (Unicode tables, every model family)",
  "src/validate/validate.ts": "the validation checks",
  "src/bench/suite.ts": "every benchmark",
  "src/gpu/": "the GPU uploads",
  "ffi/cuda_kernels.ts": "the CUDA kernels' bindings",
  "/zod/": "zod (schemas of JSON input and output)",
  "node:crypto": "node:crypto (~20 ms to load)",
};
/** The native library's modules: only the commands that always run kernels load them. */
const NATIVE: Record<string, string> = { "ffi/library.ts": "the native library's bindings" };

function assertNotImported(
  path: string,
  graph: Map<string, string | null>,
  forbidden: Record<string, string>,
): void {
  for (const specifier of graph.keys()) {
    for (const [pattern, what] of Object.entries(forbidden)) {
      if (!short(specifier).startsWith(pattern) && !specifier.includes(pattern)) continue;
      const chain: string[] = [];
      for (let at: string | null = specifier; at !== null; at = graph.get(at) ?? null) {
        chain.unshift(short(at));
      }
      assert.fail(
        `${path} statically imports ${what}: ${chain.join(" → ")}. Every module of the static ` +
          `graph is loaded and evaluated at start, so import it with \`await import()\` on the ` +
          `path that uses it (README: Start-up time).`,
      );
    }
  }
}

Deno.test("start-up paths do not statically import what they do not run", async () => {
  const commands = [
    "inspect",
    "load",
    "dequant",
    "plan",
    "tokenize",
    "validate",
    "hash",
    "quantize",
    "run",
    "logits",
    "serve",
    "chat",
    "bench",
    "synth",
    "demo",
  ];
  const cases: [path: string, module: string, forbidden: Record<string, string>][] = [
    ["bitload --help / --version", "../src/cli/main.ts", { "src/cli/inspect": "a command" }],
    // `run` always decodes (its roofline report binds the kernels) and `bench` always measures
    // them (its machine description names them): those two may load the native modules
    ...commands.map((c): [string, string, Record<string, string>] => [
      `bitload ${c} --help`,
      `../src/cli/${c}.ts`,
      c === "run" || c === "bench" ? HEAVY : { ...HEAVY, ...NATIVE },
    ]),
    // `bitload inspect FILE` reads the header only
    ["bitload inspect FILE", "../src/cli/inspect.ts", {
      ...NATIVE,
      "src/load/": "the loader",
      "src/quant/tl.ts": "the TL decoders",
    }],
    // `bitload load FILE`: the loader, never inference, validation, GPU or zod
    ["bitload load FILE (src/pipeline/open.ts)", "../src/pipeline/open.ts", {
      "src/infer/": "inference",
      "src/tokenizer/": "the tokenizer",
      "src/validate/": "validation",
      "src/bench/": "the benchmarks",
      "src/gpu/": "the GPU uploads",
      "ffi/cuda_kernels.ts": "the CUDA kernels' bindings",
      "/zod/": "zod",
      "node:crypto": "node:crypto",
    }],
  ];
  const graphs = await Promise.all(cases.map(([, module]) => staticGraph(module)));
  cases.forEach(([path, , forbidden], i) => assertNotImported(path, graphs[i], forbidden));
  // the main module imports no command: each is imported when it runs
  assert.ok(graphs[0].size < 10, `main.ts loads ${graphs[0].size} modules`);
});

Deno.test("compilerVersion keeps the answer per compiler binary: asked once, again when it changes", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "bitload-cc-version-" });
  try {
    const log = join(dir, "runs.log");
    const cc = join(dir, "fake-cc");
    const write = (version: string) => {
      Deno.writeTextFileSync(cc, `#!/bin/sh\necho run >> "${log}"\necho "fake-cc ${version}"\n`);
      Deno.chmodSync(cc, 0o755);
    };
    const script = join(dir, "ask.ts");
    Deno.writeTextFileSync(
      script,
      `import { compilerVersion } from ${
        JSON.stringify(new URL("../ffi/c_build.ts", import.meta.url).href)
      };\n` +
        `console.log(compilerVersion(Deno.args[0]));\n`,
    );
    const ask = async (permissions: string[]) => {
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...permissions, script, cc],
        env: { BITLOAD_CACHE_DIR: join(dir, "cache"), NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const runs = (() => {
        try {
          return Deno.readTextFileSync(log).split("\n").length - 1;
        } catch {
          return 0;
        }
      })();
      return { code: r.code, out: new TextDecoder().decode(r.stdout).trim(), runs };
    };
    write("1.0");
    assert.deepEqual(await ask(["-A"]), { code: 0, out: "fake-cc 1.0", runs: 1 });
    assert.deepEqual(await ask(["-A"]), { code: 0, out: "fake-cc 1.0", runs: 1 }, "not run again");
    write("2.0 upgraded"); // another size and mtime: another key
    assert.deepEqual(await ask(["-A"]), { code: 0, out: "fake-cc 2.0 upgraded", runs: 2 });
    // a process that may not run the compiler fails as before, stored answer or not
    const noRun = await ask(["--allow-read", "--allow-write", "--allow-env"]);
    assert.notEqual(noRun.code, 0);
    assert.equal(noRun.runs, 2);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("inspect and plan open a cached kernel library for the header parse, never build one", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "bitload-no-build-" });
  try {
    const model = join(dir, "m.gguf");
    await synthesizeBitnetModel(model, { layers: 1, dim: 256, ffn: 256, vocab: 300, seed: 3 });
    const main = new URL("../src/cli/main.ts", import.meta.url).href;
    const bitload = async (args: string[], cache: string) => {
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", main, ...args],
        env: { BITLOAD_CACHE_DIR: cache, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const d = new TextDecoder();
      return { code: r.code, stdout: d.decode(r.stdout), stderr: d.decode(r.stderr) };
    };
    const empty = join(dir, "empty-cache");
    Deno.mkdirSync(empty);
    const outputs: string[] = [];
    for (const args of [["inspect", model, "--json"], ["plan", model, "--devices", "cpu:8GiB"]]) {
      const r = await bitload(args, empty);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "", "no build line, no fallback notice");
      outputs.push(r.stdout);
    }
    const built = [...Deno.readDirSync(empty)].filter((e) => e.name.startsWith("lib"));
    assert.deepEqual(built, [], "nothing was built for a header");
    // with the library cached (the default cache of this machine) the output is the same
    if (libraryPath !== undefined) {
      const cache = libraryPath.slice(0, libraryPath.lastIndexOf("/"));
      const inspect = await bitload(["inspect", model, "--json"], cache);
      assert.equal(inspect.stdout, outputs[0]);
      const plan = await bitload(["plan", model, "--devices", "cpu:8GiB"], cache);
      assert.equal(plan.stdout, outputs[1]);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

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

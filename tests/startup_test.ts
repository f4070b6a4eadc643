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

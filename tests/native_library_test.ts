/**
 * Discovery of the native library: the pure-TypeScript fallback (BITLOAD_NATIVE=0, no --allow-ffi, a
 * bad BITLOAD_NATIVE_LIB) prints exactly one notice and yields `null`; an explicit build lands in the
 * cache and is reused; two processes building at once into an empty cache both succeed with one
 * build (a lock file; one "building" line); `kernelInfo().origin` says where the library came from.
 */

import assert from "node:assert/strict";
import { BITLOAD_ABI_VERSION } from "../ffi/symbols.ts";
import {
  cachedLibraryPath,
  compilerCommand,
  compilerVersion,
  fileExists,
  STALE_LOCK_MS,
} from "../ffi/c_build.ts";
import { KERNEL_LIBRARY } from "../ffi/library.ts";

const NATIVE_URL = new URL("../ffi/native.ts", import.meta.url).href;
const BUILD_SCRIPT = new URL("../scripts/build_native.ts", import.meta.url).pathname;
const NOTICE = /^bitload: native kernels unavailable \((.+)\); using pure-TypeScript kernels$/;
const BUILDING = /^bitload: building native kernels \((x86_64|aarch64)[^)]*\), once — about \d+ s$/;

/** Runs a snippet in a fresh Deno with the given permissions and environment. */
async function runChild(
  permissions: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = `
    import { kernelInfo, nativeKernels, supportedSimdLevels } from ${JSON.stringify(NATIVE_URL)};
    const first = nativeKernels();
    const second = nativeKernels();
    let avx2Error = null;
    try { first?.setSimd("avx2"); } catch (error) { avx2Error = error.name; }
    console.log(JSON.stringify({
      isNull: first === null,
      same: first === second,
      info: kernelInfo(),
      levels: supportedSimdLevels(),
      avx2Error,
    }));
  `;
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(file, script);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-check", ...permissions, file],
      env: { NO_COLOR: "1", ...env },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    await Deno.remove(file);
  }
}

function noticeLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => line.startsWith("bitload:"));
}

Deno.test("BITLOAD_NATIVE=0 falls back with one notice", async () => {
  const child = await runChild(["-A"], { BITLOAD_NATIVE: "0" });
  assert.equal(child.code, 0, child.stderr);
  const result = JSON.parse(child.stdout);
  assert.equal(result.isNull, true);
  assert.equal(result.same, true);
  assert.equal(result.info.backend, "ts");
  assert.equal(result.info.reason, "disabled by BITLOAD_NATIVE=0");
  const notices = noticeLines(child.stderr);
  assert.equal(notices.length, 1, child.stderr);
  assert.match(notices[0], NOTICE);
  assert.match(notices[0], /BITLOAD_NATIVE=0/);
});

Deno.test("missing --allow-ffi falls back instead of crashing", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const child = await runChild(
      ["--allow-read", "--allow-write", "--allow-env", "--allow-run"],
      { BITLOAD_CACHE_DIR: cacheDir },
    );
    assert.equal(child.code, 0, child.stderr);
    assert.equal(JSON.parse(child.stdout).isNull, true);
    const notices = noticeLines(child.stderr);
    assert.equal(notices.length, 1, child.stderr);
    assert.match(notices[0], /NotCapable|PermissionDenied/);
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("missing --allow-run and an empty cache fall back", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const child = await runChild(["--allow-read", "--allow-env", "--allow-ffi"], {
      BITLOAD_CACHE_DIR: cacheDir,
    });
    assert.equal(child.code, 0, child.stderr);
    assert.equal(JSON.parse(child.stdout).isNull, true);
    assert.equal(noticeLines(child.stderr).length, 1, child.stderr);
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("a bad BITLOAD_NATIVE_LIB falls back with the path in the reason", async () => {
  const child = await runChild(["-A"], { BITLOAD_NATIVE_LIB: "/nonexistent/libbitload.so" });
  assert.equal(child.code, 0, child.stderr);
  const result = JSON.parse(child.stdout);
  assert.equal(result.isNull, true);
  assert.match(result.info.reason, /\/nonexistent\/libbitload\.so/);
  assert.equal(noticeLines(child.stderr).length, 1);
});

Deno.test("two processes building into an empty cache both load the same library", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const [a, b] = await Promise.all([
      runChild(["-A"], { BITLOAD_CACHE_DIR: cacheDir, BITLOAD_BUILD_NOTICE: "1" }),
      runChild(["-A"], { BITLOAD_CACHE_DIR: cacheDir, BITLOAD_BUILD_NOTICE: "1" }),
    ]);
    for (const child of [a, b]) {
      assert.equal(child.code, 0, child.stderr);
      const result = JSON.parse(child.stdout);
      assert.equal(result.isNull, false, child.stderr);
      assert.equal(result.info.backend, "native");
      assert.ok(result.info.library.startsWith(cacheDir));
      assert.deepEqual(noticeLines(child.stderr).filter((l) => NOTICE.test(l)), [], child.stderr);
    }
    assert.equal(JSON.parse(a.stdout).info.library, JSON.parse(b.stdout).info.library);
    // one build: exactly one process printed the build line and says "built"; the other waited
    // on the lock file and reused it
    const building = [a, b].flatMap((c) => noticeLines(c.stderr)).filter((l) => BUILDING.test(l));
    assert.equal(building.length, 1, a.stderr + b.stderr);
    const origins = [a, b].map((c) => JSON.parse(c.stdout).info.origin).sort();
    assert.deepEqual(origins, ["built", "cache"]);
    const names = [...Deno.readDirSync(cacheDir)].map((entry) => entry.name).sort();
    assert.equal(names.length, 3, `leftover files: ${names.join(", ")}`);
    assert.match(names[0], /^compiler-[0-9a-f]{24}\.txt$/); // cc --version, kept for next time
    assert.match(names[1], /^latest-bitload-[0-9a-f]{24}\.txt$/);
    assert.match(names[2], /^libbitload-[0-9a-f]{24}\.so$/);
    // The cached build is reused: a third process loads it without building, and so does one that
    // may not run the compiler.
    const c = await runChild(["-A"], { BITLOAD_CACHE_DIR: cacheDir });
    assert.equal(JSON.parse(c.stdout).info.library, JSON.parse(a.stdout).info.library);
    const noRun = await runChild(["--allow-read", "--allow-env", "--allow-ffi"], {
      BITLOAD_CACHE_DIR: cacheDir,
    });
    assert.equal(JSON.parse(noRun.stdout).info.library, JSON.parse(a.stdout).info.library);
    assert.equal(noticeLines(noRun.stderr).length, 0, noRun.stderr);
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test({
  name: "BITLOAD_SIMD=scalar caps the level",
  ignore: Deno.build.arch !== "x86_64",
  async fn() {
    const child = await runChild(["-A"], { BITLOAD_SIMD: "scalar" });
    assert.equal(child.code, 0, child.stderr);
    const result = JSON.parse(child.stdout);
    assert.equal(result.isNull, false, child.stderr);
    assert.equal(result.info.simd, "scalar");
    assert.deepEqual(result.levels, ["scalar"]);
    assert.equal(result.avx2Error, "NativeKernelError");
  },
});

Deno.test({
  name: "BITLOAD_KERNEL, the deprecated alias of BITLOAD_SIMD, caps the level too",
  ignore: Deno.build.arch !== "x86_64",
  async fn() {
    const child = await runChild(["-A"], { BITLOAD_KERNEL: "scalar" });
    assert.equal(child.code, 0, child.stderr);
    const result = JSON.parse(child.stdout);
    assert.equal(result.info.simd, "scalar");
    assert.deepEqual(result.levels, ["scalar"]);
  },
});

Deno.test("scripts/build_native.ts prints where the library went, past a crashed build's lock", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    // a lock left by a build that died (older than STALE_LOCK_MS) is taken over, then removed
    const cc = compilerCommand();
    const target = cachedLibraryPath(KERNEL_LIBRARY, cacheDir, cc, compilerVersion(cc));
    const lock = `${target}.lock`;
    Deno.writeTextFileSync(lock, "99999999\n");
    const old = new Date(Date.now() - STALE_LOCK_MS - 60_000);
    Deno.utimeSync(lock, old, old);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-check", "-A", BUILD_SCRIPT],
      env: { NO_COLOR: "1", BITLOAD_CACHE_DIR: cacheDir },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(stdout, new RegExp(`${cacheDir}/libbitload-[0-9a-f]{24}\\.so`));
    assert.match(stdout, new RegExp(`abi ${BITLOAD_ABI_VERSION}\\b`));
    assert.ok(stdout.includes(target), stdout);
    assert.equal(fileExists(lock), false, "the lock is released");
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

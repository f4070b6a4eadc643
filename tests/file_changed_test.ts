/**
 * Mapped files that change underneath: a real second process (`truncate`) shrinks a real mapped
 * model while it is read. Before the fault guard the process died by SIGBUS (exit 135, no
 * message); now reads of vanished pages see zeros and the next step throws FILE_CHANGED.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { nativeLibrary } from "../ffi/native.ts";
import { GgufError } from "../src/gguf/errors.ts";
import { mapFile, ReadBuffer } from "../src/load/mapping.ts";
import { synthesizeBitnetModel } from "../src/synth/bitnet_model.ts";

const CLI = new URL("../src/cli/main.ts", import.meta.url).pathname;
const native = nativeLibrary();
const noGuard = "symbols" in native ? "" : `no native library (${native.reason})`;

function truncate(path: string, size: string): void {
  const out = new Deno.Command("truncate", { args: ["-s", size, path] }).outputSync();
  assert.ok(out.success, `truncate -s ${size} ${path}`);
}

const dir = Deno.makeTempDirSync({ prefix: "bitload-changed-" });
const model = join(dir, "model.gguf");
// 8 layers of 1024 × 2816 I2_S: about 32 MB, so truncating to 13 MB removes most weights.
await synthesizeBitnetModel(model, { layers: 8, dim: 1024, ffn: 2816, vocab: 4096 });
const fresh = (name: string) => {
  const path = join(dir, name);
  Deno.copyFileSync(model, path);
  return path;
};
const isChanged = (e: unknown) => e instanceof GgufError && e.code === "FILE_CHANGED";

Deno.test("a mapping whose file shrank: check() and view() throw FILE_CHANGED (fstat)", () => {
  const path = fresh("fstat.gguf");
  using m = mapFile(path);
  m.check();
  truncate(path, "13M");
  assert.throws(() => m.check(), isChanged);
  assert.throws(() => m.view(0, 16), isChanged);
});

Deno.test("the read path: a file that shrank after opening gives FILE_CHANGED", () => {
  const path = fresh("read.gguf");
  using b = new ReadBuffer(path);
  truncate(path, "1M");
  assert.throws(() => b.readRange(b.size - 4096, 4096), isChanged);
});

Deno.test({
  name: "views, dequantize and openGguf survive a truncation: zeros, then FILE_CHANGED, no SIGBUS",
  ignore: noGuard !== "",
  async fn() {
    const path = fresh("views.gguf");
    const opened = new URL("../src/pipeline/open.ts", import.meta.url).href;
    const dequant = new URL("../src/quant/dequantize.ts", import.meta.url).href;
    // In a child process: a SIGBUS there must fail this test, not kill the test runner.
    const script = `
      import { openGguf } from "${opened}";
      import { dequantizeToNew } from "${dequant}";
      const model = await openGguf(Deno.args[0], { mmap: true });
      const t = model.tensors.at(-1);
      const view = model.tensorData(t.name);
      const out = new Deno.Command("truncate", { args: ["-s", "13M", Deno.args[0]] }).outputSync();
      if (!out.success) throw new Error("truncate failed");
      let sum = 0;
      for (let i = 0; i < view.length; i += 4096) sum += view[i]; // every page: no SIGBUS
      const codes = [];
      try { dequantizeToNew(t.type, view, t.elementCount); codes.push("none"); }
      catch (e) { codes.push(e.code); }
      try { model.tensorData(t.name); codes.push("none"); } catch (e) { codes.push(e.code); }
      console.log(JSON.stringify({ sum, codes }));`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=js", script, path],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.signal, null, `died by ${out.signal}: ${stderr}`);
    assert.equal(out.code, 0, stderr);
    const { sum, codes } = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(sum, 0, "vanished pages read as zeros");
    assert.deepEqual(codes, ["FILE_CHANGED", "FILE_CHANGED"]);
  },
});

Deno.test({
  name:
    "CLI: `bitload run` on a model truncated while generating prints one FILE_CHANGED line, exit 1",
  ignore: noGuard !== "",
  async fn() {
    const path = fresh("run.gguf");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "run", path, "-p", "hello", "-n", "3000", "--temp", "0"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.getReader();
    await reader.read(); // generation has started
    truncate(path, "13M");
    reader.releaseLock();
    const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
    await child.stdout.cancel();
    assert.equal(status.signal, null, `died by ${status.signal}`);
    assert.equal(status.code, 1);
    assert.equal(stderr.trim(), `bitload: ${path}: file changed while mapped (FILE_CHANGED)`);
  },
});

Deno.test({
  name: "a SIGBUS outside bitload's mappings is not swallowed: the process dies as before",
  ignore: noGuard !== "",
  async fn() {
    const path = fresh("unguarded.bin");
    const guardUrl = new URL("../ffi/fault_guard.ts", import.meta.url).href;
    const libcUrl = new URL("../ffi/libc.ts", import.meta.url).href;
    // The guard is installed, but this mapping (made with libc directly) is not registered.
    const script = `
      import { faultGuard } from "${guardUrl}";
      import { cString, LINUX, openLibc } from "${libcUrl}";
      if (!faultGuard()) throw new Error("no guard");
      const libc = openLibc();
      const size = Deno.statSync(Deno.args[0]).size;
      const fd = libc.open(cString(Deno.args[0]), LINUX.O_RDONLY);
      const ptr = libc.mmap(null, BigInt(size), LINUX.PROT_READ, LINUX.MAP_PRIVATE, fd, 0n);
      const view = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(ptr, size));
      new Deno.Command("truncate", { args: ["-s", "4096", Deno.args[0]] }).outputSync();
      console.log(view[size - 1]);`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--ext=js", script, path],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.signal, "SIGBUS", new TextDecoder().decode(out.stderr));
  },
});

Deno.test("cleanup", () => Deno.removeSync(dir, { recursive: true }));

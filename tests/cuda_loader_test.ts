/**
 * The CUDA loader's fallback: without a driver or device (or with BITLOAD_CUDA=0) the runtime is `null`
 * with one reason, `cudaDevices()` is empty, nothing is printed unless asked, and the CPU kernels are
 * unaffected. Subprocesses give each case a fresh loader.
 */
import assert from "node:assert/strict";

import {
  cudaDevices,
  cudaRuntime,
  cudaSourceBytes,
  cudaSupportsType,
  cudaUnavailableReason,
  probeCudaDriver,
} from "../ffi/cuda.ts";
import { nativeKernels } from "../ffi/native.ts";

const CUDA_URL = new URL("../ffi/cuda.ts", import.meta.url).href;
const NATIVE_URL = new URL("../ffi/native.ts", import.meta.url).href;

/** Runs `code` (an ES module) in a fresh Deno; returns stdout, stderr and the exit code. */
async function runModule(
  code: string,
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string; code: number }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", code],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { stdout: decode(out.stdout), stderr: decode(out.stderr), code: out.code };
}

const gpu = cudaRuntime();

Deno.test("the runtime is null exactly when there is a reason", () => {
  const reason = cudaUnavailableReason();
  if (gpu === null) {
    assert.equal(typeof reason, "string");
    assert.ok(reason!.length > 0);
    assert.deepEqual(cudaDevices(), []);
  } else {
    assert.equal(reason, null);
    assert.ok(gpu.deviceCount > 0);
    const devices = cudaDevices();
    assert.equal(devices.length, gpu.deviceCount);
    for (const [i, d] of devices.entries()) {
      assert.equal(d.name, `cuda${i}`);
      assert.equal(d.kind, "cuda");
      assert.ok(d.freeBytes > 0 && d.freeBytes <= d.totalBytes);
      assert.match(d.computeCapability, /^\d+\.\d+$/);
      assert.ok(d.model.length > 0);
    }
  }
});

Deno.test({
  name: "without libcuda.so.1 the driver probe says so" +
    (probeCudaDriver().ok ? " (skipped: this machine has a CUDA driver)" : ""),
  ignore: probeCudaDriver().ok,
  fn() {
    const probe = probeCudaDriver();
    assert.equal(probe.ok, false);
    assert.match(probe.reason!, /libcuda\.so\.1|no CUDA device|cuInit|Linux-only/);
    assert.equal(cudaRuntime(), null);
    assert.equal(cudaUnavailableReason(), probe.reason);
  },
});

Deno.test("loading prints nothing by default and one notice when asked", async () => {
  const quiet = await runModule(
    `import { cudaRuntime, cudaUnavailableReason, cudaDevices } from "${CUDA_URL}";
     cudaRuntime(); cudaRuntime(); cudaDevices();
     console.log(JSON.stringify({ reason: cudaUnavailableReason() }));`,
  );
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stderr, "");
  const { reason } = JSON.parse(quiet.stdout);
  assert.equal(reason, cudaUnavailableReason());

  const noticed = await runModule(
    `import { cudaRuntime } from "${CUDA_URL}";
     cudaRuntime({ notice: true }); cudaRuntime({ notice: true });`,
    { BITLOAD_CUDA: "0" },
  );
  assert.equal(noticed.code, 0, noticed.stderr);
  const lines = noticed.stderr.trim().split("\n");
  assert.deepEqual(lines, [
    "bitload: CUDA unavailable (disabled by BITLOAD_CUDA=0); using the CPU",
  ]);
});

Deno.test("BITLOAD_CUDA=0 and a bad BITLOAD_CUDA_LIB are reasons, not crashes", async () => {
  const disabled = await runModule(
    `import { cudaRuntime, cudaUnavailableReason, cudaDevices } from "${CUDA_URL}";
     console.log(JSON.stringify([cudaRuntime(), cudaUnavailableReason(), cudaDevices()]));`,
    { BITLOAD_CUDA: "0" },
  );
  assert.equal(disabled.code, 0, disabled.stderr);
  assert.deepEqual(JSON.parse(disabled.stdout), [null, "disabled by BITLOAD_CUDA=0", []]);

  const badLib = await runModule(
    `import { openCudaLibrary } from "${CUDA_URL}";
     const r = openCudaLibrary(); console.log(JSON.stringify([r.ok, r.ok ? "" : r.reason]));`,
    { BITLOAD_CUDA_LIB: "/nonexistent/libbitload_cuda.so" },
  );
  assert.equal(badLib.code, 0, badLib.stderr);
  const [ok, why] = JSON.parse(badLib.stdout);
  assert.equal(ok, false);
  assert.match(why, /^BITLOAD_CUDA_LIB="\/nonexistent\/libbitload_cuda\.so": /);
});

Deno.test("the CPU kernels work whether or not CUDA is there", async () => {
  const result = await runModule(
    `import { nativeKernels } from "${NATIVE_URL}";
     import { cudaRuntime } from "${CUDA_URL}";
     const cuda = cudaRuntime();
     const k = nativeKernels();
     const q8 = new Uint8Array(34); q8[0] = 0x00; q8[1] = 0x3c; q8[2] = 5; // d = 1, q[0] = 5
     const out = new Float32Array(32); k?.dequantize(8, q8, out);
     console.log(JSON.stringify([cuda === null, k === null ? "ts" : "native", out[0]]));`,
    { BITLOAD_CUDA: "0" },
  );
  assert.equal(result.code, 0, result.stderr);
  const [noCuda, backend, first] = JSON.parse(result.stdout);
  assert.equal(noCuda, true);
  assert.equal(backend, nativeKernels() === null ? "ts" : "native");
  if (backend === "native") assert.equal(first, 5);
});

Deno.test("type support and source sizes", () => {
  for (const id of [0, 1, 2, 8, 12, 13, 14, 30, 34, 35, 36]) assert.ok(cudaSupportsType(id));
  for (const id of [3, 10, 11, 15, 16, 39]) assert.equal(cudaSupportsType(id), false);
  assert.equal(cudaSourceBytes(36, 128), 36);
  assert.equal(cudaSourceBytes(12, 512), 288);
  assert.equal(cudaSourceBytes(1, 3), 6);
  assert.throws(() => cudaSourceBytes(34, 100), {
    name: "CudaError",
    code: "BAD_ARGUMENT",
    message: /100 elements is not a multiple of the block size 256/,
  });
  assert.throws(() => cudaSourceBytes(10, 256), {
    name: "CudaError",
    code: "UNSUPPORTED_TYPE",
    message: /Type 10 is not supported/,
  });
});

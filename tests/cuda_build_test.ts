/**
 * Compile check of the optional CUDA library: where nvcc exists, build `kernels/cuda/` into a temporary
 * directory with the release flags and architectures, then check what it exports (`nm -D`), what it
 * needs (`readelf -d`: no libcuda, no libcudart) and that it dlopens and answers with status codes on a
 * machine without a driver. Skipped, with the reason, where nvcc is not on PATH.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

import { buildCudaLibrary, CUDA_GENCODE, nvccVersion } from "../ffi/cuda_build.ts";
import { probeCudaDriver } from "../ffi/cuda.ts";
import {
  BITLOAD_CUDA_ABI_VERSION,
  BITLOAD_CUDA_EXPORTS,
  BITLOAD_CUDA_SYMBOLS,
  CUDA_ERROR_INSUFFICIENT_DRIVER,
  CudaStatus,
} from "../ffi/cuda_symbols.ts";

const nvcc = nvccVersion();
const reason = nvcc === null ? " (skipped: nvcc is not on PATH)" : "";

function run(command: string, args: string[]): string | null {
  try {
    const out = new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).outputSync();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

Deno.test({
  name: `nvcc compiles the CUDA kernels into a self-contained library${reason}`,
  ignore: nvcc === null,
  async fn(t) {
    const dir = Deno.makeTempDirSync({ prefix: "bitload-cuda-build-" });
    try {
      const output = join(dir, "libbitload_cuda.so");
      const started = performance.now();
      const result = buildCudaLibrary({ output, force: true });
      const seconds = (performance.now() - started) / 1000;
      assert.ok(result.built);
      assert.ok(seconds < 60, `the compile took ${seconds.toFixed(1)} s`);
      for (const arch of CUDA_GENCODE.filter((g) => g !== "-gencode")) {
        assert.ok(result.command.includes(arch));
      }
      assert.ok(result.command.includes("-fmad=false"), "no FMA contraction on the device");

      const nm = run("nm", ["-D", "--defined-only", output]);
      await t.step({
        name: `exports exactly the ABI's symbols (nm -D)${nm === null ? " (skipped: no nm)" : ""}`,
        ignore: nm === null,
        fn() {
          const names = nm!.trim().split("\n").map((line) => line.trim().split(/\s+/).at(-1)!);
          assert.deepEqual([...names].sort(), [...BITLOAD_CUDA_EXPORTS].sort());
        },
      });

      await t.step("needs no CUDA library at load time (static cudart, no -lcuda)", () => {
        const dynamic = run("readelf", ["-d", output]);
        if (dynamic === null) return;
        const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((
          m,
        ) => m[1]);
        assert.ok(needed.length > 0);
        for (const lib of needed) assert.doesNotMatch(lib, /cuda/, `NEEDED ${lib}`);
      });

      const elf = run("cuobjdump", ["--list-elf", output]);
      const ptx = run("cuobjdump", ["--list-ptx", output]);
      await t.step({
        name: "embeds SASS for sm_80 and sm_90 and PTX for compute_90" +
          (elf === null || ptx === null ? " (skipped: no cuobjdump in this toolkit)" : ""),
        ignore: elf === null || ptx === null,
        fn() {
          assert.match(elf!, /sm_80/);
          assert.match(elf!, /sm_90/);
          assert.match(ptx!, /sm_90/);
        },
      });

      await t.step("dlopens and reports status codes, with or without a driver", () => {
        const library = Deno.dlopen(output, BITLOAD_CUDA_SYMBOLS);
        try {
          const s = library.symbols;
          assert.equal(s.blc_abi_version(), BITLOAD_CUDA_ABI_VERSION);
          assert.ok(s.blc_runtime_version() >= 12000);
          const count = new Int32Array([-1]);
          const status = s.blc_device_count(count);
          const driver = probeCudaDriver();
          if (!driver.ok && /libcuda\.so\.1/.test(driver.reason ?? "")) {
            assert.equal(status, CUDA_ERROR_INSUFFICIENT_DRIVER);
            assert.equal(count[0], 0);
            assert.equal(s.blc_driver_version(), 0);
            const out = new BigUint64Array(1);
            assert.equal(s.blc_malloc(1024n, out), CUDA_ERROR_INSUFFICIENT_DRIVER);
          } else {
            assert.ok(status >= 0);
          }
          const text = Deno.UnsafePointerView.getCString(s.blc_error_string(status)!);
          assert.ok(text.length > 0);
          // Argument errors come back before any CUDA call.
          assert.equal(s.blc_dequantize(10, 1n, 1n, 256n, 0), CudaStatus.UNKNOWN_TYPE);
          assert.equal(s.blc_dequantize(8, 1n, 1n, 33n, 0), CudaStatus.BAD_LENGTH);
          assert.equal(s.blc_dequantize(8, 0n, 0n, 32n, 0), CudaStatus.NULL_BUFFER);
          assert.equal(s.blc_dequantize(8, 1n, 1n, 32n, 7), CudaStatus.BAD_ARG);
          assert.equal(s.blc_source_bytes(36, 256n), 68n);
          const seconds = new Float64Array(2);
          assert.equal(
            s.blc_upload(1n, new Uint8Array(1), 1n, 0n, 0, 1, seconds, seconds.subarray(1)),
            CudaStatus.BAD_ARG,
          );
        } finally {
          library.close();
        }
      });
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

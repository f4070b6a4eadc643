/**
 * The CUDA driver probe: `libcuda.so.1` opened inside try/catch, `cuInit(0)` and
 * `cuDeviceGetCount`, without touching bitload's own CUDA library. Part of `ffi/cuda.ts`.
 *
 * @module
 */

import { describeError } from "./errors.ts";

/** Outcome of {@link probeCudaDriver}. */
export interface CudaDriverProbe {
  /** Whether `libcuda.so.1` opened, `cuInit` succeeded and at least one device is present. */
  ok: boolean;
  /** Why not, when not. */
  reason?: string;
  /** `cuDriverGetVersion` (e.g. 13000), when the driver opened. */
  driverVersion?: number;
  /** `cuDeviceGetCount`, when `cuInit` succeeded. */
  deviceCount?: number;
}

let driverProbe: CudaDriverProbe | undefined;

/**
 * Probes the CUDA driver without touching bitload's library: dlopen `libcuda.so.1` (try/catch), then
 * `cuInit(0)` and `cuDeviceGetCount`. Cached for the process.
 *
 * @example
 * ```ts
 * import { probeCudaDriver } from "./cuda.ts";
 * const probe = probeCudaDriver();
 * console.log(probe.ok ? `${probe.deviceCount} device(s)` : probe.reason);
 * ```
 */
export function probeCudaDriver(): CudaDriverProbe {
  if (driverProbe !== undefined) return driverProbe;
  driverProbe = probeDriverUncached();
  return driverProbe;
}

function probeDriverUncached(): CudaDriverProbe {
  if (Deno.build.os !== "linux") {
    return { ok: false, reason: `CUDA support is Linux-only (this is ${Deno.build.os})` };
  }
  let driver: Deno.DynamicLibrary<{
    cuInit: { parameters: ["u32"]; result: "i32" };
    cuDeviceGetCount: { parameters: ["buffer"]; result: "i32" };
    cuDriverGetVersion: { parameters: ["buffer"]; result: "i32" };
  }>;
  try {
    driver = Deno.dlopen("libcuda.so.1", {
      cuInit: { parameters: ["u32"], result: "i32" },
      cuDeviceGetCount: { parameters: ["buffer"], result: "i32" },
      cuDriverGetVersion: { parameters: ["buffer"], result: "i32" },
    });
  } catch (error) {
    const message = describeError(error);
    if (/cannot open shared object|not found|No such file/i.test(message)) {
      return { ok: false, reason: "no CUDA driver (libcuda.so.1 cannot be opened)" };
    }
    return { ok: false, reason: `no CUDA driver (libcuda.so.1: ${message})` };
  }
  try {
    const version = new Int32Array(1);
    driver.symbols.cuDriverGetVersion(version);
    const init = driver.symbols.cuInit(0);
    if (init === 100) {
      return {
        ok: false,
        reason: "no CUDA device (cuInit: CUDA_ERROR_NO_DEVICE)",
        driverVersion: version[0],
      };
    }
    if (init !== 0) {
      return { ok: false, reason: `CUDA driver failed to initialise (cuInit returned ${init})` };
    }
    const count = new Int32Array(1);
    const status = driver.symbols.cuDeviceGetCount(count);
    if (status !== 0) {
      return {
        ok: false,
        reason: `cuDeviceGetCount returned ${status}`,
        driverVersion: version[0],
      };
    }
    if (count[0] <= 0) {
      return {
        ok: false,
        reason: "no CUDA device (cuDeviceGetCount = 0)",
        driverVersion: version[0],
      };
    }
    return { ok: true, driverVersion: version[0], deviceCount: count[0] };
  } finally {
    driver.close();
  }
}

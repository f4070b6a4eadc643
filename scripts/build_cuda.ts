/**
 * Builds the optional CUDA library into bitload's cache (`deno task build:cuda`) when nvcc is on PATH,
 * and prints where it went, the toolkit, and what the machine's driver says. Without nvcc it prints why
 * and exits 0: the CUDA library is never required.
 *
 * Usage: `deno run --allow-read --allow-write --allow-env --allow-run --allow-ffi scripts/build_cuda.ts
 * [--force] [--strict]` (`--strict`: exit 1 when nvcc is missing, for CI jobs that expect it).
 *
 * @module
 */

import { buildCudaLibrary, nvccVersion } from "../ffi/cuda_build.ts";
import { cudaDevices, cudaUnavailableReason, describeCudaLibrary } from "../ffi/cuda.ts";

/**
 * Builds (or finds the cached build of) the CUDA library and returns a summary, or `null` without nvcc.
 *
 * @example
 * ```ts
 * import { buildCudaAndDescribe } from "./build_cuda.ts";
 * console.log(buildCudaAndDescribe({ force: false }) ?? "no nvcc");
 * ```
 */
export function buildCudaAndDescribe(options: { force: boolean }): string | null {
  const toolkit = nvccVersion();
  if (toolkit === null) return null;
  const result = buildCudaLibrary({ force: options.force });
  const { abi, runtime } = describeCudaLibrary(result.path);
  const how = result.built ? `built in ${result.ms} ms` : "cached";
  const lines = [`${result.path} (abi ${abi}, cudart ${runtime}, ${how})`];
  lines.push(`nvcc: ${toolkit.split(" | ").at(-1)}`);
  const reason = cudaUnavailableReason();
  if (reason !== null) {
    lines.push(`GPU: none usable here (${reason}); the CPU kernels are used`);
  } else {
    for (const d of cudaDevices()) {
      lines.push(
        `GPU: ${d.name} ${d.model} (sm_${d.computeCapability.replace(".", "")}, ` +
          `${(d.freeBytes / 2 ** 30).toFixed(1)} of ${
            (d.totalBytes / 2 ** 30).toFixed(1)
          } GiB free)`,
      );
    }
  }
  return lines.join("\n");
}

if (import.meta.main) {
  try {
    const summary = buildCudaAndDescribe({ force: Deno.args.includes("--force") });
    if (summary === null) {
      console.log("bitload: nvcc not found; the CUDA library is optional and was not built");
      if (Deno.args.includes("--strict")) Deno.exit(1);
    } else {
      console.log(summary);
    }
  } catch (error) {
    console.error(`bitload: cannot build the CUDA kernels: ${(error as Error).message}`);
    Deno.exit(1);
  }
}

/**
 * Builds the optional CUDA library (`kernels/cuda/`) with nvcc into bitload's cache.
 *
 * - Only when `nvcc` (or `$NVCC`) runs; never required, and the CPU library never depends on it.
 * - Static cudart (nvcc's default): the library's only run-time dependency is the driver, which cudart
 *   dlopens lazily, so the library loads (and reports "no driver") on machines without one.
 * - No `-lcuda`: pip-wheel toolkits have no `libcuda.so` stub.
 * - The cache key is the sha256 of the nvcc path, `nvcc --version`, the flags, the target and every
 *   source; the file is written under a temporary name and renamed into place, so racing builds are safe.
 *   The cache directory is `nativeCacheDir()`: `$BITLOAD_CACHE_DIR`, else `$XDG_CACHE_HOME/bitload`,
 *   else `~/.cache/bitload`.
 *
 * @module
 */

import { writeTextFileAtomicSync } from "../src/common/atomic_write.ts";
import { readEnv } from "./env.ts";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

import { fileExists, nativeCacheDir } from "./c_build.ts";

/** The CUDA sources, compiled as one translation unit (`bitload_cuda.cu` includes the headers). */
export const CUDA_SOURCES = ["bitload_cuda.cu"] as const;

/** Headers that take part in the cache key. */
export const CUDA_HEADERS = ["bitload_cuda.h", "dequant_blocks.cuh"] as const;

/**
 * Architectures: SASS for sm_80 (A100) and sm_90 (H100/H200), PTX for compute_90 so that newer GPUs can
 * JIT-compile the kernels.
 */
export const CUDA_GENCODE = [
  "-gencode",
  "arch=compute_80,code=sm_80",
  "-gencode",
  "arch=compute_90,code=[sm_90,compute_90]",
] as const;

/**
 * nvcc flags. `-fmad=false` (plus the `__fmul_rn`/`__fsub_rn` intrinsics in the sources) keeps nvcc
 * from fusing multiply-adds; `-ftz=false` keeps subnormal results; `-ffp-contract=off` does the same for
 * the host emulation path.
 */
export const CUDA_NVCC_FLAGS = [
  "-O3",
  "-shared",
  "-std=c++17",
  "-Xcompiler",
  "-fPIC,-fvisibility=hidden,-ffp-contract=off,-Wall",
  "-fmad=false",
  "-ftz=false",
  "-prec-div=true",
  "-prec-sqrt=true",
  "-cudart",
  "static",
] as const;

/** Options of {@link buildCudaLibrary}. */
export interface CudaBuildOptions {
  /** Build even when a cached library with the same key exists. */
  force?: boolean;
  /** Output path instead of the cache (the compile test uses a temporary directory). */
  output?: string;
  /** Replaces {@link CUDA_GENCODE} (the compile test builds one architecture to stay fast). */
  gencode?: readonly string[];
}

/** What a build produced. */
export interface CudaBuildResult {
  /** Path of the library. */
  path: string;
  /** Whether nvcc ran (false: an up-to-date cached build was found). */
  built: boolean;
  /** Milliseconds spent (0 for a cache hit). */
  ms: number;
  /** The full nvcc command line, for logs. */
  command: string[];
}

const CUDA_DIR_URL = new URL("../kernels/cuda/", import.meta.url);

/**
 * The directory holding the CUDA sources.
 *
 * @example
 * ```ts
 * import { cudaSourceDir } from "./cuda_build.ts";
 * console.log(cudaSourceDir()); // ".../kernels/cuda"
 * ```
 */
export function cudaSourceDir(): string {
  if (CUDA_DIR_URL.protocol !== "file:") {
    throw new Error(`CUDA sources are not on the local file system (${CUDA_DIR_URL.href})`);
  }
  return fileURLToPath(CUDA_DIR_URL);
}

/**
 * The nvcc command bitload uses: `$NVCC`, else `nvcc`.
 *
 * @example
 * ```ts
 * import { nvccCommand } from "./cuda_build.ts";
 * console.log(nvccCommand()); // "nvcc"
 * ```
 */
export function nvccCommand(): string {
  return readEnv("NVCC") || "nvcc";
}

/**
 * `nvcc --version` (its last line, e.g. "Build cuda_13.0.r13.0/compiler.36424714_0"), or `null` with
 * no nvcc on PATH (or no `--allow-run`).
 *
 * @example
 * ```ts
 * import { nvccVersion } from "./cuda_build.ts";
 * console.log(nvccVersion() ?? "no nvcc");
 * ```
 */
export function nvccVersion(): string | null {
  const nvcc = nvccCommand();
  if (!versionCache.has(nvcc)) versionCache.set(nvcc, queryNvccVersion(nvcc));
  return versionCache.get(nvcc)!;
}

/** `nvcc --version` per command, asked once per process. */
const versionCache = new Map<string, string | null>();

function queryNvccVersion(nvcc: string): string | null {
  try {
    const out = new Deno.Command(nvcc, {
      args: ["--version"],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    if (!out.success) return null;
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    return lines.filter((line) => line.trim() !== "").join(" | ");
  } catch {
    return null;
  }
}

function sourceKey(dir: string, gencode: readonly string[]): string {
  const hash = createHash("sha256");
  hash.update(`${CUDA_NVCC_FLAGS.join(" ")}\0${gencode.join(" ")}\0${Deno.build.target}\0`);
  for (const name of [...CUDA_HEADERS, ...CUDA_SOURCES]) {
    hash.update(`${name}\0`);
    hash.update(Deno.readFileSync(join(dir, name)));
    hash.update("\0");
  }
  return hash.digest("hex");
}

function latestPointer(cacheDir: string, dir: string): string {
  return join(cacheDir, `latest-cuda-${sourceKey(dir, CUDA_GENCODE).slice(0, 24)}.txt`);
}

/**
 * The last cached build of the current sources (recorded by {@link buildCudaLibrary}), or `null`. Used
 * where nvcc cannot run (a machine with a driver but no toolkit, or no `--allow-run`).
 *
 * @example
 * ```ts
 * import { latestCudaBuild } from "./cuda_build.ts";
 * console.log(latestCudaBuild() ?? "not built yet");
 * ```
 */
export function latestCudaBuild(): string | null {
  try {
    const cacheDir = nativeCacheDir();
    if (cacheDir === null) return null;
    const path = Deno.readTextFileSync(latestPointer(cacheDir, cudaSourceDir())).trim();
    return fileExists(path) ? path : null;
  } catch {
    return null;
  }
}

/**
 * The cache path the current sources build to with this nvcc, or `null` without nvcc or cache dir.
 *
 * @example
 * ```ts
 * import { cudaCachePath } from "./cuda_build.ts";
 * console.log(cudaCachePath());
 * ```
 */
export function cudaCachePath(): string | null {
  const cacheDir = nativeCacheDir();
  const version = nvccVersion();
  if (cacheDir === null || version === null) return null;
  const key = createHash("sha256")
    .update(`${nvccCommand()}\0${version}\0${sourceKey(cudaSourceDir(), CUDA_GENCODE)}`)
    .digest("hex");
  return join(cacheDir, `libbitload_cuda-${key.slice(0, 24)}.so`);
}

/**
 * Builds the CUDA library with nvcc (into the cache unless `output` is given) and returns where it is.
 * Throws when nvcc is missing or fails (with the first lines of its output).
 *
 * @example
 * ```ts
 * import { buildCudaLibrary, nvccVersion } from "./cuda_build.ts";
 * if (nvccVersion() !== null) console.log(buildCudaLibrary().path);
 * ```
 */
export function buildCudaLibrary(options: CudaBuildOptions = {}): CudaBuildResult {
  if (Deno.build.os !== "linux") throw new Error("the CUDA library is built on Linux only");
  const dir = cudaSourceDir();
  const nvcc = nvccCommand();
  const gencode = options.gencode ?? CUDA_GENCODE;
  let target: string;
  let cacheDir: string | null = null;
  if (options.output !== undefined) {
    target = options.output;
  } else {
    cacheDir = nativeCacheDir();
    if (cacheDir === null) throw new Error("no cache directory: set BITLOAD_CACHE_DIR or HOME");
    const path = cudaCachePath();
    if (path === null) throw new Error(`"${nvcc}" is not available (is the CUDA toolkit on PATH?)`);
    target = path;
  }
  const args = [
    ...CUDA_NVCC_FLAGS,
    ...gencode,
    "-o",
    "",
    ...CUDA_SOURCES.map((name) => join(dir, name)),
  ];
  const outIndex = args.indexOf("-o") + 1;
  if (options.output === undefined && !options.force && fileExists(target)) {
    args[outIndex] = target;
    recordLatest(cacheDir!, dir, target);
    return { path: target, built: false, ms: 0, command: [nvcc, ...args] };
  }
  if (cacheDir !== null) Deno.mkdirSync(cacheDir, { recursive: true });
  const temp = `${target}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  args[outIndex] = temp;
  const started = performance.now();
  let out: Deno.CommandOutput;
  try {
    out = new Deno.Command(nvcc, { args, stdout: "piped", stderr: "piped" }).outputSync();
  } catch (error) {
    throw new Error(`cannot run "${nvcc}": ${(error as Error).message.split("\n")[0]}`);
  }
  const ms = Math.round(performance.now() - started);
  if (!out.success) {
    try {
      Deno.removeSync(temp);
    } catch { /* nothing was written */ }
    const log = new TextDecoder().decode(out.stderr).trim().split("\n").slice(0, 20).join("\n");
    throw new Error(`"${nvcc}" failed to build the CUDA kernels (exit code ${out.code}):\n${log}`);
  }
  Deno.renameSync(temp, target);
  if (cacheDir !== null) recordLatest(cacheDir, dir, target);
  args[outIndex] = target;
  return { path: target, built: true, ms, command: [nvcc, ...args] };
}

function recordLatest(cacheDir: string, dir: string, path: string): void {
  try {
    writeTextFileAtomicSync(latestPointer(cacheDir, dir), path);
  } catch { /* only an optimisation */ }
}

/**
 * `bitload dequant FILE --tensor NAME --out PATH [--backend native|ts] [--threads N]`: writes one
 * tensor as little-endian f32 (row-major as stored); and `bitload kernels`: which kernels run.
 *
 * @module
 */

import type { DequantizeBackend } from "../quant/dequantize.ts";
import { writeBytesAtomically } from "../common/atomic_write.ts";
import { formatBytes, UsageError } from "./output.ts";
import { TL_CONFIG_FLAG, tlConfigOption } from "./tl_option.ts";
import {
  COMMON_FLAGS,
  maxThreads,
  modelArgument,
  noMorePositionals,
  parseCommand,
  pick,
  threadsOption,
} from "./options.ts";

/** Help text of `bitload dequant`. */
export const DEQUANT_HELP = `Usage: bitload dequant FILE --tensor NAME --out PATH [options]

Dequantizes one tensor to little-endian f32, row-major as stored (ne0 fastest), and writes it
to PATH (through a temporary file and a rename). The values are bit for bit ggml's to_float.

Options:
  --tensor NAME        the tensor (see bitload inspect FILE --tensors)
  --out PATH           where to write the f32 values
  --backend B          native, ts or auto (default auto: native when available)
  -m, --model FILE     the model (instead of the positional FILE)
  -t, --threads N      native worker threads (default: all cores)
  --tl-config FILE     bitnet.cpp kernel_config.ini for TL1/TL2 tensors (else the official presets)
  --json               print {tensor, type, shape, out, bytes, ms} as JSON
  -h, --help           show this help

Permissions: --allow-read, --allow-write, --allow-ffi (native kernels; --allow-run and
--allow-env to build them with cc on first use).`;

/** Help text of `bitload kernels`. */
export const KERNELS_HELP = `Usage: bitload kernels [--json]

Says which kernels are in use and where they came from: the native library (path; from
BITLOAD_NATIVE_LIB, the cache or a fresh build; SIMD level) or the pure-TypeScript fallback and why. BITLOAD_SIMD=scalar|avx2|avx512 caps the SIMD level,
BITLOAD_NATIVE=0 disables native code, BITLOAD_NATIVE_LIB names a prebuilt library.`;

/** Runs `kernels`; returns the exit code. */
export async function runKernels(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("kernels", args, COMMON_FLAGS);
  noMorePositionals("kernels", positionals);
  if (values.help) {
    out(KERNELS_HELP);
    return 0;
  }
  // the native library's modules are imported only past --help (start-up time)
  const { kernelInfo } = await import("../../ffi/native.ts");
  const info = kernelInfo();
  if (values.json) out(JSON.stringify(info));
  else if (info.backend === "native") {
    const from = {
      env: "BITLOAD_NATIVE_LIB",
      path: "a given path",
      cache: "the cache",
      built: "a fresh build",
    };
    out(
      `native kernels: ${info.library} (from ${
        from[info.origin as keyof typeof from]
      }), SIMD ${info.simd}, ${info.threads} hardware threads`,
    );
  } else out(`pure-TypeScript kernels (${info.reason ?? "native kernels unavailable"})`);
  return 0;
}

/** Runs `dequant`; returns the exit code. */
export async function runDequant(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("dequant", args, {
    ...pick("model", "threads"),
    tensor: { type: "string" },
    out: { type: "string" },
    backend: { type: "string" },
    ...TL_CONFIG_FLAG,
    ...COMMON_FLAGS,
  });
  if (values.help) {
    out(DEQUANT_HELP);
    return 0;
  }
  const { file, rest } = modelArgument("dequant", values, positionals);
  noMorePositionals("dequant", rest);
  if (!values.tensor) throw new UsageError("dequant needs --tensor NAME");
  if (!values.out) throw new UsageError("dequant needs --out PATH");
  const backend = (values.backend ?? "auto") as DequantizeBackend;
  if (!["auto", "native", "ts"].includes(backend)) {
    throw new UsageError(`--backend must be native, ts or auto, got "${values.backend}"`);
  }
  const threads = threadsOption(values.threads) ?? maxThreads();
  // the loader and the dequantizers are imported only past --help and the usage checks
  const { openGguf } = await import("../pipeline/open.ts");
  // with a cached kernel library open, the header's vocabulary is scanned natively (faster);
  // nothing is built or printed for it
  (await import("../../ffi/native.ts")).openCachedNativeLibrary();
  const { dequantize } = await import("../quant/dequantize.ts");
  using model = await openGguf(file);
  const t = model.tensors.find((x) => x.name === values.tensor);
  if (!t) throw new Error(`${file}: no tensor named "${values.tensor}"`);
  if (!t.type.dequantizable) {
    throw new Error(
      `${file}: tensor "${t.name}" has type ${t.type.name}, which cannot be dequantized: ${t.type.refusal}`,
    );
  }
  const values32 = new Float32Array(t.elementCount);
  const started = performance.now();
  const tlConfig = await tlConfigOption(values["tl-config"]);
  dequantize(t.type, model.tensorData(t.name), values32, {
    backend,
    threads,
    dims: t.dims,
    tlConfig,
    name: t.name,
  });
  const ms = performance.now() - started;
  const bytes = new Uint8Array(values32.buffer);
  await writeBytesAtomically(values.out, bytes);
  if (values.json) {
    out(JSON.stringify({
      file,
      tensor: t.name,
      type: t.type.name,
      shape: t.dims.map(Number),
      out: values.out,
      bytes: bytes.length,
      ms: Math.round(ms * 100) / 100,
    }));
    return 0;
  }
  out(
    `${t.name}: ${t.type.name} [${t.dims.join(", ")}] → ${values.out} (${
      formatBytes(bytes.length)
    } f32) in ${ms.toFixed(1)} ms`,
  );
  return 0;
}

/**
 * `bitload dequant FILE --tensor NAME --out PATH [--backend native|ts] [--threads N]`: writes one
 * tensor as little-endian f32 (row-major as stored); and `bitload kernels`: which kernels run.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { kernelInfo } from "../../ffi/native.ts";
import { openGguf } from "../load/open.ts";
import { dequantize, type DequantizeBackend } from "../quant/dequantize.ts";
import { writeBytesAtomically } from "../common/atomic_write.ts";
import { formatBytes, integerOption, UsageError } from "./output.ts";

/** Help text of `bitload dequant`. */
export const DEQUANT_HELP = `Usage: bitload dequant FILE --tensor NAME --out PATH [options]

Dequantizes one tensor to little-endian f32, row-major as stored (ne0 fastest), and writes it
to PATH (through a temporary file and a rename). The values are bit for bit ggml's to_float.

Options:
  --tensor NAME        the tensor (see bitload inspect FILE --tensors)
  --out PATH           where to write the f32 values
  --backend B          native, ts or auto (default auto: native when available)
  --threads N          native worker threads (default: all cores)
  -h, --help           show this help

Permissions: --allow-read, --allow-write, --allow-ffi (native kernels; --allow-run and
--allow-env to build them with cc on first use).`;

/** Help text of `bitload kernels`. */
export const KERNELS_HELP = `Usage: bitload kernels [--json]

Says which dequantization kernels are in use: the native library (path, SIMD level) or the
pure-TypeScript fallback and why. BITLOAD_SIMD=scalar|avx2|avx512 caps the SIMD level,
BITLOAD_NATIVE=0 disables native code, BITLOAD_NATIVE_LIB names a prebuilt library.`;

/** Runs `kernels`; returns the exit code. */
export function runKernels(args: string[], out: (s: string) => void): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    out(KERNELS_HELP);
    return Promise.resolve(0);
  }
  const info = kernelInfo();
  if (values.json) out(JSON.stringify(info));
  else if (info.backend === "native") {
    out(`native kernels: ${info.library}, SIMD ${info.simd}, ${info.threads} hardware threads`);
  } else out(`pure-TypeScript kernels (${info.reason ?? "native kernels unavailable"})`);
  return Promise.resolve(0);
}

/** Runs `dequant`; returns the exit code. */
export async function runDequant(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      tensor: { type: "string" },
      out: { type: "string" },
      backend: { type: "string" },
      threads: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  if (values.help) {
    out(DEQUANT_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError("dequant needs one FILE (see bitload dequant --help)");
  }
  if (!values.tensor) throw new UsageError("dequant needs --tensor NAME");
  if (!values.out) throw new UsageError("dequant needs --out PATH");
  const backend = (values.backend ?? "auto") as DequantizeBackend;
  if (!["auto", "native", "ts"].includes(backend)) {
    throw new UsageError(`--backend must be native, ts or auto, got "${values.backend}"`);
  }
  const threads = integerOption("threads", values.threads, 1) ?? navigator.hardwareConcurrency;
  using model = await openGguf(positionals[0], { mmap: true });
  const t = model.tensors.find((x) => x.name === values.tensor);
  if (!t) throw new Error(`${positionals[0]}: no tensor named "${values.tensor}"`);
  if (!t.type.dequantizable) {
    throw new Error(
      `${
        positionals[0]
      }: tensor "${t.name}" has type ${t.type.name}, which cannot be dequantized: ${t.type.refusal}`,
    );
  }
  const values32 = new Float32Array(t.elementCount);
  const started = performance.now();
  dequantize(t.type, model.tensorData(t.name), values32, { backend, threads });
  const ms = performance.now() - started;
  const bytes = new Uint8Array(values32.buffer);
  await writeBytesAtomically(values.out, bytes);
  out(
    `${t.name}: ${t.type.name} [${t.dims.join(", ")}] → ${values.out} (${
      formatBytes(bytes.length)
    } f32) in ${ms.toFixed(1)} ms`,
  );
  return 0;
}

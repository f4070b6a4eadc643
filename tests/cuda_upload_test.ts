/**
 * GPU uploads: correctness of every H2D mode and of the chunked upload+dequant pipeline (against the CPU
 * kernels, bit for bit), and the transfer figures of issue 11 (H2D GB/s pinned vs pageable, dequant GB/s
 * per type vs the device's copy bandwidth, 2B/7B-shaped synthetic model upload vs the < 5 s target),
 * printed with the card's name. Every test is skipped, with the reason in its name, without a GPU.
 */
import assert from "node:assert/strict";

import {
  cudaAlloc,
  cudaDequantizeThroughput,
  cudaDeviceBandwidth,
  cudaDevices,
  cudaRegisterHost,
  cudaRuntime,
  cudaUnavailableReason,
  cudaUpload,
  cudaUploadDequantize,
} from "../ffi/cuda.ts";
import { CUDA_TYPES } from "../ffi/cuda_symbols.ts";
import { nativeKernels } from "../ffi/native.ts";
import { quantizeF16 } from "../src/quant/quantize.ts";
import { fillRandom, randomTensorBytes } from "./support/gpu_fixtures.ts";
import { uploadTensorsToCuda } from "../src/gpu/place.ts";
import { uploadSyntheticModel } from "./support/gpu_upload.ts";

const gpu = cudaRuntime();
const native = nativeKernels();
const skip = gpu === null ? ` (skipped: ${cudaUnavailableReason()})` : "";
const card = () => cudaDevices()[0]?.model ?? "unknown card";

function bitsEqual(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

Deno.test({
  name: `H2D copies arrive intact in every mode${skip}`,
  ignore: gpu === null,
  async fn(t) {
    const host = fillRandom(new Uint8Array((16 << 20) + 12345), 11);
    for (const mode of ["pageable", "staged", "registered"] as const) {
      for (const streams of [1, 3]) {
        await t.step(`${mode}, ${streams} stream(s), 3 MiB chunks`, () => {
          using device = cudaAlloc(host.byteLength);
          const report = cudaUpload(device, host, { mode, streams, chunkBytes: 3 << 20 });
          assert.equal(report.bytes, host.byteLength);
          assert.ok(report.seconds > 0);
          assert.ok(bitsEqual(device.read(), host), "device bytes differ from the host bytes");
        });
      }
    }
    await t.step("pinned with cudaRegisterHost, then cudaMemcpy", () => {
      using pinned = cudaRegisterHost(host);
      using device = cudaAlloc(host.byteLength);
      cudaUpload(device, pinned.bytes, { mode: "pageable", chunkBytes: host.byteLength });
      assert.ok(bitsEqual(device.read(), host));
    });
  },
});

Deno.test({
  name: `chunked upload + dequant equals the CPU kernels bit for bit${skip}`,
  ignore: gpu === null || native === null,
  async fn(t) {
    for (const [name, id] of Object.entries(CUDA_TYPES)) {
      for (const mode of ["staged", "registered"] as const) {
        await t.step(`${name} via ${mode}`, () => {
          const elements = id === 36
            ? 128
            : [0, 1, 30].includes(id)
            ? 1
            : id === 2 || id === 8
            ? 32
            : 256;
          const n = elements * 1000; // not a multiple of the chunk: the last chunk is short
          const src = randomTensorBytes(id, n, 500 + id);
          const ref = new Float32Array(n);
          native!.dequantize(id, src, ref);
          // ~7 blocks per chunk for block types, so there are many chunks over 3 streams.
          const chunkBytes = Math.max(1, Math.floor(src.byteLength / 143));
          const f32 = cudaUploadDequantize(id, src, n, { mode, streams: 3, chunkBytes });
          try {
            const got = new Uint32Array(f32.buffer.read().buffer);
            assert.ok(bitsEqual(new Uint32Array(ref.buffer), got), `${name} f32 differs`);
          } finally {
            f32.buffer.free();
          }
          const f16 = cudaUploadDequantize(id, src, n, {
            mode,
            streams: 2,
            chunkBytes,
            out: "f16",
          });
          try {
            const got = new Uint16Array(f16.buffer.read().buffer);
            const expected = id === CUDA_TYPES.F16
              ? new Uint16Array(src.buffer, 0, n)
              : new Uint16Array(quantizeF16(ref).buffer);
            assert.ok(bitsEqual(expected, got), `${name} f16 differs`);
          } finally {
            f16.buffer.free();
          }
        });
      }
    }
  },
});

Deno.test({
  name: `uploading placed tensors: stored bytes, device dequant and the CPU fallback${skip}`,
  ignore: gpu === null || native === null,
  fn() {
    const data = new Map<string, Uint8Array>([
      ["q4k", randomTensorBytes(CUDA_TYPES.Q4_K, 1024, 1)],
      ["i2s", randomTensorBytes(CUDA_TYPES.I2_S, 1024, 2, 0x3e800000)],
      ["q2k", fillRandom(new Uint8Array(4 * 84), 3)], // Q2_K: no CUDA kernel, CPU fallback
    ]);
    const model = {
      tensors: [
        { name: "q4k", elementCount: 1024, byteSize: 576, type: { id: 12, name: "Q4_K" } },
        { name: "i2s", elementCount: 1024, byteSize: 260, type: { id: 36, name: "I2_S" } },
        { name: "q2k", elementCount: 1024, byteSize: 336, type: { id: 10, name: "Q2_K" } },
      ],
      tensorData: (name: string) => data.get(name)!,
    };
    {
      using stored = uploadTensorsToCuda(model, ["q4k", "q2k"]);
      assert.equal(stored.bytes, 576 + 336);
      assert.ok(bitsEqual(stored.tensors.get("q4k")!.buffer.read(), data.get("q4k")!));
      assert.equal(stored.tensors.get("q2k")!.layout, "Q2_K");
    }
    using placed = uploadTensorsToCuda(model, ["q4k", "i2s", "q2k"], { as: "f32" });
    for (const [name, id] of [["q4k", 12], ["i2s", 36], ["q2k", 10]] as const) {
      const ref = new Float32Array(1024);
      native!.dequantize(id, data.get(name)!, ref);
      const t = placed.tensors.get(name)!;
      assert.equal(t.layout, "F32");
      assert.equal(t.deviceDequantized, name !== "q2k");
      assert.ok(
        bitsEqual(new Uint32Array(t.buffer.read().buffer), new Uint32Array(ref.buffer)),
        name,
      );
    }
    assert.throws(() => uploadTensorsToCuda(model, ["missing"]), {
      name: "GpuError",
      code: "NO_TENSOR",
    });
  },
});

Deno.test({
  name: `transfer and dequant figures (printed)${skip}`,
  ignore: gpu === null,
  async fn(t) {
    const lines: string[] = [`card: ${card()}`];
    await t.step("H2D GB/s: pageable vs staged vs registered (256 MiB)", () => {
      const host = fillRandom(new Uint8Array(256 << 20), 3);
      using device = cudaAlloc(host.byteLength);
      for (const mode of ["pageable", "staged", "registered"] as const) {
        const r = cudaUpload(device, host, { mode, streams: 2, chunkBytes: 32 << 20 });
        lines.push(
          `H2D ${mode}: ${r.gbPerSecond.toFixed(1)} GB/s (setup ${
            (r.setupSeconds * 1e3).toFixed(1)
          } ms)`,
        );
      }
      using pinned = cudaRegisterHost(host);
      const r = cudaUpload(device, pinned.bytes, { mode: "pageable", chunkBytes: host.byteLength });
      lines.push(`H2D pre-registered: ${r.gbPerSecond.toFixed(1)} GB/s`);
    });
    await t.step("dequant GB/s per type vs device copy bandwidth", () => {
      const copy = cudaDeviceBandwidth(512 << 20);
      const peak = cudaDevices()[0]?.peakBandwidthBytesPerSecond;
      lines.push(
        `device copy: ${copy.gbPerSecond.toFixed(0)} GB/s` +
          (peak ? ` (peak ${(peak / 1e9).toFixed(0)} GB/s)` : ""),
      );
      for (const [name, id] of Object.entries(CUDA_TYPES)) {
        const n = 64 << 20;
        const f32 = cudaDequantizeThroughput(id, n, "f32");
        const f16 = cudaDequantizeThroughput(id, n, "f16");
        lines.push(
          `dequant ${name}: ${f32.gbPerSecond.toFixed(0)} GB/s → f32, ` +
            `${f16.gbPerSecond.toFixed(0)} GB/s → f16 (bytes read + written)`,
        );
      }
    });
    await t.step("2B/7B-shaped synthetic model upload (target: 7B in < 5 s)", () => {
      for (const shape of ["bitnet-2b-i2_s", "llama-7b-q4_k"] as const) {
        const r = uploadSyntheticModel(shape, "registered");
        lines.push(
          `${shape}: ${r.tensors} tensors, ${(r.bytes / 1e9).toFixed(2)} GB in ${
            r.seconds.toFixed(2)
          } s ` +
            `(${r.gbPerSecond.toFixed(1)} GB/s, pinning ${(r.pinSeconds * 1e3).toFixed(0)} ms)`,
        );
        if (shape === "llama-7b-q4_k") assert.ok(r.seconds < 5, `7B upload took ${r.seconds} s`);
      }
    });
    console.log(lines.join("\n"));
  },
});

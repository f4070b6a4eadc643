/**
 * TL1/TL2 known answers: tensors that microsoft/BitNet's converter functions produced
 * (`scripts/gen_tl_fixtures.py`, fixtures in `tests/fixtures/tl/`) decode back to the original
 * ternary values and scale, and bitload's encoder writes the same bytes; the preset table and the
 * configuration rule; `quantize TL2 → I2_S` equals a direct I2_S quantization.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { decodeTl, dequantizeTl, encodeTl, quantizeTl, tlToI2S } from "../src/quant/tl.ts";
import { dequantizeTlTensor } from "../src/quant/tl_tensor.ts";
import {
  checkTlConfig,
  findTlConfig,
  parseKernelConfigIni,
  resolveTlConfig,
  TlConfigError,
  tlDataBytes,
  tlPresets,
  type TlType,
} from "../src/quant/tl_config.ts";
import { quantizeI2S } from "../src/quant/quantize.ts";
import { dequantizeI2_S } from "../src/quant/ternary.ts";
import { ggmlType, tensorByteSize } from "../src/gguf/types.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/tl/", import.meta.url));

interface Case {
  name: string;
  type: TlType;
  m: number;
  k: number;
  BM: number;
  BK: number;
  bmm: number;
  seed: number;
  scale: number;
  presetShape: [number, number];
  model: string | null;
  file?: string;
  storedScale?: number;
  converterError?: string;
}

const manifest = JSON.parse(Deno.readTextFileSync(FIXTURES + "manifest.json")) as {
  cases: Case[];
};

/** The generator's xorshift32 stream of ternary values. */
function xorshiftTernary(seed: number, n: number): Int8Array {
  const out = new Int8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    out[i] = (x % 3) - 1;
  }
  return out;
}

const config = (c: Case) => ({ m: c.m, k: c.k, BM: c.BM, BK: c.BK, bm: c.bmm });

Deno.test("TL fixtures: the converter's bytes decode to the original ternary values and scale", () => {
  const encoded = manifest.cases.filter((c) => c.file);
  assert.ok(encoded.length >= 20, "every preset configuration but one, and the extra shapes");
  for (const c of encoded) {
    const bytes = Deno.readFileSync(FIXTURES + c.file);
    const typeInfo = ggmlType(c.type === "TL1" ? 38 : 39, "bitnet")!;
    assert.equal(bytes.length, tensorByteSize(typeInfo, [c.k, c.m]), `${c.name}: byte size`);
    const expected = xorshiftTernary(c.seed, c.m * c.k);
    const { values, scale } = decodeTl(c.type, bytes, c.m, c.k, config(c));
    assert.equal(scale, Math.fround(c.scale), c.name);
    assert.equal(scale, c.storedScale, c.name);
    const firstBad = values.findIndex((v, i) => v !== expected[i]);
    assert.equal(firstBad, -1, `${c.name}: first wrong element ${firstBad}`);
    // bitload's encoder writes the converter's bytes exactly
    assert.deepEqual(encodeTl(c.type, expected, c.m, c.k, config(c), scale), bytes, c.name);
    // f32 decode equals the I2_S decode of the same values and scale
    const viaI2s = new Float32Array(c.m * c.k);
    dequantizeI2_S(tlToI2S(c.type, bytes, c.m, c.k, config(c)), viaI2s);
    const direct = new Float32Array(c.m * c.k);
    dequantizeTl(c.type, bytes, c.m, c.k, config(c), direct);
    assert.deepEqual(direct, viaI2s, c.name);
    assert.ok(tlDataBytes(c.type, c.m, c.k, config(c)) <= bytes.length - 32);
  }
});

Deno.test("TL fixtures: each preset configuration is covered, and the one the converter cannot encode is refused", () => {
  const presets = tlPresets();
  assert.equal(presets.length, 20);
  for (const p of presets) {
    const c = manifest.cases.find((c) =>
      c.model === p.model && c.type === p.type && c.presetShape[0] === p.m &&
      c.presetShape[1] === p.k
    );
    assert.ok(c, `${p.model} ${p.type} ${p.m}x${p.k} has a fixture case`);
    assert.deepEqual([c.BM, c.BK, c.bmm], [p.BM, p.BK, p.bm]);
    assert.equal(c.k % c.BK, p.k % p.BK, "the small shape keeps the preset's K % BK");
    const why = checkTlConfig(p.type, p.m, p.k, p);
    assert.equal(
      why === null,
      c.converterError === undefined,
      `${c.name}: ${why} / ${c.converterError}`,
    );
  }
  assert.throws(
    () => resolveTlConfig("TL2", [1536, 4096], {}, "blk.0.ffn_up.weight"),
    (e: unknown) =>
      e instanceof TlConfigError && e.code === "TL_CONFIG_INVALID" &&
      /bm must be 32/.test(e.message),
  );
});

Deno.test("TL config: ini parsing, file before presets, refusal naming the shape", () => {
  const ini = parseKernelConfigIni(
    "# mine\n[Kernels_0]\nM = 1536\nK = 1536\nBM = 256\nBK = 64\nbmm = 32\n\n[Kernels_1]\nm=64\nk=256\nbm=64\nbk=64\nbmm=64\n",
    "my.ini",
  );
  assert.equal(ini.sections.length, 2);
  assert.equal(findTlConfig("TL1", [1536, 1536], { tlConfig: ini })?.origin, "my.ini [Kernels_0]");
  assert.equal(
    findTlConfig("TL1", [1536, 1536])?.origin,
    "preset bitnet_b1_58-large kernel_config_tl1.ini [Kernels_1]",
  );
  assert.equal(findTlConfig("TL1", [256, 64], { tlConfig: ini })?.source, "file");
  assert.throws(
    () => resolveTlConfig("TL2", [2560, 640], {}, "blk.0.attn_k.weight"),
    (e: unknown) =>
      e instanceof TlConfigError && e.code === "TL_CONFIG_MISSING" &&
      /M = 640, K = 2560/.test(e.message) && /--tl-config/.test(e.message),
  );
  assert.throws(
    () => parseKernelConfigIni("[a]\nm = 3\n"),
    (e: unknown) => e instanceof TlConfigError && e.code === "TL_BAD_INI",
  );
});

Deno.test("TL2 quantize → decode → I2_S equals a direct I2_S quantization; bad codes are refused", () => {
  const M = 64, K = 352;
  const cfg = { m: M, k: K, BM: 32, BK: 96, bm: 32 };
  const x = new Float32Array(M * K);
  const t = xorshiftTernary(12345, M * K);
  for (let i = 0; i < x.length; i++) x[i] = t[i] * 0.37;
  x[5] = 5e-7; // below the zero threshold
  for (const type of ["TL1", "TL2"] as const) {
    const c = type === "TL1" ? { m: M, k: K, BM: 32, BK: 32, bm: 32 } : cfg;
    const tl = quantizeTl(type, x, M, K, c);
    assert.deepEqual(tlToI2S(type, tl, M, K, c), quantizeI2S(x), type);
  }
  const tl1 = quantizeTl("TL1", x, M, K, { m: M, k: K, BM: 32, BK: 32, bm: 32 });
  tl1[3] = 0xf0;
  assert.throws(
    () => decodeTl("TL1", tl1, M, K, { m: M, k: K, BM: 32, BK: 32, bm: 32 }),
    /pair index 15 at byte 3/,
  );
});

/** The microsoft/BitNet checkout or git mirror the generator reads the converter from. */
const BITNET_SRC = Deno.env.get("BITNET_SRC") ?? "/work/.mirror/microsoft+BitNet/repo";

function pythonWithNumpy(): string | null {
  try {
    const r = new Deno.Command("python3", {
      args: ["-c", "import numpy"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync();
    if (!r.success) return "python3 has no numpy (Debian: apt install python3-numpy)";
  } catch {
    return "python3 is not installed";
  }
  try {
    Deno.statSync(BITNET_SRC);
  } catch {
    return `no microsoft/BitNet checkout at ${BITNET_SRC} (set BITNET_SRC)`;
  }
  return null;
}

const noPython = pythonWithNumpy();

Deno.test({
  name: "TL full preset shapes: the converter run now (numpy) decodes exactly" +
    (noPython ? ` — skipped: ${noPython}` : ""),
  ignore: noPython !== null,
  fn() {
    const dir = Deno.makeTempDirSync();
    try {
      for (const [type, M, K] of [["TL1", 1536, 1536], ["TL2", 1536, 4096]] as const) {
        const choice = resolveTlConfig(type, [K, M]);
        assert.equal(choice.source, "preset");
        const c = choice.config;
        const out = `${dir}/${type}.bin`;
        const r = new Deno.Command("python3", {
          args: [
            fileURLToPath(new URL("../scripts/gen_tl_fixtures.py", import.meta.url)),
            "--bitnet",
            BITNET_SRC,
            "--one",
            type,
            `${M}`,
            `${K}`,
            `${c.BM}`,
            `${c.BK}`,
            `${c.bm}`,
            "7",
            out,
          ],
        }).outputSync();
        assert.ok(r.success, new TextDecoder().decode(r.stderr));
        const file = Deno.readFileSync(out);
        const w = new Int8Array(file.buffer, 0, M * K);
        const tl = file.subarray(M * K);
        const { values, scale } = decodeTl(type, tl, M, K, c);
        assert.equal(scale, 0.25);
        assert.equal(values.findIndex((v, i) => v !== w[i]), -1, type);
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("native TL decoder (kernels/tl.c) equals the TypeScript twin, f32 bits and I2_S bytes", async () => {
  const { nativeKernels } = await import("../ffi/native.ts");
  const native = nativeKernels();
  assert.ok(native, "the native kernels build in CI");
  for (const c of manifest.cases.filter((c) => c.file)) {
    const bytes = Deno.readFileSync(FIXTURES + c.file);
    const cfg = config(c);
    const i2s = new Uint8Array(c.m * c.k / 4 + 32);
    const f32 = new Float32Array(c.m * c.k);
    assert.equal(native.tlDecode(c.type === "TL1" ? 1 : 2, bytes, c.m, c.k, cfg, i2s, f32), 0);
    assert.deepEqual(i2s, tlToI2S(c.type, bytes, c.m, c.k, cfg), c.name);
    const ts = new Float32Array(c.m * c.k);
    dequantizeTl(c.type, bytes, c.m, c.k, cfg, ts);
    assert.deepEqual(new Uint32Array(f32.buffer), new Uint32Array(ts.buffer), c.name);
  }
  // a bad code: the native decoder flags its strip, the public path names the byte
  const c = manifest.cases.find((c) => c.type === "TL2" && c.file)!;
  const bad = Deno.readFileSync(FIXTURES + c.file);
  bad[1] = 0xef; // triple magnitude 14 in the high nibble
  assert.equal(native.tlDecode(2, bad, c.m, c.k, config(c), null, new Float32Array(c.m * c.k)), 1);
  assert.throws(
    () =>
      dequantizeTlTensor("TL2", bad, new Float32Array(c.m * c.k), [c.k, c.m], {
        tlConfig: { path: "x.ini", sections: [{ ...config(c), section: "K" }] },
      }),
    /triple index 14 at byte 1/,
  );
});

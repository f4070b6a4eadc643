/**
 * I2_S padding: an I2_S tensor of n elements is n/4 code bytes, an f32 scale and 28 unused bytes
 * (n/4 + 32 in all). `hash --canonical` leaves those 28 bytes out, so a bitnet.cpp-written and a
 * bitload-written file of the same weights have the same canonical digests; `validate` never reads
 * them (the same report whatever they hold). With the bitnet.cpp oracle present, the fork's
 * `llama-quantize … I2_S 1` writes one of the files.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { writeGguf } from "../src/gguf/mod.ts";
import { bitnetModelParts } from "../src/synth/mod.ts";
import { bitnetToUpstream } from "../src/infer/convert.ts";
import { openGguf } from "../src/pipeline/open.ts";
import { quantizeModel } from "../src/quant/quantize_model.ts";
import { hashModel } from "../src/validate/hash.ts";
import { validateModel } from "../src/validate/validate.ts";
import { runCli } from "./support/cli.ts";
import { oracleQuantize, oracleSkipReason } from "./reference/oracles.ts";

const forkSkip = oracleSkipReason("bitnet.cpp");

/** A copy of `from` whose I2_S padding bytes hold 0xA5 (what uninitialised memory may hold). */
async function withDirtyPadding(from: string, to: string): Promise<number> {
  const bytes = await Deno.readFile(from);
  using model = await openGguf(from);
  let dirty = 0;
  for (const t of model.tensors) {
    if (t.type.name !== "I2_S") continue;
    const data = model.tensorData(t.name);
    const start = data.byteOffset + t.elementCount / 4 + 4;
    bytes.fill(0xa5, start, start + 28);
    dirty++;
  }
  await Deno.writeFile(to, bytes);
  return dirty;
}

Deno.test("I2_S padding: hash --canonical ignores it, validate never reads it", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-i2s-pad-" });
  try {
    // the same ternary weights as F16 (the fork's llama-quantize input), then I2_S by bitload
    const f16 = join(dir, "f16.gguf");
    const up = bitnetToUpstream(bitnetModelParts({ layers: 1 }), "F16");
    await writeGguf(f16, up.metadata, up.tensors);
    const ours = join(dir, "bitload-i2s.gguf");
    {
      await using model = await openGguf(f16);
      await quantizeModel(model, ours, "I2_S");
    }
    const dirty = join(dir, "dirty-i2s.gguf");
    assert.equal(await withDirtyPadding(ours, dirty), 7);

    await t.step("the digests: stored bytes differ, canonical ones agree", async () => {
      const [a, b] = [await hashModel(ours), await hashModel(dirty)];
      assert.notEqual(a.modelDigest, b.modelDigest);
      const [ca, cb] = [
        await hashModel(ours, { canonical: true }),
        await hashModel(dirty, { canonical: true }),
      ];
      assert.equal(ca.modelDigest, cb.modelDigest);
      assert.equal(ca.canonical, true);
      const q = ca.tensors.find((x) => x.type === "I2_S")!;
      assert.equal(q.bytes, q.dims[0] * q.dims[1] / 4 + 4);
      // the CLI: --canonical, and --check following the manifest
      const manifest = join(dir, "m.json");
      let r = await runCli(["hash", ours, "--canonical", "--out", manifest]);
      assert.equal(r.code, 0, r.stderr);
      r = await runCli(["hash", dirty, "--check", manifest]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      r = await runCli(["hash", "--help"]);
      assert.match(r.stdout, /28 bytes after the\s+scale are unused/);
    });

    await t.step("validate gives the same report whatever the padding holds", async () => {
      const opts = { determinism: false, sample: 4 };
      const [a, b] = [await validateModel(ours, opts), await validateModel(dirty, opts)];
      assert.equal(a.ok, true);
      const strip = (r: typeof a) => JSON.stringify({ ...r, file: "" });
      assert.equal(strip(b), strip(a));
    });

    await t.step({
      name: `bitnet.cpp's llama-quantize … I2_S 1 and bitload agree canonically${
        forkSkip ? ` [skipped: ${forkSkip}]` : ""
      }`,
      ignore: forkSkip !== null,
      fn: async () => {
        const fork = join(dir, "fork-i2s.gguf");
        await oracleQuantize("bitnet.cpp", f16, fork, "I2_S", 1);
        const [cf, co] = [
          await hashModel(fork, { canonical: true }),
          await hashModel(ours, { canonical: true }),
        ];
        assert.deepEqual(cf.tensors, co.tensors);
        assert.equal(cf.modelDigest, co.modelDigest);
        const opts = { determinism: false, sample: 4 };
        assert.equal((await validateModel(fork, opts)).ok, true);
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

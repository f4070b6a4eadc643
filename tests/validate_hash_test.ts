import assert from "node:assert/strict";
import { ValidateError } from "../src/validate/errors.ts";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { openGgufModel } from "../src/gguf/split.ts";
import { synthesizeBitnetModel } from "../src/synth/bitnet_model.ts";
import { checkManifest, hashModel, parseManifest } from "../src/validate/hash.ts";
import { runHash } from "../src/cli/hash.ts";

const dir = await Deno.makeTempDir({ prefix: "bitload-hash-" });
const model = join(dir, "m.gguf");
await synthesizeBitnetModel(model, { layers: 1, vocab: 300 });

Deno.test("hash manifest: per-tensor sha256 and a whole-model digest of the data bytes", async () => {
  const m = await hashModel(model);
  const info = await openGgufModel(model);
  const bytes = await Deno.readFile(model);
  assert.equal(m.tensors.length, info.tensors.length);
  const whole = createHash("sha256");
  for (const [i, t] of info.tensors.entries()) {
    const data = bytes.subarray(t.fileOffset, t.fileOffset + t.byteSize);
    whole.update(data);
    assert.equal(m.tensors[i].sha256, createHash("sha256").update(data).digest("hex"));
    assert.equal(m.tensors[i].bytes, t.byteSize);
  }
  assert.equal(m.modelDigest, whole.digest("hex"));
  assert.deepEqual(parseManifest(JSON.stringify(m)), m);
  assert.throws(
    () => parseManifest("{}"),
    (e: unknown) => e instanceof ValidateError && e.code === "BAD_MANIFEST",
  );
});

Deno.test("bitload hash: round trip, then a changed byte is detected", async () => {
  const manifest = join(dir, "m.manifest.json");
  const lines: string[] = [];
  const out = (s: string) => lines.push(s);
  assert.equal(await runHash([model, "--out", manifest], out), 0);
  assert.equal(await runHash([model, "--check", manifest], out), 0);
  assert.match(lines.at(-1)!, /OK$/);

  const info = await openGgufModel(model);
  const t = info.tensors.find((x) => x.name === "blk.0.ffn_up.weight")!;
  const changed = join(dir, "changed.gguf");
  const bytes = await Deno.readFile(model);
  bytes[t.fileOffset + 10] ^= 1;
  await Deno.writeFile(changed, bytes);
  lines.length = 0;
  assert.equal(await runHash([changed, "--check", manifest], out), 1);
  assert.match(lines.join("\n"), /blk\.0\.ffn_up\.weight\s+CHANGED/);
  assert.match(lines.at(-1)!, /DIFFERS — FAILED$/);

  const a = await hashModel(model);
  const b = structuredClone(a);
  b.tensors.pop();
  const r = checkManifest(a, b);
  assert.equal(r.ok, false);
  assert.equal(r.extra.length, 1);
});

Deno.test("bitload hash prints the manifest as JSON on stdout", async () => {
  const lines: string[] = [];
  assert.equal(await runHash([model], (s) => lines.push(s)), 0);
  const m = parseManifest(lines.join("\n"));
  assert.equal(m.file, "m.gguf");
  await assert.rejects(() => runHash([], () => {}), /needs a model FILE or -m FILE/);
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

/**
 * `bitload hash FILE [--check MANIFEST] [--out PATH]`: per-tensor sha256 of the tensor data and a
 * whole-model digest as a JSON manifest, or a check of FILE against a manifest (exit 1 on any
 * difference), like `llama-gguf-hash --check`.
 *
 * @module
 */

import { writeBytesAtomically } from "../common/atomic_write.ts";
import { table, UsageError } from "./output.ts";
import { progressBar } from "./progress.ts";
import { COMMON_FLAGS, modelArgument, noMorePositionals, parseCommand, pick } from "./options.ts";

/** Help text of `bitload hash`. */
export const HASH_HELP = `Usage: bitload hash FILE [--check MANIFEST] [--out PATH] [--canonical]

Writes a JSON manifest: the sha256 of every tensor's data bytes and a whole-model digest (the
sha256 of all tensor data in directory order). Metadata is not hashed.

I2_S tensors store n/4 code bytes and an f32 scale in n/4 + 32 bytes: the 28 bytes after the
scale are unused (no engine reads them; bitload writes zeros, bitnet.cpp's llama-quantize leaves
whatever memory held), so two writers of the same weights can differ there.

Options:
  --canonical        leave the unused I2_S padding out of the digests, so that files with the
                     same weights agree whichever tool wrote them (recorded in the manifest;
                     --check follows the manifest)
  --check MANIFEST   verify FILE against a manifest; exit 1 on any difference
  --out PATH         write the manifest to PATH (atomically) instead of stdout
  -m, --model FILE   the model (instead of the positional FILE)
  --json             with --check: the result as JSON; with --out: a JSON summary line
                     (without either, the manifest itself is JSON)
  -h, --help         show this help`;

/**
 * Runs `hash`; returns the exit code.
 *
 * @example
 * ```ts ignore
 * import { runHash } from "./hash.ts";
 * await runHash(["m.gguf", "--out", "m.manifest.json"], console.log);
 * await runHash(["m.gguf", "--check", "m.manifest.json"], console.log); // 0 when unchanged
 * ```
 */
export async function runHash(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("hash", args, {
    ...pick("model"),
    check: { type: "string" },
    out: { type: "string" },
    canonical: { type: "boolean" },
    ...COMMON_FLAGS,
  });
  if (values.help) {
    out(HASH_HELP);
    return 0;
  }
  const { file, rest } = modelArgument("hash", values, positionals);
  noMorePositionals("hash", rest);
  if (values.check && values.out) throw new UsageError("--check and --out cannot be combined");
  // the hashing (the loader, node:crypto) is imported past --help (start-up time)
  const { checkManifest, hashModel, parseManifest } = await import("../validate/hash.ts");
  // with a cached kernel library open, the header's vocabulary is scanned natively (faster);
  // nothing is built or printed for it
  (await import("../../ffi/native.ts")).openCachedNativeLibrary();
  const expected = values.check ? parseManifest(await Deno.readTextFile(values.check)) : undefined;
  // --check hashes the way the manifest was made
  const canonical = expected ? expected.canonical === true : values.canonical === true;
  const bar = progressBar("hash");
  let manifest;
  try {
    manifest = await hashModel(file, { canonical, onProgress: bar.update });
  } finally {
    bar.done();
  }
  if (values.check && expected) {
    const r = checkManifest(manifest, expected);
    const rows = [["tensor", "status"]];
    for (const name of r.mismatched) rows.push([name, "CHANGED"]);
    for (const name of r.missing) rows.push([name, "MISSING"]);
    for (const name of r.extra) rows.push([name, "EXTRA"]);
    if (values.json) {
      out(JSON.stringify({ file, ...r, expected: expected.tensors.length }));
      return r.ok ? 0 : 1;
    }
    if (rows.length > 1) out(table(rows));
    out(
      `${file}: ${r.matched} of ${expected.tensors.length} tensors match, model digest ${
        r.modelDigestMatches ? "matches" : "DIFFERS"
      } — ${r.ok ? "OK" : "FAILED"}`,
    );
    return r.ok ? 0 : 1;
  }
  const text = JSON.stringify(manifest, null, 2);
  if (values.out) {
    await writeBytesAtomically(values.out, text + "\n");
    if (values.json) {
      out(JSON.stringify({
        file,
        out: values.out,
        tensors: manifest.tensors.length,
        modelDigest: manifest.modelDigest,
      }));
      return 0;
    }
    out(
      `${file}: ${manifest.tensors.length} tensors, model ${manifest.modelDigest} → ${values.out}`,
    );
  } else out(text);
  return 0;
}

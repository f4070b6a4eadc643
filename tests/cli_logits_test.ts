/**
 * `bitload logits` and `bitload compare-logits`: the binary file (the oracles' format) and the JSON
 * hold the same f32 values, the comparison of a file with itself is bit-identical, the table and
 * JSON summaries report argmax agreement and the largest difference, usage errors exit 2, and the
 * binary file reads against bitnet.cpp's bitnet_logits output when the oracle is present (and
 * `run --decode ggml` gives the fork's greedy tokens).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { writeGguf } from "../src/gguf/mod.ts";
import { bitnetModelParts } from "../src/synth/mod.ts";
import { bitnetToUpstream } from "../src/infer/convert.ts";
import { decodeLogits, encodeLogits } from "../src/infer/logits.ts";
import { runCli } from "./support/cli.ts";
import { oracleLogits, oracleSkipReason } from "./reference/oracles.ts";

Deno.test("bitload logits / compare-logits", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitload-logits-" });
  try {
    const file = join(dir, "m.gguf");
    const up = bitnetToUpstream(bitnetModelParts({ layers: 1 }), "I2_S");
    await writeGguf(file, up.metadata, up.tensors);
    const bin = join(dir, "ours.bin"), json = join(dir, "ours.json");
    const ids = "1,5,9,100,300,7";
    let r = await runCli(["logits", file, "--tokens", ids, "--kv-type", "f16", "--out", bin]);
    assert.equal(r.code, 0, r.stderr);
    r = await runCli(["logits", file, "--tokens", ids, "--kv-type", "f16", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    await Deno.writeTextFile(json, r.stdout);
    const parsed = JSON.parse(r.stdout) as { tokens: number[]; vocab: number; logits: number[][] };
    assert.deepEqual(parsed.tokens, [1, 5, 9, 100, 300, 7]);
    assert.equal(parsed.vocab, 1024);
    const fromBin = decodeLogits(await Deno.readFile(bin));
    assert.equal(fromBin.rows, 6);
    assert.deepEqual(decodeLogits(new TextEncoder().encode(r.stdout)).data, fromBin.data);
    assert.deepEqual(encodeLogits(fromBin), await Deno.readFile(bin));

    r = await runCli(["compare-logits", bin, json, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const same = JSON.parse(r.stdout);
    assert.equal(same.identical, true);
    assert.equal(same.argmaxAgree, 6);
    assert.equal(same.minCosine, 1);
    // one logit changed: the table names the position, the summary the difference
    const other = { ...fromBin, data: fromBin.data.slice() };
    other.data[2 * 1024 + 7] += 0.5;
    const changed = join(dir, "changed.bin");
    await Deno.writeFile(changed, encodeLogits(other));
    r = await runCli(["compare-logits", bin, changed]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /max \|Δ\| 5\.00e-1/);
    assert.doesNotMatch(r.stdout, /bit-identical/);

    r = await runCli(["logits", file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--tokens/);
    r = await runCli(["compare-logits", bin]);
    assert.equal(r.code, 2);
    await Deno.writeFile(join(dir, "bad.bin"), new Uint8Array([1, 0, 0, 0, 4, 0, 0, 0, 0]));
    r = await runCli(["compare-logits", bin, join(dir, "bad.bin")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^bitload: .*bad\.bin: logits header says 1 rows × 4/);
    for (const command of ["logits", "compare-logits"]) {
      r = await runCli([command, "--help"]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, new RegExp(`^Usage: bitload ${command}`));
    }

    if (oracleSkipReason("bitnet.cpp") === null) {
      const theirs = await oracleLogits("bitnet.cpp", file, ids.split(",").map(Number));
      const fork = join(dir, "fork.bin");
      await Deno.writeFile(fork, encodeLogits(theirs.prompt));
      r = await runCli(["compare-logits", bin, fork, "--json"]);
      assert.equal(JSON.parse(r.stdout).identical, true, r.stdout);
      // run --decode ggml: the fork's greedy tokens
      const gen = await oracleLogits("bitnet.cpp", file, ids.split(",").map(Number), { nGen: 8 });
      r = await runCli([
        "run",
        file,
        "--tokens",
        ids,
        "-n",
        "8",
        "--no-eos",
        "--kv-type",
        "f16",
        "--decode",
        "ggml",
        "--json",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").at(-1)!).tokens, gen.generated);
      r = await runCli(["run", file, "--tokens", ids, "--decode", "fast"]);
      assert.equal(r.code, 2);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

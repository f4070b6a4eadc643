/**
 * Cross-check against ggml's own GGUF parser (`gguf_init_from_file` of llama.cpp v0.5.0, see
 * tests/reference/ggml.ts): random valid files and a synthetic BitNet model (without I2_S, which
 * upstream ggml cannot read) must read the same in both; mutants ggml refuses must be refused by
 * bitload too.
 *
 * Mutants go to ggml in a child process: ggml answers some malformed files with `GGML_ASSERT`
 * (abort), which must not take the test runner down. A child that dies is restarted after the
 * file that killed it, and that file is counted as refused by ggml ("ggml aborts").
 *
 * Documented differences, excluded from the "bitload must refuse too" check and counted apart:
 * - nested arrays: the GGUF spec allows arrays of arrays; gguf.cpp refuses them, bitload reads
 *   them (src/gguf/limits.ts MAX_NESTING_DEPTH).
 * - big-endian files: gguf.cpp refuses them on a little-endian host; bitload reads them. No
 *   big-endian seed is used here.
 * - type ids 36–39 in a BitNet-architecture file: bitload reads them in the BitNet dialect
 *   (I2_S/I8_S/TL1/TL2), upstream ggml as IQ4_NL_4_4/…/MXFP4.
 * - tensor offsets that are aligned, in bounds and disjoint but not packed in directory order:
 *   gguf.cpp requires `offset == sum of the padded sizes before it`, bitload only what the issue
 *   asks (aligned, inside the data section, no overlaps). Reported as a difference for the lead.
 *
 * Where bitload is stricter than ggml (ggml accepts, bitload refuses: e.g. invalid UTF-8, tensor
 * data past the end of the file, which ggml does not check without loading data, alignment above
 * MAX_ALIGNMENT) the cases are counted by error code and printed, not failed.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type GgufFile, GgufValueType, readGguf, serializeGguf } from "../src/gguf/mod.ts";
import { bitnetModelParts } from "../src/synth/mod.ts";
import { GgufError } from "../src/gguf/errors.ts";
import { type GgmlGgufSummary, ggmlSkipReason, openGgmlReference } from "./reference/ggml.ts";
import {
  grammarFile,
  makeSeed,
  type Mutant,
  mutants,
  type RandomModel,
  randomModel,
  Rng,
  type Seed,
} from "./support/gguf_builders.ts";

const ref = openGgmlReference();
if (ref === null) console.log(`gguf cross-check skipped: ${ggmlSkipReason()}`);

const CROSS_SEED = 0xc055_2026;
/** Every how-many-th mutant of the shared generator goes to ggml. */
const MUTANT_STRIDE = 4;
/** Random field-by-field files also sent to both parsers. */
const GRAMMAR_FILES = 2000;
/** Mutant files written, probed and removed per child process. */
const BATCH = 500;

/** What bitload's reader reports, in the shape of ggml's summary. */
function bitloadSummary(file: GgufFile): GgmlGgufSummary {
  return {
    version: file.version,
    alignment: file.alignment,
    dataOffset: file.dataOffset,
    keys: [...file.metadata.keys()],
    tensors: file.tensors.map((t) => ({
      name: t.name,
      type: t.type.id,
      offset: t.offset,
      size: t.byteSize,
    })),
  };
}

/** A random valid model that upstream ggml can read: little-endian, no nested arrays. */
function ggmlReadableModel(rng: Rng, bitnet?: boolean): RandomModel {
  return randomModel(rng, {
    nested: false,
    littleEndian: true,
    bitnetTypes: false,
    bitnet,
    maxKeys: 12,
    maxTensors: 5,
  });
}

/** The synthetic BitNet model without its I2_S tensors (ggml cannot read id 36). */
function bitnetWithoutI2s(): { bytes: Uint8Array; tensors: number } {
  const { metadata, tensors } = bitnetModelParts({ layers: 1, vocab: 300 });
  const kept = tensors.filter((t) => t.type !== "I2_S");
  return { bytes: serializeGguf(metadata, kept), tensors: kept.length };
}

/** What ggml said about one file. */
type GgmlAnswer = GgmlGgufSummary | null | "abort";

/**
 * Runs ggml's parser over `paths` in child processes (one per run of files until a crash),
 * returning one answer per path.
 */
async function ggmlInChild(paths: string[], dir: string): Promise<GgmlAnswer[]> {
  const list = join(dir, "paths.json");
  await Deno.writeTextFile(list, JSON.stringify(paths));
  const refUrl = new URL("./reference/ggml.ts", import.meta.url).href;
  const answers: GgmlAnswer[] = new Array(paths.length);
  let start = 0;
  while (start < paths.length) {
    const code = `
      import { openGgmlReference } from ${JSON.stringify(refUrl)};
      const ref = openGgmlReference();
      const paths = JSON.parse(Deno.readTextFileSync(${JSON.stringify(list)}));
      const enc = new TextEncoder();
      for (let i = ${start}; i < paths.length; i++) {
        const r = ref.readGguf(paths[i]);
        Deno.stdout.writeSync(enc.encode(i + "\\t" + JSON.stringify(r) + "\\n"));
      }`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-check", code],
      stdout: "piped",
      stderr: "piped",
    }).output();
    let last = start - 1;
    for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
      if (!line) continue;
      const tab = line.indexOf("\t");
      const i = Number(line.slice(0, tab));
      answers[i] = JSON.parse(line.slice(tab + 1));
      last = i;
    }
    if (last === paths.length - 1) break;
    if (out.signal === null && out.code !== 134) {
      // Not an abort: the child itself failed (e.g. could not load the library).
      throw new Error(
        `ggml child stopped at ${last + 1} of ${paths.length} (exit ${out.code}): ${
          new TextDecoder().decode(out.stderr).slice(-2000)
        }`,
      );
    }
    answers[last + 1] = "abort";
    start = last + 2;
  }
  return answers;
}

Deno.test({
  name: "gguf cross-check: valid files read the same in bitload and ggml",
  ignore: ref === null,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "bitload-gguf-cross-" });
    try {
      const cases: { name: string; bytes: Uint8Array }[] = [];
      for (let i = 0; i < 150; i++) {
        const m = ggmlReadableModel(new Rng(CROSS_SEED + i), i % 5 === 0 ? true : undefined);
        cases.push({
          name: `random #${CROSS_SEED + i}`,
          bytes: serializeGguf(m.metadata, m.tensors, m.options),
        });
      }
      const bitnet = bitnetWithoutI2s();
      cases.push({ name: "synthetic BitNet without I2_S", bytes: bitnet.bytes });

      await t.step(
        `${cases.length} files: version, alignment, data offset, keys, tensors`,
        async () => {
          for (const [i, c] of cases.entries()) {
            const path = join(dir, `valid-${i}.gguf`);
            await Deno.writeFile(path, c.bytes);
            const ggml = ref!.readGguf(path);
            assert.notEqual(ggml, null, `ggml refused the valid file ${c.name}`);
            const ours = bitloadSummary(await readGguf(path));
            assert.deepEqual(ours, ggml, c.name);
          }
        },
      );
      await t.step("the BitNet case really is BitNet-shaped", async () => {
        const file = await readGguf(bitnet.bytes);
        assert.equal(file.metadata.get("general.architecture")?.value, "bitnet-b1.58");
        assert.equal(file.dialect, "bitnet");
        assert.equal(file.tensors.length, bitnet.tensors);
        assert.ok(file.metadata.get("tokenizer.ggml.tokens")?.arrayType === GgufValueType.STRING);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Whether bitload's accepted file differs from ggml's rules only in a documented way. */
function documentedDifference(file: GgufFile): string | null {
  for (const e of file.metadata.values()) {
    if (e.arrayType === GgufValueType.ARRAY) return "nested arrays (spec allows, gguf.cpp refuses)";
  }
  if (!file.littleEndian) return "big-endian file (gguf.cpp refuses on a little-endian host)";
  if (file.dialect === "bitnet" && file.tensors.some((t) => t.type.id >= 36 && t.type.id <= 39)) {
    return "ids 36-39 read in the BitNet dialect";
  }
  let expected = 0;
  for (const t of file.tensors) {
    if (t.offset !== expected) {
      return "tensor offsets not packed in directory order (gguf.cpp requires packing)";
    }
    expected += Math.ceil(t.byteSize / file.alignment) * file.alignment;
  }
  return null;
}

Deno.test({
  name: "gguf cross-check: mutants ggml refuses are refused by bitload too",
  ignore: ref === null,
  fn: async () => {
    const started = performance.now();
    const seeds: Seed[] = [];
    for (let s = CROSS_SEED; seeds.length < 3; s++) {
      const m = ggmlReadableModel(new Rng(s));
      const wantAligned = seeds.length === 2;
      if (m.tensors.length < 2 || (wantAligned && m.options.alignment === 32)) continue;
      const bytes = serializeGguf(m.metadata, m.tensors, m.options);
      seeds.push(makeSeed(`random#${s}`, bytes, m.options.alignment));
    }
    seeds.push(makeSeed("synthetic-bitnet-no-i2s", bitnetWithoutI2s().bytes, 32));

    const dir = await Deno.makeTempDir({ prefix: "bitload-gguf-cross-" });
    const stats = {
      mutants: 0,
      bothRefuse: 0,
      bothAccept: 0,
      ggmlAborts: 0,
      documented: new Map<string, number>(),
      stricter: new Map<string, { n: number; example: string }>(),
    };
    const failures: string[] = [];
    try {
      let batch: Mutant[] = [];
      const flush = async () => {
        const paths = batch.map((_, i) => join(dir, `mutant-${i}.gguf`));
        for (const [i, m] of batch.entries()) await Deno.writeFile(paths[i], m.bytes);
        const answers = await ggmlInChild(paths, dir);
        for (const [i, m] of batch.entries()) {
          const what = `[seed ${m.seed}; mutation ${m.mutation}]`;
          const g = answers[i];
          let ours: GgufFile | GgufError;
          try {
            ours = await readGguf(m.bytes);
          } catch (e) {
            if (!(e instanceof GgufError)) {
              failures.push(`${what}: bitload threw ${String(e)}`);
              continue;
            }
            ours = e;
          }
          stats.mutants++;
          if (g === "abort") stats.ggmlAborts++;
          if (ours instanceof GgufError) {
            if (g === null || g === "abort") stats.bothRefuse++;
            else {
              const s = stats.stricter.get(ours.code) ??
                { n: 0, example: `${what}: ${ours.reason}` };
              s.n++;
              stats.stricter.set(ours.code, s);
            }
            continue;
          }
          const doc = documentedDifference(ours);
          if (g === null || g === "abort") {
            if (doc) stats.documented.set(doc, (stats.documented.get(doc) ?? 0) + 1);
            else {failures.push(
                `${what}: ggml ${g === null ? "refuses" : "aborts"}, bitload accepts`,
              );}
            continue;
          }
          stats.bothAccept++;
          const mine = bitloadSummary(ours);
          if (JSON.stringify(mine) !== JSON.stringify(g) && !doc) {
            failures.push(
              `${what}: both accept but differ: bitload ${JSON.stringify(mine)}, ggml ${
                JSON.stringify(g)
              }`,
            );
          }
        }
        for (const p of paths) await Deno.remove(p);
        batch = [];
      };
      let k = 0;
      for (const m of mutants(seeds, CROSS_SEED)) {
        if (k++ % MUTANT_STRIDE !== 0) continue;
        batch.push(m);
        if (batch.length === BATCH) await flush();
      }
      // Files built field by field (little-endian: gguf.cpp refuses big-endian files).
      const rng = new Rng(CROSS_SEED ^ 0x6a3);
      for (let i = 0; i < GRAMMAR_FILES; i++) {
        batch.push({ seed: "grammar", mutation: `file ${i}`, bytes: grammarFile(rng, true) });
        if (batch.length === BATCH) await flush();
      }
      if (batch.length > 0) await flush();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    const fmt = (m: Map<string, number | { n: number; example: string }>) =>
      [...m.entries()].map(([k, v]) =>
        typeof v === "number" ? `${k}: ${v}` : `${k}: ${v.n} (e.g. ${v.example})`
      ).join("\n    ");
    console.log(
      `gguf cross-check: ${stats.mutants} files (mutants of ${seeds.length} seeds and ` +
        `${GRAMMAR_FILES} field-by-field files) through ggml and bitload ` +
        `in ${((performance.now() - started) / 1000).toFixed(1)} s\n` +
        `  both refuse ${stats.bothRefuse} (ggml aborted on ${stats.ggmlAborts}), both accept ${stats.bothAccept}\n` +
        `  ggml refuses, bitload accepts (documented):\n    ${fmt(stats.documented) || "none"}\n` +
        `  ggml accepts, bitload refuses (bitload stricter), by code:\n    ${
          fmt(stats.stricter) || "none"
        }`,
    );
    assert.deepEqual(failures.slice(0, 15), [], `${failures.length} disagreements`);
  },
});

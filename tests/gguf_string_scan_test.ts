// The header parser's string arrays: the native scan (kernels/gguf_strings.c) against the
// TypeScript loop it stands in for, at every SIMD level, and the lazy GgufStringArray against an
// eager decode of the same bytes.
import assert from "node:assert/strict";
import { nativeStringScan } from "../ffi/gguf_scan.ts";
import { nativeKernels, supportedSimdLevels } from "../ffi/native.ts";
import { seededRandom } from "../src/common/random.ts";
import { GgufError } from "../src/gguf/errors.ts";
import { readGguf, readGgufSync } from "../src/gguf/reader.ts";
import { openModelFile } from "../src/load/open.ts";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { referenceVocabDir, vocabSkipReason } from "./reference/assets.ts";
import { GgufStringArray } from "../src/gguf/string_array.ts";
import { FAST_SCAN_AFTER_BYTES } from "../src/gguf/parse.ts";
import type { GgufFile } from "../src/gguf/model.ts";

const native = nativeKernels();
const scan = nativeStringScan();
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A GGUF v3 file holding one string array "a" of these raw strings (no tensors). */
function stringArrayFile(strings: Uint8Array[], le = true): Uint8Array {
  const key = new TextEncoder().encode("a");
  let size = 4 + 4 + 8 + 8 + 8 + key.length + 4 + 4 + 8;
  for (const s of strings) size += 8 + s.length;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  out.set([0x47, 0x47, 0x55, 0x46]);
  let p = 4;
  const u32 = (x: number) => (v.setUint32(p, x, le), p += 4);
  const u64 = (x: number) => (v.setBigUint64(p, BigInt(x), le), p += 8);
  u32(3);
  u64(0); // tensors
  u64(1); // key/values
  u64(key.length);
  out.set(key, p);
  p += key.length;
  u32(9); // ARRAY
  u32(8); // of STRING
  u64(strings.length);
  for (const s of strings) {
    u64(s.length);
    out.set(s, p);
    p += s.length;
  }
  return out;
}

/** Parses in-memory bytes through the synchronous reader (so the buffer grows as it would). */
function parse(bytes: Uint8Array, withScan: boolean): GgufFile | GgufError {
  try {
    return readGgufSync({
      size: bytes.length,
      path: "mem.gguf",
      readInto: (dest, at) => dest.set(bytes.subarray(at, at + dest.length)),
    }, withScan && scan ? { stringScan: () => scan } : {});
  } catch (e) {
    if (e instanceof GgufError) return e;
    throw e;
  }
}

/** Random strings biased to the bytes that matter (leads, continuations, edges, ASCII runs). */
function randomStrings(seed: number, count: number, maxLength: number): Uint8Array[] {
  const rng = seededRandom(seed);
  const interesting = [
    0x00,
    0x41,
    0x7f,
    0x80,
    0x8f,
    0x90,
    0x9f,
    0xa0,
    0xbf,
    0xc0,
    0xc1,
    0xc2,
    0xc4,
    0xdf,
    0xe0,
    0xe1,
    0xed,
    0xee,
    0xef,
    0xf0,
    0xf1,
    0xf4,
    0xf5,
    0xf8,
    0xff,
  ];
  const valid = ["Ġ", "é", "€", "𝄞", "\uFEFF", "a", "the", "\u{10FFFF}", "\uD7FF", "\uE000"].map((
    s,
  ) => new TextEncoder().encode(s));
  // well-formed in shape but refused by Table 3-7: surrogate, overlong 3/4/2, above U+10FFFF
  const nearMisses = [[0xed, 0xa0, 0x80], [0xe0, 0x80, 0x80], [0xf0, 0x8f, 0xbf, 0xbf], [
    0xc1,
    0xbf,
  ], [
    0xf4,
    0x90,
    0x80,
    0x80,
  ]];
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    // lengths past 127 put a byte >= 0x80 in the length prefix (the native scan's run breaks)
    const length = rng.int(5) === 0 ? rng.int(maxLength + 1) : rng.int(24);
    const parts: number[] = [];
    while (parts.length < length) {
      // mostly well-formed pieces, so that arrays run long before a bad string (if any)
      const r = rng.int(1000);
      if (r < 500) parts.push(...valid[rng.int(valid.length)]);
      else if (r < 992) parts.push(0x20 + rng.int(0x5f));
      else if (r < 997) parts.push(interesting[rng.int(interesting.length)]);
      else parts.push(...nearMisses[rng.int(nearMisses.length)]);
    }
    out.push(Uint8Array.from(parts)); // whole pieces: a cut sequence would make most invalid
  }
  return out;
}

const levels = native ? supportedSimdLevels() : [];

Deno.test({
  name: `native string scan = the TypeScript loop, valid and invalid, at ${
    levels.join("/") || "no"
  } SIMD levels${scan ? "" : " [skipped: native kernels unavailable]"}`,
  ignore: scan === null,
  fn: () => {
    try {
      let invalid = 0;
      for (const level of levels) {
        native!.setSimd(level);
        for (let seed = 1; seed <= 300; seed++) {
          const strings = randomStrings(seed, 1 + (seed % 40), seed % 3 === 0 ? 300 : 70);
          // each string valid on its own, except where the random bytes made it not
          const le = seed % 5 !== 0;
          const bytes = stringArrayFile(strings, le);
          const expected = parse(bytes, false);
          if (expected instanceof GgufError) invalid++;
          // the scan itself, over the whole array and over every cut of the buffer
          const start = bytes.length - strings.reduce((a, s) => a + 8 + s.length, 0);
          const bounds = new Uint32Array(strings.length + 1);
          const cut = start + Math.floor((bytes.length - start) * ((seed % 7) / 6));
          const got = scan!(bytes, cut, start, 0, strings.length, !le, 1 << 30, bounds);
          let pos = start;
          let stop = strings.length;
          for (let i = 0; i < strings.length; i++) {
            const fits = pos + 8 + strings[i].length <= cut;
            let ok = true;
            try {
              strictDecoder.decode(strings[i]);
            } catch {
              ok = false;
            }
            if (!fits || !ok) {
              stop = i;
              break;
            }
            assert.equal(bounds[i], pos + 8, `level ${level} seed ${seed} start of ${i}`);
            pos += 8 + strings[i].length;
          }
          assert.deepEqual(got, { next: stop, pos }, `level ${level} seed ${seed} cut ${cut}`);
        }
      }
      assert.ok(invalid > 50, `a mix of valid and invalid arrays (${invalid} invalid)`);
    } finally {
      native!.setSimd("best");
    }
  },
});

Deno.test({
  name:
    `native string scan: sequences cut at a 32-byte block's end, at a length prefix, at the end${
      scan ? "" : " [skipped: native kernels unavailable]"
    }`,
  ignore: scan === null,
  fn: () => {
    const ascii = (n: number) => new Uint8Array(n).fill(0x61);
    const cat = (...xs: (Uint8Array | number[])[]) => Uint8Array.from(xs.flatMap((x) => [...x]));
    // the run starts at the first string's first byte; prefixes between strings are 8 bytes
    const cases: [string, Uint8Array[], number][] = [
      // "aaa…\xC3" then a 130-byte string: its length's low byte 0x82 would complete the "Ã"
      ["a lead byte before a length prefix >= 0x80", [cat(ascii(23), [0xc3]), ascii(130)], 0],
      // a run of exactly 64 bytes ending with a three-byte lead and one continuation
      ["a sequence cut by the end of a 64-byte run", [cat(ascii(62), [0xe1, 0x80])], 0],
      ["a four-byte lead at the last byte but 2 of a run", [cat(ascii(61), [0xf0, 0x9f, 0x98])], 0],
      // the sequence is cut at byte 32 of the run and the next 32 bytes are all ASCII
      ["a sequence cut at a block's end, then an ASCII block", [
        cat(ascii(30), [0xe2, 0x82]),
        ascii(60),
      ], 0],
      ["the same, well-formed", [cat(ascii(29), [0xe2, 0x82, 0xac]), ascii(60)], 2],
      ["a continuation byte first after a prefix", [ascii(40), cat([0x80], ascii(40))], 1],
    ];
    try {
      for (const level of levels) {
        native!.setSimd(level);
        for (const [what, strings, expected] of cases) {
          const bytes = stringArrayFile(strings);
          const start = bytes.length - strings.reduce((a, s) => a + 8 + s.length, 0);
          const bounds = new Uint32Array(strings.length + 1);
          const got = scan!(bytes, bytes.length, start, 0, strings.length, false, 1 << 30, bounds);
          assert.equal(got.next, expected, `${what} (${level})`);
          const ts = parse(bytes, false);
          assert.equal(ts instanceof GgufError, expected < strings.length, `${what}: TS agrees`);
        }
      }
    } finally {
      native!.setSimd("best");
    }
  },
});

Deno.test({
  name: `a large vocabulary parses the same with and without the native scan (strings, errors)${
    scan ? "" : " [skipped: native kernels unavailable]"
  }`,
  ignore: scan === null,
  fn: () => {
    const rng = seededRandom(11);
    const enc = new TextEncoder();
    const words = ["Ġthe", "Ġ", "ing", "é", "€uro", "𝄞", "", "\uFEFFbom", "a".repeat(200)];
    const strings: Uint8Array[] = [];
    let bytes = 0;
    while (bytes < 3 * FAST_SCAN_AFTER_BYTES) {
      const s = enc.encode(words[rng.int(words.length)] + rng.int(1000));
      strings.push(s);
      bytes += 8 + s.length;
    }
    for (const le of [true, false]) {
      const file = stringArrayFile(strings, le);
      const a = parse(file, false);
      const b = parse(file, true);
      assert.ok(!(a instanceof GgufError) && !(b instanceof GgufError));
      const sa = a.metadata.get("a")!.value as GgufStringArray;
      const sb = b.metadata.get("a")!.value as GgufStringArray;
      assert.equal(sb.length, strings.length);
      assert.deepEqual(sb.toArray(), sa.toArray());
      // a bad string near the end (past the point where the native scan takes over) and a
      // too-long length: the same typed error, at the same offset, with the same message
      for (const at of [strings.length - 3, Math.floor(strings.length * 0.7)]) {
        const broken = strings.slice();
        broken[at] = Uint8Array.from([0x61, 0xed, 0xa0, 0x80]); // a surrogate
        const ea = parse(stringArrayFile(broken, le), false);
        const eb = parse(stringArrayFile(broken, le), true);
        assert.ok(ea instanceof GgufError && eb instanceof GgufError);
        assert.equal(eb.code, "BAD_UTF8");
        assert.deepEqual([eb.code, eb.offset, eb.message], [ea.code, ea.offset, ea.message]);
      }
      const long = stringArrayFile(strings, le);
      const view = new DataView(long.buffer);
      const lengthAt = long.length - strings.at(-1)!.length - 8;
      view.setUint32(lengthAt + (le ? 4 : 0), 1, le); // 2^32 + length: above the limit
      const la = parse(long, false);
      const lb = parse(long, true);
      assert.ok(la instanceof GgufError && lb instanceof GgufError);
      assert.deepEqual([lb.code, lb.offset, lb.message], [la.code, la.offset, la.message]);
      // hostile bytes: random flips past the first 64 KiB (where the native scan runs), lengths
      // included (truncation, limits, bad UTF-8): the same outcome both ways
      const clean = stringArrayFile(strings, le);
      const flips = seededRandom(le ? 21 : 22);
      const outcome = (r: GgufFile | GgufError) =>
        r instanceof GgufError
          ? [r.code, r.offset, r.message]
          : (r.metadata.get("a")!.value as GgufStringArray).toArray();
      for (let k = 0; k < 40; k++) {
        const mutant = clean.slice();
        for (let f = 0; f < 1 + flips.int(3); f++) {
          const at = FAST_SCAN_AFTER_BYTES + flips.int(mutant.length - FAST_SCAN_AFTER_BYTES);
          mutant[at] = flips.int(2) ? flips.int(256) : [0x80, 0xc0, 0xed, 0xf4, 0xff][flips.int(5)];
        }
        assert.deepEqual(
          outcome(parse(mutant, true)),
          outcome(parse(mutant, false)),
          `mutant ${k}`,
        );
      }
    }
  },
});

Deno.test("the lazy string array gives what an eager decode gives, edge strings included", () => {
  const rng = seededRandom(5);
  const edge = ["", "a", "\uFEFF", "\uFEFFx", "0123456789abcdef", "0123456789abcdefg", "Ġ", "𝄞𝄞"];
  const strings: Uint8Array[] = edge.map((s) => new TextEncoder().encode(s));
  for (const s of randomStrings(9, 2000, 40)) {
    try {
      strictDecoder.decode(s);
      strings.push(s);
    } catch {
      // only well-formed strings: a file with any other is refused (next assertion)
    }
  }
  const file = parse(stringArrayFile(strings), scan !== null);
  assert.ok(!(file instanceof GgufError));
  const lazy = file.metadata.get("a")!.value as GgufStringArray;
  const eager = strings.map((s) => strictDecoder.decode(s));
  assert.equal(lazy.length, eager.length);
  for (let k = 0; k < 500; k++) {
    const i = rng.int(eager.length);
    assert.equal(lazy.get(i), eager[i], `string ${i}`);
    assert.equal(lazy.byteLength(i), strings[i].length);
  }
  assert.deepEqual([...lazy], eager);
  assert.deepEqual(lazy.toArray(), eager);
  assert.equal(lazy.at(-1), eager.at(-1));
  assert.deepEqual(GgufStringArray.from(eager).toArray(), eager);
  // not well-formed: refused at parse, as before
  const bad = parse(stringArrayFile([...strings.slice(0, 5), Uint8Array.from([0xc0, 0x80])]), true);
  assert.ok(bad instanceof GgufError && bad.code === "BAD_UTF8");
});

// The short-string decode builds ASCII and two-byte sequences by itself and hands anything else
// to the fatal decoder: every one- and two-byte string (and a prefix/suffix around it), even ones
// the parse would refuse, gives the decoder's string or its error.
Deno.test("the short-string decode agrees with the fatal decoder on every 1- and 2-byte string", () => {
  const outcome = (f: () => string) => {
    try {
      return f();
    } catch (e) {
      return e instanceof TypeError ? "TypeError" : `other ${e}`;
    }
  };
  const parts: Uint8Array[] = [];
  for (let a = 0; a < 256; a++) {
    parts.push(Uint8Array.of(a), Uint8Array.of(0x41, a, 0x42));
    for (let b = 0; b < 256; b++) parts.push(Uint8Array.of(a, b), Uint8Array.of(0xc4, 0xa0, a, b));
  }
  const arr = GgufStringArray.fromBytes(parts);
  for (let i = 0; i < parts.length; i++) {
    const want = outcome(() => strictDecoder.decode(parts[i]));
    const got = outcome(() => arr.get(i));
    if (got !== want) assert.fail(`bytes ${[...parts[i]]}: ${got} != ${want}`);
  }
});

// Every reference vocabulary (llama.cpp's ggml-vocab-*.gguf: Llama 3's 128k tokens and 280k
// merges, Gemma 4, Command R, ...) through `load`'s open (native scan) and through the plain reader
// (TypeScript loop): the same metadata, value for value.
const vocabDir = referenceVocabDir();
const vocabs = existsSync(vocabDir)
  ? [...Deno.readDirSync(vocabDir)].filter((e) => e.name.endsWith(".gguf")).map((e) =>
    join(vocabDir, e.name)
  ).sort()
  : [];

Deno.test({
  name: `real vocabularies: load's open (native scan) reads what the reader reads${
    scan === null
      ? " [skipped: native kernels unavailable]"
      : vocabs.length === 0
      ? ` [skipped: ${vocabSkipReason("llama-bpe")}]`
      : ""
  }`,
  ignore: scan === null || vocabs.length === 0,
  fn: async () => {
    let arrays = 0;
    for (const path of vocabs) {
      const plain = await readGguf(path);
      using opened = await openModelFile(path);
      assert.deepEqual([...opened.metadata.keys()], [...plain.metadata.keys()], path);
      for (const [key, entry] of plain.metadata) {
        const a = entry.value;
        const b = opened.metadata.get(key)!.value;
        if (a instanceof GgufStringArray) {
          assert.ok(b instanceof GgufStringArray, `${path} ${key}`);
          assert.equal(b.length, a.length, `${path} ${key}`);
          for (let i = 0; i < a.length; i++) {
            if (b.get(i) !== a.get(i)) {
              assert.fail(`${path} ${key}[${i}]: ${b.get(i)} != ${a.get(i)}`);
            }
          }
          arrays++;
        } else {
          assert.deepEqual(b, a, `${path} ${key}`);
        }
      }
      assert.equal(opened.parts[0].dataOffset, plain.dataOffset, path);
    }
    assert.ok(arrays >= vocabs.length, `${arrays} string arrays compared`);
  },
});

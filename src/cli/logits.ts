/**
 * `bitload logits FILE --tokens IDS [--threads N] [--kv-type T] [--json | --out F.bin]`: the
 * teacher-forced logits of every position, and `bitload compare-logits A B [--json]`: how two
 * engines' logits agree (per-position cosine, largest absolute difference, argmax), so that any
 * engine can be checked against bitload the way its own tests check bitnet.cpp and ik_llama.cpp.
 *
 * @module
 */

import { InferError } from "../infer/errors.ts";
import { writeBytesAtomically } from "../common/atomic_write.ts";
import { compareLogits, decodeLogits, encodeLogits, teacherForcedLogits } from "../infer/logits.ts";
import { envVar, table, UsageError } from "./output.ts";
import {
  COMMON_FLAGS,
  kvTypeOption,
  modelArgument,
  noMorePositionals,
  parseCommand,
  pick,
  threadsOption,
} from "./options.ts";

/** Help text of `bitload logits`. */
export const LOGITS_HELP =
  `Usage: bitload logits FILE --tokens IDS [options]   (or -m FILE; FILE defaults to $BITNET_GGUF)

Runs the token ids through the model as one prompt (teacher forcing) and gives the logits of
every position: row i holds the logits that predict the token after ids[i].

Options:
  --tokens IDS       the token ids, comma- or space-separated, or @FILE holding them
  -t, --threads N    kernel threads (default: tuned at load)
  --kv-type T        KV cache element type: f32 (default) or f16 (llama.cpp's default)
  --out F.bin        write the logits as binary: int32 rows, int32 vocab, then rows × vocab f32,
                     little-endian and row-major (the format of bitnet.cpp's bitnet_logits and
                     ik_llama.cpp's ik_logits drivers)
  --json             print {"tokens": [...], "vocab": V, "logits": [[...], ...]} (f32 values
                     printed so that they read back exactly)
  -m, --model FILE   the model (instead of the positional FILE)
  -h, --help         show this help

Without --out or --json: one line per position (token, argmax, its logit).
Compare two engines with bitload compare-logits A B.`;

/** Help text of `bitload compare-logits`. */
export const COMPARE_LOGITS_HELP = `Usage: bitload compare-logits A B [--json]

Compares two logits files (the binary form of bitload logits --out / bitnet_logits / ik_logits,
or bitload logits --json) position by position over their common rows: cosine similarity,
largest absolute difference and whether the argmax agrees; then the minimum cosine, the largest
difference (also relative to the largest |logit| of A), the argmax agreement and whether every
value is bit-identical.

Options:
  --json       one JSON object: {rows, rowsA, rowsB, vocab, minCosine, maxAbsDiff, largestLogit,
               argmaxAgree, identical, positions: [{position, cosine, maxAbsDiff, argmaxA,
               argmaxB}]}
  -h, --help   show this help`;

/** Parses `--tokens`: ids separated by commas and/or whitespace, or `@FILE`. */
async function tokenIds(text: string): Promise<number[]> {
  const source = text.startsWith("@") ? await Deno.readTextFile(text.slice(1)) : text;
  const ids = source.split(/[\s,]+/).filter((s) => s !== "").map((s) => {
    const v = Number(s);
    if (!Number.isSafeInteger(v) || v < 0) throw new UsageError(`--tokens: bad token id "${s}"`);
    return v;
  });
  if (ids.length === 0) throw new UsageError("--tokens holds no token ids");
  return ids;
}

/**
 * Runs `bitload logits`; returns the exit code.
 *
 * @example
 * ```ts ignore
 * import { runLogits } from "./logits.ts";
 * await runLogits(["model.gguf", "--tokens", "1,2,3", "--out", "ours.bin"], console.log);
 * ```
 */
export async function runLogits(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("logits", args, {
    ...pick("model", "threads"),
    tokens: { type: "string" },
    "kv-type": { type: "string" },
    out: { type: "string" },
    ...COMMON_FLAGS,
  });
  if (values.help) {
    out(LOGITS_HELP);
    return 0;
  }
  const { file, rest } = modelArgument("logits", values, positionals, envVar("BITNET_GGUF"));
  noMorePositionals("logits", rest);
  if (values.tokens === undefined) {
    throw new UsageError("bitload logits needs --tokens IDS (see bitload logits --help)");
  }
  if (values.json && values.out !== undefined) {
    throw new UsageError("give --json or --out F.bin, not both");
  }
  const tokens = await tokenIds(values.tokens);
  const kvType = kvTypeOption(values["kv-type"], "f32");
  const threads = threadsOption(values.threads);
  // the default KV cache (min(training context, 2048)) unless the ids need more
  const contextLength = tokens.length > 2048 ? tokens.length : undefined;
  // the inference model (every kernel binding, the tokenizer) is imported past --help
  const { InferenceModel } = await import("../infer/model.ts");
  using model = await InferenceModel.fromGguf(file, { threads, kvType, contextLength });
  const logits = teacherForcedLogits(model, tokens);
  if (values.out !== undefined) {
    await writeBytesAtomically(values.out, encodeLogits(logits));
    out(`wrote ${values.out}: ${logits.rows} rows × ${logits.vocab} logits (${model.kernelInfo})`);
    return 0;
  }
  const V = logits.vocab;
  const row = (i: number) => logits.data.subarray(i * V, (i + 1) * V);
  if (values.json) {
    // Number → string gives the shortest text that reads back as the same f32 (via f64)
    const rows = tokens.map((_, i) => `[${Array.from(row(i)).join(",")}]`);
    out(`{"tokens":${JSON.stringify(tokens)},"vocab":${V},"logits":[${rows.join(",")}]}`);
    return 0;
  }
  const lines = [["position", "token", "argmax", "logit"]];
  tokens.forEach((t, i) => {
    const r = row(i);
    let best = 0;
    for (let j = 1; j < V; j++) if (r[j] > r[best]) best = j;
    lines.push([String(i), String(t), String(best), r[best].toPrecision(6)]);
  });
  out(table(lines));
  out(`${logits.rows} positions × ${V} logits; kernels ${model.kernelInfo}`);
  return 0;
}

/**
 * Runs `bitload compare-logits`; returns the exit code.
 *
 * @example
 * ```ts ignore
 * import { runCompareLogits } from "./logits.ts";
 * await runCompareLogits(["ours.bin", "theirs.bin"], console.log);
 * ```
 */
export async function runCompareLogits(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("compare-logits", args, { ...COMMON_FLAGS });
  if (values.help) {
    out(COMPARE_LOGITS_HELP);
    return 0;
  }
  if (positionals.length !== 2) {
    throw new UsageError("compare-logits needs two files A B (see bitload compare-logits --help)");
  }
  const read = async (path: string) => {
    try {
      return decodeLogits(await Deno.readFile(path));
    } catch (e) {
      if (e instanceof InferError) throw e.withPath(path);
      throw e;
    }
  };
  const [a, b] = [await read(positionals[0]), await read(positionals[1])];
  if (a.vocab !== b.vocab) {
    throw new Error(`the vocabularies differ: ${a.vocab} vs ${b.vocab} logits per row`);
  }
  const c = compareLogits(a, b);
  if (values.json) {
    out(JSON.stringify(c));
    return 0;
  }
  const lines = [["position", "cosine", "max |Δ|", "argmax A", "argmax B", ""]];
  for (const p of c.positions) {
    lines.push([
      String(p.position),
      p.cosine.toFixed(7),
      p.maxAbsDiff.toExponential(2),
      String(p.argmaxA),
      String(p.argmaxB),
      p.argmaxA === p.argmaxB ? "" : "differs",
    ]);
  }
  out(table(lines));
  if (c.rowsA !== c.rowsB) out(`rows: A has ${c.rowsA}, B has ${c.rowsB}; compared ${c.rows}`);
  const relative = c.largestLogit > 0 ? c.maxAbsDiff / c.largestLogit : 0;
  out(
    `min cosine ${c.minCosine.toFixed(7)}, max |Δ| ${c.maxAbsDiff.toExponential(2)} (${
      relative.toExponential(2)
    } of the largest |logit| ${c.largestLogit.toPrecision(4)}), argmax ${c.argmaxAgree}/${c.rows}${
      c.identical ? ", bit-identical" : ""
    }`,
  );
  return 0;
}

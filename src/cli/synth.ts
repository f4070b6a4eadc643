/**
 * `bitload synth OUT.gguf [--layers N --dim D --ffn F --heads H --kv-heads K --vocab V --seed S]`:
 * writes a small synthetic BitNet b1.58 model.
 *
 * @module
 */

import { SynthError } from "../synth/errors.ts";
import { BITNET_SYNTH_DEFAULTS, synthesizeBitnetModel } from "../synth/bitnet_model.ts";
import type { BitnetSynthOptions } from "../synth/bitnet_model.ts";
import { formatBytes, UsageError } from "./output.ts";
import { progressBar } from "./progress.ts";
import { COMMON_FLAGS, noMorePositionals, parseCommand } from "./options.ts";

const d = BITNET_SYNTH_DEFAULTS;

/** Help text of `bitload synth`. */
export const SYNTH_HELP = `Usage: bitload synth OUT.gguf [options]

Writes a small but structurally faithful BitNet b1.58 model (architecture bitnet-b1.58,
F16 token_embd, F32 norms incl. attn_sub_norm/ffn_sub_norm, I2_S projections with one f32
scale each, tied output, a byte-level BPE vocabulary with merges). The bytes are identical
for the same options and seed. The file is written to a temporary name and renamed.

Options:
  --layers N     transformer blocks (default ${d.layers})
  --dim D        embedding width, a multiple of 128 (default ${d.dim})
  --ffn F        feed-forward width, a multiple of 128 (default ${d.ffn})
  --heads H      attention heads (default ${d.heads})
  --kv-heads K   key/value heads (default ${d.kvHeads})
  --vocab V      vocabulary size, at least 258 (default ${d.vocab})
  --context C    context length recorded in the metadata (default ${d.context})
  --seed S       random seed (default ${d.seed})
  --json         print {out, bytes, ms} as JSON
  -h, --help     show this help

Permissions: --allow-write (and --allow-read) for OUT's directory.`;

function intOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) {
    throw new UsageError(`--${name} expects an integer, got "${value}"`);
  }
  return n;
}

/** Parses synth options from arguments (shared with `demo`). */
export function parseSynthOptions(
  values: Record<string, string | boolean | undefined>,
): BitnetSynthOptions {
  const opt = (k: string) => intOption(k, values[k] as string | undefined);
  const o: BitnetSynthOptions = {
    layers: opt("layers"),
    dim: opt("dim"),
    ffn: opt("ffn"),
    heads: opt("heads"),
    kvHeads: opt("kv-heads"),
    vocab: opt("vocab"),
    context: opt("context"),
    seed: opt("seed"),
  };
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** The parseArgs option table for the synth flags. */
export const SYNTH_FLAGS = {
  layers: { type: "string" },
  dim: { type: "string" },
  ffn: { type: "string" },
  heads: { type: "string" },
  "kv-heads": { type: "string" },
  vocab: { type: "string" },
  context: { type: "string" },
  seed: { type: "string" },
} as const;

/** Runs `synth`; returns the exit code. */
export async function runSynth(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("synth", args, { ...SYNTH_FLAGS, ...COMMON_FLAGS });
  if (values.help) {
    out(SYNTH_HELP);
    return 0;
  }
  if (positionals.length === 0) {
    throw new UsageError("synth needs one OUT.gguf path (see bitload synth --help)");
  }
  noMorePositionals("synth", positionals.slice(1));
  let options: BitnetSynthOptions;
  try {
    options = parseSynthOptions(values);
  } catch (e) {
    throw e instanceof UsageError ? e : new UsageError((e as Error).message);
  }
  const started = performance.now();
  const bar = progressBar("synth");
  try {
    await synthesizeBitnetModel(positionals[0], options, { onProgress: bar.update });
  } catch (e) {
    if (e instanceof SynthError) throw new UsageError(e.message);
    throw e;
  } finally {
    bar.done();
  }
  const size = (await Deno.stat(positionals[0])).size;
  const ms = performance.now() - started;
  if (values.json) {
    out(JSON.stringify({ out: positionals[0], bytes: size, ms: Math.round(ms * 100) / 100 }));
    return 0;
  }
  out(
    `wrote ${positionals[0]} (${formatBytes(size)}) in ${ms.toFixed(0)} ms`,
  );
  return 0;
}

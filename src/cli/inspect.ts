/**
 * `bitload inspect FILE [--json] [--tensors] [--kv KEY]`: what a model file holds.
 *
 * @module
 */

import { formatValue, valueToJson } from "../gguf/metadata.ts";
import type { GgufModel } from "../gguf/model.ts";
import { openGgufModel } from "../gguf/split.ts";
import { readGgufFileSync } from "../gguf/reader.ts";
import { inspectJson, type ModelSummary, summarizeModel } from "../gguf/summary.ts";
import { valueTypeName } from "../gguf/value_types.ts";
import { bold, cyan, dim, formatBytes, formatCount, table, yellow } from "./output.ts";
import { TL_CONFIG_FLAG, tlConfigOption } from "./tl_option.ts";
import { HEADER_FLAG, remoteSource } from "./remote.ts";
import {
  COMMON_FLAGS,
  FULL_FLAG,
  modelArgument,
  noMorePositionals,
  parseCommand,
  pick,
} from "./options.ts";
import { findTlConfig, resolveTlConfig, type TlConfigFile } from "../quant/tl_config.ts";
import { describeTlTensor, isTlType } from "../quant/tl_describe.ts";

/** `--no-arrays` keeps arrays up to twice this many items, and this many of longer ones. */
export const ARRAY_HEAD = 8;

/** Help text of `bitload inspect`. */
export const INSPECT_HELP = `Usage: bitload inspect FILE [--json] [--tensors] [--kv KEY]

Shows what a GGUF model file holds: architecture, parameters, quantization mix,
hyperparameters, tokenizer and split parts. Reads only the header, never the tensor data.
FILE may be any part of a split model, an http(s):// URL (read with range requests), or a
Hugging Face reference: hf://OWNER/REPO/FILE.gguf, or hf://OWNER/REPO:QUANT to pick the repo's
file for a quantization (default Q4_K_M); the hub is $BITLOAD_HF_ENDPOINT (default
https://huggingface.co) and $HF_TOKEN is sent to it.

Options:
  -m, --model FILE  the model (instead of the positional FILE)
  --tl-config F kernel_config.ini for TL1/TL2 tensors (else the official presets)
  --header 'K: V'  a request header for a URL or hf:// (repeatable; $HF_TOKEN is sent to the hub)
  --full        never cut a table cell with … (default: tables fit 100 columns)
  --no-arrays   with --json: an array of more than ${ARRAY_HEAD * 2} items (a vocabulary, merges)
                becomes {type, length, head} with its first ${ARRAY_HEAD} items (32k tokens: 11.6 MB → 2 KB)
  --json        print {version, alignment, dataOffset, metadata, tensors} as JSON
  --tensors     also list every tensor (name, type, shape, offset, bytes)
  --kv KEY      print the value of one metadata key (repeatable)
  -h, --help    show this help

TL1/TL2 tensors (bitnet.cpp's lookup-table formats) are tiled by a (BM, BK, bm) configuration per
weight shape that the file does not carry: inspect shows, for each, the configuration that applies
and where it came from (--tl-config FILE, else the official presets), or that none is known.

Permissions: --allow-read (and --allow-net for URLs).
Exit codes: 0 ok, 1 the file is not a valid GGUF (one line on stderr), 2 usage error.`;

/**
 * Replaces each metadata array of more than `2 × ARRAY_HEAD` items by
 * `{type: "ARRAY<STRING>", length, head}` (the `--no-arrays` form of `inspect --json`).
 */
function summarizeArrays(model: GgufModel, metadata: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(metadata)) {
    if (!Array.isArray(value) || value.length <= 2 * ARRAY_HEAD) continue;
    const e = model.metadata.get(key);
    const type = e?.arrayType === undefined ? "ARRAY" : `ARRAY<${valueTypeName(e.arrayType)}>`;
    metadata[key] = { type, length: value.length, head: value.slice(0, ARRAY_HEAD) };
  }
}

/** Runs `inspect` with its arguments; returns the exit code. */
export async function runInspect(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("inspect", args, {
    ...pick("model"),
    tensors: { type: "boolean" },
    kv: { type: "string", multiple: true },
    ...TL_CONFIG_FLAG,
    "no-arrays": { type: "boolean" },
    ...HEADER_FLAG,
    ...FULL_FLAG,
    ...COMMON_FLAGS,
  });
  if (values.help) {
    out(INSPECT_HELP);
    return 0;
  }
  const { file, rest } = modelArgument("inspect", values, positionals);
  noMorePositionals("inspect", rest);
  const { source, http } = await remoteSource(file, values.header);
  // A local header parses faster with the kernel library open (its string scan), when a build is
  // already cached: nothing is built or printed for it (imported here: not on --help's path).
  const scan = http === undefined && (await import("../../ffi/native.ts")).openCachedNativeLibrary()
    ? (await import("../../ffi/gguf_scan.ts")).nativeStringScan
    : undefined;
  const model = await openGgufModel(source, {
    http,
    readPart: scan && ((path, part) => readGgufFileSync(path, { part, stringScan: scan })),
  });
  if (values.kv) {
    return printKeys(model, values.kv, values.json === true, out, file);
  }
  const tlConfig = await tlConfigOption(values["tl-config"]);
  if (values.json) {
    const json = inspectJson(model);
    if (values["no-arrays"]) summarizeArrays(model, json.metadata);
    out(JSON.stringify({
      ...json,
      tensors: json.tensors.map((t, i) => {
        const info = model.tensors[i];
        return isTlType(info.type.name)
          ? { ...t, tlConfig: tlConfigJson(info.type.name, info.dims, tlConfig) }
          : t;
      }),
    }));
    return 0;
  }
  const fit = { full: values.full };
  out(renderSummary(file, summarizeModel(model), fit));
  const tl = renderTlConfigs(model, tlConfig);
  if (tl) out("\n" + tl);
  out("\n" + renderMetadata(model, fit));
  if (values.tensors) out("\n" + renderTensors(model, tlConfig, fit));
  return 0;
}

/** The `tlConfig` of a TL tensor in `inspect --json`. */
function tlConfigJson(
  type: "TL1" | "TL2",
  dims: readonly number[],
  tlConfig: TlConfigFile | undefined,
): Record<string, unknown> {
  const choice = findTlConfig(type, dims, { tlConfig });
  if (!choice) return { source: null, error: "no configuration known for this shape" };
  let error: string | undefined;
  try {
    resolveTlConfig(type, dims, { tlConfig });
  } catch (e) {
    error = (e as Error).message;
  }
  const { BM, BK, bm } = choice.config;
  return { BM, BK, bm, source: choice.source, origin: choice.origin, ...(error ? { error } : {}) };
}

/** One line per TL shape: the configuration that applies and where it came from. */
function renderTlConfigs(model: GgufModel, tlConfig: TlConfigFile | undefined): string {
  const shapes = new Map<string, { type: "TL1" | "TL2"; dims: readonly number[]; count: number }>();
  for (const t of model.tensors) {
    if (!isTlType(t.type.name)) continue;
    const key = `${t.type.name} ${t.dims.join("x")}`;
    const seen = shapes.get(key);
    if (seen) seen.count++;
    else shapes.set(key, { type: t.type.name, dims: t.dims, count: 1 });
  }
  if (shapes.size === 0) return "";
  const rows = [["type", "M x K", "tensors", "tile configuration"]];
  for (const s of shapes.values()) {
    rows.push([
      s.type,
      `${s.dims.slice(1).reduce((a, b) => a * b, 1)} x ${s.dims[0]}`,
      String(s.count),
      describeTlTensor(s.type, s.dims, { tlConfig }),
    ]);
  }
  return bold("  TL tile configurations") + "\n" +
    table(rows).split("\n").map((l) => "  " + l).join("\n");
}

function printKeys(
  model: GgufModel,
  keys: string[],
  json: boolean,
  out: (s: string) => void,
  file: string,
): number {
  const result: Record<string, unknown> = {};
  for (const key of keys) {
    const entry = model.metadata.get(key);
    if (!entry) throw new Error(`${file}: no metadata key "${key}"`);
    result[key] = valueToJson(entry.value);
  }
  if (json) {
    out(JSON.stringify(keys.length === 1 ? result[keys[0]] : result));
    return 0;
  }
  for (const key of keys) {
    const entry = model.metadata.get(key)!;
    const text = typeof entry.value === "string"
      ? entry.value
      : typeof entry.value === "object"
      ? JSON.stringify(result[key])
      : String(entry.value);
    out(keys.length === 1 ? text : `${key} = ${text}`);
  }
  return 0;
}

function orDash(v: number | string | undefined): string {
  return v === undefined ? "-" : String(v);
}

/** How the human output fits the terminal: `full` never cuts a table cell. */
export interface FitOptions {
  /** Show every cell whole (`--full`) instead of fitting 100 columns. */
  full?: boolean;
}

/** The human summary printed by `inspect`. */
export function renderSummary(file: string, s: ModelSummary, fit: FitOptions = {}): string {
  const lines: string[] = [];
  lines.push(bold(file));
  const row = (label: string, value: string) => lines.push(`  ${cyan(label.padEnd(13))} ${value}`);
  const p0 = s.parts[0];
  row(
    "format",
    `GGUF v${s.version}${s.dialect === "bitnet" ? ", BitNet type ids (36 = I2_S)" : ""}`,
  );
  row("architecture", `${orDash(s.architecture)}${s.name ? dim(`  (${s.name})`) : ""}`);
  row(
    "parameters",
    `${formatCount(s.parameters)}${
      s.fileTypeName ? `  file type ${s.fileTypeName} (${s.fileType})` : ""
    }`,
  );
  row(
    "tensor data",
    `${formatBytes(s.tensorBytes)} in ${s.parts.reduce((a, p) => a + p.tensors, 0)} tensors` +
      (s.parameters > 0 ? `, ${(s.tensorBytes * 8 / s.parameters).toFixed(3)} bits/weight` : ""),
  );
  row(
    "shape",
    `context ${orDash(s.contextLength)}, embedding ${orDash(s.embeddingLength)}, layers ${
      orDash(s.blockCount)
    }, ffn ${orDash(s.feedForwardLength)}, heads ${orDash(s.headCount)}/${
      orDash(s.headCountKv ?? s.headCount)
    } (kv)`,
  );
  row("tokenizer", s.tokenizerModel ? `${s.tokenizerModel}, ${orDash(s.vocabSize)} tokens` : "-");
  row(
    "files",
    s.parts.length === 1
      ? `1 (${p0.bytes === undefined ? "size unknown" : formatBytes(p0.bytes)})`
      : `${s.parts.length} split parts: ` +
        s.parts.map((p) => `${p.path.split("/").pop()} (${p.tensors} tensors)`).join(", "),
  );
  if (s.quantMix.length > 0) {
    lines.push("");
    lines.push(bold("  quantization mix"));
    const rows = [["type", "tensors", "params", "bytes", "share", "bits/weight"]];
    for (const q of s.quantMix) {
      rows.push([
        q.type,
        String(q.tensors),
        formatCount(q.elements),
        formatBytes(q.bytes),
        `${(100 * q.bytes / Math.max(1, s.tensorBytes)).toFixed(1)}%`,
        q.bitsPerWeight.toFixed(3),
      ]);
    }
    lines.push(table(rows, { ...fit, width: 98 }).split("\n").map((l) => "  " + l).join("\n"));
  }
  for (const w of s.warnings) lines.push(yellow(`  warning: ${w}`));
  return lines.join("\n");
}

/** The `--tensors` table. */
export function renderTensors(
  model: GgufModel,
  tlConfig?: TlConfigFile,
  fit: FitOptions = {},
): string {
  const hasTl = model.tensors.some((t) => isTlType(t.type.name));
  const rows = [["name", "type", "shape", "offset", "bytes", ...(hasTl ? ["tl config"] : [])]];
  for (const t of model.tensors) {
    rows.push([
      model.parts.length > 1 ? `${t.name} [part ${t.part + 1}]` : t.name,
      t.type.name,
      `[${t.dims.join(", ")}]`,
      String(t.offset),
      String(t.byteSize),
      ...(hasTl
        ? [isTlType(t.type.name) ? describeTlTensor(t.type.name, t.dims, { tlConfig }) : ""]
        : []),
    ]);
  }
  return table(rows, fit);
}

/** Every metadata key with its type and an abbreviated value (cut to fit unless `full`). */
export function renderMetadata(model: GgufModel, fit: FitOptions = {}): string {
  const rows = [["key", "type", "value"]];
  for (const e of model.metadata.values()) {
    const type = e.arrayType === undefined
      ? valueTypeName(e.type)
      : `ARRAY<${valueTypeName(e.arrayType)}>`;
    // The item count first, so that a value cut to fit the terminal still says how long it is.
    const value = formatValue(e.value, 6).replace(/^\[(.*), … (\d+) items\]$/, "$2 items: [$1, …]");
    rows.push([e.key, type, value.replaceAll("\n", "\\n")]);
  }
  return bold(`  metadata (${model.metadata.size} keys)`) + "\n" +
    table(rows, { ...fit, width: 98 }).split("\n").map((l) => "  " + l).join("\n");
}

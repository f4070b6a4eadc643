/**
 * Split models (`gguf-split`): `name-00001-of-00003.gguf` … each part a complete GGUF with its own
 * tensor directory; only the first carries the full metadata. Keys `split.no` (u16, 0-based),
 * `split.count` (u16) and `split.tensors.count` (i32), from ggml-org/llama.cpp
 * `tools/gguf-split/gguf-split.cpp` and the loader checks of `src/llama-model-loader.cpp`.
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { GgufError } from "./errors.ts";
import { MAX_SPLIT_PARTS } from "./limits.ts";
import type { GgufFile, GgufModel } from "./model.ts";
import { type GgufSource, readGguf, readGgufFileSync, type ReadGgufOptions } from "./reader.ts";

const SPLIT_NAME = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/;

/** The parts of a split file name, or `null` when the name is not of the split form. */
export function parseSplitName(
  path: string,
): { prefix: string; index: number; count: number } | null {
  const m = SPLIT_NAME.exec(basename(path));
  if (!m) return null;
  return { prefix: join(dirname(path), m[1]), index: Number(m[2]) - 1, count: Number(m[3]) };
}

/**
 * Path of part `index` (0-based) of `count`, as llama.cpp's `llama_split_path` names it.
 *
 * @example
 * ```ts
 * import { splitPartPath } from "./split.ts";
 * splitPartPath("/models/m", 0, 3); // "/models/m-00001-of-00003.gguf"
 * ```
 */
export function splitPartPath(prefix: string, index: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, "0");
  return `${prefix}-${pad(index + 1)}-of-${pad(count)}.gguf`;
}

function splitNumber(file: GgufFile, key: string): number | undefined {
  const v = file.metadata.get(key)?.value;
  return typeof v === "number" ? v : undefined;
}

/** Options of {@link openGgufModel}. */
export interface OpenGgufModelOptions extends Pick<ReadGgufOptions, "http"> {
  /**
   * Reads one local part's header (default: `readGgufFileSync`); `index` is the 0-based part
   * number to record in its tensor infos. The pipeline passes a reader that keeps each file open
   * for mapping, so every part is opened once.
   */
  readPart?: (path: string, index: number) => GgufFile | Promise<GgufFile>;
}

/**
 * Opens a model from any of its files: a single GGUF, or any part of a split model (all parts
 * are found next to it, read, checked against each other, and presented as one tensor list).
 * Remote sources and streams are read as single files.
 *
 * @example
 * ```ts ignore
 * import { openGgufModel } from "./split.ts";
 * const model = await openGgufModel("qwen-00002-of-00003.gguf");
 * console.log(model.parts.length, model.tensors.length);
 * ```
 */
export async function openGgufModel(
  source: GgufSource,
  options: OpenGgufModelOptions = {},
): Promise<GgufModel> {
  if (typeof source !== "string" || /^https?:\/\//i.test(source)) {
    return modelOf([await readGguf(source, { http: options.http })]);
  }
  const read = options.readPart ?? ((path, index) => readGgufFileSync(path, { part: index }));
  const named = parseSplitName(source);
  const firstIndex = named !== null && named.index < named.count ? named.index : 0;
  const first = await read(source, firstIndex);
  const count = splitNumber(first, "split.count");
  if ((count === undefined || count <= 1) && named === null) return modelOf([first]);
  if (named === null) {
    if (count !== undefined && count > 1) {
      throw new GgufError(
        "SPLIT_INCONSISTENT",
        first.metadata.get("split.count")!.offset,
        `File says it is one of ${count} split parts, but its name is not of the form NAME-00001-of-${
          String(count).padStart(5, "0")
        }.gguf, so the other parts cannot be found`,
        { path: source },
      );
    }
    return modelOf([first]);
  }
  if (named.count < 1 || named.count > MAX_SPLIT_PARTS || named.index >= named.count) {
    throw new GgufError(
      "SPLIT_INCONSISTENT",
      0,
      `Split name says part ${named.index + 1} of ${named.count}`,
      { path: source },
    );
  }
  const parts: GgufFile[] = [];
  for (let i = 0; i < named.count; i++) {
    const path = splitPartPath(named.prefix, i, named.count);
    if (i === named.index) {
      parts.push(first);
      continue;
    }
    try {
      Deno.statSync(path);
    } catch {
      throw new GgufError(
        "SPLIT_MISSING_PART",
        0,
        `Split part ${i + 1} of ${named.count} is missing: expected "${path}"`,
        { path: source },
      );
    }
    parts.push(await read(path, i));
  }
  checkSplit(parts, named.count);
  return modelOf(parts);
}

function checkSplit(parts: GgufFile[], count: number): void {
  let total = 0;
  const names = new Set<string>();
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    const fail = (reason: string, offset = 0) => {
      throw new GgufError("SPLIT_INCONSISTENT", offset, reason, { path: p.source });
    };
    const no = splitNumber(p, "split.no");
    const n = splitNumber(p, "split.count");
    if (n !== count) {
      fail(`Part ${i + 1} says split.count = ${n ?? "(missing)"}, expected ${count}`);
    }
    if (no !== i) fail(`Part ${i + 1} says split.no = ${no ?? "(missing)"}, expected ${i}`);
    for (const t of p.tensors) {
      if (names.has(t.name)) fail(`Tensor "${t.name}" appears in more than one part`);
      names.add(t.name);
    }
    total += p.tensors.length;
  }
  const expected = splitNumber(parts[0], "split.tensors.count");
  if (expected !== undefined && expected !== total) {
    throw new GgufError(
      "SPLIT_INCONSISTENT",
      parts[0].metadata.get("split.tensors.count")!.offset,
      `split.tensors.count says ${expected} tensors but the ${count} parts hold ${total}`,
      { path: parts[0].source },
    );
  }
}

function modelOf(parts: GgufFile[]): GgufModel {
  return {
    parts,
    metadata: parts[0].metadata,
    tensors: parts.flatMap((p) => p.tensors),
    dialect: parts[0].dialect,
    warnings: parts.flatMap((p) => p.warnings),
  };
}

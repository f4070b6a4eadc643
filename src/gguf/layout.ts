/**
 * Tensor placement checks: each tensor's type is resolved in the file's dialect, its byte size
 * computed, and its data checked to be aligned, inside the file and clear of every other tensor.
 * This is where the BitNet id 36–39 collision is settled (gguf-and-quant-formats.md §3.1): the
 * dialect follows `general.architecture`, and the gaps between tensors confirm it or overrule it.
 *
 * @module
 */

import { GgufError } from "./errors.ts";
import type { GgufTensorInfo } from "./model.ts";
import type { RawTensorInfo } from "./parse.ts";
import {
  elementCount,
  ggmlType,
  type GgmlTypeInfo,
  tensorByteSize,
  type TypeDialect,
} from "./types.ts";

/** What {@link layoutTensors} needs to know about the file. */
export interface LayoutInput {
  tensors: readonly RawTensorInfo[];
  dialect: TypeDialect;
  alignment: number;
  dataOffset: number;
  /** Size of the file; when unknown, bounds and gap checks are skipped. */
  fileSize: number | undefined;
  /** Index of the split part. */
  part: number;
}

/** The checked tensors, the dialect finally used, and warnings. */
export interface LayoutResult {
  tensors: GgufTensorInfo[];
  dialect: TypeDialect;
  warnings: string[];
}

const AMBIGUOUS_IDS = new Set([36, 37, 38, 39]);

/**
 * Resolves and checks every tensor of one file.
 *
 * @example
 * ```ts
 * import { layoutTensors } from "./layout.ts";
 * const r = layoutTensors({
 *   tensors: [{ name: "w", dims: [32], typeId: 0, offset: 0, entryOffset: 24 }],
 *   dialect: "ggml", alignment: 32, dataOffset: 96, fileSize: 224, part: 0,
 * });
 * r.tensors[0].byteSize; // 128
 * ```
 */
export function layoutTensors(input: LayoutInput): LayoutResult {
  const { tensors, alignment, dataOffset, fileSize } = input;
  const warnings: string[] = [];
  const dataSize = fileSize === undefined ? undefined : fileSize - dataOffset;
  const gaps = gapsToNext(tensors, dataSize);

  let dialect = input.dialect;
  if (tensors.some((t) => AMBIGUOUS_IDS.has(t.typeId))) {
    dialect = settleDialect(tensors, gaps, dialect, alignment, warnings);
  }

  const out: GgufTensorInfo[] = [];
  for (const raw of tensors) {
    const type = resolveType(raw, dialect);
    const byteSize = sizeOf(raw, type);
    if (raw.offset % alignment !== 0) {
      throw new GgufError(
        "TENSOR_MISALIGNED",
        raw.entryOffset,
        `Tensor "${raw.name}" starts at data offset ${raw.offset}, not a multiple of the alignment ${alignment}`,
      );
    }
    if (dataSize !== undefined && raw.offset + byteSize > dataSize) {
      throw new GgufError(
        "TENSOR_OUT_OF_BOUNDS",
        raw.entryOffset,
        `Tensor "${raw.name}" needs bytes ${dataOffset + raw.offset}–${
          dataOffset + raw.offset + byteSize
        } but the file has ${fileSize} bytes`,
      );
    }
    out.push({
      name: raw.name,
      dims: Object.freeze([...raw.dims]),
      type,
      offset: raw.offset,
      fileOffset: dataOffset + raw.offset,
      byteSize,
      elementCount: elementCount(raw.dims),
      part: input.part,
    });
  }
  checkOverlaps(out, tensors);
  return { tensors: out, dialect, warnings };
}

/** Bytes from each tensor's start to the next tensor's start (or the end of the data). */
function gapsToNext(
  tensors: readonly RawTensorInfo[],
  dataSize: number | undefined,
): (number | undefined)[] {
  const order = tensors.map((_, i) => i).sort((a, b) => tensors[a].offset - tensors[b].offset);
  const gaps = new Array<number | undefined>(tensors.length);
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    const next = k + 1 < order.length ? tensors[order[k + 1]].offset : dataSize;
    gaps[i] = next === undefined ? undefined : next - tensors[i].offset;
  }
  return gaps;
}

function safeSize(raw: RawTensorInfo, type: GgmlTypeInfo | undefined): number | null {
  if (!type || (type.blockSize === 0 && type.typeSize === 0)) return null;
  try {
    return tensorByteSize(type, raw.dims);
  } catch {
    return null;
  }
}

/**
 * How well a size matches the gap to the next tensor: "exact" when the data fills the gap up to
 * the alignment padding (how every writer packs tensors), "loose" when it merely ends before the
 * next tensor, "no" when it does not fit. An unknown gap (stream) counts as exact.
 */
function fit(
  size: number | null,
  gap: number | undefined,
  alignment: number,
): "exact" | "loose" | "no" {
  if (size === null || !Number.isFinite(size)) return "no";
  if (gap === undefined) return "exact";
  if (size > gap) return "no";
  return gap - size < Math.max(alignment, 1) ? "exact" : "loose";
}

/**
 * Decides how ids 36–39 are read: the architecture's dialect when its sizes match the gaps
 * between tensors; otherwise the other dialect when its sizes match better (exact padding first,
 * then merely fitting), with a warning. When neither fits, the file is refused with both sizes in
 * the message (or, where the architecture's reading is a removed type, as that removed type).
 */
function settleDialect(
  tensors: readonly RawTensorInfo[],
  gaps: readonly (number | undefined)[],
  primary: TypeDialect,
  alignment: number,
  warnings: string[],
): TypeDialect {
  const other: TypeDialect = primary === "bitnet" ? "ggml" : "bitnet";
  const rank = { exact: 0, loose: 1, no: 2 } as const;
  const assess = (d: TypeDialect) => {
    let level: keyof typeof rank = "exact";
    let first: { raw: RawTensorInfo; gap: number | undefined } | undefined;
    for (let i = 0; i < tensors.length; i++) {
      const raw = tensors[i];
      if (!AMBIGUOUS_IDS.has(raw.typeId)) continue;
      const f = fit(safeSize(raw, ggmlType(raw.typeId, d)), gaps[i], alignment);
      if (rank[f] > rank[level]) {
        level = f;
        first = { raw, gap: gaps[i] };
      }
    }
    return { level, first };
  };
  const p = assess(primary);
  if (p.level === "exact") return primary;
  const o = assess(other);
  const { raw, gap } = p.first!;
  const describe = (d: TypeDialect) => {
    const type = ggmlType(raw.typeId, d);
    const size = safeSize(raw, type);
    return `${d === "bitnet" ? "BitNet" : "upstream ggml"} reads id ${raw.typeId} as ${
      type?.name ?? "?"
    } (${size === null ? "no valid size" : `${size} bytes`})`;
  };
  if (o.level === "exact" || (o.level === "loose" && p.level === "no")) {
    warnings.push(
      `Tensor "${raw.name}": ${
        describe(other)
      }, which fits the ${gap}-byte gap to the next tensor, ` +
        `while ${describe(primary)}, which does not; reading ids 36–39 in the ${other} dialect`,
    );
    return other;
  }
  if (p.level === "loose") return primary;
  // The architecture's reading is a removed type: let resolveType refuse it by name.
  if (ggmlType(raw.typeId, primary)?.blockSize === 0) return primary;
  throw new GgufError(
    "DIALECT_MISMATCH",
    raw.entryOffset,
    `Tensor "${raw.name}" has type id ${raw.typeId} and a ${
      gap ?? "unknown"
    }-byte gap to the next tensor: ` +
      `${describe(primary)}; ${describe(other)}; neither fits`,
  );
}

function resolveType(raw: RawTensorInfo, dialect: TypeDialect): GgmlTypeInfo {
  const type = ggmlType(raw.typeId, dialect);
  if (!type) {
    throw new GgufError(
      "UNKNOWN_TYPE",
      raw.entryOffset,
      `Tensor "${raw.name}" has type id ${raw.typeId}, which ggml does not define (0–42${
        dialect === "bitnet" ? ", BitNet 36–39" : ""
      })`,
    );
  }
  if (type.blockSize === 0) {
    throw new GgufError(
      "REMOVED_TYPE",
      raw.entryOffset,
      `Tensor "${raw.name}" has type ${type.name} (id ${type.id}), which ${type.refusal}`,
    );
  }
  return type;
}

function sizeOf(raw: RawTensorInfo, type: GgmlTypeInfo): number {
  let size: number | null;
  try {
    size = tensorByteSize(type, raw.dims);
  } catch (e) {
    if (e instanceof GgufError) {
      throw new GgufError(
        "TENSOR_TOO_LARGE",
        raw.entryOffset,
        `Tensor "${raw.name}" [${raw.dims}] is too large to address`,
      );
    }
    throw e;
  }
  if (size === null || !Number.isSafeInteger(size)) {
    throw new GgufError(
      "BAD_BLOCK_MULTIPLE",
      raw.entryOffset,
      `Tensor "${raw.name}" has ne[0] = ${
        raw.dims[0]
      }, not a multiple of the ${type.name} block size ${type.blockSize}`,
    );
  }
  return size;
}

function checkOverlaps(out: GgufTensorInfo[], raws: readonly RawTensorInfo[]): void {
  const order = out.map((_, i) => i).filter((i) => out[i].byteSize > 0).sort((a, b) =>
    out[a].offset - out[b].offset
  );
  for (let k = 1; k < order.length; k++) {
    const prev = out[order[k - 1]];
    const cur = out[order[k]];
    if (prev.offset + prev.byteSize > cur.offset) {
      throw new GgufError(
        "TENSOR_OVERLAP",
        raws[order[k]].entryOffset,
        `Tensor "${cur.name}" starts at data offset ${cur.offset}, inside "${prev.name}" (${prev.offset}–${
          prev.offset + prev.byteSize
        })`,
      );
    }
  }
}

/**
 * `openGguf`: a model's metadata, and — when access options are given — its tensor data, as
 * zero-copy views of a memory mapping (default) or read on demand into one buffer per file.
 *
 * @module
 */

import type { GgufModel, GgufTensorInfo } from "../gguf/model.ts";
import type { GgufSource } from "../gguf/reader.ts";
import { openGgufModel } from "../gguf/split.ts";
import {
  type FileBytes,
  mapFile,
  mappingUnavailableReason,
  type PrefetchAdvice,
  ReadBuffer,
} from "./mapping.ts";

/** How {@link openGguf} gives access to tensor data. */
export interface TensorAccessOptions {
  /** Map the files (zero-copy). Default true; falls back to reading when mapping is unavailable. */
  mmap?: boolean;
  /** Lock mapped pages in memory. */
  mlock?: boolean;
  /** Prefault the whole mapping (`MAP_POPULATE`). */
  populate?: boolean;
  /** `madvise` hint for the whole mapping. */
  prefetch?: PrefetchAdvice;
}

/** A model with its tensor data reachable. Close it (or `using`) to release the files. */
export interface GgufModelWithData extends GgufModel, Disposable {
  /** Whether tensor views are zero-copy views of a mapping. */
  readonly mapped: boolean;
  /** The bytes of a tensor as stored; throws after `close()`. */
  tensorData(name: string): Uint8Array;
  /** Releases the mapping or buffers; views handed out become empty. */
  close(): void;
}

/**
 * Opens a model. Without options: metadata and tensor infos only (any source). With options
 * (local paths only): also `tensorData(name)`, a zero-copy view of the mapped file.
 *
 * @example
 * ```ts ignore
 * import { openGguf } from "./open.ts";
 * const info = await openGguf("model.gguf"); // metadata only
 * using model = await openGguf("model.gguf", { mmap: true });
 * const q = model.tensorData("blk.0.attn_q.weight"); // no copy
 * ```
 */
export function openGguf(source: GgufSource): Promise<GgufModel>;
/** Opens a local model with access to its tensor data (zero-copy when mapped). */
export function openGguf(path: string, options: TensorAccessOptions): Promise<GgufModelWithData>;
export async function openGguf(
  source: GgufSource,
  options?: TensorAccessOptions,
): Promise<GgufModel | GgufModelWithData> {
  const model = await openGgufModel(source);
  if (options === undefined) return model;
  if (typeof source !== "string" || /^https?:\/\//i.test(source)) {
    throw new TypeError("Tensor data access needs a local file path");
  }
  const mapped = (options.mmap ?? true) && mappingUnavailableReason() === "";
  const files: FileBytes[] = [];
  const readDone = new Set<string>();
  try {
    for (const part of model.parts) {
      files.push(
        mapped
          ? mapFile(part.source, {
            mlock: options.mlock,
            populate: options.populate,
            prefetch: options.prefetch,
          })
          : new ReadBuffer(part.source),
      );
    }
  } catch (e) {
    for (const f of files) f.close();
    throw e;
  }
  const byName = new Map<string, GgufTensorInfo>(model.tensors.map((t) => [t.name, t]));
  const close = () => {
    for (const f of files) f.close();
  };
  const withData: GgufModelWithData = {
    ...model,
    mapped,
    tensorData(name: string): Uint8Array {
      const t = byName.get(name);
      if (!t) throw new RangeError(`No tensor named "${name}"`);
      const file = files[t.part];
      if (file instanceof ReadBuffer && !readDone.has(name) && !file.closed) {
        file.readRange(t.fileOffset, t.byteSize);
        readDone.add(name);
      }
      return file.view(t.fileOffset, t.byteSize);
    },
    close,
    [Symbol.dispose]: close,
  };
  return withData;
}

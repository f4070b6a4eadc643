/**
 * {@link ModelFile}: a model opened once. Each part's file is opened one time; its header is
 * parsed through that descriptor, and its tensor data is mapped from the same descriptor the
 * first time data is asked for (lazily: `tensorData(name)`, the loader, validation and the
 * inference engine all share that one mapping). Remote sources and streams give metadata only.
 *
 * @module
 */

import type { GgufFile, GgufModel, GgufTensorInfo } from "../gguf/model.ts";
import { type GgufSource, type ReadGgufOptions, readGgufSync } from "../gguf/reader.ts";
import { openGgufModel } from "../gguf/split.ts";
import { nativeStringScan } from "../../ffi/gguf_scan.ts";
import { LoadError } from "./errors.ts";
import { type BackgroundReadAhead, type FileHandle, openFileHandle } from "./file_handle.ts";
import {
  type FileBytes,
  mappingUnavailableReason,
  type PrefetchAdvice,
  ReadBuffer,
} from "./mapping.ts";
import { memoryBudget, processMemory } from "./memory.ts";

/** How a {@link ModelFile} reaches its tensor data (decided when data is first needed). */
export interface TensorAccessOptions {
  /** Map the files (zero-copy). Default true; falls back to reading when mapping is unavailable. */
  mmap?: boolean;
  /** Lock mapped pages in memory. */
  mlock?: boolean;
  /** Prefault the whole mapping (`MAP_POPULATE`). */
  populate?: boolean;
  /** `madvise` hint for the whole mapping. */
  prefetch?: PrefetchAdvice;
  /** Headers and timeouts for an http(s) URL (metadata only). */
  http?: ReadGgufOptions["http"];
  /**
   * Read a cold part into the page cache on a worker thread while its header is parsed (see
   * {@link BackgroundReadAhead}; {@link ModelFile.readAhead}), so a cold load costs about the
   * disk's time rather than the parse plus the disk's. For a caller that will make every tensor
   * resident anyway (`bitload load`, the loader given a path). Nothing happens for a warm part,
   * without mapping, or for a part larger than {@link READ_AHEAD_BUDGET_SHARE} of the memory
   * budget. Default false.
   */
  readAhead?: boolean;
}

/**
 * A cold part is read ahead during the parse only when it is at most this share of the memory
 * budget (MemAvailable or the cgroup limit): the loader stops prefetching at 0.8 of it, and a
 * model near that is left to its batches.
 */
export const READ_AHEAD_BUDGET_SHARE = 0.5;

/** Closes the files of a model nobody closed, once it is unreachable (mappings have their own). */
const closeLater = new FinalizationRegistry<FileHandle[]>((handles) => {
  for (const h of handles) h.close();
});

/** What opening a model cost: when the header parse ran and the resident memory it added. */
export interface OpenStats {
  /** `performance.now()` when the open started. */
  readonly startMs: number;
  /** `performance.now()` when the header of every part was parsed. */
  readonly endMs: number;
  /** Bytes of header (metadata and tensor directory) across the parts. */
  readonly headerBytes: number;
  /** Resident memory the parse added (0 when `/proc` is unreadable). */
  readonly rssAddedBytes: number;
}

function isLocal(source: GgufSource): source is string {
  return typeof source === "string" && !/^https?:\/\//i.test(source);
}

/**
 * A model: its metadata and tensor directory (a {@link GgufModel}), and, for a local file, its
 * tensor data as zero-copy views of one lazily created mapping per part. Close it (or `using`)
 * to release the mapping and the files.
 *
 * @example
 * ```ts ignore
 * import { openModelFile } from "./open.ts";
 * using model = await openModelFile("model.gguf");
 * const q = model.tensorData("blk.0.attn_q.weight"); // maps the file now; no copy
 * ```
 */
export class ModelFile implements GgufModel, Disposable {
  /** The parts (one for a plain file). */
  readonly parts: readonly GgufFile[];
  /** Metadata of the first part (the model's). */
  readonly metadata: GgufModel["metadata"];
  /** Every tensor of every part. */
  readonly tensors: readonly GgufTensorInfo[];
  /** Type dialect. */
  readonly dialect: GgufModel["dialect"];
  /** Reader warnings. */
  readonly warnings: readonly string[];
  /** What was opened (a path, a URL, or a description). */
  readonly source: string;
  /** Whether tensor data is reachable (a local file). */
  readonly local: boolean;
  /** The access options given at open (the first data access may add to them). */
  readonly access: TensorAccessOptions;
  /** Things worth knowing about data access (e.g. mapping unavailable, read instead). */
  readonly accessWarnings: string[] = [];
  /** What the open cost (set by {@link openModelFile}; the loader reports it as its parse). */
  openStats: OpenStats | undefined;
  /**
   * With `readAhead`: the background reads of the cold parts, started before their headers were
   * parsed. The loader awaits them before its batches (a `read-ahead` span).
   */
  readAhead: readonly Promise<BackgroundReadAhead>[] = [];
  readonly #handles: FileHandle[];
  readonly #byName: Map<string, GgufTensorInfo>;
  #files: FileBytes[] | undefined;
  #read = new Set<string>();
  #closed = false;

  /** Wraps a parsed model and its open files; use {@link openModelFile}. */
  constructor(
    model: GgufModel,
    handles: FileHandle[],
    source: string,
    access: TensorAccessOptions = {},
  ) {
    this.parts = model.parts;
    this.metadata = model.metadata;
    this.tensors = model.tensors;
    this.dialect = model.dialect;
    this.warnings = model.warnings;
    this.#handles = handles;
    this.source = source;
    this.local = handles.length === model.parts.length && handles.length > 0;
    this.access = access;
    this.#byName = new Map(model.tensors.map((t) => [t.name, t]));
    if (handles.length > 0) closeLater.register(this, handles, this);
  }

  /** Whether {@link ModelFile.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether tensor data is (or will be) zero-copy views of a mapping rather than a copy. */
  get mapped(): boolean {
    if (this.#files) return this.#files.every((f) => f.mapped);
    return (this.access.mmap ?? true) && mappingUnavailableReason() === "";
  }

  /** Whether the data of the parts has been mapped (or buffered) yet. */
  get dataOpened(): boolean {
    return this.#files !== undefined;
  }

  /**
   * The tensor's directory entry.
   *
   * @throws {LoadError} `NO_TENSOR` when the model has no tensor of that name.
   */
  tensor(name: string): GgufTensorInfo {
    const t = this.#byName.get(name);
    if (!t) throw new LoadError("NO_TENSOR", `No tensor named "${name}"`, { path: this.source });
    return t;
  }

  /**
   * The per-part bytes (mappings, or read buffers on the copy path), created on the first call
   * with these options; later calls return the same ones (options then only add warnings).
   *
   * @throws {LoadError} `NOT_LOCAL` for a remote model, `CLOSED` after close.
   */
  data(options: TensorAccessOptions = {}): FileBytes[] {
    this.#checkOpen();
    if (!this.local) {
      throw new LoadError(
        "NOT_LOCAL",
        `Tensor data of "${this.source}" needs a local file (download it first)`,
        { path: this.source },
      );
    }
    if (this.#files) {
      if (options.mmap !== undefined && options.mmap !== this.#files[0]?.mapped) {
        this.accessWarnings.push(
          `the data was already ${
            this.#files[0]?.mapped ? "mapped" : "read into memory"
          }; mmap: ${options.mmap} is ignored`,
        );
      }
      return this.#files;
    }
    const o: TensorAccessOptions = { ...this.access };
    for (const [k, v] of Object.entries(options)) {
      if (v !== undefined) (o as Record<string, unknown>)[k] = v;
    }
    let mmap = o.mmap ?? true;
    if (mmap && mappingUnavailableReason() !== "") {
      this.accessWarnings.push(
        `memory mapping unavailable (${mappingUnavailableReason()}); reading into memory instead`,
      );
      mmap = false;
    }
    const files: FileBytes[] = [];
    try {
      for (const h of this.#handles) {
        const mapping = mmap
          ? h.map({ mlock: o.mlock, populate: o.populate, prefetch: o.prefetch })
          : null;
        files.push(mapping ?? new ReadBuffer(h));
      }
    } catch (e) {
      for (const f of files) f.close();
      throw e;
    }
    this.#files = files;
    return files;
  }

  /**
   * The bytes of a tensor as stored: a zero-copy view of the mapping (mapped now if it was not
   * yet), or on the copy path the buffer, read on first access.
   *
   * @throws {LoadError} `NO_TENSOR`, `NOT_LOCAL`, `CLOSED`.
   */
  tensorData(name: string): Uint8Array {
    const t = this.tensor(name);
    const file = this.data()[t.part];
    if (file instanceof ReadBuffer && !this.#read.has(name)) {
      file.readRange(t.fileOffset, t.byteSize);
      this.#read.add(name);
    }
    return file.view(t.fileOffset, t.byteSize);
  }

  /** Marks a tensor's bytes as read (the loader read them into the buffer itself). */
  markRead(name: string): void {
    this.#read.add(name);
  }

  /** Releases the mappings or buffers and the files; views handed out become empty. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeLater.unregister(this);
    for (const f of this.#files ?? []) f.close();
    for (const h of this.#handles) h.close();
  }

  /** `using model = …` closes at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new LoadError(
        "CLOSED",
        `The model "${this.source}" was closed; its tensor data is no longer available`,
        { path: this.source },
      );
    }
  }
}

/**
 * Opens a model once: parses the header of every part through one descriptor per part, and
 * keeps the descriptors for the lazy mapping. A URL, bytes or a stream give metadata only.
 *
 * @example
 * ```ts ignore
 * import { openModelFile } from "./open.ts";
 * using model = await openModelFile("qwen-00001-of-00003.gguf");
 * console.log(model.parts.length, model.tensors.length);
 * ```
 */
export async function openModelFile(
  source: GgufSource,
  access: TensorAccessOptions = {},
): Promise<ModelFile> {
  if (!isLocal(source)) {
    const model = await openGgufModel(source, { http: access.http });
    const name = typeof source === "string" || source instanceof URL ? String(source) : "stream";
    return new ModelFile(model, [], name, access);
  }
  const handles: FileHandle[] = [];
  const reads: Promise<BackgroundReadAhead>[] = [];
  const readAhead = access.readAhead === true && (access.mmap ?? true) &&
    mappingUnavailableReason() === "";
  let limit: number | undefined;
  const startMs = performance.now();
  const before = processMemory();
  try {
    const model = await openGgufModel(source, {
      // One synchronous pass through the descriptor: the parser reads more when it needs
      // more, instead of re-parsing from the start after each asynchronous read.
      readPart: (path, index) => {
        const h = openFileHandle(path);
        handles[index] = h;
        if (readAhead) {
          const pending = h.readAheadIfCold(() => {
            limit ??= READ_AHEAD_BUDGET_SHARE * memoryBudget().bytes; // only for a cold part
            return limit;
          });
          if (pending) reads.push(pending);
        }
        return readGgufSync(h, { part: index, stringScan: nativeStringScan });
      },
    });
    const after = processMemory();
    const file = new ModelFile(model, handles, source, access);
    file.readAhead = reads;
    file.openStats = {
      startMs,
      endMs: performance.now(),
      headerBytes: model.parts.reduce((a, p) => a + p.dataOffset, 0),
      rssAddedBytes: before && after ? Math.max(0, after.rss - before.rss) : 0,
    };
    return file;
  } catch (e) {
    for (const h of handles) h?.close();
    // the reads end on their own (each unmaps its mapping); nothing waits for them
    for (const r of reads) r.catch(() => {});
    throw e;
  }
}

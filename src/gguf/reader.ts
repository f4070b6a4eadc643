/**
 * Reading GGUF metadata from wherever the bytes are: a local path (synchronous reads of just the
 * header region), bytes in memory, a `ReadableStream`, or any byte-range reader such as HTTP
 * range requests. Only the header, metadata and tensor directory are needed; reads grow
 * geometrically, so what is read past the header is bounded by the header's own size.
 *
 * @module
 */

import { NotRegularFileError, requireRegularFile } from "../common/file_kind.ts";
import { ByteCursor, type FillFunction, NeedMoreBytes } from "./cursor.ts";
import { GgufError } from "./errors.ts";
import { layoutTensors } from "./layout.ts";
import type { GgufFile } from "./model.ts";
import { parseGgufHeader } from "./parse.ts";
import { dialectForArchitecture } from "./types.ts";

/**
 * Random access to a file's bytes, e.g. over HTTP range requests. `read` may return fewer bytes
 * than asked for only at the end of the file.
 */
export interface RangeReader {
  /** Total size in bytes, when known. */
  readonly size?: number;
  /** A name for messages (a URL, a path). */
  readonly description?: string;
  /** Reads `length` bytes at `offset` (fewer only at the end of the file). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Anything {@link readGguf} can read from. */
export type GgufSource = string | URL | Uint8Array | ReadableStream<Uint8Array> | RangeReader;

/** Options for {@link readGguf}. */
export interface ReadGgufOptions {
  /** Split part index recorded in the tensor infos (set by the split loader). */
  part?: number;
}

/** First read of a local file or a remote range: most headers are smaller than this. */
const INITIAL_READ = 256 * 1024;
/** Largest read-ahead when the header turns out to be bigger than what was read. */
const MAX_READ_AHEAD = 4 * 1024 * 1024;

/**
 * Reads the metadata and tensor directory of one GGUF file.
 *
 * @example
 * ```ts ignore
 * import { readGguf } from "./reader.ts";
 * const file = await readGguf("model.gguf");
 * console.log(file.metadata.get("general.architecture")?.value, file.tensors.length);
 * ```
 */
export async function readGguf(
  source: GgufSource,
  options: ReadGgufOptions = {},
): Promise<GgufFile> {
  if (source instanceof Uint8Array) {
    return finish(parseBytes(source), "bytes", source.length, options);
  }
  if (source instanceof ReadableStream) return await readStream(source, options);
  if (typeof source === "string" || source instanceof URL) {
    const text = String(source);
    if (/^https?:\/\//i.test(text)) {
      const reader = await httpRangeReader(text);
      return await readRanges(reader, options);
    }
    const path = source instanceof URL ? decodeURIComponent(source.pathname) : source;
    return readGgufFileSync(path, options);
  }
  return await readRanges(source, options);
}

/**
 * Reads a local file's metadata with synchronous reads of only the bytes the header needs.
 *
 * @example
 * ```ts ignore
 * import { readGgufFileSync } from "./reader.ts";
 * const file = readGgufFileSync("model.gguf");
 * ```
 */
export function readGgufFileSync(path: string, options: ReadGgufOptions = {}): GgufFile {
  let file: Deno.FsFile;
  try {
    // stat before open: opening a FIFO without a writer never returns, a device never ends.
    requireRegularFile(path);
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    throw ioError(path, e);
  }
  try {
    const info = file.statSync();
    const size = info.size;
    if (!info.isFile || !Number.isSafeInteger(size)) {
      throw new GgufError("IO", 0, `"${path}" is not a regular file`);
    }
    const first = new Uint8Array(Math.min(INITIAL_READ, size));
    readFully(file, first, 0, path);
    const fill: FillFunction = (cur, end) => {
      const want = Math.min(size, Math.max(end, cur.length + Math.min(cur.length, MAX_READ_AHEAD)));
      const dest = cur.spare(want - cur.length);
      readFully(file, dest, cur.length, path);
      cur.length = want;
    };
    const header = parseGgufHeader(new ByteCursor(first, size, fill));
    return finish(header, path, size, options);
  } catch (e) {
    throw e instanceof GgufError ? e.withPath(path) : ioError(path, e);
  } finally {
    file.close();
  }
}

function readFully(file: Deno.FsFile, dest: Uint8Array, position: number, path: string): void {
  file.seekSync(position, Deno.SeekMode.Start);
  let done = 0;
  while (done < dest.length) {
    const n = file.readSync(dest.subarray(done));
    if (n === null || n === 0) {
      throw new GgufError("IO", position + done, `Unexpected end of "${path}" while reading`);
    }
    done += n;
  }
}

function ioError(path: string, e: unknown): Error {
  if (e instanceof GgufError) return e.withPath(path);
  if (e instanceof NotRegularFileError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const reason = e instanceof Deno.errors.NotFound
    ? "No such file"
    : e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable
    ? `Permission denied: ${message}`
    : e instanceof Deno.errors.IsADirectory
    ? "Is a directory"
    : `Cannot read: ${message}`;
  return new GgufError("IO", 0, reason, { path, cause: e });
}

function parseBytes(bytes: Uint8Array) {
  return parseGgufHeader(
    new ByteCursor(bytes, bytes.length, (_c, end) => {
      throw new GgufError("TRUNCATED", bytes.length, `File ends before byte ${end}`);
    }),
  );
}

function finish(
  header: ReturnType<typeof parseGgufHeader>,
  source: string,
  fileSize: number | undefined,
  options: ReadGgufOptions,
): GgufFile {
  const arch = header.metadata.get("general.architecture")?.value;
  const layout = layoutTensors({
    tensors: header.tensors,
    dialect: dialectForArchitecture(typeof arch === "string" ? arch : undefined),
    alignment: header.alignment,
    dataOffset: header.dataOffset,
    fileSize,
    part: options.part ?? 0,
  });
  if (fileSize !== undefined && header.tensors.length > 0 && header.dataOffset > fileSize) {
    throw new GgufError(
      "TRUNCATED",
      fileSize,
      `The data section starts at byte ${header.dataOffset}, past the end of the file`,
    );
  }
  return {
    source,
    version: header.version,
    littleEndian: header.littleEndian,
    alignment: header.alignment,
    dataOffset: header.dataOffset,
    fileSize,
    metadata: header.metadata,
    tensors: layout.tensors,
    dialect: layout.dialect,
    warnings: layout.warnings,
  };
}

/**
 * Parses from an asynchronous byte supplier: parse what is buffered; when the parser needs more,
 * fetch more and parse again from the start (the buffer at least doubles each time, so the total
 * work stays within twice a single parse).
 */
async function parseIncrementally(
  more: (buffered: Uint8Array, end: number) => Promise<{ chunk: Uint8Array; done: boolean }>,
  knownSize: number | undefined,
  source: string,
  options: ReadGgufOptions,
): Promise<GgufFile> {
  let buffered: Uint8Array = new Uint8Array(0);
  let size = knownSize;
  let want = INITIAL_READ;
  for (;;) {
    if (buffered.length < want && (size === undefined || buffered.length < size)) {
      const { chunk, done } = await more(
        buffered,
        size === undefined ? want : Math.min(want, size),
      );
      if (chunk.length > 0) buffered = concat(buffered, chunk);
      if (done || chunk.length === 0) size = buffered.length;
    }
    const fill: FillFunction = (_c, end) => {
      throw new NeedMoreBytes(end);
    };
    try {
      const complete = size !== undefined && buffered.length >= size;
      const cur = new ByteCursor(buffered, complete ? buffered.length : size, fill);
      return finish(parseGgufHeader(cur), source, size, options);
    } catch (e) {
      if (!(e instanceof NeedMoreBytes)) {
        throw e instanceof GgufError ? e.withPath(source) : e;
      }
      // Grow geometrically: each re-parse then costs at most as much as all before it together,
      // so the total stays within twice one parse, and at most the header's size is read ahead.
      want = Math.max(e.end, 2 * buffered.length);
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

async function readRanges(reader: RangeReader, options: ReadGgufOptions): Promise<GgufFile> {
  const source = reader.description ?? "range reader";
  return await parseIncrementally(
    async (buffered, end) => {
      const chunk = await reader.read(buffered.length, end - buffered.length);
      const known = reader.size !== undefined && buffered.length + chunk.length >= reader.size;
      return { chunk, done: chunk.length === 0 || known };
    },
    reader.size,
    source,
    options,
  );
}

async function readStream(
  stream: ReadableStream<Uint8Array>,
  options: ReadGgufOptions,
): Promise<GgufFile> {
  const reader = stream.getReader();
  try {
    return await parseIncrementally(
      async (buffered, end) => {
        const parts: Uint8Array[] = [];
        let have = buffered.length;
        let ended = false;
        while (have < end) {
          const { value, done } = await reader.read();
          if (done) {
            ended = true;
            break;
          }
          parts.push(value);
          have += value.length;
        }
        let size = 0;
        for (const p of parts) size += p.length;
        const out = new Uint8Array(size);
        let at = 0;
        for (const p of parts) {
          out.set(p, at);
          at += p.length;
        }
        return { chunk: out, done: ended };
      },
      undefined,
      "stream",
      options,
    );
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/**
 * A {@link RangeReader} over HTTP(S) range requests (`Range: bytes=a-b`), for inspecting a remote
 * model without downloading it. The size comes from `Content-Range` (or `Content-Length` of a
 * HEAD request).
 *
 * @example
 * ```ts ignore
 * import { httpRangeReader, readGguf } from "./reader.ts";
 * const file = await readGguf(await httpRangeReader("http://127.0.0.1:8080/model.gguf"));
 * ```
 */
export async function httpRangeReader(
  url: string,
  init: { headers?: HeadersInit; fetch?: typeof fetch } = {},
): Promise<RangeReader> {
  const doFetch = init.fetch ?? fetch;
  let size: number | undefined;
  const head = await doFetch(url, { method: "HEAD", headers: init.headers });
  await head.body?.cancel();
  if (!head.ok) throw new GgufError("IO", 0, `HTTP ${head.status} for ${url}`, { path: url });
  const length = Number(head.headers.get("content-length"));
  if (Number.isSafeInteger(length) && length >= 0) size = length;
  return {
    size,
    description: url,
    async read(offset, len) {
      if (len <= 0) return new Uint8Array(0);
      const headers = new Headers(init.headers);
      headers.set("range", `bytes=${offset}-${offset + len - 1}`);
      const res = await doFetch(url, { headers });
      if (res.status === 416) {
        await res.body?.cancel();
        return new Uint8Array(0);
      }
      if (res.status !== 206) {
        await res.body?.cancel();
        throw new GgufError(
          "IO",
          offset,
          `HTTP ${res.status} for a range request to ${url}; the server must support byte ranges`,
          { path: url },
        );
      }
      return new Uint8Array(await res.arrayBuffer());
    },
  };
}

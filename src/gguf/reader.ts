/**
 * Reading GGUF metadata from wherever the bytes are: a local path (synchronous reads of just the
 * header region), bytes in memory, a `ReadableStream`, or any byte-range reader such as HTTP
 * range requests. Only the header, metadata and tensor directory are needed; reads grow
 * geometrically, so what is read past the header is bounded by the header's own size.
 *
 * @module
 */

import { NotRegularFileError, requireRegularFile } from "../common/file_kind.ts";
import {
  type BoundedResponse,
  HttpError,
  type HttpRequestOptions,
  parseContentRange,
  requestBounded,
} from "../common/http.ts";
import { ByteCursor, type FillFunction, NeedMoreBytes } from "./cursor.ts";
import { GgufError } from "./errors.ts";
import { layoutTensors } from "./layout.ts";
import type { GgufFile } from "./model.ts";
import { parseGgufHeader, type StringScan } from "./parse.ts";
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
  /** Releases what the reader holds open (a streaming response); called when parsing ends. */
  close?(): Promise<void>;
}

/** Anything {@link readGguf} can read from. */
export type GgufSource = string | URL | Uint8Array | ReadableStream<Uint8Array> | RangeReader;

/** Options for {@link readGguf}. */
export interface ReadGgufOptions {
  /** Split part index recorded in the tensor infos (set by the split loader). */
  part?: number;
  /** Headers and timeouts for an http(s) URL (see {@link httpRangeReader}). */
  http?: HttpRangeOptions;
  /** A faster string-array scan for large vocabularies (`load` passes the native one). */
  stringScan?: () => StringScan | null;
}

/** First read of a local file or a remote range: most headers are smaller than this. */
const INITIAL_READ = 256 * 1024;
/**
 * Largest read-ahead when the header turns out to be bigger than what was read: reads stay few
 * (a 12 MB header takes about ten), and little past the header is read and kept.
 */
const MAX_READ_AHEAD = 2 * 1024 * 1024;

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
      const reader = await httpRangeReader(text, options.http);
      return await readRanges(reader, options);
    }
    const path = source instanceof URL ? decodeURIComponent(source.pathname) : source;
    return readGgufFileSync(path, options);
  }
  return await readRanges(source, options);
}

/**
 * Synchronous random access to a local file's bytes: an open descriptor (`load`'s file handle)
 * or a path opened by {@link readGgufFileSync}.
 */
export interface SyncRangeReader {
  /** The file's size in bytes. */
  readonly size: number;
  /** The path, for messages. */
  readonly path: string;
  /** Fills `dest` with the bytes at `offset`; throws on a short read. */
  readInto(dest: Uint8Array, offset: number): void;
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
    return readGgufSync({
      size,
      path,
      readInto: (dest, position) => readFully(file, dest, position, path),
    }, options);
  } catch (e) {
    throw e instanceof GgufError ? e.withPath(path) : ioError(path, e);
  } finally {
    file.close();
  }
}

/**
 * Parses the header of a local file through synchronous reads (one pass, no re-parse: the
 * cursor reads more whenever it needs more). The reads grow geometrically: what is read past
 * the header is at most {@link MAX_READ_AHEAD}.
 *
 * @example
 * ```ts ignore
 * import { readGgufSync } from "./reader.ts";
 * const bytes = Deno.readFileSync("model.gguf");
 * const file = readGgufSync({
 *   size: bytes.length,
 *   path: "model.gguf",
 *   readInto: (dest, at) => dest.set(bytes.subarray(at, at + dest.length)),
 * });
 * ```
 */
export function readGgufSync(reader: SyncRangeReader, options: ReadGgufOptions = {}): GgufFile {
  const { size, path } = reader;
  try {
    const first = new Uint8Array(Math.min(INITIAL_READ, size));
    reader.readInto(first, 0);
    const fill: FillFunction = (cur, end) => {
      const want = Math.min(size, Math.max(end, cur.length + Math.min(cur.length, MAX_READ_AHEAD)));
      reader.readInto(cur.spare(want - cur.length), cur.length);
      cur.length = want;
    };
    const header = parseGgufHeader(new ByteCursor(first, size, fill), options);
    return finish(header, path, size, options);
  } catch (e) {
    throw e instanceof GgufError ? e.withPath(path) : ioError(path, e);
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

/**
 * The error to throw when opening or reading the local file `path` failed with `e`: a
 * {@link GgufError} gains the path, a {@link NotRegularFileError} passes through, anything else
 * becomes a `GgufError` `IO` naming the cause (no such file, permission denied, a directory, …).
 *
 * @example
 * ```ts
 * import { ioError } from "./reader.ts";
 * const err = ioError("/no/such.gguf", new Deno.errors.NotFound("x"));
 * // err.message includes "No such file"
 * ```
 */
export function ioError(path: string, e: unknown): Error {
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
  more: (
    buffered: Uint8Array,
    end: number,
  ) => Promise<{ chunk: Uint8Array; done: boolean; size?: number }>,
  knownSize: number | undefined,
  source: string,
  options: ReadGgufOptions,
): Promise<GgufFile> {
  let buffered: Uint8Array = new Uint8Array(0);
  let size = knownSize;
  let want = INITIAL_READ;
  for (;;) {
    if (buffered.length < want && (size === undefined || buffered.length < size)) {
      const { chunk, done, size: learned } = await more(
        buffered,
        size === undefined ? want : Math.min(want, size),
      );
      size ??= learned; // e.g. from the first Content-Range of a server without HEAD
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
  try {
    return await parseRanges(reader, source, options);
  } finally {
    await reader.close?.();
  }
}

async function parseRanges(
  reader: RangeReader,
  source: string,
  options: ReadGgufOptions,
): Promise<GgufFile> {
  return await parseIncrementally(
    async (buffered, end) => {
      const chunk = await reader.read(buffered.length, end - buffered.length);
      const known = reader.size !== undefined && buffered.length + chunk.length >= reader.size;
      return { chunk, done: chunk.length === 0 || known, size: reader.size };
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

/** Options of {@link httpRangeReader} (and `readGguf(url, { http })`). */
export interface HttpRangeOptions extends HttpRequestOptions {
  /** Extra request headers on every request (e.g. `authorization`). */
  headers?: HeadersInit;
}

/**
 * A {@link RangeReader} over HTTP(S) range requests (`Range: bytes=a-b`), for inspecting a remote
 * model without downloading it. The size comes from `Content-Length` of a HEAD request or from
 * `Content-Range`.
 *
 * Every answer is checked against the request: a 206 must carry a `Content-Range` whose start and
 * end are the ones asked (the end may stop short only at the end of the file), and its body is
 * cut at that length (a longer or endless body is cancelled). A server without HEAD (405, 501)
 * is fine; one that ignores ranges (200 to a range request, like `python3 -m http.server`) is
 * read as one stream from the start, only as far as asked, and cancelled on `close()`. Requests
 * time out without a response or without body bytes for `idleTimeoutMs` (default 30 s). Failures
 * are {@link HttpError}s naming the URL (`URL: HTTP 404 (HTTP_STATUS)`).
 *
 * @example
 * ```ts ignore
 * import { httpRangeReader, readGguf } from "./reader.ts";
 * const file = await readGguf(await httpRangeReader("http://127.0.0.1:8080/model.gguf"));
 * ```
 */
export async function httpRangeReader(
  url: string,
  init: HttpRangeOptions = {},
): Promise<RangeReader> {
  let size: number | undefined;
  const status = (r: BoundedResponse) =>
    new HttpError("HTTP_STATUS", url, `HTTP ${r.response.status}`, r.response.status);
  const protocol = (reason: string) => new HttpError("HTTP_PROTOCOL", url, reason);
  const head = await requestBounded(url, { method: "HEAD", headers: init.headers }, init);
  await head.close();
  if (head.response.ok) {
    const length = Number(head.response.headers.get("content-length") ?? NaN);
    if (Number.isSafeInteger(length) && length >= 0) size = length;
  } else if (head.response.status !== 405 && head.response.status !== 501) {
    throw status(head);
  }
  // Set once the server answered a range request with 200: the file is then read as one stream.
  let stream: { body: BoundedResponse; position: number } | null = null;
  let ignoresRanges = false;

  const fromStream = async (offset: number, length: number): Promise<Uint8Array> => {
    if (stream === null || stream.position > offset) {
      await stream?.body.close();
      stream = null;
      const r = await requestBounded(url, { headers: init.headers }, init);
      if (r.response.status !== 200) {
        await r.close();
        throw status(r);
      }
      stream = { body: r, position: 0 };
    }
    const s = stream;
    while (s.position < offset) {
      const skipped = await s.body.read(Math.min(offset - s.position, 1 << 20));
      if (skipped.length === 0) return skipped;
      s.position += skipped.length;
    }
    const bytes = await s.body.read(length);
    s.position += bytes.length;
    return bytes;
  };

  const ranged = async (offset: number, length: number): Promise<Uint8Array> => {
    const end = offset + length - 1;
    const headers = new Headers(init.headers);
    headers.set("range", `bytes=${offset}-${end}`);
    const r = await requestBounded(url, { headers }, init);
    const code = r.response.status;
    if (code === 200) {
      // The server ignores ranges: this body is the file from byte 0.
      ignoresRanges = true;
      const total = Number(r.response.headers.get("content-length") ?? NaN);
      if (size === undefined && Number.isSafeInteger(total) && total >= 0) size = total;
      stream = { body: r, position: 0 };
      return await fromStream(offset, length);
    }
    try {
      if (code === 416) return new Uint8Array(0); // at or past the end of the file
      if (code !== 206) throw status(r);
      const raw = r.response.headers.get("content-range");
      const got = parseContentRange(raw);
      if (got === null || got.start === undefined || got.end === undefined) {
        throw protocol(`206 with an invalid Content-Range ${JSON.stringify(raw)}`);
      }
      if (got.total !== undefined) {
        if (size !== undefined && got.total !== size) {
          throw protocol(`Content-Range says ${got.total} bytes in all, the server said ${size}`);
        }
        size = got.total;
      }
      const shortAtEnd = got.end < end && size !== undefined && got.end === size - 1;
      if (got.start !== offset || (got.end !== end && !shortAtEnd)) {
        throw protocol(`asked for bytes ${offset}-${end}, got Content-Range ${raw}`);
      }
      const want = got.end - got.start + 1;
      const bytes = await r.read(want); // never more than asked, however long the body is
      if (bytes.length < want) {
        throw protocol(`the body of bytes ${offset}-${got.end} ended after ${bytes.length} bytes`);
      }
      return bytes;
    } finally {
      await r.close();
    }
  };

  return {
    get size() {
      return size;
    },
    description: url,
    async read(offset, len) {
      if (len <= 0) return new Uint8Array(0);
      return ignoresRanges ? await fromStream(offset, len) : await ranged(offset, len);
    },
    async close() {
      await stream?.body.close();
      stream = null;
    },
  };
}

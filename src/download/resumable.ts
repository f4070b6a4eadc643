/**
 * A resumable HTTP download: bytes go to `DEST.part`; after a dropped connection the next attempt
 * asks only for the rest (`Range: bytes=N-`), with exponential backoff between attempts; a known
 * sha256 is verified before the file is renamed into place, so `DEST` either does not exist or is
 * complete and correct.
 *
 * A resume is trusted only when the server proves it is the same file: the ETag (strong) or
 * Last-Modified of the response that started the `.part` file is kept beside it
 * (`DEST.part.json`) and sent as `If-Range`; the 206's `Content-Range` must start at the resume
 * offset and name the same total; a 416 must say `bytes * /SIZE` with SIZE the `.part` size.
 * Anything else — no validator, a 200, a different start or total — starts over from byte 0, so
 * two versions of a file are never spliced together. Downloads are capped
 * ({@link DEFAULT_MAX_DOWNLOAD_BYTES}) and time out when idle (see `src/common/http.ts`).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { checkReplaceable, writeBytesAtomically } from "../common/atomic_write.ts";
import { BitloadError } from "../common/errors.ts";
import { HttpError, parseContentRange, requestBounded } from "../common/http.ts";

/**
 * Default size cap of one download: 512 MiB. Tokenizer files are at most tens of MiB; the cap
 * keeps a lying or hostile server from filling the disk.
 */
export const DEFAULT_MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024;

/** Progress of a download. */
export interface DownloadProgress {
  /** Bytes on disk so far (resumed bytes included). */
  bytesDone: number;
  /** Total size when the server said it. */
  bytesTotal: number | undefined;
  /** Attempt number (1-based). */
  attempt: number;
}

/** Options of {@link downloadFile}. */
export interface DownloadOptions {
  /** Expected sha256 (hex); the download fails and the partial file is removed on a mismatch. */
  sha256?: string;
  /** Attempts before giving up. Default 5. */
  attempts?: number;
  /** First backoff delay; doubles each retry. Default 250 ms. */
  backoffMs?: number;
  /** Extra request headers (e.g. authorization). */
  headers?: HeadersInit;
  /** Progress callback. */
  onProgress?: (p: DownloadProgress) => void;
  /** Cancels the download (the `.part` file stays for a later resume). */
  signal?: AbortSignal;
  /** The fetch to use (tests). Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Largest file accepted; a bigger one is removed and reported. Default 512 MiB. */
  maxBytes?: number;
  /** Fewer than 1 KiB within this many ms ends an attempt (then retried). Default 30 s. */
  idleTimeoutMs?: number;
  /** No response headers within this many ms ends an attempt (then retried). Default 30 s. */
  connectTimeoutMs?: number;
}

/** What a finished download did. */
export interface DownloadResult {
  /** Final path. */
  path: string;
  /** Size in bytes. */
  bytes: number;
  /** sha256 of the file (hex). */
  sha256: string;
  /** Attempts it took. */
  attempts: number;
  /** Bytes fetched again after resuming (0 when no attempt failed). */
  resumedFrom: number[];
}

/** Why a download failed for good. */
export type DownloadErrorCode =
  | "HTTP_STATUS" // a status that retrying cannot fix (404, 403, …)
  | "CHECKSUM" // the file's sha256 is not the expected one
  | "TOO_LARGE" // the file is larger than the cap
  | "DOWNLOAD_FAILED"; // every attempt failed (network, timeouts, a server that kept lying)

/**
 * A download that failed for good. `path` is the URL (the file, for `CHECKSUM`); the CLI prints
 * `bitload: URL: REASON (CODE)`.
 *
 * @example
 * ```ts
 * import { DownloadError } from "./resumable.ts";
 * const e = new DownloadError("TOO_LARGE", "http://h/t.json", "larger than the 512 MiB cap");
 * e.code; // "TOO_LARGE"
 * ```
 */
export class DownloadError extends BitloadError<DownloadErrorCode> {
  /** The URL (or the file, for `CHECKSUM`). */
  readonly url: string;

  /** Creates the error; `cause` chains the last underlying failure. */
  constructor(code: DownloadErrorCode, url: string, reason: string, cause?: unknown) {
    super(code, reason, { path: url, cause });
    this.url = url;
  }
}

/** What `DEST.part.json` records about the response that started `DEST.part`. */
interface PartInfo {
  url: string;
  etag?: string;
  lastModified?: string;
  total?: number;
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}

async function readPartInfo(path: string): Promise<PartInfo | undefined> {
  try {
    const info = JSON.parse(await Deno.readTextFile(path));
    return typeof info?.url === "string" ? info as PartInfo : undefined;
  } catch {
    return undefined;
  }
}

/** The `If-Range` value proving the file is unchanged: a strong ETag, else Last-Modified. */
function validatorOf(info: PartInfo | undefined): string | undefined {
  if (info?.etag && !info.etag.startsWith("W/")) return info.etag;
  return info?.lastModified;
}

/**
 * The sha256 (hex) of a file, read in 1 MiB pieces.
 *
 * @example
 * ```ts ignore
 * import { sha256File } from "./resumable.ts";
 * await sha256File("tokenizer.json"); // "9f86d0…"
 * ```
 */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(1 << 20);
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
  }
  return hash.digest("hex");
}

async function removeQuietly(...paths: string[]): Promise<void> {
  for (const p of paths) await Deno.remove(p).catch(() => {});
}

function mib(bytes: number): string {
  return `${+(bytes / 1048576).toFixed(1)} MiB`;
}

/**
 * Downloads `url` to `dest`, resuming after failures when the server proves the file unchanged.
 *
 * @example
 * ```ts ignore
 * import { downloadFile } from "./resumable.ts";
 * const r = await downloadFile("https://example.org/tokenizer.json", "/tmp/tokenizer.json", {
 *   sha256: "…",
 *   onProgress: (p) => console.log(p.bytesDone, p.bytesTotal),
 * });
 * ```
 */
export async function downloadFile(
  url: string,
  dest: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const attempts = options.attempts ?? 5;
  const cap = options.maxBytes ?? DEFAULT_MAX_DOWNLOAD_BYTES;
  const part = `${dest}.part`;
  const partInfo = `${dest}.part.json`;
  const resumedFrom: number[] = [];
  const tooLarge = async (bytes: number | string) => {
    await removeQuietly(part, partInfo);
    return new DownloadError("TOO_LARGE", url, `${bytes} bytes is more than the ${mib(cap)} cap`);
  };
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    options.signal?.throwIfAborted();
    if (attempt > 1) {
      const delay = (options.backoffMs ?? 250) * 2 ** (attempt - 2);
      await new Promise((r) => setTimeout(r, delay));
    }
    let offset = await fileSize(part);
    let info = await readPartInfo(partInfo);
    const validator = info?.url === url ? validatorOf(info) : undefined;
    if (offset > 0 && (validator === undefined || offset > cap)) {
      // Nothing proves what the .part file holds: start over.
      await removeQuietly(part, partInfo);
      offset = 0;
    }
    if (attempt > 1) resumedFrom.push(offset);
    const headers = new Headers(options.headers);
    if (offset > 0) {
      headers.set("range", `bytes=${offset}-`);
      headers.set("if-range", validator!);
    }
    let r;
    try {
      r = await requestBounded(url, { headers }, options);
    } catch (e) {
      if (options.signal?.aborted) throw e;
      lastError = e;
      continue;
    }
    const res = r.response;
    const range = parseContentRange(res.headers.get("content-range"));
    if (res.status === 416 && offset > 0) {
      await r.close();
      if (range?.total === offset && (info?.total === undefined || info.total === offset)) {
        return await finish(part, partInfo, dest, offset, attempt, resumedFrom, options);
      }
      // The file on the server is not the .part's size: the .part is of another version.
      await removeQuietly(part, partInfo);
      lastError = new HttpError("HTTP_PROTOCOL", url, `416 for a ${offset}-byte .part file`);
      continue;
    }
    if (res.status !== 200 && res.status !== 206) {
      await r.close();
      const error = new HttpError("HTTP_STATUS", url, `HTTP ${res.status}`, res.status);
      if (res.status >= 500 || res.status === 429) {
        lastError = error;
        continue;
      }
      throw new DownloadError("HTTP_STATUS", url, `HTTP ${res.status}`, error);
    }
    let total: number | undefined;
    if (res.status === 206) {
      // A server that ignores If-Range still names the version it sent: it must be ours.
      const etag = res.headers.get("etag");
      const modified = res.headers.get("last-modified");
      const sameVersion = offset === 0 ||
        ((etag === null || etag === info?.etag) &&
          (modified === null || info?.lastModified === undefined ||
            modified === info.lastModified));
      const sameFile = sameVersion && range?.start === offset && range.total !== undefined &&
        (info?.total === undefined || offset === 0 || info.total === range.total);
      if (!sameFile) {
        await r.close();
        await removeQuietly(part, partInfo);
        lastError = new HttpError(
          "HTTP_PROTOCOL",
          url,
          `asked for bytes ${offset}- and got Content-Range ${res.headers.get("content-range")}`,
        );
        continue;
      }
      total = range.total;
    } else {
      offset = 0; // a 200: the server ignored the range, or If-Range said the file changed
      const length = Number(res.headers.get("content-length") ?? NaN);
      if (Number.isSafeInteger(length) && length >= 0) total = length;
    }
    if (total !== undefined && total > cap) {
      await r.close();
      throw await tooLarge(total);
    }
    if (offset === 0) {
      info = {
        url,
        etag: res.headers.get("etag") ?? undefined,
        lastModified: res.headers.get("last-modified") ?? undefined,
        total,
      };
      await writeBytesAtomically(partInfo, JSON.stringify(info));
    }
    const file = await Deno.open(part, {
      write: true,
      create: true,
      truncate: offset === 0,
      append: offset > 0,
    });
    let done = offset;
    try {
      for (;;) {
        const chunk = await r.next();
        if (chunk === null) break;
        if (done + chunk.length > cap) {
          await r.close();
          file.close();
          throw await tooLarge(`more than ${done + chunk.length}`);
        }
        let written = 0;
        while (written < chunk.length) written += await file.write(chunk.subarray(written));
        done += chunk.length;
        options.onProgress?.({ bytesDone: done, bytesTotal: total, attempt });
      }
    } catch (e) {
      if (options.signal?.aborted || e instanceof DownloadError) throw e;
      lastError = e;
      continue; // resume from what reached the disk
    } finally {
      await r.close();
      try {
        file.close();
      } catch { /* closed above */ }
    }
    if (total !== undefined && done !== total) {
      lastError = new HttpError("HTTP_PROTOCOL", url, `the body ended at byte ${done} of ${total}`);
      if (done > total) await removeQuietly(part, partInfo);
      continue;
    }
    return await finish(part, partInfo, dest, done, attempt, resumedFrom, options);
  }
  const last = lastError instanceof Error
    ? (lastError as { reason?: string }).reason ?? lastError.message
    : String(lastError);
  throw new DownloadError(
    "DOWNLOAD_FAILED",
    url,
    `failed after ${attempts} attempts: ${last}`,
    lastError,
  );
}

async function finish(
  part: string,
  partInfo: string,
  dest: string,
  bytes: number,
  attempts: number,
  resumedFrom: number[],
  options: DownloadOptions,
): Promise<DownloadResult> {
  const sha256 = await sha256File(part);
  if (options.sha256 && sha256 !== options.sha256.toLowerCase()) {
    await removeQuietly(part, partInfo);
    throw new DownloadError(
      "CHECKSUM",
      dest,
      `Checksum mismatch: expected ${options.sha256}, got ${sha256}`,
    );
  }
  checkReplaceable(dest);
  await Deno.rename(part, dest);
  await removeQuietly(partInfo);
  return { path: dest, bytes, sha256, attempts, resumedFrom };
}

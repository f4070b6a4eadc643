/**
 * A resumable HTTP download: bytes go to `DEST.part`; after a dropped connection the next attempt
 * asks only for the rest (`Range: bytes=N-`), with exponential backoff between attempts; a known
 * sha256 is verified before the file is renamed into place, so `DEST` either does not exist or is
 * complete and correct.
 *
 * @module
 */

import { createHash } from "node:crypto";

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

/** A download that failed for good (HTTP status, checksum, or attempts exhausted). */
export class DownloadError extends Error {
  /** Always "DownloadError". */
  override name = "DownloadError";
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}

async function sha256File(path: string): Promise<string> {
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

function totalFrom(res: Response, offset: number): number | undefined {
  const range = res.headers.get("content-range");
  const m = range ? /\/(\d+)$/.exec(range) : null;
  if (m) return Number(m[1]);
  const length = Number(res.headers.get("content-length") ?? NaN);
  return Number.isFinite(length) ? length + offset : undefined;
}

/**
 * Downloads `url` to `dest`, resuming after failures.
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
  const doFetch = options.fetch ?? fetch;
  const attempts = options.attempts ?? 5;
  const part = `${dest}.part`;
  const resumedFrom: number[] = [];
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    options.signal?.throwIfAborted();
    if (attempt > 1) {
      const delay = (options.backoffMs ?? 250) * 2 ** (attempt - 2);
      await new Promise((r) => setTimeout(r, delay));
    }
    let offset = await fileSize(part);
    if (attempt > 1) resumedFrom.push(offset);
    const headers = new Headers(options.headers);
    if (offset > 0) headers.set("range", `bytes=${offset}-`);
    let res: Response;
    try {
      res = await doFetch(url, { headers, signal: options.signal });
    } catch (e) {
      if (options.signal?.aborted) throw e;
      lastError = e;
      continue;
    }
    if (res.status === 416 && offset > 0) {
      // The part file already holds everything.
      await res.body?.cancel();
      return await finish(part, dest, offset, attempt, resumedFrom, options);
    }
    if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel();
      if (res.status >= 500 || res.status === 429) {
        lastError = new DownloadError(`HTTP ${res.status} from ${url}`);
        continue;
      }
      throw new DownloadError(`HTTP ${res.status} from ${url}`);
    }
    if (res.status === 200) offset = 0; // the server ignored the range: start over
    const total = totalFrom(res, offset);
    const file = await Deno.open(part, {
      write: true,
      create: true,
      truncate: offset === 0,
      append: offset > 0,
    });
    let done = offset;
    try {
      if (res.body) {
        for await (const chunk of res.body) {
          let written = 0;
          while (written < chunk.length) written += await file.write(chunk.subarray(written));
          done += chunk.length;
          options.onProgress?.({ bytesDone: done, bytesTotal: total, attempt });
        }
      }
    } catch (e) {
      if (options.signal?.aborted) throw e;
      lastError = e;
      continue; // resume from what reached the disk
    } finally {
      file.close();
    }
    if (total !== undefined && done < total) {
      lastError = new DownloadError(`Connection closed at byte ${done} of ${total}`);
      continue;
    }
    return await finish(part, dest, done, attempt, resumedFrom, options);
  }
  throw new DownloadError(
    `Downloading ${url} failed after ${attempts} attempts: ${
      (lastError as Error)?.message ?? lastError
    }`,
    { cause: lastError },
  );
}

async function finish(
  part: string,
  dest: string,
  bytes: number,
  attempts: number,
  resumedFrom: number[],
  options: DownloadOptions,
): Promise<DownloadResult> {
  const sha256 = await sha256File(part);
  if (options.sha256 && sha256 !== options.sha256.toLowerCase()) {
    await Deno.remove(part).catch(() => {});
    throw new DownloadError(
      `Checksum mismatch for ${dest}: expected ${options.sha256}, got ${sha256}`,
    );
  }
  await Deno.rename(part, dest);
  return { path: dest, bytes, sha256, attempts, resumedFrom };
}

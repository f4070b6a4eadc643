/**
 * HTTP with bounds, shared by the GGUF range reader and the resumable download: a connect
 * timeout (no response headers within it), an idle timeout (no body bytes within it), bodies read
 * only up to a byte count (the rest is cancelled, never downloaded), and one typed error,
 * {@link HttpError}, whose message names the URL: `URL: HTTP 404 (HTTP_STATUS)`.
 *
 * A leaf module (it imports only the shared `BitloadError`), so any layer may use it.
 *
 * @module
 */

import { BitloadError } from "./errors.ts";

/** Default idle and connect timeout: 30 s without a byte ends the request. */
export const DEFAULT_HTTP_TIMEOUT_MS = 30_000;

/**
 * Progress that resets the idle clock: at least this many body bytes (1 KiB, curl's usual
 * low-speed limit) must arrive within each idle window, so a trickle cannot hold a request open.
 */
export const LOW_SPEED_BYTES = 1024;

/** Why an HTTP exchange failed. */
export type HttpErrorCode =
  | "HTTP_STATUS" // the server answered with a status that is not usable (404, 500, …)
  | "HTTP_PROTOCOL" // the answer contradicts the request (wrong Content-Range, short body, …)
  | "HTTP_TIMEOUT" // no response, or no body bytes, within the timeout
  | "HTTP_NETWORK" // the connection failed or dropped
  | "TOO_LARGE"; // the body is larger than the caller's cap

/**
 * An HTTP request failed. `path` is the URL; the CLI prints `bitload: URL: REASON (CODE)`.
 *
 * @example
 * ```ts
 * import { HttpError } from "./http.ts";
 * const e = new HttpError("HTTP_STATUS", "http://127.0.0.1/m.gguf", "HTTP 404", 404);
 * e.message; // "HTTP 404 (HTTP_STATUS)", e.path: the URL
 * ```
 */
export class HttpError extends BitloadError<HttpErrorCode> {
  /** The URL requested. */
  readonly url: string;
  /** The HTTP status, when the server answered. */
  readonly status?: number;

  /** Creates the error; `cause` chains an underlying error. */
  constructor(code: HttpErrorCode, url: string, reason: string, status?: number, cause?: unknown) {
    super(code, reason, { path: url, cause });
    this.url = url;
    this.status = status;
  }
}

/** Timeouts and plumbing of one request. */
export interface HttpRequestOptions {
  /** No response headers within this many ms ends the request. Default 30 s. */
  connectTimeoutMs?: number;
  /**
   * Fewer than {@link LOW_SPEED_BYTES} body bytes within this many ms (counting only time spent
   * waiting for the server) ends the request. Default 30 s.
   */
  idleTimeoutMs?: number;
  /** Cancels the request (the caller's own abort, not a timeout). */
  signal?: AbortSignal;
  /** The fetch to use. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/** A response whose body is read with an idle timeout; {@link BoundedResponse.close} ends it. */
export interface BoundedResponse {
  /** The response (headers and status; read the body with the methods below). */
  readonly response: Response;
  /** The next chunk of the body, or null at its end; throws `HTTP_TIMEOUT` when too slow. */
  next(): Promise<Uint8Array | null>;
  /**
   * Exactly `length` bytes of the body, or fewer only where the body ends first; bytes past
   * `length` are kept for the next call, never more than one chunk is read ahead.
   */
  read(length: number): Promise<Uint8Array>;
  /** Cancels the rest of the body (and the connection). Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Sends a request with a connect timeout and returns its body wrapped with an idle timeout.
 * Network failures become `HTTP_NETWORK`, timeouts `HTTP_TIMEOUT`; the caller's own abort is
 * rethrown as it came.
 *
 * @example
 * ```ts ignore
 * import { requestBounded } from "./http.ts";
 * const r = await requestBounded("http://127.0.0.1:8080/m.gguf", { headers: { range: "bytes=0-99" } });
 * const first = await r.read(100);
 * await r.close();
 * ```
 */
export async function requestBounded(
  url: string,
  init: RequestInit,
  options: HttpRequestOptions = {},
): Promise<BoundedResponse> {
  const connectMs = options.connectTimeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const idleMs = options.idleTimeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let timedOut = "";
  let timer = setTimeout(() => {
    timedOut = `no response within ${connectMs / 1000} s`;
    controller.abort();
  }, connectMs);
  const failure = (e: unknown): unknown => {
    if (options.signal?.aborted) return options.signal.reason ?? e;
    if (e instanceof HttpError) return e;
    if (timedOut) return new HttpError("HTTP_TIMEOUT", url, timedOut, undefined, e);
    const message = e instanceof Error ? e.message.split("\n")[0] : String(e);
    return new HttpError("HTTP_NETWORK", url, message, undefined, e);
  };
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, { ...init, signal: controller.signal });
  } catch (e) {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    throw failure(e);
  } finally {
    clearTimeout(timer);
  }
  const reader = response.body?.getReader();
  let pending: Uint8Array | null = null;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    await reader?.cancel().catch(() => {});
    controller.abort();
  };
  // The idle clock runs only while waiting for the server (never while the caller works on what
  // arrived), and is reset only by real progress: LOW_SPEED_BYTES within the window, so a server
  // trickling a byte a second times out like a silent one.
  let waited = 0;
  let windowBytes = 0;
  const next = async (): Promise<Uint8Array | null> => {
    if (pending) {
      const p = pending;
      pending = null;
      return p;
    }
    if (!reader || closed) return null;
    const started = performance.now();
    timer = setTimeout(() => {
      timedOut = `fewer than ${LOW_SPEED_BYTES} bytes in ${idleMs / 1000} s`;
      controller.abort();
    }, Math.max(0, idleMs - waited));
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          await close();
          return null;
        }
        if (value.length === 0) continue;
        windowBytes += value.length;
        waited += performance.now() - started;
        if (windowBytes >= LOW_SPEED_BYTES) waited = windowBytes = 0;
        return value;
      }
    } catch (e) {
      await close();
      throw failure(e);
    } finally {
      clearTimeout(timer);
    }
  };
  const read = async (length: number): Promise<Uint8Array> => {
    const out = new Uint8Array(length);
    let have = 0;
    while (have < length) {
      const chunk = await next();
      if (chunk === null) return out.subarray(0, have);
      const take = Math.min(chunk.length, length - have);
      out.set(chunk.subarray(0, take), have);
      have += take;
      if (take < chunk.length) pending = chunk.subarray(take);
    }
    return out;
  };
  return { response, next, read, close };
}

/**
 * Parses `Content-Range: bytes START-END/TOTAL` (TOTAL may be `*`), or the `bytes *` + `/TOTAL` form of a 416;
 * returns null when the header is absent or malformed.
 *
 * @example
 * ```ts
 * import { parseContentRange } from "./http.ts";
 * parseContentRange("bytes 0-99/1000"); // { start: 0, end: 99, total: 1000 }
 * parseContentRange("bytes 5-4/1000");   // null (end before start)
 * ```
 */
export function parseContentRange(
  header: string | null,
): { start?: number; end?: number; total?: number } | null {
  if (header === null) return null;
  const m = /^\s*bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)\s*$/i.exec(header);
  if (!m) return null;
  const num = (s: string | undefined) => (s === undefined || s === "*" ? undefined : Number(s));
  const range = { start: num(m[1]), end: num(m[2]), total: num(m[3]) };
  for (const v of Object.values(range)) {
    if (v !== undefined && !Number.isSafeInteger(v)) return null;
  }
  if (range.start !== undefined && range.end! < range.start) return null;
  return range;
}

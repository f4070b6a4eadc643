/**
 * The model argument of a command that reads URLs (`inspect`, `plan`): an `hf://` reference is
 * resolved against the hub (`src/download/hf.ts`), and `--header 'K: V'` (plus `$HF_TOKEN` for
 * the hub) goes with every request.
 *
 * @module
 */

import type { HttpRangeOptions } from "../gguf/reader.ts";
import { isHfReference, parseHeaderArgs, resolveHfReference } from "../download/hf.ts";
import { UsageError } from "./output.ts";

/** `--header 'K: V'` (repeatable), for the commands that read URLs. */
export const HEADER_FLAG = { header: { type: "string", multiple: true } } as const;

/** What to open: the path or URL, and the HTTP options for a URL. */
export interface RemoteSource {
  /** A local path or an http(s) URL (an `hf://` reference resolved). */
  source: string;
  /** Headers (and timeouts) for a URL; undefined for a local path. */
  http?: HttpRangeOptions;
}

/**
 * Resolves a command's model argument: `hf://…` to its hub URL, with `--header`s and the token;
 * an http(s) URL with the `--header`s; a path as it is.
 *
 * @example
 * ```ts ignore
 * import { remoteSource } from "./remote.ts";
 * const { source, http } = await remoteSource("hf://owner/repo:Q8_0", ["X-Trace: 1"]);
 * ```
 */
export async function remoteSource(
  file: string,
  headerArgs: readonly string[] = [],
): Promise<RemoteSource> {
  let headers: Headers;
  try {
    headers = parseHeaderArgs(headerArgs);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (isHfReference(file)) {
    const r = await resolveHfReference(file, { headers });
    return { source: r.url, http: { headers: r.headers } };
  }
  if (/^https?:\/\//i.test(file)) return { source: file, http: { headers } };
  if (headerArgs.length > 0) {
    throw new UsageError(`--header applies to URLs and hf:// references, not to ${file}`);
  }
  return { source: file };
}

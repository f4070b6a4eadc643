/**
 * Models as Hugging Face users name them: `hf://OWNER/REPO/PATH/FILE.gguf` (a file, optionally
 * `hf://OWNER/REPO@REVISION/FILE.gguf`) and `hf://OWNER/REPO:QUANT` (the repository's GGUF file
 * for a quantization, chosen from the repository listing as llama.cpp's `-hf OWNER/REPO:QUANT`
 * does; without `:QUANT`, Q4_K_M when present), resolved to the hub's
 * `ENDPOINT/OWNER/REPO/resolve/REVISION/PATH` URL.
 *
 * The endpoint is `$BITLOAD_HF_ENDPOINT` (default `https://huggingface.co`), the token
 * `$HF_TOKEN` (sent as `Authorization: Bearer …`), and extra headers come from the CLI's
 * `--header 'K: V'`. The listing is the hub's tree API, as huggingface.js `listFiles` reads it:
 * `GET ENDPOINT/api/models/OWNER/REPO/tree/REVISION?recursive=true`, a JSON array of
 * `{type: "file" | "directory", path, size}` pages linked by `Link: <…>; rel="next"`.
 *
 * @module
 */

import { HttpError, type HttpRequestOptions, requestBounded } from "../common/http.ts";

/** The public hub, used when `$BITLOAD_HF_ENDPOINT` is unset. */
export const DEFAULT_HF_ENDPOINT = "https://huggingface.co";

/** The quantization chosen for `hf://OWNER/REPO` without `:QUANT` (llama.cpp's default too). */
export const DEFAULT_HF_QUANT = "Q4_K_M";

/** A listing page larger than this is refused (a repository of ~50,000 files is ~8 MiB). */
export const MAX_HF_LISTING_BYTES = 32 * 1024 * 1024;

/** At most this many listing pages are followed. */
export const MAX_HF_LISTING_PAGES = 100;

/** A parsed `hf://` reference. */
export interface HfReference {
  /** `OWNER/REPO`. */
  repo: string;
  /** Branch, tag or commit (default `main`). */
  revision: string;
  /** The file's path in the repository, when named. */
  file?: string;
  /** The quantization to choose (`Q4_K_M`), when no file is named. */
  quant?: string;
}

/** Why an `hf://` reference could not be resolved. */
export type HfErrorCode = "HF_BAD_REFERENCE" | "HF_NO_MATCH" | "HF_AMBIGUOUS" | "HF_BAD_LISTING";

/**
 * An `hf://` reference that is malformed or names no (or more than one) GGUF file.
 *
 * @example
 * ```ts
 * import { HfError } from "./hf.ts";
 * new HfError("HF_NO_MATCH", "hf://a/b:Q9", "no file").message; // "hf://a/b:Q9: no file (HF_NO_MATCH)"
 * ```
 */
export class HfError extends Error {
  /** Always "HfError". */
  override name = "HfError";
  /** Stable machine-readable reason. */
  readonly code: HfErrorCode;
  /** Creates the error for `reference`. */
  constructor(code: HfErrorCode, reference: string, reason: string) {
    super(`${reference}: ${reason} (${code})`);
    this.code = code;
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Whether `source` is an `hf://` reference.
 *
 * @example
 * ```ts
 * import { isHfReference } from "./hf.ts";
 * isHfReference("hf://owner/repo:Q4_K_M"); // true
 * isHfReference("model.gguf"); // false
 * ```
 */
export function isHfReference(source: string): boolean {
  return source.startsWith("hf://");
}

/**
 * Parses `hf://OWNER/REPO[@REV]/PATH.gguf` or `hf://OWNER/REPO[@REV][:QUANT]`.
 *
 * @example
 * ```ts
 * import { parseHfReference } from "./hf.ts";
 * parseHfReference("hf://microsoft/bitnet-b1.58-2B-4T-gguf/ggml-model-i2_s.gguf");
 * // { repo: "microsoft/bitnet-b1.58-2B-4T-gguf", revision: "main", file: "ggml-model-i2_s.gguf" }
 * parseHfReference("hf://bartowski/Llama-3.2-1B-Instruct-GGUF:q8_0");
 * // { repo: "bartowski/Llama-3.2-1B-Instruct-GGUF", revision: "main", quant: "Q8_0" }
 * ```
 */
export function parseHfReference(reference: string): HfReference {
  const bad = (why: string) =>
    new HfError(
      "HF_BAD_REFERENCE",
      reference,
      `${why}; expected hf://OWNER/REPO/FILE.gguf or hf://OWNER/REPO:QUANT`,
    );
  if (!isHfReference(reference)) throw bad("not an hf:// reference");
  const parts = reference.slice("hf://".length).split("/");
  if (parts.length < 2) throw bad("no repository");
  const owner = parts[0];
  let name = parts[1];
  let quant: string | undefined;
  if (parts.length === 2) {
    const colon = name.indexOf(":");
    if (colon >= 0) {
      quant = name.slice(colon + 1).toUpperCase();
      name = name.slice(0, colon);
      if (!/^[A-Z0-9_]+$/.test(quant)) throw bad(`bad quantization "${quant}"`);
    }
  }
  let revision = "main";
  const at = name.indexOf("@");
  if (at >= 0) {
    revision = name.slice(at + 1);
    name = name.slice(0, at);
    if (!/^[A-Za-z0-9._/-]+$/.test(revision) || revision.includes("..")) {
      throw bad(`bad revision "${revision}"`);
    }
  }
  if (!NAME.test(owner) || !NAME.test(name)) throw bad("bad owner or repository name");
  const repo = `${owner}/${name}`;
  if (parts.length === 2) return { repo, revision, quant: quant ?? DEFAULT_HF_QUANT };
  const file = parts.slice(2).join("/");
  if (file === "" || parts.slice(2).some((p) => p === "" || p === "." || p === "..")) {
    throw bad("bad file path");
  }
  return { repo, revision, file };
}

/** Options of {@link resolveHfReference}. */
export interface HfOptions extends HttpRequestOptions {
  /** The hub (default `$BITLOAD_HF_ENDPOINT`, else {@link DEFAULT_HF_ENDPOINT}). */
  endpoint?: string;
  /** A token sent as `Authorization: Bearer …` (default `$HF_TOKEN`). */
  token?: string;
  /** Extra request headers (the CLI's `--header`). */
  headers?: HeadersInit;
}

/** A resolved reference: the URL to read and the headers to read it with. */
export interface HfResolved {
  /** `ENDPOINT/OWNER/REPO/resolve/REVISION/PATH`. */
  url: string;
  /** The file's path in the repository. */
  file: string;
  /** The headers every request for it needs (the token and `--header`s). */
  headers: Headers;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env
  }
}

/**
 * The request headers for the hub: `headers`, plus `Authorization: Bearer TOKEN` when a token is
 * given (or `$HF_TOKEN` is set) and no authorization header was.
 *
 * @example
 * ```ts
 * import { hfHeaders } from "./hf.ts";
 * hfHeaders({ token: "hf_x" }).get("authorization"); // "Bearer hf_x"
 * ```
 */
export function hfHeaders(options: Pick<HfOptions, "token" | "headers"> = {}): Headers {
  const headers = new Headers(options.headers);
  const token = options.token ?? env("HF_TOKEN");
  if (token && !headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
  return headers;
}

function endpointOf(options: HfOptions): string {
  return (options.endpoint ?? env("BITLOAD_HF_ENDPOINT") ?? DEFAULT_HF_ENDPOINT).replace(
    /\/+$/,
    "",
  );
}

const encodePath = (p: string) => p.split("/").map(encodeURIComponent).join("/");

/** One entry of the hub's tree listing. */
interface TreeEntry {
  type: string;
  path: string;
  size?: number;
}

/**
 * Every file path of a repository at a revision, from the hub's tree API (pages followed).
 *
 * @example
 * ```ts ignore
 * import { listHfFiles } from "./hf.ts";
 * await listHfFiles("microsoft/bitnet-b1.58-2B-4T-gguf"); // ["README.md", "ggml-model-i2_s.gguf", …]
 * ```
 */
export async function listHfFiles(
  repo: string,
  revision = "main",
  options: HfOptions = {},
): Promise<string[]> {
  const headers = hfHeaders(options);
  headers.set("accept", "application/json");
  let url: string | null = `${endpointOf(options)}/api/models/${repo}/tree/${
    encodeURIComponent(revision)
  }?recursive=true`;
  const files: string[] = [];
  for (let page = 0; url !== null; page++) {
    if (page >= MAX_HF_LISTING_PAGES) {
      throw new HfError("HF_BAD_LISTING", `hf://${repo}`, `more than ${page} listing pages`);
    }
    const r = await requestBounded(url, { headers }, options);
    try {
      if (r.response.status !== 200) {
        throw new HttpError("HTTP_STATUS", url, `HTTP ${r.response.status}`, r.response.status);
      }
      const body = await r.read(MAX_HF_LISTING_BYTES + 1);
      if (body.length > MAX_HF_LISTING_BYTES) {
        throw new HttpError("TOO_LARGE", url, `listing over ${MAX_HF_LISTING_BYTES} bytes`);
      }
      let entries: unknown;
      try {
        entries = JSON.parse(new TextDecoder().decode(body));
      } catch {
        throw new HfError("HF_BAD_LISTING", `hf://${repo}`, `${url} is not a JSON listing`);
      }
      if (!Array.isArray(entries)) {
        throw new HfError("HF_BAD_LISTING", `hf://${repo}`, `${url} is not a JSON array`);
      }
      for (const e of entries as TreeEntry[]) {
        if (e && e.type === "file" && typeof e.path === "string") files.push(e.path);
      }
      const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(r.response.headers.get("link") ?? "");
      url = next ? new URL(next[1], url).href : null;
    } finally {
      await r.close();
    }
  }
  return files;
}

/**
 * The GGUF file of `files` for a quantization: a `.gguf` (not an `mmproj` projector) whose name
 * holds `quant` as a whole token (`model-Q4_K_M.gguf`, `Q4_K_M/model-00001-of-00002.gguf`);
 * of a split model, its first part. `undefined` when none matches; an error when several
 * different models do.
 *
 * @example
 * ```ts
 * import { chooseHfQuantFile } from "./hf.ts";
 * chooseHfQuantFile(["m-Q4_K_M.gguf", "m-Q8_0.gguf", "README.md"], "Q8_0", "hf://o/r:Q8_0");
 * // "m-Q8_0.gguf"
 * ```
 */
export function chooseHfQuantFile(
  files: readonly string[],
  quant: string,
  reference: string,
): string | undefined {
  // A whole token between separators (`-`, `.`, `/`): Q8 does not match Q8_0.
  const token = new RegExp(`(^|[-./])${quant}([-.]|$)`, "i");
  const matches = files.filter((f) =>
    f.toLowerCase().endsWith(".gguf") && !/mmproj/i.test(f) && token.test(f)
  );
  const firstParts = matches.filter((f) => {
    const m = /-(\d{5})-of-(\d{5})\.gguf$/i.exec(f);
    return m === null || Number(m[1]) === 1;
  }).sort();
  if (firstParts.length > 1) {
    throw new HfError(
      "HF_AMBIGUOUS",
      reference,
      `${firstParts.length} files match ${quant} (${firstParts.join(", ")}): name one as hf://${
        reference.slice(5).split(":")[0]
      }/FILE`,
    );
  }
  return firstParts[0];
}

/**
 * Resolves an `hf://` reference to the URL to read and the headers to send: a named file
 * directly, a `:QUANT` through the repository listing.
 *
 * @example
 * ```ts ignore
 * import { readGguf } from "../gguf/reader.ts";
 * import { resolveHfReference } from "./hf.ts";
 * const { url, headers } = await resolveHfReference("hf://owner/repo:Q8_0");
 * const file = await readGguf(url, { http: { headers } });
 * ```
 */
export async function resolveHfReference(
  reference: string,
  options: HfOptions = {},
): Promise<HfResolved> {
  const ref = parseHfReference(reference);
  const headers = hfHeaders(options);
  let file = ref.file;
  if (file === undefined) {
    const files = await listHfFiles(ref.repo, ref.revision, options);
    file = chooseHfQuantFile(files, ref.quant!, reference);
    if (file === undefined) {
      const ggufs = files.filter((f) => f.toLowerCase().endsWith(".gguf"));
      throw new HfError(
        "HF_NO_MATCH",
        reference,
        ggufs.length === 0
          ? `the repository has no .gguf file`
          : `no .gguf file for ${ref.quant} among ${ggufs.length} (${ggufs.slice(0, 6).join(", ")}${
            ggufs.length > 6 ? ", …" : ""
          })`,
      );
    }
  }
  const url = `${endpointOf(options)}/${ref.repo}/resolve/${encodePath(ref.revision)}/${
    encodePath(file)
  }`;
  return { url, file, headers };
}

/**
 * Parses `K: V` header arguments (the CLI's repeatable `--header`).
 *
 * @example
 * ```ts
 * import { parseHeaderArgs } from "./hf.ts";
 * parseHeaderArgs(["X-Trace: 1"]).get("x-trace"); // "1"
 * ```
 */
export function parseHeaderArgs(args: readonly string[]): Headers {
  const headers = new Headers();
  for (const a of args) {
    const colon = a.indexOf(":");
    const name = colon > 0 ? a.slice(0, colon).trim() : "";
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new RangeError(`--header must be 'NAME: VALUE', got ${JSON.stringify(a)}`);
    }
    headers.append(name, a.slice(colon + 1).trim());
  }
  return headers;
}

/**
 * A download cache with an index: files fetched by URL live in one directory
 * (`$BITLOAD_CACHE_DIR/<kind>`, `$XDG_CACHE_HOME/bitload/<kind>` or `~/.cache/bitload/<kind>`),
 * described by `index.json` (URL → file, size, sha256, time). Lookups are answered from memory
 * after the first one and from the index on disk otherwise; only a miss downloads.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { readEnv } from "../../ffi/env.ts";
import { join, resolve, sep } from "node:path";
import { z } from "npm:zod@^4";
import { writeBytesAtomically } from "../common/atomic_write.ts";
import { downloadFile, type DownloadOptions, sha256File } from "./resumable.ts";

/** One cached file. */
export interface CacheEntry {
  /** The URL it came from. */
  url: string;
  /** Absolute path of the cached file. */
  path: string;
  /** Size in bytes. */
  bytes: number;
  /** sha256 (hex). */
  sha256: string;
  /** When it was fetched (ISO date). */
  fetchedAt: string;
}

/**
 * The cache directory for a kind of file.
 *
 * @example
 * ```ts ignore
 * import { cacheDirectory } from "./cache.ts";
 * cacheDirectory("tokenizers"); // e.g. /home/me/.cache/bitload/tokenizers
 * ```
 */
export function cacheDirectory(kind: string): string {
  const base = readEnv("BITLOAD_CACHE_DIR") ??
    (readEnv("XDG_CACHE_HOME") ? join(readEnv("XDG_CACHE_HOME")!, "bitload") : undefined) ??
    join(readEnv("HOME") ?? ".", ".cache", "bitload");
  return join(base, kind);
}

/**
 * The file name for `url`: the sha256 of the whole URL (so two URLs never share a file) and the
 * URL's last path segment, made safe, for people reading the directory.
 */
function fileNameFor(url: string): string {
  const last = new URL(url).pathname.split("/").filter(Boolean).pop() ?? "download";
  const hash = createHash("sha256").update(url).digest("hex");
  return `${hash}-${last.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 80)}`;
}

/** zod schema of `index.json`; an index that does not match is ignored and rewritten. */
const IndexSchema = z.object({
  version: z.literal(1),
  entries: z.array(z.object({
    url: z.string(),
    path: z.string(),
    bytes: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    fetchedAt: z.string(),
  })),
});

/**
 * A cache of downloaded files.
 *
 * @example
 * ```ts ignore
 * import { DownloadCache } from "./cache.ts";
 * const cache = new DownloadCache("tokenizers");
 * const entry = await cache.fetch("https://example.org/m/tokenizer.json");
 * ```
 */
export class DownloadCache {
  /** The directory holding the files and `index.json`. */
  readonly dir: string;
  #index: Map<string, CacheEntry> | undefined;

  /** A cache in `cacheDirectory(kind)`, or in `dir` when given. */
  constructor(kind: string, dir?: string) {
    this.dir = dir ?? cacheDirectory(kind);
  }

  #load(): Map<string, CacheEntry> {
    if (this.#index) return this.#index;
    let entries: CacheEntry[] = [];
    try {
      const parsed = IndexSchema.safeParse(
        JSON.parse(Deno.readTextFileSync(join(this.dir, "index.json"))),
      );
      // A corrupt index is rebuilt: its entries are dropped and the next save writes a good one.
      if (parsed.success) entries = parsed.data.entries.filter((e) => this.#inside(e.path));
    } catch { /* no index yet, or not JSON */ }
    this.#index = new Map(entries.map((e) => [e.url, e]));
    return this.#index;
  }

  /** Whether `path` is a file directly inside the cache directory (never `../`, never absolute
   * paths elsewhere: a tampered index must not make the cache hand out arbitrary files). */
  #inside(path: string): boolean {
    const dir = resolve(this.dir) + sep;
    const full = resolve(path);
    return full.startsWith(dir) && !full.slice(dir.length).includes(sep);
  }

  /** The cached entry for `url`, or undefined; drops entries whose file disappeared. */
  lookup(url: string): CacheEntry | undefined {
    const index = this.#load();
    const entry = index.get(url);
    if (!entry) return undefined;
    if (!this.#verified.has(url)) {
      try {
        const info = Deno.lstatSync(entry.path); // a symlink is not a cached file
        if (!info.isFile || info.size !== entry.bytes) throw new Error("changed");
        this.#verified.add(url);
      } catch {
        index.delete(url);
        return undefined;
      }
    }
    return entry;
  }
  readonly #verified = new Set<string>();

  /** Returns the cached file for `url`, downloading it (resumably) on a miss. */
  async fetch(url: string, options: DownloadOptions = {}): Promise<CacheEntry> {
    const hit = this.lookup(url);
    if (hit && !options.sha256) return hit;
    if (hit && hit.sha256 === options.sha256!.toLowerCase()) {
      // The caller knows the bytes: check the file, not just what the index says about it.
      if (await sha256File(hit.path).catch(() => "") === hit.sha256) return hit;
      this.#index?.delete(url);
      this.#verified.delete(url);
    }
    await Deno.mkdir(this.dir, { recursive: true });
    const dest = join(this.dir, fileNameFor(url));
    const r = await downloadFile(url, dest, options);
    const entry: CacheEntry = {
      url,
      path: r.path,
      bytes: r.bytes,
      sha256: r.sha256,
      fetchedAt: new Date().toISOString(),
    };
    await this.#save(entry);
    return entry;
  }

  async #save(entry: CacheEntry): Promise<void> {
    // Re-read the index so entries written by other processes are kept.
    this.#index = undefined;
    const index = this.#load();
    index.set(entry.url, entry);
    this.#verified.add(entry.url);
    const text = JSON.stringify({ version: 1, entries: [...index.values()] }, null, 2) + "\n";
    await writeBytesAtomically(join(this.dir, "index.json"), text);
  }
}

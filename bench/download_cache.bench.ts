/**
 * Cache lookups of the download cache: from memory after the first lookup (goal < 10 µs) and from
 * `index.json` on disk in a fresh cache object (goal < 5 ms).
 *
 * @module
 */

import { join } from "node:path";
import { DownloadCache } from "../src/download/cache.ts";

const dir = await Deno.makeTempDir({ prefix: "bitload-cache-bench-" });
const entries = Array.from({ length: 200 }, (_, i) => {
  const path = join(dir, `f${i}`);
  Deno.writeFileSync(path, new Uint8Array(16));
  return {
    url: `https://example.org/m${i}/tokenizer.json`,
    path,
    bytes: 16,
    sha256: "0".repeat(64),
    fetchedAt: "",
  };
});
Deno.writeTextFileSync(join(dir, "index.json"), JSON.stringify({ version: 1, entries }));
const url = entries[123].url;
const warm = new DownloadCache("tokenizers", dir);
warm.lookup(url);

Deno.bench({
  name: "cached lookup, in memory",
  group: "download cache",
  fn: () => void warm.lookup(url),
});
Deno.bench({
  name: "cached lookup, index on disk (fresh cache object)",
  group: "download cache",
  fn: () => void new DownloadCache("tokenizers", dir).lookup(url),
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

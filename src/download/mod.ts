/**
 * `@bitload/bitload/download`: resumable downloads (atomic, checked, bounded) and the download
 * cache that tokenizer discovery and remote models use.
 *
 * @example
 * ```ts ignore
 * import { downloadFile } from "@bitload/bitload/download";
 * const r = await downloadFile("https://example.com/model.gguf", "model.gguf");
 * console.log(r.bytes, r.sha256);
 * ```
 *
 * @module
 */

export { cacheDirectory, type CacheEntry, DownloadCache } from "./cache.ts";
export {
  DEFAULT_MAX_DOWNLOAD_BYTES,
  DownloadError,
  type DownloadErrorCode,
  downloadFile,
  type DownloadOptions,
  type DownloadProgress,
  type DownloadResult,
} from "./resumable.ts";

/**
 * The peers an installed bitload can find on its own, for `bitload bench`: ggml's
 * `libggml-base.so` named by `BITLOAD_GGML_LIB`, and `@huggingface/gguf` from npm. The repository's
 * runner (`bench/suite.ts`) adds the test oracles (libllama, the reference vocabulary) on top.
 *
 * @module
 */

import { openGgmlReferenceLibrary } from "../validate/ggml_reference.ts";
import type { BenchPeers } from "./suite.ts";

/** Peers and the means to release them. */
export interface OpenedBenchPeers extends Disposable {
  /** What the suite gets. */
  peers: BenchPeers;
  /** Releases the libraries that were opened. */
  close(): void;
}

/**
 * Opens the peers an installed bitload can reach. Nothing is searched for in a checkout.
 *
 * @example
 * ```ts ignore
 * import { installedBenchPeers } from "./peers.ts";
 * using opened = await installedBenchPeers();
 * console.log(Object.keys(opened.peers), opened.peers.missing);
 * ```
 */
export async function installedBenchPeers(): Promise<OpenedBenchPeers> {
  const peers: BenchPeers = { missing: {} };
  const opened = openGgmlReferenceLibrary();
  if ("reference" in opened) peers.ggml = opened.reference;
  else peers.missing!.ggml = opened.reason;
  try {
    const { gguf } = await import("npm:@huggingface/gguf@^0.4.6");
    peers.ggufParser = {
      name: "@huggingface/gguf",
      parse: (path) => gguf(path, { allowLocalFile: true }),
    };
  } catch (e) {
    peers.missing!.ggufParser = `@huggingface/gguf unavailable: ${
      (e as Error).message.split("\n")[0]
    }`;
  }
  peers.missing!.llamaBpeVocab =
    "the Llama-3 vocabulary comes with the repository's runner (deno task bench:suite)";
  peers.missing!.benchmarkText = peers.missing!.llamaBpeVocab;
  const close = () => peers.ggml?.close();
  return { peers, close, [Symbol.dispose]: close };
}

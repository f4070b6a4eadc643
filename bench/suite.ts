/**
 * The repository's runner of the `bitload bench` suite: `deno task bench:suite [bench options]`.
 * It injects every peer the checkout has, which the shipped CLI cannot know about: ggml from the
 * npm package, libllama's tokenizer and the benchmark text from the test oracles, the Llama-3
 * vocabulary fetched by `deno task fetch-reference`, and `@huggingface/gguf`.
 *
 * @module
 */

import { installedBenchPeers } from "../src/bench/peers.ts";
import type { BenchPeers } from "../src/bench/suite.ts";
import { runBench } from "../src/cli/bench.ts";
import { openGgmlReferenceLibrary } from "../src/validate/ggml_reference.ts";
import { referenceVocab, vocabSkipReason } from "../tests/reference/assets.ts";
import { findGgmlLibrary } from "../tests/reference/ggml.ts";
import { benchmarkText, llamaSkipReason, openLlamaReference } from "../tests/reference/llama.ts";

/** Every peer this checkout can offer; close the result when done. */
export async function repositoryBenchPeers(): Promise<{ peers: BenchPeers; close(): void }> {
  const installed = await installedBenchPeers();
  const peers: BenchPeers = { ...installed.peers, missing: { ...installed.peers.missing } };
  let ggml = peers.ggml;
  if (!ggml) {
    const opened = openGgmlReferenceLibrary(findGgmlLibrary() ?? undefined);
    if ("reference" in opened) {
      ggml = peers.ggml = opened.reference;
      delete peers.missing!.ggml;
    } else peers.missing!.ggml = opened.reason;
  }
  const vocab = referenceVocab("llama-bpe");
  if (vocab) {
    peers.llamaBpeVocab = vocab;
    delete peers.missing!.llamaBpeVocab;
  } else peers.missing!.llamaBpeVocab = vocabSkipReason("llama-bpe");
  peers.benchmarkText = (bytes) => benchmarkText(bytes);
  delete peers.missing!.benchmarkText;
  const llama = openLlamaReference();
  if (llama) {
    peers.tokenizer = {
      name: "libllama llama_tokenize",
      load(path) {
        const v = llama.loadVocab(path);
        return { tokenize: (text: string) => v.tokenize(text, false, false) };
      },
    };
  } else peers.missing!.tokenizer = llamaSkipReason();
  return {
    peers,
    close() {
      if (ggml !== installed.peers.ggml) ggml?.close();
      installed.close();
    },
  };
}

if (import.meta.main) {
  const { peers, close } = await repositoryBenchPeers();
  let code = 1;
  try {
    code = await runBench(Deno.args, (s) => console.log(s), peers);
  } finally {
    close();
  }
  Deno.exit(code);
}

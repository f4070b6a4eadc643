/**
 * Fetches the llama.cpp reference data that tests and benchmarks use, from the npm registry
 * only: `npm pack node-llama-cpp@3.22.1` (never installed: its dependencies pull 500 MB of CUDA
 * packages), then the `models/ggml-vocab-*.gguf` vocabularies and their `.inp`/`.out` tokenizer
 * vectors out of the llama.cpp v0.5.0 git bundle it ships. Idempotent; writes into
 * `.cache/reference/` (or `$BITLOAD_REFERENCE_DIR`).
 *
 * Usage: deno run -A scripts/fetch_reference.ts
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE = "node-llama-cpp@3.22.1";
const root = fileURLToPath(new URL("../", import.meta.url));
const dir = Deno.env.get("BITLOAD_REFERENCE_DIR") ?? join(root, ".cache/reference");
const vocabDir = join(dir, "vocab");
const marker = join(vocabDir, "ggml-vocab-llama-bpe.gguf");

async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

if (await exists(marker)) {
  console.log(`reference vocabularies already in ${vocabDir}`);
  Deno.exit(0);
}
await Deno.mkdir(dir, { recursive: true });
const work = await Deno.makeTempDir({ dir, prefix: "fetch-" });
try {
  const tgz = (await run("npm", ["pack", PACKAGE, "--silent"], work)).trim().split("\n").pop()!;
  await run("tar", ["xzf", tgz, "package/llama/gitRelease.bundle"], work);
  const repo = join(work, "llama.cpp");
  await run(
    "git",
    ["clone", "--quiet", "--no-checkout", "package/llama/gitRelease.bundle", repo],
    work,
  );
  const listing = await run("git", ["ls-tree", "--name-only", "HEAD", "models/"], repo);
  const files = listing.split("\n").filter((f) =>
    /^models\/ggml-vocab-.*\.gguf(\.inp|\.out)?$/.test(f)
  );
  const staging = join(work, "vocab");
  await Deno.mkdir(staging);
  for (const f of files) {
    const blob = await new Deno.Command("git", {
      args: ["show", `HEAD:${f}`],
      cwd: repo,
      stdout: "piped",
    })
      .output();
    if (!blob.success) throw new Error(`git show ${f} failed`);
    await Deno.writeFile(join(staging, f.slice("models/".length)), blob.stdout);
  }
  await Deno.remove(vocabDir, { recursive: true }).catch(() => {});
  await Deno.rename(staging, vocabDir);
  console.log(`fetched ${files.length} reference files into ${vocabDir}`);
} finally {
  await Deno.remove(work, { recursive: true }).catch(() => {});
}

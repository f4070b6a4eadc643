/**
 * What `deno publish` ships, checked cheaply from deno.json (the real `deno publish --dry-run`
 * takes a minute): the root and the documented subpath exports exist inside the published files,
 * and no published file is a test, a benchmark, a fixture, a generator or a repository script.
 */

import assert from "node:assert/strict";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), ".."));
const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))) as {
  exports: Record<string, string>;
  publish: { include: string[]; exclude?: string[] };
};

/** Names that belong to the repository, never to the package. */
const NOT_PRODUCT = [
  /^(tests?|bench|scripts)\//, // the repository's folders (src/bench/ is the product's suite)
  /(^|\/)(tests?|fixtures?|testdata)\//,
  /_test\.[a-z]+$/,
  /\.bench\.[a-z]+$/,
  /(^|\/)generate_[a-z_]+\.ts$/, // table generators (scripts/generate_*.ts)
  /_generate\.ts$/,
  /(^|\/)fixtures?\.ts$/,
  /selftest/,
];

function excluded(path: string): boolean {
  return (config.publish.exclude ?? []).some((e) =>
    e.endsWith("/") ? path.startsWith(e) : path === e
  );
}

async function publishedFiles(): Promise<string[]> {
  const out: string[] = [];
  async function walk(path: string) {
    const info = await Deno.stat(join(ROOT, path));
    if (!info.isDirectory) {
      if (!excluded(path)) out.push(path);
      return;
    }
    for await (const e of Deno.readDir(join(ROOT, path))) {
      await walk(path.endsWith("/") ? `${path}${e.name}` : `${path}/${e.name}`);
    }
  }
  for (const include of config.publish.include) await walk(include);
  return out.sort();
}

Deno.test("the package exports the core and the documented subpaths", async () => {
  const files = new Set(await publishedFiles());
  for (
    const name of [
      ".",
      "./gguf",
      "./quant",
      "./plan",
      "./tokenizer",
      "./validate",
      "./bench",
      "./cli",
    ]
  ) {
    assert.ok(config.exports[name], `deno.json exports "${name}"`);
  }
  for (const [name, target] of Object.entries(config.exports)) {
    const path = target.replace(/^\.\//, "");
    assert.ok(files.has(path), `export "${name}" → ${target} is a published file`);
  }
});

Deno.test("no published file is a test, benchmark, fixture, generator or script", async () => {
  const files = await publishedFiles();
  assert.ok(files.includes("mod.ts") && files.some((f) => f.startsWith("src/")));
  assert.deepEqual(files.filter((f) => NOT_PRODUCT.some((re) => re.test(f))), []);
});

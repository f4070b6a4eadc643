/**
 * The shape of the house, checked: every import in the shipped code (`src/`, `ffi/`, `mod.ts`)
 * looks down the layers of `docs/architecture.md`, and nothing shipped reaches into the
 * repository (`tests/`, `bench/`, `scripts/`, `.cache/`, `node_modules`).
 *
 * Imports are read from the source text: static `import`/`export … from` statements at the start
 * of a line (so JSDoc examples, whose lines start with ` * `, are not imports) and dynamic
 * `import("…")` with a literal specifier outside comments.
 */

import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { importsOf, withoutComments } from "./support/source_scan.ts";

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), ".."));

/**
 * The layers, lowest first. A module may import its own area, areas of the same rank, and lower
 * ranks; never a higher rank. `ffi` (the native library's bindings) and `common` (env, formatting,
 * random, perf monitor, atomic write) know nothing of models and sit under the GGUF reader.
 */
const LAYERS: Readonly<Record<string, number>> = {
  ffi: 0,
  common: 0,
  gguf: 1,
  quant: 2,
  plan: 2,
  download: 2,
  synth: 3,
  tokenizer: 3,
  gpu: 3,
  load: 4,
  validate: 5,
  infer: 5,
  chat: 5,
  bench: 6,
  cli: 6,
  serve: 6,
  pipeline: 5.5,
  "mod.ts": 7,
};

/** The area of a repository path: `src/<area>/…`, `ffi`, `mod.ts`, or the top folder. */
function areaOf(path: string): string {
  const parts = path.split("/");
  if (parts[0] === "src") return parts.length > 2 ? parts[1] : path;
  return parts[0];
}

/** Whether a repository path is part of the published product. */
function shipped(path: string): boolean {
  return path === "mod.ts" || path === "deno.json" || /^(src|ffi|kernels)\//.test(path);
}

async function shippedModules(): Promise<string[]> {
  const out: string[] = ["mod.ts"];
  async function walk(dir: string) {
    for await (const e of Deno.readDir(join(ROOT, dir))) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (/\.(ts|js|mjs)$/.test(e.name)) out.push(path);
    }
  }
  await walk("src");
  await walk("ffi");
  return out.sort();
}

/** String literals of the code that name a repository-only place. */
function repositoryPaths(text: string): string[] {
  const code = withoutComments(text);
  const found: string[] = [];
  for (const m of code.matchAll(/(["'`])((?:(?!\1)[^\\\n]|\\.)*)\1/g)) {
    const s = m[2];
    if (/node_modules/.test(s) || /(^|\/)\.\.\/(.*\/)?\.cache\b/.test(s) || /^\.cache\//.test(s)) {
      found.push(s);
    }
  }
  return found;
}

const IMPORT_MAP = Object.keys(
  (JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).imports ?? {}) as Record<
    string,
    string
  >,
);

Deno.test("shipped modules import only down the layers and never the repository", async () => {
  const problems: string[] = [];
  for (const file of await shippedModules()) {
    const text = await Deno.readTextFile(join(ROOT, file));
    const from = areaOf(file);
    const fromRank = LAYERS[from];
    if (fromRank === undefined) {
      problems.push(`${file}: area "${from}" has no layer (add it to LAYERS and the docs' map)`);
      continue;
    }
    for (const spec of importsOf(text)) {
      if (!spec.startsWith(".")) {
        const bare = spec.startsWith("node:") || spec.startsWith("npm:") ||
          IMPORT_MAP.some((k) => spec === k || (k.endsWith("/") && spec.startsWith(k)));
        if (!bare) problems.push(`${file}: "${spec}" is neither npm:/node: nor in deno.json`);
        continue;
      }
      const target = relative(ROOT, normalize(join(ROOT, dirname(file), spec)));
      if (!shipped(target)) {
        problems.push(`${file}: imports ${target}, which is not shipped`);
        continue;
      }
      if (target === "deno.json") continue;
      const to = areaOf(target);
      const toRank = LAYERS[to];
      if (toRank === undefined) problems.push(`${file}: imports ${target} (area without a layer)`);
      else if (toRank > fromRank) {
        problems.push(`${file} (${from}, layer ${fromRank}) imports ${target} (${to}, ${toRank})`);
      }
    }
    for (const s of repositoryPaths(text)) {
      problems.push(`${file}: names a repository-only path "${s}"`);
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("the import scan sees real imports and ignores examples in comments", () => {
  const text = [
    "/**",
    " * @example",
    ' * import { x } from "../../tests/a.ts";',
    " */",
    'import { a } from "./a.ts";',
    "import {",
    "  b,",
    '} from "../b/b.ts";',
    'export { c } from "./c.ts";',
    '// import { d } from "./d.ts";',
    'const e = await import("../e.ts");',
    'const f = "../../node_modules/x"; // node_modules in a comment',
    'const g = join(home, ".cache", "bitload");',
  ].join("\n");
  assert.deepEqual(importsOf(text), ["./a.ts", "../b/b.ts", "./c.ts", "../e.ts"]);
  assert.deepEqual(repositoryPaths(text), ["../../node_modules/x"]);
  assert.equal(areaOf("src/load/loader.ts"), "load");
  assert.equal(areaOf("ffi/native.ts"), "ffi");
});

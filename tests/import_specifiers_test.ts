/**
 * bitload is importable from anywhere: every dependency is named by an explicit specifier
 * (`npm:zod@^4`, `node:path`), never a bare name that only this checkout's `deno.json` or
 * `package.json` resolves. Checked two ways: a scan of every source file for bare specifiers, and a
 * script in a temporary directory outside the checkout that imports `mod.ts` by path and runs with
 * plain `deno run -A` (no `--config`).
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { importsOf } from "./support/source_scan.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DIRS = ["src", "ffi", "tests", "bench", "scripts"];

/** Every `.ts` file under `dir` (recursively). */
function* tsFiles(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) yield* tsFiles(p);
    else if (e.isFile && p.endsWith(".ts")) yield p;
  }
}

const EXPLICIT = /^(?:\.{1,2}\/|\/|npm:|node:|jsr:|https?:|file:|data:)/;

Deno.test("no source file imports a bare specifier", () => {
  const bare: string[] = [];
  const files = ["mod.ts", ...DIRS.flatMap((d) => [...tsFiles(join(ROOT, d))])];
  for (const f of files) {
    const path = f.startsWith("/") ? f : join(ROOT, f);
    const text = Deno.readTextFileSync(path);
    for (const spec of importsOf(text)) {
      if (!EXPLICIT.test(spec)) bare.push(`${relative(ROOT, path)}: "${spec}"`);
    }
  }
  assert.deepEqual(bare, [], `bare specifiers:\n${bare.join("\n")}`);
});

Deno.test("a script outside the checkout imports mod.ts with plain deno run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitload_import_" });
  try {
    assert.ok(!dir.startsWith(ROOT), "the temp directory must lie outside the checkout");
    const modUrl = new URL("../mod.ts", import.meta.url).href;
    const script = join(dir, "use.ts");
    await Deno.writeTextFile(
      script,
      `import * as bitload from ${JSON.stringify(modUrl)};\n` +
        `console.log(typeof bitload.openGguf, typeof bitload.Engine);\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "function function");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Native kernels from a package import (#17): a script in a temporary directory outside the
 * checkout imports `mod.ts` by `http://127.0.0.1:PORT/mod.ts` from a local static server serving
 * the checkout (a real `Deno.serve`), with a fresh `BITLOAD_CACHE_DIR`. The kernel sources are
 * located relative to `import.meta.url`, fetched, built once into the cache with one stderr line,
 * and `kernelInfo()` says native, built.
 */

import assert from "node:assert/strict";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const BUILDING = /^bitload: building native kernels \([^)]+\), once — about \d+ s$/;

const MEDIA: Record<string, string> = {
  ".ts": "application/typescript; charset=utf-8",
  ".js": "application/javascript; charset=utf-8",
  ".json": "application/json",
};

/** Serves files of the checkout (read-only, nothing outside it). */
function serveCheckout(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = normalize(decodeURIComponent(new URL(request.url).pathname)).replace(/^\/+/, "");
    if (path.startsWith("..") || path.includes("node_modules") || path.startsWith(".")) {
      return new Response("not found", { status: 404 });
    }
    try {
      const body = await Deno.readFile(join(ROOT, path));
      const type = MEDIA[extname(path)] ?? "text/plain; charset=utf-8";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

Deno.test("an http:// import of mod.ts from outside the checkout builds and loads the native kernels", async () => {
  const server = serveCheckout();
  const dir = await Deno.makeTempDir({ prefix: "bitload-url-import-" });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/mod.ts`;
    await Deno.writeTextFile(
      join(dir, "main.ts"),
      `import { kernelInfo } from "${url}";\nconsole.log(JSON.stringify(kernelInfo()));\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-check", "-A", "--no-config", "main.ts"],
      cwd: dir,
      env: { NO_COLOR: "1", BITLOAD_CACHE_DIR: join(dir, "cache"), BITLOAD_BUILD_NOTICE: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const info = JSON.parse(stdout.trim().split("\n").at(-1)!);
    assert.equal(info.backend, "native", stderr);
    assert.equal(info.origin, "built");
    assert.ok(info.library.startsWith(join(dir, "cache")), info.library);
    const notices = stderr.split("\n").filter((line) => line.startsWith("bitload:"));
    assert.equal(notices.length, 1, stderr);
    assert.match(notices[0], BUILDING);
    // the fetched sources were staged next to the cache for the compiler
    const names = [...Deno.readDirSync(join(dir, "cache"))].map((e) => e.name);
    assert.ok(names.some((name) => name.startsWith("src-bitload-")), names.join(", "));
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

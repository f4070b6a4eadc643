/**
 * Loading a generated model, in the same run: bitload's mapped load (map + make every page
 * resident), bitload's read path, a plain sequential read of the file into one buffer (the
 * baseline), and `Deno.readFile`. Warm (page cache) and cold (`posix_fadvise(DONTNEED)` before
 * each iteration, which needs the pages to be clean — true for a freshly written file).
 *
 * Size: 256 MiB by default; `BITLOAD_BENCH_SIZE=full` uses 1 GiB.
 *
 * @module
 */

import { join } from "node:path";
import { kv, writeGguf } from "../src/gguf/mod.ts";
import { ProgressiveLoader } from "../src/load/mod.ts";
import { cString, LINUX, openLibc } from "../ffi/libc.ts";

const full = Deno.env.get("BITLOAD_BENCH_SIZE") === "full";
const totalBytes = (full ? 1024 : 256) * 1024 * 1024;
const tensorBytes = 16 * 1024 * 1024;
const dir = await Deno.makeTempDir({ prefix: "bitload-load-bench-" });
const path = join(dir, "model.gguf");
const pattern = new Uint8Array(tensorBytes);
for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 2654435761) >>> 24;
await writeGguf(
  path,
  [
    kv.string("general.architecture", "llama"),
    kv.u32("llama.block_count", totalBytes / tensorBytes),
  ],
  Array.from({ length: totalBytes / tensorBytes }, (_, i) => ({
    name: `blk.${i}.ffn_up.weight`,
    type: "F32",
    dims: [4096, tensorBytes / 4 / 4096],
    data: pattern,
  })),
);
const size = (await Deno.stat(path)).size;
const libc = openLibc();

function dropCache(): void {
  if (!libc) return;
  const fd = libc.open(cString(path), LINUX.O_RDONLY);
  if (fd < 0) return;
  libc.posix_fadvise(fd, 0n, 0n, LINUX.POSIX_FADV_DONTNEED);
  libc.close(fd);
}

function plainRead(): Uint8Array {
  const buf = new Uint8Array(size);
  using f = Deno.openSync(path);
  let done = 0;
  while (done < size) done += f.readSync(buf.subarray(done)) ?? size;
  return buf;
}

for (const cold of [false, true]) {
  const group = `load ${size >> 20} MiB ${cold ? "cold" : "warm"}`;
  const bench = (name: string, baseline: boolean, fn: () => Promise<unknown> | unknown) =>
    Deno.bench({
      name,
      group,
      baseline,
      n: cold ? 5 : 10,
      warmup: 1,
      async fn(b) {
        if (cold) dropCache();
        b.start();
        await fn();
        b.end();
      },
    });
  bench("plain sequential read into one buffer", true, plainRead);
  bench("bitload mmap load (map + every page resident)", false, async () => {
    using loaded = await new ProgressiveLoader(path).load();
    if (loaded.report.multiplier > 1.05 && loaded.report.measured) {
      console.error(`multiplier ${loaded.report.multiplier.toFixed(3)}`);
    }
  });
  bench("bitload mmap load, MAP_POPULATE", false, async () => {
    using _ = await new ProgressiveLoader(path, { populate: true }).load();
  });
  bench("bitload read path (no mmap)", false, async () => {
    using _ = await new ProgressiveLoader(path, { mmap: false }).load();
  });
  bench("Deno.readFile", false, () => Deno.readFile(path));
}

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

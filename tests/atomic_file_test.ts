import assert from "node:assert/strict";
import { join } from "node:path";
import { writeTextFileAtomicSync } from "../ffi/atomic_file.ts";

Deno.test("writeTextFileAtomicSync replaces the file whole and leaves no temporary file", () => {
  const dir = Deno.makeTempDirSync({ prefix: "bitload-atomic-" });
  try {
    const path = join(dir, "latest.txt");
    writeTextFileAtomicSync(path, "first");
    writeTextFileAtomicSync(path, "second, longer");
    assert.equal(Deno.readTextFileSync(path), "second, longer");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["latest.txt"]);
    // The rename fails (a directory stands at the path): the error reaches the caller and the
    // temporary file is gone.
    const blocked = join(dir, "blocked");
    Deno.mkdirSync(join(blocked, "child"), { recursive: true });
    assert.throws(() => writeTextFileAtomicSync(blocked, "x"));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "blocked",
      "latest.txt",
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

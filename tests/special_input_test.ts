import assert from "node:assert/strict";
import { join } from "node:path";
import { NotRegularFileError } from "../src/common/file_kind.ts";
import { readGguf } from "../src/gguf/reader.ts";
import { openGguf } from "../src/pipeline/open.ts";
import { mapFile, ReadBuffer } from "../src/load/mapping.ts";

const CLI = new URL("../src/cli/main.ts", import.meta.url).pathname;

function makeSpecials(dir: string): Record<string, string> {
  const fifo = join(dir, "model.fifo");
  const socket = join(dir, "model.sock");
  const sh = (cmd: string, ...args: string[]) => {
    const out = new Deno.Command(cmd, { args, stdout: "null", stderr: "inherit" }).outputSync();
    assert.ok(out.success, `${cmd} ${args.join(" ")}`);
  };
  sh("mkfifo", fifo);
  sh("python3", "-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", socket);
  // A FIFO without a writer: opening it for reading would block forever.
  return { fifo, socket, device: "/dev/zero", directory: dir };
}

/**
 * Runs the CLI, killing it after 180 s so that a hang fails the test instead of the suite (not
 * less: `run` may first build the native library, a minute on a busy 2-core machine).
 */
async function cli(...args: string[]): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
  const out = await child.output();
  clearTimeout(timer);
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr).trim() };
}

Deno.test("readGguf, openGguf, mapFile and ReadBuffer refuse FIFOs, sockets, devices and directories without opening them", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "bitload-special-" });
  try {
    for (const [kind, path] of Object.entries(makeSpecials(dir))) {
      await assert.rejects(readGguf(path), NotRegularFileError, kind);
      await assert.rejects(openGguf(path), NotRegularFileError, kind);
      assert.throws(() => mapFile(path), NotRegularFileError, kind);
      assert.throws(() => new ReadBuffer(path), NotRegularFileError, kind);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("CLI: inspect/load/validate/run on a special file print one line and exit 1, never hang", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "bitload-special-cli-" });
  try {
    const specials = makeSpecials(dir);
    const cases: [string, string[]][] = [
      ...Object.keys(specials).map((k) => [k, ["inspect"]] as [string, string[]]),
      ["fifo", ["load"]],
      ["fifo", ["validate"]],
      ["device", ["validate"]],
      ["fifo", ["run", "-p", "hi", "-n", "1"]],
    ];
    for (const [kind, [command, ...rest]] of cases) {
      const path = specials[kind];
      const { code, stderr } = await cli(command, path, ...rest);
      assert.equal(code, 1, `${command} ${kind}: ${stderr}`);
      assert.equal(stderr.split("\n").length, 1, `${command} ${kind}: ${stderr}`);
      assert.match(stderr, /^bitload: .+: is a .+, not a regular file \(NOT_REGULAR_FILE\)$/);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

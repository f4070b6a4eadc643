import assert from "node:assert/strict";
import { join } from "node:path";
import {
  removeStaleTemporaries,
  STALE_TEMP_AGE_MS,
  writeAtomically,
  writeBytesAtomically,
  writeTextFileAtomicSync,
} from "../src/common/atomic_write.ts";
import { NotRegularFileError } from "../src/common/file_kind.ts";

const CLI = new URL("../src/cli/main.ts", import.meta.url).pathname;
const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

function run(cmd: string, ...args: string[]): void {
  const out = new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

Deno.test("writeTextFileAtomicSync replaces the file whole and leaves no temporary file", () => {
  const dir = Deno.makeTempDirSync({ prefix: "bitload-atomic-" });
  try {
    const path = join(dir, "latest.txt");
    writeTextFileAtomicSync(path, "first");
    writeTextFileAtomicSync(path, "second, longer");
    assert.equal(Deno.readTextFileSync(path), "second, longer");
    assert.deepEqual(names(dir), ["latest.txt"]);
    // A directory stands at the path: refused before anything is written; nothing is left over.
    const blocked = join(dir, "blocked");
    Deno.mkdirSync(join(blocked, "child"), { recursive: true });
    assert.throws(() => writeTextFileAtomicSync(blocked, "x"), NotRegularFileError);
    assert.deepEqual(names(dir), ["blocked", "latest.txt"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("the atomic writer refuses to replace a FIFO, socket, device or directory, and leaves it untouched", async (t) => {
  const dir = Deno.makeTempDirSync({ prefix: "bitload-atomic-special-" });
  try {
    const targets: {
      name: string;
      make: (path: string) => void;
      isKind: (i: Deno.FileInfo) => boolean;
    }[] = [
      { name: "fifo", make: (p) => run("mkfifo", p), isKind: (i) => i.isFifo === true },
      {
        name: "socket",
        // A bound Unix socket left on disk (Deno's listener unlinks its socket on close).
        make: (p) =>
          run(
            "python3",
            "-c",
            "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])",
            p,
          ),
        isKind: (i) => i.isSocket === true,
      },
      { name: "dir", make: (p) => Deno.mkdirSync(p), isKind: (i) => i.isDirectory },
    ];
    if (Deno.uid() === 0) {
      // /dev/null's numbers (1, 3): as root, a rename over it would have replaced the device.
      targets.push({
        name: "null-device",
        make: (p) => run("mknod", p, "c", "1", "3"),
        isKind: (i) => i.isCharDevice === true,
      });
    } else {
      console.log("skipping the device-node case: mknod needs root");
    }
    for (const target of targets) {
      await t.step(target.name, async () => {
        const path = join(dir, target.name);
        target.make(path);
        await assert.rejects(
          writeBytesAtomically(path, "data"),
          (e: unknown) => e instanceof NotRegularFileError && e.code === "NOT_REGULAR_FILE",
        );
        assert.throws(() => writeTextFileAtomicSync(path, "data"), NotRegularFileError);
        assert.ok(target.isKind(Deno.lstatSync(path)), `${path} is still what it was`);
      });
    }
    assert.deepEqual(names(dir), targets.map((x) => x.name).sort(), "no temporary file is left");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a symlink target: the link is replaced, the file it pointed to is untouched", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "bitload-atomic-link-" });
  try {
    Deno.writeTextFileSync(join(dir, "real"), "keep me");
    Deno.symlinkSync(join(dir, "real"), join(dir, "link"));
    await writeBytesAtomically(join(dir, "link"), "new");
    assert.equal(Deno.readTextFileSync(join(dir, "real")), "keep me");
    assert.ok(Deno.lstatSync(join(dir, "link")).isFile);
    assert.equal(Deno.readTextFileSync(join(dir, "link")), "new");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a write that throws leaves the target as it was and no temporary file", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "bitload-atomic-throw-" });
  try {
    const path = join(dir, "out.bin");
    Deno.writeTextFileSync(path, "old");
    await assert.rejects(
      writeAtomically(path, async (file) => {
        await file.write(new Uint8Array(1000));
        throw new Error("producer failed");
      }),
      /producer failed/,
    );
    assert.equal(Deno.readTextFileSync(path), "old");
    assert.deepEqual(names(dir), ["out.bin"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("SIGTERM and SIGINT during a write remove the temporary file", async (t) => {
  const dir = Deno.makeTempDirSync({ prefix: "bitload-atomic-signal-" });
  const module = new URL("../src/common/atomic_write.ts", import.meta.url).href;
  // A writer that writes some bytes, says so, and then never finishes.
  const script = `
    import { writeAtomically } from "${module}";
    await writeAtomically(Deno.args[0], async (file) => {
      await file.write(new Uint8Array(4096));
      console.log("writing");
      await new Promise(() => setInterval(() => {}, 1000));
    });`;
  try {
    for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
      await t.step(signal, async () => {
        const child = new Deno.Command(Deno.execPath(), {
          args: ["eval", script, join(dir, "out.gguf")],
          stdout: "piped",
          stderr: "inherit",
        }).spawn();
        const reader = child.stdout.getReader();
        const { value } = await reader.read();
        assert.match(new TextDecoder().decode(value), /writing/);
        assert.equal(names(dir).length, 1, "the temporary file exists while writing");
        child.kill(signal);
        const status = await child.status;
        reader.releaseLock();
        await child.stdout.cancel();
        assert.equal(status.code, code);
        assert.deepEqual(names(dir), [], "the temporary file was removed");
      });
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("stale temporary files of dead processes are removed at the next write", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "bitload-atomic-stale-" });
  try {
    const child = new Deno.Command("true").spawn();
    const deadPid = child.pid;
    await child.status;
    const old = new Date(Date.now() - 2 * STALE_TEMP_AGE_MS);
    const stale = `.out.gguf.${deadPid}.abc123.tmp`;
    const young = `.out.gguf.${deadPid}.young1.tmp`; // a dead PID, but written just now: kept
    const alive = `.out.gguf.${Deno.pid}.live99.tmp`; // a running process: kept
    const other = `.other.gguf.${deadPid}.abc123.tmp`; // another target's: kept
    for (const name of [stale, young, alive, other]) Deno.writeTextFileSync(join(dir, name), "x");
    for (const name of [stale, alive, other]) Deno.utimeSync(join(dir, name), old, old);
    await writeBytesAtomically(join(dir, "out.gguf"), "done");
    assert.deepEqual(names(dir), [alive, other, young, "out.gguf"].sort());
    assert.deepEqual(removeStaleTemporaries(join(dir, "out.gguf")), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("CLI: `synth FIFO` prints one bitload line, exits 1 and leaves the FIFO", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "bitload-atomic-cli-" });
  try {
    const fifo = join(dir, "pipe");
    run("mkfifo", fifo);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "synth", fifo],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    assert.equal(out.code, 1);
    assert.equal(stderr.split("\n").length, 1, stderr);
    assert.match(
      stderr,
      /^bitload: .*pipe: is a FIFO \(named pipe\); refusing .*\(NOT_REGULAR_FILE\)$/,
    );
    assert.ok(Deno.lstatSync(fifo).isFifo);
    assert.deepEqual(names(dir), ["pipe"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

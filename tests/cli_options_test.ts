import assert from "node:assert/strict";
import { join } from "node:path";
import { writeGguf } from "../src/gguf/mod.ts";
import { bitnetModelParts } from "../src/synth/mod.ts";
import { asF16 } from "./support/gguf_builders.ts";
import { errorLine, UsageError } from "../src/cli/output.ts";
import {
  integerOption,
  kvTypeOption,
  LLAMA_FLAGS,
  maxThreads,
  normalizeArgs,
  parseCommand,
  threadsOption,
} from "../src/cli/options.ts";
import { runPlan } from "../src/cli/plan.ts";
import { runInspect } from "../src/cli/inspect.ts";
import { runLoad } from "../src/cli/load.ts";
import { runRun } from "../src/cli/run.ts";
import { runCli } from "./support/cli.ts";

const dir = await Deno.makeTempDir({ prefix: "bitload-cli-options-" });
const model = join(dir, "bitnet.gguf");
{
  const { metadata, tensors } = bitnetModelParts({ layers: 2, vocab: 512 });
  await writeGguf(model, metadata, tensors.map(asF16)); // F16: a GPU may run its layers
}

async function capture(
  run: (args: string[], out: (s: string) => void) => Promise<number>,
  args: string[],
): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await run(args, (s) => lines.push(s));
  return { code, out: lines.join("\n") };
}

/** The one stderr line main() prints for what `fn` throws. */
async function usageLine(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof UsageError, `a UsageError, got ${e}`);
    return errorLine(e);
  }
  throw new Error("no error thrown");
}

Deno.test("integerOption accepts safe integers at or above the minimum and names the flag otherwise", () => {
  assert.equal(integerOption("threads", undefined, 1), undefined);
  assert.equal(integerOption("threads", "4", 1), 4);
  assert.equal(integerOption("seed", "0", 0), 0);
  for (
    const [text, min, shown] of [
      ["0", 1, "0"],
      ["-1", 0, "-1"],
      ["1.5", 0, "1.5"],
      ["", 0, '""'],
      [" ", 1, '" "'],
      ["x", 1, "x"],
      ["1e300", 0, "1e300"],
    ] as const
  ) {
    assert.throws(
      () => integerOption("threads", text, min),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message ===
          `--threads must be ${min === 1 ? "a positive" : "a non-negative"} integer, got ${shown}`,
      `"${text}" with min ${min}`,
    );
  }
});

Deno.test("normalizeArgs rewrites llama.cpp's multi-letter flags, old names and negative values", () => {
  const options = { ...LLAMA_FLAGS, json: { type: "boolean" } } as const;
  assert.deepEqual(normalizeArgs(["-ngl", "3", "-ts", "1,1"], options), [
    "--n-gpu-layers",
    "3",
    "--tensor-split",
    "1,1",
  ]);
  assert.deepEqual(normalizeArgs(["--ctx=8", "--batch", "4", "--gpu-layers", "2"], options), [
    "--ctx-size=8",
    "--batch-size",
    "4",
    "--n-gpu-layers",
    "2",
  ]);
  assert.deepEqual(normalizeArgs(["-t", "-3", "-n", "-1", "-p", "-x y"], options), [
    "--threads=-3",
    "--n-predict=-1",
    "--prompt=-x y",
  ]);
  // A known option after a string option is an option, not its value (parseArgs then says the
  // value is missing); everything after `--` is left alone.
  assert.deepEqual(normalizeArgs(["-p", "--json", "--", "-t", "-3"], options), [
    "-p",
    "--json",
    "--",
    "-t",
    "-3",
  ]);
});

Deno.test("unknown and malformed options are one `bitload COMMAND:` usage line", async () => {
  const opts = { threads: LLAMA_FLAGS.threads, json: { type: "boolean" } } as const;
  assert.equal(
    await usageLine(() => Promise.resolve().then(() => parseCommand("run", ["-x"], opts))),
    "bitload run: unknown option '-x' (see bitload run --help)",
  );
  assert.equal(
    await usageLine(() => Promise.resolve().then(() => parseCommand("run", ["--nope=1"], opts))),
    "bitload run: unknown option '--nope' (see bitload run --help)",
  );
  assert.equal(
    await usageLine(() => Promise.resolve().then(() => parseCommand("run", ["--threads"], opts))),
    "bitload run: option '--threads' needs a value (see bitload run --help)",
  );
  assert.equal(
    await usageLine(() => Promise.resolve().then(() => parseCommand("run", ["--json=yes"], opts))),
    "bitload run: option '--json' takes no value (see bitload run --help)",
  );
  assert.equal(
    await usageLine(() => runInspect([model, "-x"], () => {})),
    "bitload inspect: unknown option '-x' (see bitload inspect --help)",
  );
  assert.equal(
    await usageLine(() => runInspect([model, "-ngl", "1"], () => {})),
    "bitload inspect: unknown option '-ngl' (see bitload inspect --help)",
  );
  assert.equal(
    await usageLine(() => runInspect([model, "other.gguf"], () => {})),
    "bitload inspect: unexpected argument 'other.gguf' (see bitload inspect --help)",
  );
});

Deno.test("numeric edges: negatives, huge values and clamped threads say what was wrong", async () => {
  assert.equal(
    await usageLine(() => runRun([model, "-p", "hi", "--threads", "-3"], () => {})),
    "bitload: --threads must be a positive integer, got -3",
  );
  assert.equal(
    await usageLine(() => runRun([model, "-p", "hi", "-n", "-1"], () => {})),
    "bitload: --n-predict must be a non-negative integer, got -1",
  );
  assert.equal(
    await usageLine(() => runRun([model, "-p", "hi", "--top-p", "2"], () => {})),
    "bitload: --top-p must be a number from 0 to 1, got 2",
  );
  assert.match(
    await usageLine(() => runLoad([model, "--budget", "1e400"], () => {})),
    /^bitload: --budget: "1e400" is too large a byte size/,
  );
  const notices: string[] = [];
  assert.equal(threadsOption("99999", (l) => notices.push(l)), maxThreads());
  assert.deepEqual(notices, [
    `bitload: --threads 99999 is more than the ${maxThreads()} hardware threads here; using ${maxThreads()}`,
  ]);
  assert.equal(threadsOption("1", (l) => notices.push(l)), 1);
  assert.equal(notices.length, 1);
});

Deno.test("--kv-type is one set for plan and run, with one message for llama.cpp-only types", async () => {
  assert.equal(kvTypeOption(undefined, "f32"), "f32");
  assert.equal(kvTypeOption("f16", "f32"), "f16");
  assert.equal(kvTypeOption("q8_0", "f16", { llamaCpp: true }), "q8_0");
  const runLine = await usageLine(() => runRun([model, "-p", "x", "--kv-type", "q8_0"], () => {}));
  const planLine = await usageLine(() => runPlan([model, "--kv-type", "q8_0"], () => {}));
  assert.equal(runLine, planLine);
  assert.match(runLine, /--kv-type q8_0 is not supported by bitload's engine \(f32 or f16\)/);
  const plan = JSON.parse((await capture(runPlan, [model, "--kv-type", "f32", "--json"])).out);
  assert.equal(plan.kvType, "f32");
});

Deno.test("llama.cpp's flags reach plan: -m, -c, -b, -ngl, -ts and the older long names", async () => {
  const devices = ["--devices", "cpu:8GiB,cuda0:1GiB,cuda1:1GiB"];
  const short = JSON.parse(
    (await capture(runPlan, [
      "-m",
      model,
      ...devices,
      "-c",
      "512",
      "-b",
      "256",
      "-ngl",
      "1",
      "-ts",
      "3,1",
      "--strategy",
      "hybrid",
      "--json",
    ])).out,
  );
  const long = JSON.parse(
    (await capture(runPlan, [
      model,
      ...devices,
      "--ctx",
      "512",
      "--batch",
      "256",
      "--gpu-layers",
      "1",
      "--tensor-split",
      "3,1",
      "--strategy",
      "hybrid",
      "--json",
    ])).out,
  );
  assert.equal(short.ctx, 512);
  assert.equal(short.batch, 256);
  assert.equal(short.gpuLayers, 1);
  assert.deepEqual(short, long);
});

Deno.test("-m works where the positional FILE does (inspect, tokenize)", async () => {
  const a = await capture(runInspect, [model, "--json"]);
  const b = await capture(runInspect, ["-m", model, "--json"]);
  assert.equal(a.out, b.out);
  const { runTokenize } = await import("../src/cli/tokenize.ts");
  const positional = await capture(runTokenize, [model, "--json", "--text", "hello"]);
  const named = await capture(runTokenize, ["-m", model, "--json", "-p", "hello"]);
  assert.equal(positional.out, named.out);
  assert.ok(JSON.parse(positional.out).length > 0);
});

Deno.test("the real CLI exits 2 with the one line (subprocess)", async () => {
  const r = await runCli(["run", model, "-x"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim(), "bitload run: unknown option '-x' (see bitload run --help)");
  const t = await runCli(["load", model, "--threads", "-3"]);
  assert.equal(t.code, 2);
  assert.equal(
    t.stderr.trim(),
    "bitload load: unknown option '--threads' (see bitload load --help)",
  );
});

Deno.test("every command: --help exits 0 and lists --json; an unknown option is one usage line", async () => {
  const { COMMAND_NAMES, main } = await import("../src/cli/main.ts");
  const log = console.log;
  const error = console.error;
  let stdout = "";
  let stderr = "";
  console.log = (s: string) => (stdout += s + "\n");
  console.error = (s: string) => (stderr += s + "\n");
  try {
    for (const command of COMMAND_NAMES) {
      stdout = stderr = "";
      assert.equal(await main([command, "--help"]), 0, command);
      assert.match(stdout, /Usage: bitload/, command);
      assert.match(stdout, /--json/, `${command} --help lists --json`);
      stdout = stderr = "";
      assert.equal(await main([command, "--bogus-option"]), 2, command);
      assert.equal(
        stderr,
        `bitload ${command}: unknown option '--bogus-option' (see bitload ${command} --help)\n`,
      );
    }
  } finally {
    console.log = log;
    console.error = error;
  }
});

Deno.test("progress: drawn only on a terminal, throttled, and always showing 100 % at the end", async () => {
  const { progressBar } = await import("../src/cli/progress.ts");
  const frames: string[] = [];
  const off = progressBar("x", { write: (t) => frames.push(t), isTerminal: false });
  off.update(5, 10);
  off.done();
  assert.equal(frames.length, 0);
  const bar = progressBar("synth", { write: (t) => frames.push(t), isTerminal: true });
  for (let i = 0; i <= 1000; i++) bar.update(i, 1000);
  bar.done();
  assert.ok(frames.length < 100, `throttled: ${frames.length} frames`);
  assert.match(frames.at(-2)!, /synth █{30}\s+100% /);
  assert.equal(frames.at(-1), "\r\x1b[2K");
  // synth reports its writes up to the whole file, so its bar reaches 100 %.
  const { synthesizeBitnetModel } = await import("../src/synth/bitnet_model.ts");
  const seen: [number, number][] = [];
  await synthesizeBitnetModel(join(dir, "p.gguf"), { layers: 1 }, {
    onProgress: (d, t) => seen.push([d, t]),
  });
  assert.ok(seen.length > 2);
  assert.equal(seen.at(-1)![0], seen.at(-1)![1]);
});

Deno.test({
  name: "cleanup",
  fn: async () => await Deno.remove(dir, { recursive: true }),
});

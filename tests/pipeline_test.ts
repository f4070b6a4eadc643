/**
 * Issue #16 item 1 proof: the whole pipe — `openGguf` → `tensorData` → `plan` → `load` (with the
 * plan) → `validate` → `engine` → `complete` / `stream` — run by a script in a temporary
 * directory outside the checkout that imports `mod.ts` by path (plain `deno run -A`, no config),
 * on a synthetic BitNet b1.58 model. `strace -f -e trace=open,openat,openat2` counts the opens of
 * the model file: exactly one. The completion's tokens equal the forward pass driven directly
 * (`InferenceModel.fromGguf` + `generate`, the path the CLI used before the pipe).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cudaRuntime } from "../ffi/cuda.ts";
import { LoadError, ModelConfigError, openGguf } from "../mod.ts";
import { Tokenizer } from "../src/tokenizer/mod.ts";
import { generate, InferenceModel } from "../src/infer/mod.ts";
import { synthesizeBitnetModel } from "../src/synth/mod.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const STRACE = "/usr/bin/strace";
const PROMPT = "The quick brown fox";
const MAX_TOKENS = 6;

/** Whether strace exists and may trace here (containers often forbid ptrace). */
function hasStrace(): boolean {
  try {
    if (!Deno.statSync(STRACE).isFile) return false;
    const probe = new Deno.Command(STRACE, {
      args: ["-f", "-o", "/dev/null", "/bin/true"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return probe.success;
  } catch {
    return false;
  }
}
const STRACE_OK = hasStrace();

const dir = await Deno.makeTempDir({ prefix: "bitload_pipeline_" });
const modelPath = join(dir, "tiny.gguf");
await synthesizeBitnetModel(modelPath, {
  layers: 2,
  dim: 256,
  ffn: 256,
  heads: 2,
  kvHeads: 1,
  vocab: 512,
  seed: 5,
});

/** The script the test runs outside the checkout: the whole pipe, results as one JSON line. */
function pipelineScript(modUrl: string, path: string): string {
  return `import { openGguf } from ${JSON.stringify(modUrl)};
const events = [];
await using model = await openGguf(${JSON.stringify(path)});
const embd = model.tensorData("token_embd.weight");
// strategy gpu, every type allowed on the accelerator: the plan puts the layers on cuda0
const plan = model.plan({
  devices: "cpu:16GiB,cuda0:8GiB",
  ctx: 256,
  strategy: "gpu",
  checkWeightTypes: false,
});
using loaded = await model.load({ plan, batchLayers: 1, onProgress: (e) => events.push(e.phase) });
const report = await loaded.validate({ checkTensors: true });
using engine = await loaded.engine({ threads: 1 });
const out = await engine.complete(${
    JSON.stringify(PROMPT)
  }, { maxTokens: ${MAX_TOKENS}, temperature: 0 });
let streamed = "";
for await (const piece of engine.stream(${
    JSON.stringify(PROMPT)
  }, { maxTokens: ${MAX_TOKENS} })) streamed += piece;
console.log(JSON.stringify({
  embdBytes: embd.byteLength,
  planStatus: plan.status,
  gpuTensors: plan.tensors.filter((t) => t.device === "cuda0").length,
  batches: loaded.plan.batches.length,
  events: [events[0], events.at(-1)],
  warnings: loaded.warnings,
  uploaded: [...(loaded.placement?.gpu ?? new Map())].map(([d, u]) => [d, u.tensors.length]),
  cpuTensors: loaded.placement?.cpuTensors,
  ok: report.ok,
  checks: report.checks.map((c) => [c.name, c.status]),
  text: out.text,
  tokens: out.tokens,
  stats: out.stats,
  streamed,
}));
`;
}

/**
 * Runs `deno run -A ARGS` in `work` under strace (opens only, trace file in `work`); returns the
 * run's output and the opens of `path` that found it.
 */
async function tracedDenoRun(
  work: string,
  args: string[],
  env: Record<string, string>,
  stdio: "piped" | "null",
  path: string,
): Promise<{ run: Deno.CommandOutput; opens: string[] }> {
  const trace = join(work, "trace.log");
  const run = await new Deno.Command(STRACE, {
    args: ["-f", "-e", "trace=open,openat,openat2", "-o", trace, Deno.execPath(), "run", "-A"]
      .concat(args),
    cwd: work,
    env,
    stdout: stdio,
    stderr: stdio,
  }).output();
  const opens = (await Deno.readTextFile(trace)).split("\n")
    .filter((l) => l.includes(`"${path}"`) && !/ENOENT/.test(l));
  return { run, opens };
}

Deno.test({
  name: "the pipe runs from outside the checkout and opens the model file exactly once" +
    (STRACE_OK ? "" : " (NOT RUN: strace at /usr/bin/strace is missing or may not trace here)"),
  ignore: !STRACE_OK,
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "bitload_pipe_script_" });
    try {
      assert.ok(!work.startsWith(ROOT), "the script lies outside the checkout");
      const script = join(work, "pipe.ts");
      await Deno.writeTextFile(
        script,
        pipelineScript(new URL("../mod.ts", import.meta.url).href, modelPath),
      );
      const { run, opens } = await tracedDenoRun(
        work,
        [script],
        { NO_COLOR: "1", BITLOAD_KERNEL: "scalar" },
        "piped",
        modelPath,
      );
      const stderr = new TextDecoder().decode(run.stderr);
      assert.equal(run.code, 0, stderr);
      const result = JSON.parse(new TextDecoder().decode(run.stdout).trim().split("\n").at(-1)!);
      assert.equal(opens.length, 1, `opens of the model:\n${opens.join("\n")}`);

      // every stage did its work
      assert.ok(result.embdBytes > 0);
      assert.equal(result.planStatus, "ok");
      assert.deepEqual(result.events, ["open", "done"]);
      assert.ok(result.batches >= 3, "critical, one batch per layer, the rest");
      assert.ok(result.gpuTensors > 0, "the plan puts tensors on cuda0");
      if (cudaRuntime() === null) {
        assert.ok(
          result.warnings.some((w: string) => /on cuda0, which is not available here/.test(w)),
          "without a GPU the plan's GPU tensors stay mapped, with a warning",
        );
        assert.deepEqual(result.uploaded, []);
      } else {
        assert.deepEqual(result.uploaded, [["cuda0", result.gpuTensors]], "uploaded to cuda0");
      }
      assert.equal(result.ok, true, JSON.stringify(result.checks));
      assert.deepEqual(result.checks, [["structure", "pass"], ["tensors", "pass"]]);
      assert.equal(result.tokens.length, MAX_TOKENS);
      assert.equal(result.stats.promptTokens > 0, true);
      assert.equal(result.streamed, result.text, "stream gives the same text as complete");

      // the same tokens as the forward pass driven directly, in this process
      Deno.env.set("BITLOAD_KERNEL", "scalar");
      try {
        using direct = await InferenceModel.fromGguf(modelPath, { threads: 1 });
        const tok = Tokenizer.fromMetadata(direct.weights.metadata);
        const expected = generate(direct, Array.from(tok.encode(PROMPT)), {
          maxTokens: MAX_TOKENS,
          temperature: 0,
        });
        assert.deepEqual(result.tokens, expected.tokens);
        assert.equal(result.text, tok.decode(expected.tokens, { skipSpecial: true }));
      } finally {
        Deno.env.delete("BITLOAD_KERNEL");
      }
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});

/** Runs `deno run -A src/cli/main.ts ARGS` under strace; returns the opens of `path` and the exit code. */
async function cliOpens(args: string[], path: string): Promise<{ opens: string[]; code: number }> {
  const work = await Deno.makeTempDir({ prefix: "bitload_cli_trace_" });
  try {
    const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
    const { run, opens } = await tracedDenoRun(
      work,
      [main, ...args],
      { NO_COLOR: "1" },
      "null",
      path,
    );
    return { opens, code: run.code };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

Deno.test({
  name: "bitload demo, run, load, plan and validate open the model file exactly once" +
    (STRACE_OK ? "" : " (NOT RUN: strace at /usr/bin/strace is missing or may not trace here)"),
  ignore: !STRACE_OK,
  async fn() {
    for (
      const args of [
        ["demo", modelPath],
        ["run", modelPath, "-p", "Hello", "-n", "2"],
        ["load", modelPath],
        ["plan", modelPath],
        ["validate", modelPath, "--check-tensors"],
      ]
    ) {
      const { opens, code } = await cliOpens(args, modelPath);
      assert.equal(code, 0, `bitload ${args[0]} exits 0`);
      assert.equal(opens.length, 1, `bitload ${args[0]}:\n${opens.join("\n")}`);
    }
  },
});

/** Whether this process maps `path` now (from /proc/self/maps). */
function isMapped(path: string): boolean {
  return Deno.readTextFileSync("/proc/self/maps").includes(path);
}

Deno.test("one object per stage: views share one mapping; closing the model empties them", async () => {
  const model = await openGguf(modelPath);
  assert.equal(isMapped(modelPath), false, "opening parses the header; nothing is mapped yet");
  const before = model.tensorData("output_norm.weight");
  assert.equal(isMapped(modelPath), true, "the first tensorData maps the file");
  using loaded = await model.load();
  const after = loaded.tensorData("output_norm.weight");
  assert.equal(after.buffer, before.buffer, "load reuses the mapping tensorData created");
  using engine = await loaded.engine({ threads: 1, backend: "ref", tokenizer: { warn: () => {} } });
  assert.equal(engine.model.weights.metadata, model.metadata);
  const a = await engine.complete([1, 2, 3], { maxTokens: 3 });
  engine.reset();
  const b = await engine.complete([1, 2, 3], { maxTokens: 3 });
  assert.deepEqual(a.tokens, b.tokens, "reset: the same prompt gives the same tokens");
  // one KV cache: a second completion while one streams is refused, not interleaved
  const stream = engine.stream([1, 2, 3], { maxTokens: 3 })[Symbol.asyncIterator]();
  await stream.next();
  await assert.rejects(
    engine.complete([1, 2], { maxTokens: 1 }),
    (e) => e instanceof ModelConfigError && e.code === "BUSY",
  );
  await stream.return?.();
  const stopped = new AbortController();
  stopped.abort(new Error("stop"));
  await assert.rejects(engine.complete([1, 2], { signal: stopped.signal }), /stop/);
  assert.equal((await engine.complete([1, 2], { maxTokens: 2 })).tokens.length, 2);
  await model[Symbol.asyncDispose]();
  assert.equal(before.byteLength, 0, "views are detached when the model closes");
  assert.equal(isMapped(modelPath), false, "closing the model unmaps");
  assert.throws(() => model.tensorData("output_norm.weight"), LoadError);
  await assert.rejects(loaded.validate(), (e) => e instanceof LoadError && e.code === "CLOSED");
});

Deno.test("the copy path (mmap: false) runs the same pipe to the same tokens", async () => {
  const run = async (mmap: boolean) => {
    await using model = await openGguf(modelPath, { mmap });
    using loaded = await model.load();
    assert.equal(loaded.mapped, mmap);
    using engine = await loaded.engine({
      threads: 1,
      backend: "ref",
      tokenizer: { warn: () => {} },
    });
    return (await engine.complete("The quick brown fox", { maxTokens: 4 })).tokens;
  };
  assert.deepEqual(await run(false), await run(true));
});

Deno.test("typed errors: a missing tensor, a remote model's data, a plan of another model", async () => {
  await using model = await openGguf(modelPath);
  assert.throws(
    () => model.tensorData("nope"),
    (e) => e instanceof LoadError && e.code === "NO_TENSOR",
  );
  const other = join(dir, "other.gguf");
  await synthesizeBitnetModel(other, {
    layers: 3,
    dim: 256,
    ffn: 256,
    heads: 2,
    kvHeads: 1,
    vocab: 512,
  });
  await using second = await openGguf(other);
  const plan = second.plan({ devices: "cpu:16GiB" });
  await assert.rejects(
    model.load({ plan }),
    (e) => e instanceof LoadError && e.code === "BAD_OPTION",
  );
  const bytes = await Deno.readFile(modelPath);
  await using remote = await openGguf(bytes);
  assert.equal(remote.tensors.length, model.tensors.length);
  assert.throws(
    () => remote.tensorData("output_norm.weight"),
    (e) => e instanceof LoadError && e.code === "NOT_LOCAL",
  );
});

globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

/**
 * The engines of `bench/engines.ts`, each behind one interface: a repetition of the tests at a
 * thread count gives one tok/s sample per test (or the reason a test cannot run on that engine).
 *
 * - bitload and libllama run in this process (`InferenceModel`; libllama through
 *   `tests/reference/llama_eval.ts`), timed the way llama-bench times: `ppN` = N prompt tokens as
 *   one batch from an empty cache, `tg32` = 32 single-token decodes from an empty cache,
 *   `tg32@pp512` = 32 single-token decodes after a 512-token prompt (the prompt is the pp512
 *   sample when both are asked for). Each thread count gets its own model/context, warmed once.
 * - ik_llama.cpp and bitnet.cpp run their own `llama-bench … -r 1 -o json` once per repetition
 *   (`samples_ts`); ik's `-gp 512,32` is the tg32@pp512 test, which bitnet.cpp's llama-bench
 *   lacks (its `-pg` times prompt and generation together).
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { InferenceModel } from "../src/infer/model.ts";
import { openLlamaEval } from "../tests/reference/llama_eval.ts";
import type { EngineInfo, EngineTest } from "./engines_table.ts";
import { benchTokens, ENGINE_CONTEXT, type EngineRep, SIZES, timeRep } from "./engine_timing.ts";

export { benchTokens, ENGINE_CONTEXT, type EngineRep };

/** An engine of the comparison. */
export interface Engine {
  /** Id, label, whether it is a peer, what it runs with. */
  info: EngineInfo;
  /** One repetition of `tests` at `threads`. Throws when the engine cannot run at all. */
  run(threads: number, tests: readonly EngineTest[]): Promise<EngineRep>;
  /** Releases models and contexts. */
  close(): void;
}

/**
 * bitload on its `bitnet-b1.58` I2_S file, in this process: one `InferenceModel` per thread
 * count (KV cache `kvType`, {@link ENGINE_CONTEXT} tokens), warmed with a few tokens first.
 *
 * @example
 * ```ts ignore
 * import { bitloadEngine } from "./engines_drivers.ts";
 * const e = bitloadEngine("model.gguf");
 * console.log(await e.run(1, ["pp32", "tg32"]));
 * e.close();
 * ```
 */
export function bitloadEngine(
  path: string,
  options: { kvType?: "f32" | "f16"; label?: string } = {},
): Engine {
  const models = new Map<number, InferenceModel>();
  const info: EngineInfo = { id: "bitload", label: options.label ?? "bitload I2_S", peer: false };
  const kernels = new Set<string>();
  return {
    info,
    async run(threads, tests) {
      let m = models.get(threads);
      if (!m) {
        m = await InferenceModel.fromGguf(path, {
          threads,
          contextLength: ENGINE_CONTEXT,
          kvType: options.kvType ?? "f32",
        });
        models.set(threads, m);
        m.reset();
        m.forward(benchTokens(8, m.config.nVocab, 3));
        m.forward([1]);
        m.reset();
        kernels.add(`${m.kernelInfo}`);
        info.detail = `in-process, KV ${m.kvType}, kernels ${
          [...kernels].join("; ")
        }, projections ${JSON.stringify(m.projectionKernels())}`;
      }
      const model = m;
      return timeRep(
        {
          reset: () => model.reset(),
          feed: (t) => void model.forward(t),
        },
        model.config.nVocab,
        tests,
      );
    },
    close() {
      for (const m of models.values()) m.close();
      models.clear();
    },
  };
}

/**
 * libllama (npm `@node-llama-cpp/linux-x64`, llama.cpp's own CPU backends) on the upstream
 * `bitnet` TQ2_0 conversion, in this process: one context per thread count. Throws from `run`
 * with the reason when libllama cannot be opened.
 *
 * @example
 * ```ts ignore
 * import { libllamaEngine } from "./engines_drivers.ts";
 * const e = libllamaEngine("model-tq2.gguf");
 * console.log(await e.run(1, ["tg32"]));
 * ```
 */
export function libllamaEngine(path: string): Engine {
  const llama = openLlamaEval();
  const sessions = new Map<number, ReturnType<NonNullable<typeof llama>["open"]>>();
  const info: EngineInfo = {
    id: "libllama",
    label: "libllama TQ2_0",
    peer: true,
    detail: `in-process, ${llama?.path.replace(/^.*node_modules\//, "") ?? "?"}, KV f16`,
  };
  return {
    info,
    run(threads, tests) {
      if (!llama) throw new Error("libllama cannot be opened");
      let s = sessions.get(threads);
      if (!s) {
        s = llama.open(path, { threads, nCtx: ENGINE_CONTEXT });
        sessions.set(threads, s);
        s.reset();
        s.step(benchTokens(8, s.nVocab, 3));
        s.step([1]);
        s.reset();
      }
      const session = s;
      return Promise.resolve(timeRep(
        {
          reset: () => session.reset(),
          feed: (t) => session.step(t),
        },
        session.nVocab,
        tests,
      ));
    },
    close() {
      for (const s of sessions.values()) s.close();
      sessions.clear();
    },
  };
}

/**
 * How long one llama-bench process may run: far above one repetition of a peer's tests on the 2B
 * shape (the whole 2B comparison takes 15-30 minutes), so it only stops a hung peer.
 */
const LLAMA_BENCH_TIMEOUT_MS = 30 * 60_000;

/** Options of {@link llamaBenchEngine}. */
export interface LlamaBenchOptions {
  /** Id, label, detail. */
  info: EngineInfo;
  /** The llama-bench binary. */
  bin: string;
  /** The model file it runs. */
  model: string;
  /** Extra environment (e.g. `LD_LIBRARY_PATH` of ik's native build). */
  env?: Record<string, string>;
  /** Whether it has `-gp PP,TG` (ik_llama.cpp does, bitnet.cpp's fork does not). */
  gp: boolean;
  /** Kill a run after this long. Default 30 minutes (`LLAMA_BENCH_TIMEOUT_MS`). */
  timeoutMs?: number;
  /** Kills a running llama-bench when aborted. */
  signal?: AbortSignal;
}

/**
 * Parses `llama-bench -o json` output (the array of tests with `n_prompt`, `n_gen`,
 * `samples_ts`) into samples per test; `gp` says whether a (512, 32) entry is ik's `-gp`
 * (generation after the prompt) rather than a combined `-pg`.
 *
 * @example
 * ```ts
 * import { parseLlamaBenchJson } from "./engines_drivers.ts";
 * const json = '[{"n_prompt":32,"n_gen":0,"samples_ts":[41.5]}]';
 * parseLlamaBenchJson(json, true); // { pp32: [41.5] }
 * ```
 */
export function parseLlamaBenchJson(
  text: string,
  gp: boolean,
): Partial<Record<EngineTest, number[]>> {
  const start = text.indexOf("[");
  const end = text.lastIndexOf("]");
  if (start < 0 || end < start) throw new Error("llama-bench printed no JSON array");
  const rows = JSON.parse(text.slice(start, end + 1)) as {
    n_prompt: number;
    n_gen: number;
    samples_ts?: number[];
    avg_ts?: number;
  }[];
  const out: Partial<Record<EngineTest, number[]>> = {};
  for (const r of rows) {
    const test = (Object.keys(SIZES) as EngineTest[]).find((t) =>
      SIZES[t].pp === r.n_prompt && SIZES[t].tg === r.n_gen
    );
    if (!test || (test === "tg32@pp512" && !gp)) continue;
    const samples = r.samples_ts ?? (r.avg_ts !== undefined ? [r.avg_ts] : []);
    out[test] = [...(out[test] ?? []), ...samples];
  }
  return out;
}

/** Why a child process failed, in one line. */
function failure(status: Deno.CommandStatus, stderr: string): string {
  if (status.signal === "SIGILL" || status.code === 132) {
    return "killed by SIGILL: this CPU lacks an instruction the build uses";
  }
  const tail = stderr.trim().split("\n").filter((l) => l.trim() !== "").slice(-2).join(" / ");
  return `exited with ${status.signal ?? status.code}${tail ? `: ${tail.slice(0, 300)}` : ""}`;
}

/**
 * A peer timed by its own `llama-bench` (ik_llama.cpp, bitnet.cpp): `-m MODEL -t T -r 1 -o json`
 * with `-p` / `-n` / `-gp` for the tests asked, once per repetition.
 *
 * @example
 * ```ts ignore
 * import { llamaBenchEngine } from "./engines_drivers.ts";
 * const e = llamaBenchEngine({
 *   info: { id: "bitnet.cpp", label: "bitnet.cpp I2_S", peer: true },
 *   bin: "../shared/oracles/bitnet.cpp/bin/llama-bench", model: "m-bitnet-i2s.gguf", gp: false,
 * });
 * console.log(await e.run(1, ["pp32", "tg32"]));
 * ```
 */
export function llamaBenchEngine(o: LlamaBenchOptions): Engine {
  return {
    info: o.info,
    async run(threads, tests) {
      const pp = [...new Set(tests.filter((t) => SIZES[t].tg === 0).map((t) => SIZES[t].pp))];
      const tg = tests.includes("tg32") ? [32] : [];
      const args = ["-m", o.model, "-t", String(threads), "-r", "1", "-o", "json"];
      args.push("-p", pp.length ? pp.join(",") : "0", "-n", tg.length ? tg.join(",") : "0");
      const out: EngineRep = {};
      if (tests.includes("tg32@pp512")) {
        if (o.gp) args.push("-gp", "512,32");
        else {
          out["tg32@pp512"] =
            "its llama-bench has no -gp (generation after a prompt); -pg times both together";
        }
      }
      if (pp.length === 0 && tg.length === 0 && !args.includes("-gp")) return out; // nothing to run
      const child = new Deno.Command(o.bin, {
        args,
        env: o.env,
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.any([
          AbortSignal.timeout(o.timeoutMs ?? LLAMA_BENCH_TIMEOUT_MS),
          ...(o.signal ? [o.signal] : []),
        ]),
      }).spawn();
      const result = await child.output();
      const stderr = new TextDecoder().decode(result.stderr);
      if (!result.success) throw new Error(failure(result, stderr));
      const parsed = parseLlamaBenchJson(new TextDecoder().decode(result.stdout), o.gp);
      for (const t of tests) {
        if (out[t] !== undefined) continue;
        const v = parsed[t];
        out[t] = v && v.length > 0 ? v[0] : "llama-bench reported no result for it";
      }
      return out;
    },
    close() {},
  };
}

/** CPU flags ik_llama.cpp's AVX-512 paths (`HAVE_FANCY_SIMD`) are compiled for. */
export const IK_NATIVE_FLAGS = ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512vnni"];

/**
 * Why ik_llama.cpp's native build (`DIR/native/libggml.so`, built for an AVX-512 Zen 4) cannot be
 * used here, or `null`: the library must exist, the CPU must have {@link IK_NATIVE_FLAGS}, and the
 * loader must pick it over the portable one beside `llama-bench` (checked with `LD_DEBUG=libs`).
 * A CPU that has these flags but lacks another instruction the build uses still fails at run
 * time, with SIGILL, which the runner reports.
 *
 * @example
 * ```ts ignore
 * import { ikNativeSkipReason } from "./engines_drivers.ts";
 * console.log(await ikNativeSkipReason("../shared/oracles/ik_llama") ?? "native build usable");
 * ```
 */
export async function ikNativeSkipReason(ikDir: string): Promise<string | null> {
  const lib = join(ikDir, "native", "libggml.so");
  if (!existsSync(lib)) return `no ${lib}`;
  let flags = "";
  try {
    flags = /^flags\s*:(.*)$/m.exec(await Deno.readTextFile("/proc/cpuinfo"))?.[1] ?? "";
  } catch { /* not Linux: the check below fails */ }
  // the kernel spells some with an underscore (avx512_vnni)
  const have = new Set(flags.trim().split(/\s+/).map((f) => f.replaceAll("_", "")));
  const missing = IK_NATIVE_FLAGS.filter((f) => !have.has(f));
  if (missing.length > 0) {
    return `the CPU lacks ${missing.join(", ")} (the native build is AVX-512 only)`;
  }
  const out = await new Deno.Command(join(ikDir, "llama-bench"), {
    args: ["--help"],
    env: { LD_LIBRARY_PATH: join(ikDir, "native"), LD_DEBUG: "libs" },
    stdout: "null",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(out.stderr);
  if (!log.includes(`calling init: ${lib}`)) {
    return `the loader did not pick ${lib} (LD_DEBUG=libs)`;
  }
  return null;
}

/** The script a checkout of another revision runs: its own engine, this checkout's timing loop. */
function driverSource(timingUrl: string): string {
  return `// written by bitload's bench/engines.ts: times this checkout's engine
import { InferenceModel } from "./src/infer/model.ts";
import { benchTokens, ENGINE_CONTEXT, timeRep } from ${JSON.stringify(timingUrl)};
const [path, threads, kvType, tests] = Deno.args;
const m = await InferenceModel.fromGguf(path, {
  threads: Number(threads),
  contextLength: ENGINE_CONTEXT,
  kvType: kvType as "f32" | "f16",
});
m.reset();
m.forward(benchTokens(8, m.config.nVocab, 3));
m.forward([1]);
m.reset();
const feed = (t: number[]) => void m.forward(t);
const rep = tests
  ? timeRep({ reset: () => m.reset(), feed }, m.config.nVocab, tests.split(",") as never)
  : {};
console.log(JSON.stringify({ rep, kernels: m.kernelInfo, kvType: m.kvType }));
m.close();
`;
}

async function run(cmd: string, args: string[], options: { cwd?: string } = {}) {
  const out = await new Deno.Command(cmd, { args, ...options, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder();
  if (!out.success) throw new Error(`${cmd} ${args[0]}: ${failure(out, text.decode(out.stderr))}`);
  return text.decode(out.stdout);
}

/**
 * A checkout of bitload at `revision` (a git revision of `repo`, extracted with `git archive` into
 * `workDir/bitload-REV` and reused, its `node_modules` linked to `repo`'s; or a directory that
 * is a checkout), with the driver script it runs. Returns its folder and short name.
 *
 * @example
 * ```ts ignore
 * import { baselineCheckout } from "./engines_drivers.ts";
 * const { dir, name } = await baselineCheckout(".", "0d0b164", "/tmp/work");
 * ```
 */
export async function baselineCheckout(
  repo: string,
  revision: string,
  workDir: string,
): Promise<{ dir: string; name: string }> {
  let dir: string;
  let name: string;
  if (existsSync(join(revision, "src", "infer", "model.ts"))) {
    dir = revision;
    name = await run("git", ["-C", dir, "rev-parse", "--short", "HEAD"]).then((s) => s.trim())
      .catch(() => revision);
  } else {
    name = (await run("git", ["-C", repo, "rev-parse", "--short", `${revision}^{commit}`])).trim();
    dir = join(workDir, `bitload-${name}`);
    if (!existsSync(join(dir, "src", "infer", "model.ts"))) {
      const tmp = `${dir}.tmp-${Deno.pid}`;
      await Deno.mkdir(tmp, { recursive: true });
      try {
        await run("git", ["-C", repo, "archive", "--format=tar", "-o", `${tmp}.tar`, name]);
        await run("tar", ["-xf", `${tmp}.tar`, "-C", tmp]);
        await Deno.symlink(
          join(Deno.realPathSync(repo), "node_modules"),
          join(tmp, "node_modules"),
        );
        await Deno.rename(tmp, dir);
      } finally {
        await Deno.remove(`${tmp}.tar`).catch(() => {});
        await Deno.remove(tmp, { recursive: true }).catch(() => {});
      }
    }
  }
  const timing = new URL("./engine_timing.ts", import.meta.url).href;
  await Deno.writeTextFile(join(dir, ".bitload-engines-driver.ts"), driverSource(timing));
  return { dir, name };
}

/**
 * bitload of another revision (a {@link baselineCheckout}), each repetition in its own process
 * (`deno run -A DIR/.bitload-engines-driver.ts`: load, warm, {@link timeRep}), so that two
 * native libraries never share a process. Its row is the "before" of a before → after table.
 *
 * @example
 * ```ts ignore
 * import { baselineCheckout, baselineEngine } from "./engines_drivers.ts";
 * const checkout = await baselineCheckout(".", "0d0b164", "/tmp/work");
 * const e = baselineEngine(checkout, "model.gguf");
 * console.log(await e.run(1, ["tg32"]));
 * ```
 */
export function baselineEngine(
  checkout: { dir: string; name: string },
  path: string,
  options: { kvType?: "f32" | "f16"; signal?: AbortSignal } = {},
): Engine {
  const info: EngineInfo = {
    id: "bitload-before",
    label: `bitload I2_S at ${checkout.name}`,
    peer: false,
    baseline: true,
  };
  const kernels = new Set<string>();
  return {
    info,
    async run(threads, tests) {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          join(checkout.dir, ".bitload-engines-driver.ts"),
          path,
          String(threads),
          options.kvType ?? "f32",
          tests.join(","),
        ],
        cwd: checkout.dir,
        stdout: "piped",
        stderr: "piped",
        signal: options.signal,
      }).spawn();
      const out = await child.output();
      const text = new TextDecoder();
      if (!out.success) throw new Error(failure(out, text.decode(out.stderr)));
      const line = text.decode(out.stdout).trim().split("\n").at(-1) ?? "{}";
      const got = JSON.parse(line) as { rep: EngineRep; kernels: string; kvType: string };
      kernels.add(got.kernels);
      info.detail = `checkout ${checkout.dir}, one process per repetition, KV ${got.kvType}, ` +
        `kernels ${[...kernels].join("; ")}`;
      return got.rep;
    },
    close() {},
  };
}

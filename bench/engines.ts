/**
 * bitload against the other BitNet engines, every one timed in the same run on the same weights:
 * `deno run -A bench/engines.ts [options]` prints the markdown tables of the closing notes
 * (tok/s with the range over the repetitions, bitload's ratio to each peer and to the fastest).
 *
 * Engines (a missing one is listed as "not run: reason"):
 * - **bitload** on its `bitnet-b1.58` I2_S file (in this process);
 * - **ik_llama.cpp** (`../shared/oracles/ik_llama`): IQ2_BN_R4 and IQ2_BN, converted from the I2_S
 *   file by its `llama-quantize` (F16 embeddings/head, as its README says), with the native
 *   AVX-512 build (`native/libggml.so`, only where the CPU has the subset it needs) and the portable
 *   one, timed by its `llama-bench`;
 * - **bitnet.cpp** (`../shared/oracles/bitnet.cpp`): the same weights as an upstream-`bitnet` I2_S
 *   file (its fork does not know `bitnet-b1.58`; same weights and shapes, SiLU instead of relu²),
 *   timed by its `llama-bench`;
 * - **libllama** (npm `@node-llama-cpp/linux-x64`, always installed): the upstream-`bitnet` TQ2_0
 *   conversion, in this process.
 *
 * Tests: `pp32`, `pp512` (prompt tokens per second), `tg32` (32 generated tokens from an empty
 * cache) and `tg32@pp512` (32 generated after a 512-token prompt). The repetitions are
 * interleaved (repetition → threads → engine), so that a disturbance hits every engine alike.
 *
 * Shapes: `tiny` (2 × 512, FFN 1536, 8/4 heads, vocab 1024; seconds, the default) and `2B` (the
 * 2B-4T shape of issue #21: 30 × 2560, FFN 6912, 20/5 heads, vocab 32000; writing its five files
 * takes minutes, so `--work-dir` keeps them for the next run), or `--model FILE`
 * (`BITLOAD_BENCH_MODEL`): an existing bitload I2_S file, whose conversions are written next to
 * the others in the work directory. `BITLOAD_BENCH_2B=1` selects `2B`.
 *
 * Heavy: a 2B run with 2 thread counts and 2 repetitions pins the cores for 15–30 minutes on a
 * 2-vCPU machine; run it on an otherwise idle machine (`nice` it where others work).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { basename, join } from "node:path";
import { bitnetModelParts, type BitnetSynthOptions } from "../src/synth/bitnet_model.ts";
import { type GgufTensorInput, writeGguf } from "../src/gguf/writer.ts";
import { bitnetToUpstream, rescaleTernary } from "../src/infer/convert.ts";
import { openModelFile } from "../src/load/open.ts";
import { readModelConfig } from "../src/infer/config.ts";
import { machineInfo } from "../src/bench/machine.ts";
import { type BenchReport, parseBenchReport } from "../src/bench/report.ts";
import { oracleQuantize, oraclesDir } from "../tests/reference/oracles.ts";
import { llamaEvalSkipReason, openLlamaEval } from "../tests/reference/llama_eval.ts";
import { fileURLToPath } from "node:url";
import {
  baselineCheckout,
  baselineEngine,
  bitloadEngine,
  type Engine,
  ikNativeSkipReason,
  libllamaEngine,
  llamaBenchEngine,
} from "./engines_drivers.ts";
import {
  ENGINE_TESTS,
  type EngineCell,
  type EngineInfo,
  engineMarkdown,
  engineMetrics,
  engineRatios,
  type EngineResults,
  type EngineTest,
} from "./engines_table.ts";

/** The shapes by name. */
export const ENGINE_SHAPES: Record<string, BitnetSynthOptions> = {
  tiny: { layers: 2, dim: 512, ffn: 1536, heads: 8, kvHeads: 4, vocab: 1024 },
  "2B": { layers: 30, dim: 2560, ffn: 6912, heads: 20, kvHeads: 5, vocab: 32000 },
};

/** Every engine id, in table order. */
export const ENGINE_IDS = [
  "bitload",
  "ik-iq2_bn_r4-native",
  "ik-iq2_bn-native",
  "ik-iq2_bn_r4-portable",
  "ik-iq2_bn-portable",
  "bitnet.cpp",
  "libllama",
] as const;

/** Options of {@link runEngines}. */
export interface EnginesOptions {
  /** A shape of {@link ENGINE_SHAPES}. Default `tiny`. */
  shape?: string;
  /** An existing bitload I2_S (`bitnet-b1.58`) file instead of a synthetic one. */
  model?: string;
  /** Where the files are written and reused from; default a temporary directory, removed after. */
  workDir?: string;
  /** Thread counts. Default [1, 2]. */
  threads?: number[];
  /** Repetitions. Default 2. */
  reps?: number;
  /** Tests. Default all of {@link ENGINE_TESTS}. */
  tests?: EngineTest[];
  /** Engine ids to run (bitload always runs). Default all of {@link ENGINE_IDS}. */
  engines?: string[];
  /**
   * bitload at another revision (a git revision of this repository, or a checkout's folder),
   * timed beside this one in its own process per repetition: the "before" of a before → after
   * table, its ratio the speed-up.
   */
  baseline?: string;
  /** bitload's KV cache type. Default f32 (bitload's default). */
  kvType?: "f32" | "f16";
  /** The oracles folder. Default {@link oraclesDir}. */
  oracles?: string;
  /** Write (or find) the model files only; time nothing (the results hold no cells). */
  prepareOnly?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Stops the run (a running llama-bench is killed); the results so far are returned, partial. */
  signal?: AbortSignal;
  /** Starts no engine repetition after this long; the results so far are returned, partial. */
  timeLimitMs?: number;
  /** Called with the results so far after each engine's repetition (to keep them if cut off). */
  onProgress?: (partial: EngineResults) => void;
}

function shapeWords(c: {
  nLayer: number;
  nEmbd: number;
  nFf: number;
  nHead: number;
  nHeadKv: number;
  nVocab: number;
}, name: string): string {
  const what = name === "2B" ? "2B-4T shape" : name === "model" ? "model" : `${name} shape`;
  return `${what} (${c.nLayer} layers, dim ${c.nEmbd}, FFN ${c.nFf}, ${c.nHead}/${c.nHeadKv} heads, vocab ${c.nVocab})`;
}

/** The 1-minute load average (Linux), or null. */
function loadAverage(): number | null {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return null;
  }
}

/** The CPU's model name (Linux), else the build target. */
function cpuModel(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    return /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? Deno.build.target;
  } catch {
    return Deno.build.target;
  }
}

/**
 * Writes `path` with `make(tmp)` (then renames) unless it is there already and newer than
 * `source` (`null`: whenever it is there).
 */
async function derived(
  path: string,
  source: string | null,
  make: (tmp: string) => Promise<void>,
  log: (s: string) => void,
): Promise<void> {
  try {
    const have = Deno.statSync(path);
    const newer = source === null ||
      (have.mtime?.getTime() ?? 0) >= (Deno.statSync(source).mtime?.getTime() ?? Infinity);
    if (have.size > 0 && newer) {
      log(`reusing ${path}`);
      return;
    }
  } catch { /* not there yet */ }
  const t0 = performance.now();
  const tmp = `${path}.tmp-${Deno.pid}`;
  try {
    await make(tmp);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  log(`wrote ${path} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

/** The parts of a `bitnet-b1.58` file, for `bitnetToUpstream` (tensor bytes read lazily). */
function partsOf(file: Awaited<ReturnType<typeof openModelFile>>) {
  return {
    metadata: [...file.metadata.values()],
    tensors: file.tensors.map((t): GgufTensorInput => ({
      name: t.name,
      type: t.type,
      dims: t.dims,
      data: () => file.tensorData(t.name),
    })),
  };
}

/**
 * Runs the comparison and returns every measurement. The test in `tests/bench_engines_test.ts`
 * runs it on the tiny shape.
 *
 * @example
 * ```ts ignore
 * import { runEngines } from "./engines.ts";
 * import { engineMarkdown } from "./engines_table.ts";
 * console.log(engineMarkdown(await runEngines({ shape: "tiny", threads: [1], reps: 1 })));
 * ```
 */
export async function runEngines(options: EnginesOptions = {}): Promise<EngineResults> {
  const log = options.log ?? (() => {});
  const shapeName = options.model ? "model" : options.shape ?? "tiny";
  const shape = ENGINE_SHAPES[shapeName];
  if (!options.model && !shape) {
    throw new Error(`unknown shape "${shapeName}" (${Object.keys(ENGINE_SHAPES).join(", ")})`);
  }
  const threads = options.threads ?? [1, 2];
  const reps = options.reps ?? 2;
  const tests = options.tests ?? [...ENGINE_TESTS];
  const wanted = new Set(options.engines ?? ENGINE_IDS);
  wanted.add("bitload");
  const oracles = options.oracles ?? oraclesDir();
  const ownDir = options.workDir === undefined;
  const dir = options.workDir ?? await Deno.makeTempDir({ prefix: "bitload-engines-" });
  await Deno.mkdir(dir, { recursive: true });
  const engines: Engine[] = [];
  const notRun: EngineInfo[] = [];
  const loadBefore = loadAverage();
  const startDate = new Date().toISOString();
  try {
    // bitload's file
    const s = shape;
    const source = options.model ??
      join(
        dir,
        `${shapeName}-${s.layers}x${s.dim}x${s.ffn}-${s.heads}h${s.kvHeads}-v${s.vocab}.gguf`,
      );
    if (!options.model) {
      await derived(source, null, async (tmp) => {
        const p = rescaleTernary(bitnetModelParts(shape), 0.01);
        await writeGguf(tmp, p.metadata, p.tensors);
      }, log);
    }
    const base = join(dir, basename(source).replace(/\.gguf$/, ""));
    using file = await openModelFile(source);
    const config = readModelConfig(
      file.metadata,
      file.tensors.find((t) => t.name === "token_embd.weight")?.dims[1],
    );
    // a given file of a known shape is named by it (the 2B-4T shape of the issue)
    const known = Object.entries(ENGINE_SHAPES).find(([, k]) =>
      k.layers === config.nLayer && k.dim === config.nEmbd && k.ffn === config.nFf &&
      k.heads === config.nHead && k.kvHeads === config.nHeadKv && k.vocab === config.nVocab
    )?.[0];
    const shapeId = known ?? shapeName;
    const shapeText = shapeWords(config, shapeId);
    const ik = join(oracles, "ik_llama");
    const bitnetCpp = join(oracles, "bitnet.cpp");

    const skip = (id: string, label: string, reason: string) =>
      notRun.push({ id, label, peer: true, notRun: reason });
    engines.push(bitloadEngine(source, { kvType: options.kvType }));
    if (options.baseline) {
      try {
        const repo = fileURLToPath(new URL("..", import.meta.url));
        const checkout = await baselineCheckout(repo, options.baseline, dir);
        const before = baselineEngine(checkout, source, {
          kvType: options.kvType,
          signal: options.signal,
        });
        const t0 = performance.now();
        await before.run(1, []); // builds its kernels the first time
        log(
          `bitload at ${checkout.name} (${checkout.dir}) ready in ${
            ((performance.now() - t0) / 1000).toFixed(1)
          } s`,
        );
        engines.push(before);
      } catch (e) {
        notRun.push({
          id: "bitload-before",
          label: `bitload I2_S at ${options.baseline}`,
          peer: false,
          baseline: true,
          notRun: (e as Error).message.split("\n")[0],
        });
      }
    }

    // ik_llama.cpp: four engines from two conversions
    const ikIds = ENGINE_IDS.filter((id) => id.startsWith("ik-") && wanted.has(id));
    if (ikIds.length > 0) {
      let ikReason: string | null = null;
      try {
        Deno.statSync(join(ik, "llama-bench"));
      } catch {
        ikReason = `the ik_llama.cpp oracle is absent (no ${join(ik, "llama-bench")})`;
      }
      const nativeReason = ikReason ?? await ikNativeSkipReason(ik);
      for (const type of ["IQ2_BN_R4", "IQ2_BN"] as const) {
        const ids = ikIds.filter((id) => id.startsWith(`ik-${type.toLowerCase()}-`));
        if (ids.length === 0) continue;
        const out = `${base}-${type}.gguf`;
        let reason = ikReason;
        if (!reason) {
          try {
            await derived(
              out,
              source,
              (tmp) => oracleQuantize("ik_llama", source, tmp, type, 2),
              log,
            );
          } catch (e) {
            reason = `its llama-quantize failed: ${(e as Error).message.split("\n")[0]}`;
          }
        }
        for (const id of ids) {
          const native = id.endsWith("-native");
          const label = `ik_llama.cpp ${type}, ${native ? "native" : "portable"}`;
          const why = reason ?? (native ? nativeReason : null);
          if (why) {
            skip(id, label, why);
            continue;
          }
          engines.push(llamaBenchEngine({
            info: {
              id,
              label,
              peer: true,
              detail: native
                ? "llama-bench with LD_LIBRARY_PATH=native (AVX-512 build, HAVE_FANCY_SIMD)"
                : "llama-bench, portable build (AVX2)",
            },
            bin: join(ik, "llama-bench"),
            model: out,
            env: native ? { LD_LIBRARY_PATH: join(ik, "native") } : undefined,
            gp: true,
            signal: options.signal,
          }));
        }
      }
    }

    // bitnet.cpp: the upstream `bitnet` I2_S file
    if (wanted.has("bitnet.cpp")) {
      const label = "bitnet.cpp I2_S";
      const bin = join(bitnetCpp, "bin", "llama-bench");
      let present = true;
      try {
        Deno.statSync(bin);
      } catch {
        present = false;
      }
      if (!present) skip("bitnet.cpp", label, `the bitnet.cpp oracle is absent (no ${bin})`);
      else {
        const out = `${base}-bitnet-I2_S.gguf`;
        await derived(out, source, async (tmp) => {
          const up = bitnetToUpstream(partsOf(file), "I2_S");
          await writeGguf(tmp, up.metadata, up.tensors);
        }, log);
        engines.push(llamaBenchEngine({
          info: {
            id: "bitnet.cpp",
            label,
            peer: true,
            detail: "llama-bench (AVX2 build), upstream-bitnet I2_S file of the same weights",
          },
          bin,
          model: out,
          gp: false,
          signal: options.signal,
        }));
      }
    }

    // libllama: the upstream `bitnet` TQ2_0 file
    if (wanted.has("libllama")) {
      const label = "libllama TQ2_0";
      if (!openLlamaEval()) skip("libllama", label, llamaEvalSkipReason());
      else {
        const out = `${base}-bitnet-TQ2_0.gguf`;
        await derived(out, source, async (tmp) => {
          const up = bitnetToUpstream(partsOf(file), "TQ2_0");
          await writeGguf(tmp, up.metadata, up.tensors);
        }, log);
        engines.push(libllamaEngine(out));
      }
    }

    const cells: EngineCell[] = [];
    const failed = new Map<string, string>();
    const record = (engine: string, t: number, test: EngineTest, v: number | string) => {
      let cell = cells.find((c) => c.engine === engine && c.threads === t && c.test === test);
      if (!cell) cells.push(cell = { engine, threads: t, test, samples: [] });
      if (typeof v === "number") cell.samples.push(v);
      else cell.skipped = v;
    };
    const snapshot = (partial?: string): EngineResults => {
      const infos: EngineInfo[] = [];
      const out = cells.map((c) => ({ ...c, samples: [...c.samples] }));
      for (const id of ["bitload", "bitload-before", ...ENGINE_IDS.slice(1)]) {
        const e = engines.find((x) => x.info.id === id);
        if (e) {
          const reason = failed.get(id);
          const measured = out.some((c) => c.engine === id && c.samples.length > 0);
          infos.push(reason && !measured ? { ...e.info, notRun: reason } : { ...e.info });
          if (reason && measured) {
            for (const c of out.filter((c) => c.engine === id)) {
              c.skipped ??= `failed in a later repetition: ${reason}`;
            }
          }
        }
        const n = notRun.find((x) => x.id === id);
        if (n) infos.push(n);
      }
      return {
        shape: shapeText,
        shapeId,
        threads,
        tests,
        reps,
        engines: infos,
        cells: out,
        machine: {
          cpu: cpuModel(),
          threads: navigator.hardwareConcurrency ?? 1,
          date: startDate,
        },
        ...(loadBefore !== null
          ? { loadAverage: [loadBefore, loadAverage() ?? loadBefore] as [number, number] }
          : {}),
        ...(partial ? { partial } : {}),
      };
    };
    const started = performance.now();
    let stopped: string | null = null;
    const stopReason = () =>
      options.signal?.aborted
        ? "stopped by a signal"
        : options.timeLimitMs !== undefined && performance.now() - started > options.timeLimitMs
        ? `stopped at the time limit (${+(options.timeLimitMs / 60_000).toFixed(2)} min)`
        : null;
    runs: for (let rep = 1; rep <= (options.prepareOnly ? 0 : reps); rep++) {
      for (const t of threads) {
        for (const e of engines) {
          if (failed.has(e.info.id)) continue;
          const where = `repetition ${rep} of ${reps} (${t} thread${t === 1 ? "" : "s"})`;
          stopped = stopReason();
          if (stopped) {
            stopped = `${stopped} in ${where}, before ${e.info.label}`;
            log(stopped);
            break runs;
          }
          const t0 = performance.now();
          try {
            const got = await e.run(t, tests);
            for (const test of tests) {
              record(e.info.id, t, test, got[test] ?? "not measured");
            }
            const summary = tests.map((test) => {
              const v = got[test];
              return `${test} ${typeof v === "number" ? v.toFixed(1) : "–"}`;
            }).join(", ");
            log(
              `rep ${rep}/${reps}, ${t} thread${t === 1 ? "" : "s"}: ${e.info.label}: ${summary} (${
                ((performance.now() - t0) / 1000).toFixed(1)
              } s)`,
            );
          } catch (err) {
            if (options.signal?.aborted) {
              stopped = `stopped by a signal in ${where}, during ${e.info.label}`;
              log(stopped);
              break runs;
            }
            const reason = (err as Error).message.split("\n")[0];
            failed.set(e.info.id, reason);
            log(`${e.info.label}: failed: ${reason}`);
          }
          options.onProgress?.(snapshot(`interrupted in ${where}`));
        }
      }
    }
    return snapshot(stopped ?? undefined);
  } finally {
    for (const e of engines) e.close();
    if (ownDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** `--help` of the script. */
export const ENGINES_HELP = `Usage: deno run -A bench/engines.ts [options]

Times bitload (I2_S), ik_llama.cpp (IQ2_BN_R4 and IQ2_BN; native AVX-512 and portable builds),
bitnet.cpp (I2_S) and libllama (TQ2_0) in the same run on the same weights, and prints the tok/s
table (median and range over the repetitions) and bitload's ratio to each peer and to the fastest.

Options:
  --shape NAME       tiny (default; seconds) or 2B (the 2B-4T shape; BITLOAD_BENCH_2B=1)
  -m, --model FILE   an existing bitload I2_S file (BITLOAD_BENCH_MODEL) instead of a synthetic one
  --work-dir DIR     keep the generated/converted files there and reuse them (BITLOAD_BENCH_DIR);
                     default: a temporary directory, removed at the end
  -t, --threads LIST thread counts, e.g. 1,2 (default 1,2)
  -r, --reps N       repetitions (default 2)
  --tests LIST       of pp32,pp512,tg32,tg32@pp512 (default all)
  --engines LIST     of ${ENGINE_IDS.slice(1).join(",")} (bitload always runs; default all)
  --baseline REV     also time bitload at git revision REV (or a checkout folder) in its own
                     process, for a before → after table (BITLOAD_BENCH_BASELINE)
  --kv f32|f16       bitload's KV cache type (default f32; the llama.cpp peers use f16)
  --oracles DIR      the oracles folder (default ../shared/oracles, or BITLOAD_ORACLES)
  --out FILE         write the results (JSON) there after every engine's repetition, so a run cut
                     short keeps what it measured
  --from FILE        print the tables of results saved with --out or --json; measure nothing
  --time-limit MIN   start no engine repetition after MIN minutes (the results so far are printed,
                     marked partial; SIGINT/SIGTERM stop the same way, killing a running peer)
  --prepare          write (or find) the model files in --work-dir and stop; time nothing
  --markdown         print the markdown tables (the default output)
  --json             print {results, ratios, metrics} as JSON instead
  --save FILE        also write the figures as a bitload bench report (bitload bench --compare)
  -h, --help         show this help`;

function list(s: string | undefined, name: string): string[] | undefined {
  if (s === undefined) return undefined;
  const items = s.split(",").map((x) => x.trim()).filter((x) => x !== "");
  if (items.length === 0) throw new Error(`--${name}: empty list`);
  return items;
}

/**
 * The script: parses `args`, runs {@link runEngines} and prints; returns the exit code.
 *
 * @example
 * ```ts ignore
 * import { enginesMain } from "./engines.ts";
 * Deno.exit(await enginesMain(["--threads", "1", "--reps", "1"]));
 * ```
 */
export async function enginesMain(args: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        shape: { type: "string" },
        model: { type: "string", short: "m" },
        "work-dir": { type: "string" },
        threads: { type: "string", short: "t" },
        reps: { type: "string", short: "r" },
        tests: { type: "string" },
        engines: { type: "string" },
        kv: { type: "string" },
        baseline: { type: "string" },
        oracles: { type: "string" },
        prepare: { type: "boolean" },
        "time-limit": { type: "string" },
        out: { type: "string" },
        from: { type: "string" },
        markdown: { type: "boolean" },
        json: { type: "boolean" },
        save: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    console.error(`bitload: ${(e as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log(ENGINES_HELP);
    return 0;
  }
  const usage = (msg: string) => {
    console.error(`bitload: ${msg}`);
    return 2;
  };
  const threads = list(values.threads, "threads")?.map(Number);
  if (threads?.some((t) => !Number.isInteger(t) || t < 1)) {
    return usage(`--threads: positive integers, got "${values.threads}"`);
  }
  const reps = values.reps === undefined ? undefined : Number(values.reps);
  if (reps !== undefined && (!Number.isInteger(reps) || reps < 1)) {
    return usage(`--reps: a positive integer, got "${values.reps}"`);
  }
  const tests = list(values.tests, "tests") as EngineTest[] | undefined;
  const badTest = tests?.find((t) => !ENGINE_TESTS.includes(t));
  if (badTest) return usage(`--tests: unknown test "${badTest}" (${ENGINE_TESTS.join(", ")})`);
  const engines = list(values.engines, "engines");
  const badEngine = engines?.find((e) => !(ENGINE_IDS as readonly string[]).includes(e));
  if (badEngine) {
    return usage(`--engines: unknown engine "${badEngine}" (${ENGINE_IDS.join(", ")})`);
  }
  if (values.kv !== undefined && values.kv !== "f32" && values.kv !== "f16") {
    return usage(`--kv must be f32 or f16, got "${values.kv}"`);
  }
  if (values.from !== undefined) {
    const saved = JSON.parse(await Deno.readTextFile(values.from));
    const r = (saved?.results ?? saved) as EngineResults;
    if (!Array.isArray(r?.engines) || !Array.isArray(r?.cells) || !Array.isArray(r?.tests)) {
      return usage(`--from: ${values.from} holds no engine results`);
    }
    printResults(r, values.json === true);
    return 0;
  }
  const limit = values["time-limit"] === undefined ? undefined : Number(values["time-limit"]);
  if (limit !== undefined && !(limit > 0)) {
    return usage(`--time-limit: minutes > 0, got "${values["time-limit"]}"`);
  }
  const shape = values.shape ?? (Deno.env.get("BITLOAD_BENCH_2B") === "1" ? "2B" : "tiny");
  if (!ENGINE_SHAPES[shape]) {
    return usage(`--shape: unknown shape "${shape}" (${Object.keys(ENGINE_SHAPES).join(", ")})`);
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  const signals = ["SIGINT", "SIGTERM"] as const;
  for (const sig of signals) Deno.addSignalListener(sig, onSignal);
  const results = await runEngines({
    shape,
    model: values.model ?? Deno.env.get("BITLOAD_BENCH_MODEL"),
    workDir: values["work-dir"] ?? Deno.env.get("BITLOAD_BENCH_DIR"),
    threads,
    reps,
    tests,
    engines,
    kvType: values.kv as "f32" | "f16" | undefined,
    baseline: values.baseline ?? Deno.env.get("BITLOAD_BENCH_BASELINE"),
    oracles: values.oracles,
    prepareOnly: values.prepare,
    signal: stop.signal,
    timeLimitMs: limit === undefined ? undefined : limit * 60_000,
    log: (s) => console.error(s),
    onProgress: values.out ? (partial) => writeAtomic(values.out!, partial) : undefined,
  }).finally(() => {
    for (const sig of signals) Deno.removeSignalListener(sig, onSignal);
  });
  if (values.out && !values.prepare) writeAtomic(values.out, results);
  if (values.prepare) {
    for (const e of results.engines.filter((e) => e.notRun)) {
      console.error(`${e.label}: not run: ${e.notRun}`);
    }
    return 0;
  }
  const metrics = engineMetrics(results);
  if (values.save) {
    const report: BenchReport = parseBenchReport({
      version: 1,
      date: new Date().toISOString(),
      size: results.shapeId === "tiny" ? "small" : "full",
      machine: machineInfo(),
      metrics,
    });
    writeAtomic(values.save, report);
  }
  printResults(results, values.json === true);
  return 0;
}

function printResults(results: EngineResults, json: boolean): void {
  if (json) {
    const out = { results, ratios: engineRatios(results), metrics: engineMetrics(results) };
    console.log(JSON.stringify(out, null, 2));
  } else console.log(engineMarkdown(results));
}

/** Writes `value` as JSON to `path` through a temporary file and a rename. */
function writeAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${Deno.pid}`;
  Deno.writeTextFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
  Deno.renameSync(tmp, path);
}

if (import.meta.main) {
  try {
    Deno.exit(await enginesMain(Deno.args));
  } catch (e) {
    console.error(`bitload: ${(e as Error).message.split("\n")[0]}`);
    Deno.exit(1);
  }
}

/**
 * The same-run engine comparison of `bench/engines.ts` inside `deno bench`: bitload (I2_S),
 * ik_llama.cpp (IQ2_BN_R4, IQ2_BN; native and portable), bitnet.cpp (I2_S) and libllama (TQ2_0),
 * pp32 / pp512 / tg32 / tg32 after pp512; the markdown tables are printed at the end.
 *
 * Default: the tiny shape, 1 thread, 1 repetition (seconds: a smoke test of every peer). The
 * 2B-4T shape is opt-in: `BITLOAD_BENCH_2B=1` (1 and 2 threads, 2 repetitions; 15–30 minutes on
 * 2 vCPUs), with `BITLOAD_BENCH_MODEL` (an existing bitload I2_S file) and `BITLOAD_BENCH_DIR`
 * (keep the conversions there for the next run). `BITLOAD_BENCH_THREADS` (e.g. `1,2`) and
 * `BITLOAD_BENCH_REPS` override the defaults. The script form, with flags:
 * `deno run -A bench/engines.ts --help`.
 *
 * Run: `deno bench -A bench/engines.bench.ts`
 */

import { runEngines } from "./engines.ts";
import { engineMarkdown, type EngineResults } from "./engines_table.ts";

const big = Deno.env.get("BITLOAD_BENCH_2B") === "1";
const threads = (Deno.env.get("BITLOAD_BENCH_THREADS") ?? (big ? "1,2" : "1")).split(",")
  .map(Number);
const reps = Number(Deno.env.get("BITLOAD_BENCH_REPS") ?? (big ? 2 : 1));
let results: EngineResults | null = null;

Deno.bench({
  name: `engines: bitload and its peers, ${big ? "2B-4T" : "tiny"} shape`,
  group: "engines",
  n: 1,
  warmup: 0,
  async fn() {
    results = await runEngines({
      shape: big ? "2B" : "tiny",
      model: Deno.env.get("BITLOAD_BENCH_MODEL"),
      workDir: Deno.env.get("BITLOAD_BENCH_DIR"),
      threads,
      reps,
    });
  },
});

globalThis.addEventListener("unload", () => {
  if (results) console.log("\n" + engineMarkdown(results));
});

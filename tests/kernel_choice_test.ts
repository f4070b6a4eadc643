import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cachedKernelChoice,
  choiceDoubt,
  chooseTimed,
  DROP_FACTOR,
  type KernelChoice,
  kernelEnvironment,
  MAX_RETUNES,
  MIN_MARGIN,
  saveKernelChoice,
  timeInterleaved,
  timingOf,
  TUNE_ROUNDS,
} from "../src/infer/kernel_choice.ts";

const env = { abi: 6, cpuFlags: "0badf00d" };
const clear: KernelChoice = {
  level: "avx512",
  threads: 2,
  msPerToken: 10,
  spreadMs: 0.3,
  runnerUpMs: 14,
  runnerUpSpreadMs: 0.5,
  abi: 6,
  cpuFlags: "0badf00d",
  retunes: 0,
};

Deno.test("a stored kernel choice is doubted when the CPU, the library or the noise say so", () => {
  assert.equal(choiceDoubt(clear, env), null, "a clear win on the same CPU and library is kept");
  assert.equal(choiceDoubt(undefined, env), "no stored choice");
  assert.match(choiceDoubt(clear, { ...env, abi: 7 })!, /native library changed \(ABI 6 → 7\)/);
  assert.match(choiceDoubt(clear, { ...env, cpuFlags: "feedface" })!, /feature flags changed/);
  const old = { level: "avx2", threads: 1, msPerToken: 9 } as KernelChoice;
  assert.match(choiceDoubt({ ...old, ...env }, env)!, /no spread/, "an old record is re-timed");
  // One noisy run: the winner is 0.5 ms ahead with a 2 ms spread. Doubtful, so re-timed.
  const noisy = { ...clear, msPerToken: 13.5, spreadMs: 2 };
  assert.match(choiceDoubt(noisy, env)!, /within the timing noise/);
  // The runner-up's spread counts too, and so does a win under 3 % with tight spreads.
  assert.match(choiceDoubt({ ...clear, runnerUpSpreadMs: 4.5 }, env)!, /timing noise/);
  assert.match(choiceDoubt({ ...clear, spreadMs: 0, runnerUpMs: 10.2 }, env)!, /timing noise/);
  // After MAX_RETUNES re-timings in a row the variants are equally fast: keep the choice.
  assert.equal(choiceDoubt({ ...noisy, retunes: MAX_RETUNES }, env), null);
  assert.equal(choiceDoubt({ ...clear, runnerUpMs: undefined }, env), null, "one variant timed");
});

Deno.test("tuning: interleaved rounds after a warm-up, the fastest sample, slow variants dropped", () => {
  // the fastest sample; the spread of the fastest half (the slow tail is other jobs' time)
  assert.deepEqual(timingOf([12, 10, 30, 11, 40]), { ms: 10, spreadMs: 2 });
  assert.deepEqual(timingOf([10, 12]), { ms: 10, spreadMs: 0 });
  // Scripted samples per variant: "a" has one noisy spell, "b" is steady, "s" (scalar) is slow.
  const script: Record<string, number[]> = {
    a: [99, 130, 100, 50 + 60, 101, 102, 103, 104, 105],
    b: [99, 108, 107, 109, 108, 110, 108, 109, 107],
    s: [99, 108 * DROP_FACTOR + 1, 1, 1, 1, 1, 1, 1, 1],
  };
  const order: string[] = [];
  const timed = timeInterleaved(["s", "a", "b"], (v) => {
    order.push(v);
    return script[v][order.filter((o) => o === v).length - 1];
  });
  // warm-up round and first round with all three, then the slow one is left out
  assert.deepEqual(order.slice(0, 6), ["s", "a", "b", "s", "a", "b"]);
  assert.deepEqual(order.slice(6, 10), ["a", "b", "a", "b"]);
  assert.equal(order.length, 3 * 2 + 2 * (TUNE_ROUNDS - 1));
  assert.deepEqual(timed.map((t) => t.variant), ["a", "b", "s"], "fastest first");
  // the warm-up samples (99) are not counted; one noisy sample (130) does not hide "a"
  assert.equal(timed[0].ms, 100);
  assert.deepEqual(timed[0].samples, script.a.slice(1, 1 + TUNE_ROUNDS));
  assert.equal(timed[2].samples.length, 1);
});

Deno.test("tuning: another variant than the preferred one only for a win above MIN_MARGIN", () => {
  const t = (variant: string, ms: number) => ({ variant, ms, spreadMs: 0, samples: [ms] });
  const isAvx512 = (v: string) => v === "avx512";
  const within = 100 * (1 - MIN_MARGIN) + 0.01;
  const keep = chooseTimed([t("avx2", within), t("avx512", 100), t("scalar", 500)], isAvx512);
  assert.equal(keep.choice.variant, "avx512", "a win inside the margin keeps the preferred level");
  assert.equal(keep.runnerUp?.variant, "avx2", "the record names the faster runner-up");
  const clear = chooseTimed([t("avx2", 100 * (1 - MIN_MARGIN) - 0.01), t("avx512", 100)], isAvx512);
  assert.equal(clear.choice.variant, "avx2", "a clear win switches");
  assert.equal(clear.runnerUp?.variant, "avx512");
  const none = chooseTimed([t("avx2", 99), t("avx512", 100)]);
  assert.equal(none.choice.variant, "avx2", "no preference: the fastest");
  assert.equal(chooseTimed([t("avx2", 99)], isAvx512).runnerUp, undefined, "one variant");
});

Deno.test("kernel choices round-trip through the cache", () => {
  const e = kernelEnvironment();
  assert.match(e.cpuFlags, /^[0-9a-f]{8}$/);
  assert.ok(Number.isInteger(e.abi) && e.abi > 0);
  const dir = Deno.makeTempDirSync();
  const before = Deno.env.get("BITLOAD_CACHE_DIR");
  Deno.env.set("BITLOAD_CACHE_DIR", dir);
  try {
    saveKernelChoice("k", clear);
    assert.deepEqual(cachedKernelChoice("k"), clear);
    const text = Deno.readTextFileSync(join(dir, "kernel-choices.json"));
    assert.equal(JSON.parse(text).k.runnerUpMs, 14);
  } finally {
    if (before === undefined) Deno.env.delete("BITLOAD_CACHE_DIR");
    else Deno.env.set("BITLOAD_CACHE_DIR", before);
    Deno.removeSync(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cachedKernelChoice,
  choiceDoubt,
  type KernelChoice,
  kernelEnvironment,
  MAX_RETUNES,
  saveKernelChoice,
  timingOf,
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

Deno.test("timingOf gives the median and the spread; choices round-trip through the cache", () => {
  assert.deepEqual(timingOf([12, 10, 11]), { ms: 11, spreadMs: 2 });
  assert.deepEqual(timingOf([10, 12]), { ms: 11, spreadMs: 2 });
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

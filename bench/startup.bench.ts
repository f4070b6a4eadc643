/**
 * CLI start-up (issue #17 item 3: `bitload --help` within 1.5× of `deno run` on an empty
 * script). Both run as fresh processes of the same Deno binary, in the same run, interleaved:
 *
 * - `deno run empty.ts` — the floor any Deno program pays;
 * - `deno run … src/cli/main.ts --help` — the CLI, which imports its commands only when one runs;
 * - `deno run … src/cli/main.ts inspect --help` — one command's module graph.
 *
 * Under `deno bench` the three are a group with the empty script as baseline (the table shows
 * the ratio). Run directly (`deno run -A bench/startup.bench.ts [N]`) it prints medians and the
 * ratio of N interleaved runs each (default 15).
 *
 * @module
 */

import { fileURLToPath } from "node:url";

const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const config = fileURLToPath(new URL("../deno.json", import.meta.url));
const empty = await Deno.makeTempFile({ prefix: "bitload-empty-", suffix: ".ts" });
const PERMS = ["--allow-read", "--allow-write", "--allow-env", "--allow-ffi", "--allow-run"];

const CASES = {
  "deno run empty.ts": ["run", "--no-config", empty],
  "bitload --help": ["run", ...PERMS, "--config", config, main, "--help"],
  "bitload inspect --help": ["run", ...PERMS, "--config", config, main, "inspect", "--help"],
} as const;

async function spawn(args: readonly string[]): Promise<void> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [...args],
    stdout: "null",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).output();
  if (r.code !== 0) throw new Error(`deno ${args.join(" ")} exited ${r.code}`);
}

for (const [name, args] of Object.entries(CASES)) {
  Deno.bench({
    name,
    group: "startup",
    baseline: name === "deno run empty.ts",
    n: 10,
    warmup: 2,
    fn: () => spawn(args),
  });
}

if (import.meta.main) {
  const n = Number(Deno.args[0] ?? 15);
  const times: Record<string, number[]> = {};
  for (const name of Object.keys(CASES)) times[name] = [];
  for (const args of Object.values(CASES)) await spawn(args); // warm the module cache
  for (let i = 0; i < n; i++) {
    for (const [name, args] of Object.entries(CASES)) {
      const t = performance.now();
      await spawn(args);
      times[name].push(performance.now() - t);
    }
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
  const base = median(times["deno run empty.ts"]);
  for (const [name, v] of Object.entries(times)) {
    const s = [...v].sort((a, b) => a - b);
    console.log(
      `${name.padEnd(24)} median ${median(v).toFixed(1)} ms (min ${s[0].toFixed(1)}, max ${
        s.at(-1)!.toFixed(1)
      }), ${(median(v) / base).toFixed(2)}× the empty script`,
    );
  }
  await Deno.remove(empty);
}

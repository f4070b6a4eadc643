/**
 * The prebuilt reference engines in `../shared/oracles/` (see each folder's README): bitnet.cpp
 * (microsoft/BitNet c82b5e6 with its llama.cpp fork: `bitnet_logits`, `llama-quantize` writing
 * I2_S) and ik_llama.cpp (`ik_logits`, `llama-quantize` writing IQ2_BN / IQ2_BN_R4). Tests that
 * need one skip with {@link oracleSkipReason} when its folder is absent (a user's clone); CI has
 * `../shared`. `$BITLOAD_ORACLES` points elsewhere.
 *
 * Both logits drivers take `MODEL THREADS N_GEN IDS OUT.bin`: the ids run as one batch with logits
 * for every position (teacher forcing), then N_GEN greedy tokens one `llama_decode` at a time;
 * OUT.bin holds int32 rows, int32 vocab and rows × vocab f32 (one row per prompt position, then
 * one per decode step), stdout one line `{"prompt":[...],"generated":[...]}`.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeLogits, type LogitsTable } from "../../src/infer/logits.ts";

/** The reference engines. */
export type Oracle = "bitnet.cpp" | "ik_llama";

/** Folder of the oracles: `$BITLOAD_ORACLES`, else `../shared/oracles` beside the repository. */
export function oraclesDir(): string {
  return Deno.env.get("BITLOAD_ORACLES") ??
    fileURLToPath(new URL("../../../shared/oracles", import.meta.url));
}

const TOOLS: Record<Oracle, { logits: string; quantize: string }> = {
  "bitnet.cpp": {
    logits: "bitnet.cpp/bin/bitnet_logits",
    quantize: "bitnet.cpp/bin/llama-quantize",
  },
  ik_llama: { logits: "ik_llama/ik_logits", quantize: "ik_llama/llama-quantize" },
};

/** Why `oracle` cannot run here, or `null` when it can. */
export function oracleSkipReason(oracle: Oracle): string | null {
  const path = join(oraclesDir(), TOOLS[oracle].logits);
  if (!existsSync(path)) return `the ${oracle} oracle is absent (no ${path})`;
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    return `the ${oracle} oracle is a Linux x86-64 build`;
  }
  return null;
}

/** Output of a logits driver. */
export interface OracleRun {
  /** Prompt rows, then one row per decode step after the first generated token. */
  logits: LogitsTable;
  /** The prompt's logits only (the first `ids.length` rows). */
  prompt: LogitsTable;
  /** The greedy tokens (lowest id on ties). */
  generated: number[];
}

async function run(command: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(command, {
    args,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(`${command} exited with ${out.code}: ${stderr}`);
  }
  return stdout;
}

/**
 * Runs `oracle`'s logits driver on `model` (teacher-forced `ids`, then `nGen` greedy tokens).
 * bitnet.cpp takes `--kv-k f16|f32` (`kvK`); ik_llama.cpp reads `env` (IK_FA, IK_KV, IK_RTR).
 */
export async function oracleLogits(
  oracle: Oracle,
  model: string,
  ids: readonly number[],
  options: { threads?: number; nGen?: number; kvK?: "f16" | "f32"; env?: Record<string, string> } =
    {},
): Promise<OracleRun> {
  const dir = await Deno.makeTempDir({ prefix: "bitload-oracle-" });
  try {
    const bin = join(dir, "logits.bin");
    const args = [
      model,
      String(options.threads ?? 1),
      String(options.nGen ?? 1),
      ids.join(","),
      bin,
    ];
    if (oracle === "bitnet.cpp") args.push("--quiet", "--kv-k", options.kvK ?? "f16");
    const stdout = await run(join(oraclesDir(), TOOLS[oracle].logits), args, options.env);
    const line = stdout.trim().split("\n").filter((l) => l.startsWith("{")).at(-1) ?? "{}";
    const generated = (JSON.parse(line) as { generated?: number[] }).generated ?? [];
    const logits = decodeLogits(await Deno.readFile(bin));
    const prompt = {
      rows: ids.length,
      vocab: logits.vocab,
      data: logits.data.slice(0, ids.length * logits.vocab),
    };
    return { logits, prompt, generated };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * `oracle`'s `llama-quantize IN OUT TYPE THREADS` (with `--token-embedding-type f16`; ik also
 * `--allow-requantize --output-tensor-type f16`). Use 1 thread for the fork's I2_S (its
 * multi-chunk I2_S writes wrong bytes, see its README).
 */
export async function oracleQuantize(
  oracle: Oracle,
  input: string,
  output: string,
  type: string,
  threads = 1,
): Promise<void> {
  const flags = oracle === "ik_llama"
    ? ["--allow-requantize", "--token-embedding-type", "f16", "--output-tensor-type", "f16"]
    : ["--token-embedding-type", "f16"];
  await run(join(oraclesDir(), TOOLS[oracle].quantize), [
    ...flags,
    input,
    output,
    type,
    String(threads),
  ]);
}

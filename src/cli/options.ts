/**
 * One option layer for every command: llama.cpp's flag names where they mean the same thing
 * (`-m`, `-p`, `-n`, `-t`, `-c`, `-b`, `-ngl`, `-ts`, …), negative numbers read as values (so
 * `--threads -3` is reported as a bad number, not as a missing argument), and every parse error
 * as one `bitload COMMAND: …` usage line (exit 2).
 *
 * @module
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { UsageError } from "./output.ts";

/**
 * llama.cpp's flags that bitload understands, in parseArgs form. A command spreads the ones it
 * takes into its own option table (`{...pick("model", "threads"), json: …}`).
 */
export const LLAMA_FLAGS = {
  model: { type: "string", short: "m" },
  prompt: { type: "string", short: "p" },
  file: { type: "string", short: "f" },
  "n-predict": { type: "string", short: "n" },
  threads: { type: "string", short: "t" },
  "ctx-size": { type: "string", short: "c" },
  "batch-size": { type: "string", short: "b" },
  "n-gpu-layers": { type: "string" },
  "tensor-split": { type: "string" },
  temp: { type: "string" },
  "top-k": { type: "string" },
  "top-p": { type: "string" },
  seed: { type: "string" },
  mlock: { type: "boolean" },
  "no-mmap": { type: "boolean" },
  "check-tensors": { type: "boolean" },
} as const;

/** The name of one of {@link LLAMA_FLAGS}. */
export type LlamaFlag = keyof typeof LLAMA_FLAGS;

/**
 * The subset of {@link LLAMA_FLAGS} named by `names`, for a command's option table.
 *
 * @example
 * ```ts
 * import { pick } from "./options.ts";
 * pick("model", "threads"); // { model: {type: "string", short: "m"}, threads: {…} }
 * ```
 */
export function pick<K extends LlamaFlag>(...names: K[]): Pick<typeof LLAMA_FLAGS, K> {
  const o = {} as Pick<typeof LLAMA_FLAGS, K>;
  for (const n of names) o[n] = LLAMA_FLAGS[n];
  return o;
}

/** `--full`: tables show every cell whole instead of fitting 100 columns. */
export const FULL_FLAG = { full: { type: "boolean" } } as const;

/** The options every command has: `--help` and `--json`. */
export const COMMON_FLAGS = {
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * llama.cpp's multi-letter short flags (parseArgs reads `-ngl` as `-n gl`) and bitload's older
 * long names, rewritten to the long names before parsing.
 */
const ALIASES: Readonly<Record<string, string>> = {
  "-ngl": "--n-gpu-layers",
  "--gpu-layers": "--n-gpu-layers",
  "-ts": "--tensor-split",
  "--ctx": "--ctx-size",
  "--batch": "--batch-size",
  "-np": "--parallel",
};

/** Whether `token` names an option of `options` (long, `--x=…`, short, or an alias). */
function isOption(token: string, options: ParseArgsOptionsConfig): boolean {
  if (ALIASES[token.split("=")[0]]) return true;
  if (token.startsWith("--")) return token.slice(2).split("=")[0] in options;
  if (token.length === 2 && token[0] === "-") {
    return Object.values(options).some((o) => o.short === token[1]);
  }
  return false;
}

/** The long name of a string option `token` (`--threads` or `-t`), else `undefined`. */
function stringOptionName(token: string, options: ParseArgsOptionsConfig): string | undefined {
  if (token.startsWith("--") && !token.includes("=")) {
    const name = token.slice(2);
    return options[name]?.type === "string" ? name : undefined;
  }
  if (token.length === 2 && token[0] === "-" && token[1] !== "-") {
    const hit = Object.entries(options).find(([, o]) => o.short === token[1]);
    return hit && hit[1].type === "string" ? hit[0] : undefined;
  }
  return undefined;
}

/**
 * Rewrites `args` for parseArgs: aliases to long names, and a string option followed by a value
 * that starts with `-` but is no option (`--threads -3`, `-p "-x"`) joined as `--threads=-3`.
 *
 * @example
 * ```ts
 * import { LLAMA_FLAGS, normalizeArgs } from "./options.ts";
 * normalizeArgs(["-ngl", "0", "-t", "-3"], LLAMA_FLAGS); // ["--n-gpu-layers", "0", "--threads=-3"]
 * ```
 */
export function normalizeArgs(args: readonly string[], options: ParseArgsOptionsConfig): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    let a = args[i];
    if (a === "--") {
      out.push(...args.slice(i));
      break;
    }
    const [head, ...rest] = a.split("=");
    if (ALIASES[head] && ALIASES[head].slice(2) in options) {
      a = [ALIASES[head], ...rest].join("=");
    }
    const name = stringOptionName(a, options);
    const next = args[i + 1];
    if (
      name !== undefined && next !== undefined && next.startsWith("-") && next !== "--" &&
      !isOption(next, options)
    ) {
      out.push(`--${name}=${next}`);
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/**
 * Parses a command's arguments with parseArgs (strict, positionals allowed) after
 * {@link normalizeArgs}; any parse error becomes a {@link UsageError} of that command:
 * `bitload run: unknown option '-x' (see bitload run --help)`.
 *
 * @example
 * ```ts
 * import { COMMON_FLAGS, parseCommand, pick } from "./options.ts";
 * const { values } = parseCommand("run", ["-t", "4"], { ...pick("threads"), ...COMMON_FLAGS });
 * values.threads; // "4"
 * ```
 */
export function parseCommand<O extends ParseArgsOptionsConfig>(
  command: string,
  args: readonly string[],
  options: O,
): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true }>> {
  for (const a of args) {
    if (a === "--") break;
    const head = a.split("=")[0];
    // A multi-letter short flag this command lacks: parseArgs would read -ngl as -n gl.
    if (/^-[a-z]{2,}$/.test(head) && ALIASES[head] && !(ALIASES[head].slice(2) in options)) {
      throw new UsageError(`unknown option '${head}' (see bitload ${command} --help)`, { command });
    }
  }
  try {
    return parseArgs({
      args: normalizeArgs(args, options),
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw parseError(command, error);
  }
}

function parseError(command: string, error: unknown): unknown {
  const code = (error as { code?: string }).code ?? "";
  if (!(error instanceof TypeError) || !code.startsWith("ERR_PARSE_ARGS")) return error;
  const see = `(see bitload ${command} --help)`;
  const quoted = /'([^']+)'/.exec(error.message)?.[1] ?? "";
  const flag = quoted.split(/[ ,]+/).find((s) => s.startsWith("--")) ?? quoted.split(" ")[0];
  let message: string;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") message = `unknown option '${quoted}' ${see}`;
  else if (/argument missing/.test(error.message)) {
    message = `option '${flag}' needs a value ${see}`;
  } else if (/does not take an argument/.test(error.message)) {
    message = `option '${flag}' takes no value ${see}`;
  } else message = `${error.message.split("\n")[0]} ${see}`;
  return new UsageError(message, { command });
}

/** How a rejected value is shown: bare when it is one plain word, else quoted. */
function shown(text: string): string {
  return /^\S+$/.test(text) ? text : JSON.stringify(text);
}

/**
 * Parses an integer option: `undefined` when it was not given, else a safe integer ≥ `min`; any
 * other text is a {@link UsageError} naming the flag and what was given
 * (`--threads must be a positive integer, got -3`).
 *
 * @example
 * ```ts
 * import { integerOption } from "./options.ts";
 * integerOption("threads", "4", 1); // 4
 * integerOption("threads", undefined, 1); // undefined
 * ```
 */
export function integerOption(
  name: string,
  text: string | undefined,
  min: 0 | 1,
): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(v) || v < min) {
    const kind = min === 1 ? "a positive integer" : "a non-negative integer";
    throw new UsageError(`--${name} must be ${kind}, got ${shown(text)}`);
  }
  return v;
}

/**
 * Parses a finite number option within `[min, max]`; `undefined` when not given.
 *
 * @example
 * ```ts
 * import { numberOption } from "./options.ts";
 * numberOption("temp", "0.8", { min: 0 }); // 0.8
 * ```
 */
export function numberOption(
  name: string,
  text: string | undefined,
  range: { min?: number; max?: number } = {},
): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  const { min = -Infinity, max = Infinity } = range;
  if (text.trim() === "" || !Number.isFinite(v) || v < min || v > max) {
    const bounds = min === 0 && max === Infinity
      ? "a non-negative number"
      : min === -Infinity && max === Infinity
      ? "a finite number"
      : `a number from ${min} to ${max}`;
    throw new UsageError(`--${name} must be ${bounds}, got ${shown(text)}`);
  }
  return v;
}

/**
 * The most threads a command will start: the hardware threads. More only oversubscribes the
 * cores (each kernel thread is busy all the time), so a larger `--threads` is clamped.
 */
export function maxThreads(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

/**
 * Parses `--threads N` (a positive integer), clamped to {@link maxThreads} with a notice on
 * stderr; `undefined` when not given.
 *
 * @example
 * ```ts
 * import { threadsOption } from "./options.ts";
 * threadsOption("1"); // 1
 * ```
 */
export function threadsOption(
  text: string | undefined,
  notice: (line: string) => void = console.error,
): number | undefined {
  const n = integerOption("threads", text, 1);
  if (n === undefined) return undefined;
  const max = maxThreads();
  if (n > max) {
    notice(`bitload: --threads ${n} is more than the ${max} hardware threads here; using ${max}`);
    return max;
  }
  return n;
}

/** The KV cache element types bitload's engine runs (and so `plan` and `run` both accept). */
export const ENGINE_KV_TYPES = ["f32", "f16"] as const;

/** A KV cache element type the engine runs. */
export type EngineKvType = typeof ENGINE_KV_TYPES[number];

/** The quantized KV cache types only llama.cpp runs (`plan --emit llama.cpp` may plan them). */
export const LLAMA_CPP_KV_TYPES = ["q8_0", "q4_0"] as const;

/**
 * Parses `--kv-type`, the same set for `plan` and `run`: f32 or f16. The quantized types are
 * refused with one message everywhere, except where `llamaCpp` is set (a plan for llama.cpp).
 *
 * @example
 * ```ts
 * import { kvTypeOption } from "./options.ts";
 * kvTypeOption("f16", "f32"); // "f16"
 * kvTypeOption(undefined, "f32"); // "f32"
 * ```
 */
export function kvTypeOption(text: string | undefined, fallback: EngineKvType): EngineKvType;
/** With `llamaCpp: true`, q8_0 and q4_0 are accepted too (a plan for llama.cpp). */
export function kvTypeOption(
  text: string | undefined,
  fallback: EngineKvType,
  options: { llamaCpp: boolean },
): EngineKvType | "q8_0" | "q4_0";
export function kvTypeOption(
  text: string | undefined,
  fallback: EngineKvType,
  options: { llamaCpp?: boolean } = {},
): EngineKvType | "q8_0" | "q4_0" {
  if (text === undefined) return fallback;
  if ((ENGINE_KV_TYPES as readonly string[]).includes(text)) return text as EngineKvType;
  if ((LLAMA_CPP_KV_TYPES as readonly string[]).includes(text)) {
    if (options.llamaCpp) return text as "q8_0" | "q4_0";
    throw new UsageError(
      `--kv-type ${text} is not supported by bitload's engine (f32 or f16); ` +
        `plan it for llama.cpp with plan --emit llama.cpp`,
    );
  }
  throw new UsageError(`--kv-type must be f32 or f16, got ${shown(text)}`);
}

/**
 * The model file of a command: `-m/--model`, else the first positional, else `$BITNET_GGUF` when
 * `env` is given. A usage error when none (or two different ones) are given.
 *
 * @example
 * ```ts
 * import { modelArgument } from "./options.ts";
 * modelArgument("inspect", { model: "a.gguf" }, []); // { file: "a.gguf", rest: [] }
 * modelArgument("inspect", {}, ["b.gguf"]); // { file: "b.gguf", rest: [] }
 * ```
 */
export function modelArgument(
  command: string,
  values: { model?: string },
  positionals: readonly string[],
  fallback?: string,
): { file: string; rest: string[] } {
  if (values.model !== undefined) return { file: values.model, rest: [...positionals] };
  const [first, ...rest] = positionals;
  const file = first ?? fallback;
  if (!file) {
    throw new UsageError(`needs a model FILE or -m FILE (see bitload ${command} --help)`, {
      command,
    });
  }
  return { file, rest };
}

/**
 * A usage error for positional arguments a command does not take.
 *
 * @example
 * ```ts
 * import { noMorePositionals } from "./options.ts";
 * noMorePositionals("inspect", []); // ok
 * ```
 */
export function noMorePositionals(command: string, rest: readonly string[]): void {
  if (rest.length > 0) {
    throw new UsageError(`unexpected argument '${rest[0]}' (see bitload ${command} --help)`, {
      command,
    });
  }
}

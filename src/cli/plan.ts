/**
 * `bitload plan FILE`: where each tensor, the KV cache and the compute buffers would go on
 * this machine's (or simulated) devices, before any tensor data is read.
 *
 * @module
 */

import type { Device } from "../plan/devices.ts";
import { PlanError } from "../plan/errors.ts";
import { llamaCppArgs } from "../plan/emit_llamacpp.ts";
import { type Sweep, sweepPlacement } from "../plan/sweep.ts";
import { HEADER_FLAG, remoteSource } from "./remote.ts";
import {
  type PlacementPlan,
  type PlanOptions,
  STRATEGIES,
  type Strategy,
  type TensorOverride,
} from "../plan/strategies.ts";
import { bold, cyan, dim, formatBytes, table, UsageError, wrap, yellow } from "./output.ts";
import {
  COMMON_FLAGS,
  FULL_FLAG,
  integerOption,
  kvTypeOption,
  modelArgument,
  noMorePositionals,
  numberOption,
  parseCommand,
  pick,
} from "./options.ts";

/** Help text of `bitload plan`. */
export const PLAN_HELP = `Usage: bitload plan FILE [options]

Plans where every tensor, the KV cache and the compute buffers go — CPU, CUDA GPUs, llama.cpp
RPC servers — from the model header alone, and prints per device: weights, KV cache, scratch,
overhead, safety margin and what stays free. Nothing is loaded.

Options:
  --devices SPEC|FILE.json  devices to plan for (default: this machine). SPEC is e.g.
                            "cpu:32GiB,cuda0:24GiB,cuda1:8GiB,rpc:HOST:PORT:16GiB";
                            NAME:FREE/TOTAL sets free and total apart. The JSON file is a list
                            of {name, kind: cpu|cuda|rpc, totalBytes, freeBytes, bandwidth?, host?}.
                            A spec without cpu gets this machine's CPU.
  -m, --model FILE          the model (instead of the positional FILE)
  -c, --ctx-size N          context length (default: the model's, at most 4096; also --ctx)
  --kv-type TYPE            KV cache type: f16 (default) or f32, the set bitload run takes;
                            q8_0 and q4_0 only with --emit llama.cpp (llama.cpp runs them)
  --strategy S              auto (default), cpu, gpu, hybrid, split
  --override REGEX=DEVICE   pin tensors whose name matches REGEX to DEVICE (repeatable, like
                            llama.cpp -ot; first match wins)
  -ts, --tensor-split A,B,… split ratio across accelerators (like llama.cpp)
  -ngl, --n-gpu-layers N    hybrid: offload exactly N layers (also --gpu-layers)
  -b, --batch-size N        micro-batch for the scratch estimate (default 512; also --batch)
  --flash-attn              assume flash attention (no KQ buffer)
  --overhead F              parsing/loading overhead, fraction of weights (default 0.10)
  --safety F                safety margin, fraction of what is needed (default 0.15)
  --json                    print the plan as JSON
  --emit llama.cpp          also print the equivalent llama.cpp flags
  --sweep                   a fit table instead: every context size (512, 1024, … up to the
                            training context, and -c N) × offloaded layers (0, ¼, ½, ¾, all,
                            all + output), reserved bytes per device; --json for the cells
  --header 'K: V'           a request header when FILE is a URL or hf:// (repeatable)
  --full                    never cut a table cell with … (default: fit 100 columns)
  -h, --help                show this help

Exit codes: 0 the plan fits, 1 it does not fit or was refused (the numbers are printed),
2 usage error.`;

function parseNumber(name: string, text: string | undefined, integer: boolean): number | undefined {
  return integer ? integerOption(name, text, 0) : numberOption(name, text, { min: 0 });
}

/**
 * Parses `REGEX=DEVICE` (split at the last `=`, so the regex may contain `=`).
 *
 * @example
 * ```ts
 * import { parseOverride } from "./plan.ts";
 * parseOverride("ffn_.*=cpu"); // { pattern: "ffn_.*", device: "cpu" }
 * ```
 */
export function parseOverride(text: string): TensorOverride {
  const at = text.lastIndexOf("=");
  if (at <= 0 || at === text.length - 1) {
    throw new UsageError(`--override must be REGEX=DEVICE, got "${text}"`);
  }
  const pattern = text.slice(0, at);
  try {
    new RegExp(pattern);
  } catch (e) {
    throw new UsageError(
      `--override "${text}": invalid regular expression: ${(e as Error).message}`,
    );
  }
  return { pattern, device: text.slice(at + 1) };
}

async function resolveDevices(spec: string | undefined): Promise<Device[]> {
  // the device inventory (and the CUDA probe) is imported past --help (start-up time)
  const { detectDevices, loadDevices } = await import("../plan/devices.ts");
  if (spec === undefined) return detectDevices();
  let devices: Device[];
  try {
    devices = await loadDevices(spec);
  } catch (e) {
    if (e instanceof PlanError && e.code !== "NO_MEMINFO") throw new UsageError(e.message);
    throw e;
  }
  if (!devices.some((d) => d.kind === "cpu")) {
    devices = [...detectDevices({ cuda: false }), ...devices];
  }
  return devices;
}

/**
 * Runs `plan` with its arguments; returns the exit code (0 fits, 1 does not fit or refused).
 * Throws {@link UsageError} for bad flags.
 *
 * @example
 * ```ts ignore
 * import { runPlan } from "./plan.ts";
 * const code = await runPlan(["model.gguf", "--devices", "cpu:16GiB,cuda0:8GiB"], console.log);
 * ```
 */
export async function runPlan(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("plan", args, {
    ...pick("model", "ctx-size", "batch-size", "n-gpu-layers", "tensor-split"),
    devices: { type: "string" },
    "kv-type": { type: "string" },
    strategy: { type: "string" },
    override: { type: "string", multiple: true },
    "flash-attn": { type: "boolean" },
    overhead: { type: "string" },
    safety: { type: "string" },
    emit: { type: "string" },
    sweep: { type: "boolean" },
    ...HEADER_FLAG,
    ...FULL_FLAG,
    ...COMMON_FLAGS,
  });
  if (values.help) {
    out(PLAN_HELP);
    return 0;
  }
  const { file, rest } = modelArgument("plan", values, positionals);
  noMorePositionals("plan", rest);
  const kvType = kvTypeOption(values["kv-type"], "f16", { llamaCpp: values.emit === "llama.cpp" });
  const strategy = values.strategy ?? "auto";
  if (!STRATEGIES.includes(strategy as Strategy)) {
    throw new UsageError(`--strategy must be one of ${STRATEGIES.join(", ")}, got "${strategy}"`);
  }
  if (values.emit !== undefined && values.emit !== "llama.cpp") {
    throw new UsageError(`--emit supports only "llama.cpp", got "${values.emit}"`);
  }
  const ctx = parseNumber("ctx-size", values["ctx-size"], true);
  if (ctx === 0) throw new UsageError("--ctx-size must be at least 1");
  const batch = parseNumber("batch-size", values["batch-size"], true);
  if (batch === 0) throw new UsageError("--batch-size must be at least 1");
  const split = values["tensor-split"]?.split(/[,/]/).map((s) =>
    parseNumber("tensor-split", s, false)!
  );
  const options: PlanOptions = {
    strategy: strategy as Strategy,
    ctx,
    kvType,
    batch,
    flashAttention: values["flash-attn"] === true,
    overrides: (values.override ?? []).map(parseOverride),
    tensorSplit: split,
    gpuLayers: parseNumber("n-gpu-layers", values["n-gpu-layers"], true),
    overhead: parseNumber("overhead", values.overhead, false),
    safety: parseNumber("safety", values.safety, false),
  };
  const devices = await resolveDevices(values.devices);
  const { source, http } = await remoteSource(file, values.header);
  const { openGguf } = await import("../pipeline/open.ts");
  // A local header parses faster with the kernel library open (its string scan), when a build is
  // already cached: nothing is built or printed for it.
  if (http === undefined) (await import("../../ffi/native.ts")).openCachedNativeLibrary();
  await using model = await openGguf(source, { http });
  if (values.sweep) {
    if (options.gpuLayers !== undefined || values.strategy !== undefined) {
      throw new UsageError("--sweep tries every layer count: drop -ngl and --strategy", {
        command: "plan",
      });
    }
    const { gpuLayers: _n, strategy: _s, ctx: _c, ...rest } = options;
    const sweep = sweepPlacement(model, devices, {
      ...rest,
      extraCtx: ctx === undefined ? [] : [ctx],
    });
    if (values.json) {
      out(JSON.stringify({ file, kvType, ...sweep }));
    } else out(renderSweep(file, sweep, kvType, values.full));
    return sweep.cells.some((c) => c.fits) ? 0 : 1;
  }
  let plan: PlacementPlan;
  try {
    plan = model.plan({ ...options, devices });
  } catch (e) {
    if (e instanceof PlanError) throw new UsageError(e.message);
    throw e;
  }
  const emitted = values.emit ? llamaCppArgs(plan, { model: file, devices }) : undefined;
  if (values.json) {
    out(JSON.stringify(emitted ? { ...plan, llamaCpp: emitted } : plan));
  } else {
    out(renderPlan(plan, { file, devices, full: values.full }));
    if (emitted) {
      out("\n" + bold("llama.cpp"));
      out("  " + emitted.command);
      for (const n of emitted.notes) out(dim("  note: " + n));
    }
  }
  return plan.status === "ok" ? 0 : 1;
}

/**
 * A sweep as a table: one row per context size and offloaded layer count, the bytes each device
 * reserves, and whether it fits (or by how much it falls short).
 *
 * @example
 * ```ts ignore
 * import { renderSweep } from "./plan.ts";
 * console.log(renderSweep("model.gguf", sweepPlacement(model, devices), "f16"));
 * ```
 */
export function renderSweep(file: string, s: Sweep, kvType: string, full?: boolean): string {
  const lines = [
    bold("plan --sweep") + ` ${file}` +
    dim(
      ` — trained context ${s.trainedCtx ?? "unknown"}, KV ${kvType}, devices ${
        s.devices.join(", ")
      }`,
    ),
    "",
  ];
  const rows: string[][] = [["ctx", "-ngl", ...s.devices, "fits"]];
  for (const c of s.cells) {
    rows.push([
      String(c.ctx),
      String(c.gpuLayers),
      ...s.devices.map((d) => formatBytes(c.bytes[d] ?? 0)),
      c.fits ? "yes" : yellow(`no, short ${formatBytes(c.shortBy)}`),
    ]);
  }
  lines.push(
    table(rows, { width: 98, full }).split("\n")
      .map((l, i) => "  " + (i === 0 ? cyan(l) : l)).join("\n"),
  );
  const best = [...s.cells].reverse().find((c) => c.fits);
  lines.push(
    "",
    best
      ? `largest that fits: ctx ${best.ctx} with -ngl ${best.gpuLayers}`
      : yellow("nothing fits on these devices"),
  );
  if (s.trainedCtx !== null && s.ctxSizes.some((c) => c > s.trainedCtx!)) {
    lines.push(dim(`  contexts above ${s.trainedCtx} exceed what the model was trained on`));
  }
  return lines.join("\n");
}

function ranges(layers: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < layers.length; i++) {
    let j = i;
    while (j + 1 < layers.length && layers[j + 1] === layers[j] + 1) j++;
    out.push(i === j ? String(layers[i]) : `${layers[i]}-${layers[j]}`);
    i = j;
  }
  return out.join(",");
}

/** Options of {@link renderPlan}. */
export interface RenderPlanOptions {
  /** The model file, for the heading. */
  file?: string;
  /** The devices, to say where their numbers came from. */
  devices?: readonly Device[];
  /** Never cut a table cell (`--full`). */
  full?: boolean;
}

/**
 * A plan as a readable report: heading, one row per device (layers, weights, KV, scratch,
 * overhead, margin, free after, verdict), the steps taken, warnings and suggestions.
 *
 * @example
 * ```ts ignore
 * import { renderPlan } from "./plan.ts";
 * console.log(renderPlan(plan, { file: "model.gguf" }));
 * ```
 */
export function renderPlan(plan: PlacementPlan, options: RenderPlanOptions = {}): string {
  const lines: string[] = [];
  const m = plan.model;
  lines.push(
    bold("plan") + (options.file ? ` ${options.file}` : "") +
      dim(
        ` — ${
          m.architecture || "unknown architecture"
        }, ${m.layers} layers, ${m.tensorCount} tensors, ${formatBytes(m.weightBytes)} of weights`,
      ),
  );
  const strategy = plan.strategy === plan.resolved
    ? plan.strategy
    : `${plan.strategy} → ${plan.resolved}`;
  const ctxNote = plan.ctx < plan.requestedCtx ? ` (asked ${plan.requestedCtx})` : "";
  lines.push(
    `strategy ${strategy} · ctx ${plan.ctx}${ctxNote} · KV ${plan.kvType} ${
      formatBytes(plan.kv.totalBytes)
    } · -ngl ${plan.gpuLayers} · batch ${plan.batch} · margins ${
      Math.round(plan.margins.overhead * 100)
    } % overhead, ${Math.round(plan.margins.safety * 100)} % safety`,
  );
  const status = plan.status === "ok"
    ? "fits"
    : plan.status === "refused"
    ? yellow("refused")
    : yellow("does not fit");
  lines.push(`status   ${status}`);
  lines.push("");
  const rows: string[][] = [[
    "device",
    "layers",
    "weights",
    "KV",
    "scratch",
    "overhead",
    "margin",
    "reserved",
    "available",
    "free after",
    "fits",
  ]];
  for (const d of plan.devices) {
    const layerText = [d.layers.length ? ranges(d.layers) : "", d.output ? "out" : ""]
      .filter((s) => s !== "").join(",") || "-";
    rows.push([
      d.device,
      layerText,
      formatBytes(d.weights),
      formatBytes(d.kv),
      formatBytes(d.scratch),
      formatBytes(d.overhead),
      formatBytes(d.margin),
      formatBytes(d.reserved),
      formatBytes(d.available),
      formatBytes(d.freeAfter),
      d.fits ? "yes" : yellow("NO"),
    ]);
  }
  lines.push(
    table(rows, { width: 98, full: options.full }).split("\n")
      .map((l, i) => "  " + (i === 0 ? cyan(l) : l)).join("\n"),
  );
  for (const d of plan.devices) {
    if (!d.fits) lines.push(yellow(`  ${d.device}: no, short ${formatBytes(d.shortBy)}`));
  }
  const sources = (options.devices ?? []).filter((d) => d.source && d.source !== "spec");
  for (const d of sources) lines.push(dim(`  ${d.name}: ${d.source}`));
  lines.push("");
  lines.push(bold("steps"));
  plan.steps.forEach((s, i) => {
    lines.push(
      `  ${i + 1}. ${s.action} (ctx ${s.ctx}, -ngl ${s.gpuLayers}) ${s.fits ? "fits" : "✗"}`,
    );
    lines.push(dim(wrap(s.detail, 100, "     ")));
  });
  if (plan.refusal) lines.push("\n" + yellow("refused: ") + plan.refusal);
  if (plan.overrides.length > 0) {
    lines.push("\n" + bold("overrides"));
    for (const o of plan.overrides) {
      lines.push(`  ${o.pattern} → ${o.device}: ${o.matched} tensors`);
    }
  }
  if (plan.warnings.length > 0) {
    lines.push("\n" + bold("warnings"));
    for (const w of plan.warnings) lines.push(wrap(w, 100, "  - ", "    "));
  }
  if (plan.suggestions.length > 0) {
    lines.push("\n" + bold("mixed precision") + dim(" (suggested, not applied)"));
    for (const s of plan.suggestions.slice(0, 10)) {
      lines.push(
        `  ${s.name} on ${s.device}: ${s.from} → F16 (+${formatBytes(s.extraBytes)} with margins)`,
      );
    }
    if (plan.suggestions.length > 10) {
      lines.push(dim(`  … and ${plan.suggestions.length - 10} more`));
    }
  }
  return lines.join("\n");
}

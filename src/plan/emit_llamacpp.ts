/**
 * The llama.cpp command-line flags that reproduce a {@link PlacementPlan}, so users can run the
 * plan in the engine they already have: `-c`, `-ctk`/`-ctv`, `-ngl`, `--tensor-split`, `--rpc`,
 * `-ot` and `--fit off` (llama.cpp v0.5.0 `common/arg.cpp`; `--fit` is on by default and would
 * otherwise adjust the parameters left at their defaults).
 *
 * @module
 */

import type { PlacementPlan } from "./strategies.ts";
import { llamaCppLayerSplit } from "./strategies.ts";
import type { Device } from "./devices.ts";

/** Options of {@link llamaCppArgs}. */
export interface EmitOptions {
  /** Model path for `-m`. */
  model?: string;
  /** The devices the plan was made for (for RPC hosts). */
  devices?: readonly Device[];
}

/** The flags and the notes that explain them. */
export interface LlamaCppCommand {
  /** Arguments, unquoted. */
  args: string[];
  /** The command line, shell-quoted, starting with `llama-server`. */
  command: string;
  /** Caveats (BitNet types, KV placement, …). */
  notes: string[];
}

/**
 * llama.cpp buffer-type name of a device for `-ot` (`CPU`, `CUDA0`, `RPC0[host:port]`).
 *
 * @example
 * ```ts
 * import { bufferTypeName } from "./emit_llamacpp.ts";
 * bufferTypeName({ name: "cuda1", kind: "cuda" }); // "CUDA1"
 * bufferTypeName({ name: "rpc0", kind: "rpc", host: "10.0.0.2:50052" }); // "RPC0[10.0.0.2:50052]"
 * ```
 */
export function bufferTypeName(device: Pick<Device, "name" | "kind" | "host">): string {
  if (device.kind === "cpu") return "CPU";
  if (device.kind === "rpc") return `RPC0[${device.host ?? "HOST:PORT"}]`;
  const n = /(\d+)$/.exec(device.name)?.[1] ?? "0";
  return `CUDA${n}`;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * A compact anchored regex matching exactly `names`: `blk.N.` tensors grouped by suffix and
 * layer set (`^blk\.(3|4)\.(ffn_up|ffn_down)\.weight$`), others listed.
 *
 * @example
 * ```ts
 * import { namesRegex } from "./emit_llamacpp.ts";
 * namesRegex(["blk.3.ffn_up.weight", "blk.4.ffn_up.weight"]); // "^blk\\.(3|4)\\.ffn_up\\.weight$"
 * ```
 */
export function namesRegex(names: readonly string[]): string {
  const bySuffix = new Map<string, number[]>();
  const plain: string[] = [];
  for (const n of names) {
    const m = /^blk\.(\d+)\.(.+)$/.exec(n);
    if (!m) {
      plain.push(n);
      continue;
    }
    const list = bySuffix.get(m[2]) ?? [];
    list.push(Number(m[1]));
    bySuffix.set(m[2], list);
  }
  const byLayers = new Map<string, string[]>();
  for (const [suffix, layers] of bySuffix) {
    const key = [...new Set(layers)].sort((a, b) => a - b).join("|");
    const list = byLayers.get(key) ?? [];
    list.push(suffix);
    byLayers.set(key, list);
  }
  const parts: string[] = plain.map(escapeRegex);
  for (const [layers, suffixes] of byLayers) {
    const l = layers.includes("|") ? `(${layers})` : layers;
    const s = suffixes.length > 1
      ? `(${suffixes.map(escapeRegex).join("|")})`
      : escapeRegex(suffixes[0]);
    parts.push(`blk\\.${l}\\.${s}`);
  }
  return parts.length === 1 ? `^${parts[0]}$` : `^(${parts.join("|")})$`;
}

function quote(arg: string): string {
  return /^[A-Za-z0-9_.,:/=@+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * The llama.cpp flags for a plan.
 *
 * @example
 * ```ts ignore
 * import { llamaCppArgs } from "./emit_llamacpp.ts";
 * llamaCppArgs(plan, { model: "model.gguf" }).command;
 * // "llama-server -m model.gguf -c 4096 -ctk f16 -ctv f16 -ngl 31 --fit off -fa off"
 * ```
 */
export function llamaCppArgs(plan: PlacementPlan, options: EmitOptions = {}): LlamaCppCommand {
  const args: string[] = [];
  const notes: string[] = [];
  if (options.model) args.push("-m", options.model);
  args.push("-c", String(plan.ctx), "-ctk", plan.kvType, "-ctv", plan.kvType);
  if (plan.batch !== 512) args.push("-ub", String(plan.batch));
  const accel = plan.devices.filter((d) => d.kind !== "cpu");
  const layers = plan.model.layers;
  if (plan.resolved === "gpu") {
    // Every layer's home on the accelerators (KV and compute there), tensors left on the CPU
    // pinned back with -ot: llama.cpp's "-ngl all -ot …=CPU" recipe.
    args.push("-ngl", String(layers + 1));
  } else {
    args.push("-ngl", String(plan.gpuLayers));
  }
  const counts = plan.layerSplit.map((s) => s.layers);
  if (accel.length > 1 && plan.gpuLayers > 0) {
    args.push("--tensor-split", counts.join(","));
    const check = llamaCppLayerSplit(plan.gpuLayers, counts);
    if (check.join(",") !== counts.join(",")) {
      notes.push(
        `llama.cpp would split ${plan.gpuLayers} layers as ${check.join(",")} for this ratio`,
      );
    }
  }
  const rpc = accel.filter((d) => d.kind === "rpc");
  if (rpc.length > 0) {
    const hosts = rpc.map((d) =>
      options.devices?.find((x) => x.name === d.device)?.host ?? "HOST:PORT"
    );
    args.push("--rpc", hosts.join(","));
    notes.push(
      "llama.cpp's RPC backend is a proof of concept and insecure: never expose it on an open network",
    );
  }
  const deviceOf = (name: string) => {
    const d = options.devices?.find((x) => x.name === name);
    const kind = plan.devices.find((x) => x.device === name)?.kind ?? "cpu";
    return bufferTypeName({ name, kind, host: d?.host });
  };
  for (const ov of plan.overrides) {
    if (ov.matched > 0) args.push("-ot", `${ov.pattern}=${deviceOf(ov.device)}`);
  }
  if (plan.resolved === "gpu") {
    const cpu = plan.devices.find((d) => d.kind === "cpu")?.device;
    const back = plan.tensors.filter((t) =>
      t.device === cpu && !t.pinned && (t.role === "layer" || t.role === "output")
    ).map((t) => t.name);
    if (back.length > 0) args.push("-ot", `${namesRegex(back)}=CPU`);
    notes.push("KV cache follows -ngl in llama.cpp: every layer's K/V is on the accelerators");
  }
  args.push("--fit", "off", "-fa", plan.flashAttention ? "on" : "off");
  if (plan.tensors.some((t) => t.type === "I2_S" || t.type === "TL1" || t.type === "TL2")) {
    notes.push(
      "I2_S/TL1/TL2 need microsoft/BitNet's llama.cpp fork (mainline refuses type 36, " +
        "ggml-org/llama.cpp#17105); its ternary kernels are CPU only",
    );
  }
  if (plan.status !== "ok") notes.push(`The plan's status is "${plan.status}": it may not load`);
  return { args, command: ["llama-server", ...args].map(quote).join(" "), notes };
}

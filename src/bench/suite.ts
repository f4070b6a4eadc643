/**
 * The measurements behind `bitload bench`: metadata parse (vs @huggingface/gguf), dequantization
 * per type (scalar, best SIMD and 2 threads vs ggml's `to_float`), I2_S, and loading (mmap, read
 * path, plain read, `Deno.readFile`). Each peer runs in the same process and run; every figure
 * carries the seed's target where one exists. Inputs are generated deterministically; `small`
 * keeps the whole suite around a minute, `full` uses 1 GiB models and 64 MiB dequant buffers.
 *
 * Peers are injected ({@link BenchPeers}): the suite imports none of them and never looks into a
 * repository. `bitload bench` passes what an installed bitload can find
 * (`src/bench/peers.ts`); the repository's `bench/suite.ts` adds the test oracles (libllama, the
 * reference vocabulary). A missing peer makes its comparison "not run", with the reason.
 *
 * @module
 */

import { join } from "node:path";
import { nativeKernels, type SimdLevel, supportedSimdLevels } from "../../ffi/native.ts";
import { GgufStringArray } from "../gguf/string_array.ts";
import { readGguf } from "../gguf/reader.ts";
import { ggmlTypeByName, tensorByteSize } from "../gguf/types.ts";
import { kv, writeGguf } from "../gguf/writer.ts";
import { cString, LINUX, openLibc } from "../../ffi/libc.ts";
import { loadModel } from "../load/loader.ts";
import { mapFile } from "../load/mapping.ts";
import { openModelFile } from "../load/open.ts";
import type { MemoryReport } from "../load/memory_report.ts";
import { packI2S } from "../quant/i2s_pack.ts";
import { encodeTl } from "../quant/tl.ts";
import { resolveTlConfig } from "../quant/tl_config.ts";
import { seededRandom } from "../common/random.ts";
import { buildBpeVocab, writeVocabShapedGguf } from "../synth/bpe_vocab.ts";
import { GgufValueType } from "../gguf/value_types.ts";
import type { GgmlReferenceLibrary } from "../validate/ggml_reference.ts";
import { parseDeviceSpec } from "../plan/devices.ts";
import { bitnetShapes, headerOnlyModel, llama70bShapes } from "../plan/shapes.ts";
import { planPlacement } from "../plan/strategies.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { MachineInfo } from "./machine.ts";
import { measure, type TimingStats } from "./measure.ts";
import { meetsTarget, type Metric } from "./report.ts";
import { decodeBench } from "./decode_bench.ts";

/** Input sizes. */
export type BenchSize = "small" | "full";

/** A GGUF metadata parser to compare with (e.g. `@huggingface/gguf`). */
export interface GgufParserPeer {
  /** Its name in the report. */
  name: string;
  /** Parses the metadata of the file at `path`. */
  parse(path: string): Promise<unknown>;
}

/** A tokenizer to compare with (e.g. libllama's `llama_tokenize`). */
export interface TokenizerPeer {
  /** Its name in the report. */
  name: string;
  /** Loads the vocabulary of a GGUF file; the result tokenizes text without special tokens. */
  load(vocabPath: string): { tokenize(text: string): unknown };
}

/**
 * The peers and reference inputs a run compares against. Every field is optional; the caller
 * owns what it passes (the suite closes nothing).
 */
export interface BenchPeers {
  /** A metadata parser for the parse comparison. */
  ggufParser?: GgufParserPeer;
  /** ggml's quantizers and `to_float` (an opened `libggml-base.so`) for the dequant comparison. */
  ggml?: GgmlReferenceLibrary;
  /** A tokenizer for the tokenize comparison. */
  tokenizer?: TokenizerPeer;
  /** The Llama-3 vocabulary (`ggml-vocab-llama-bpe.gguf`); parse uses a synthetic one without it. */
  llamaBpeVocab?: string;
  /** About `bytes` bytes of varied text for the tokenize benchmark. */
  benchmarkText?: (bytes: number) => string;
  /** Why a peer or input is missing, by field name, for the report. */
  missing?: Partial<
    Record<"ggufParser" | "ggml" | "tokenizer" | "llamaBpeVocab" | "benchmarkText", string>
  >;
}

/** What a benchmark gets. */
export interface BenchContext {
  /** Input sizes (`small` or `full`). */
  size: BenchSize;
  /** The machine it runs on (for ceilings and the report). */
  machine: MachineInfo;
  /** A temporary directory for generated inputs, removed afterwards. */
  dir: string;
  /** Progress lines (stderr). */
  log: (line: string) => void;
  /** The peers to compare with (none when absent). */
  peers?: BenchPeers;
  /**
   * The user's own model (`bitload bench --model FILE`): the load group measures it instead of a
   * generated file, under ids of its own (`load.model.*`). It is only ever read.
   */
  model?: string;
}

/** One benchmark of the suite. */
export interface Bench {
  /** Id used by `--only` (metric ids start with it). */
  id: string;
  /** What it measures. */
  description: string;
  /** Runs the benchmark and returns its metrics. */
  run(ctx: BenchContext): Promise<Metric[]>;
}

const GIB = 2 ** 30;
const GB = 1e9;

function metric(m: Omit<Metric, "pass">): Metric {
  return m.target ? { ...m, pass: meetsTarget(m.value, m.target) } : m;
}

function skipped(id: string, label: string, reason: string): Metric {
  return { id, label, unit: "", kind: "ratio", better: "higher", value: 0, skipped: reason };
}

function spreadOf(stats: TimingStats, f: (ms: number) => number): [number, number] {
  const a = f(stats.p10Ms);
  const b = f(stats.p90Ms);
  return a <= b ? [a, b] : [b, a];
}

function missing(ctx: BenchContext, peer: keyof BenchPeers, fallback: string): string {
  return ctx.peers?.missing?.[peer as keyof NonNullable<BenchPeers["missing"]>] ?? fallback;
}

async function vocabFile(ctx: BenchContext): Promise<{ path: string; real: boolean }> {
  const real = ctx.peers?.llamaBpeVocab;
  if (real) return { path: real, real: true };
  const path = join(ctx.dir, "synthetic-128k-vocab.gguf");
  await writeVocabShapedGguf(path);
  return { path, real: false };
}

const parseBench: Bench = {
  id: "parse",
  description: "metadata of a 128k-token vocabulary (Llama-3: 128,256 tokens, 280,147 merges)",
  async run(ctx) {
    const { path, real } = await vocabFile(ctx);
    const label = real ? "ggml-vocab-llama-bpe.gguf" : "synthetic 128k vocabulary";
    const ours = await measure(() => readGguf(path), { reps: 15, warmup: 3 });
    const decoded = await measure(async () => {
      const f = await readGguf(path);
      for (const e of f.metadata.values()) {
        if (e.value instanceof GgufStringArray) e.value.toArray();
      }
    }, { reps: 7, warmup: 2 });
    const parser = ctx.peers?.ggufParser;
    const peer = parser
      ? await measure(() => parser.parse(path), { reps: 3, warmup: 1 })
      : undefined;
    const peerName = parser?.name ?? "@huggingface/gguf";
    const why = missing(ctx, "ggufParser", "no GGUF parser peer given");
    const out: Metric[] = [
      metric({
        id: "parse.ms",
        label: `parse ${label}`,
        unit: "ms",
        kind: "time",
        better: "lower",
        value: ours.medianMs,
        spread: [ours.p10Ms, ours.p90Ms],
      }),
      metric({
        id: "parse.decoded.ms",
        label: "parse + decode every string",
        unit: "ms",
        kind: "time",
        better: "lower",
        value: decoded.medianMs,
        spread: [decoded.p10Ms, decoded.p90Ms],
      }),
    ];
    if (peer) {
      out.push(metric({
        id: "parse.vs_huggingface",
        label: `parse speed vs ${peerName}`,
        unit: "×",
        kind: "ratio",
        better: "higher",
        value: peer.medianMs / ours.medianMs,
        peer: {
          name: peerName,
          value: peer.medianMs,
          advantage: peer.medianMs / ours.medianMs,
        },
        target: { op: ">=", value: 3, label: "≥ 3×" },
      }));
    } else out.push(skipped("parse.vs_huggingface", `parse speed vs ${peerName}`, why));
    return out;
  },
};

const SMALL_TYPES = ["I2_S", "TQ2_0", "Q8_0", "Q4_0", "Q4_K", "Q6_K", "F16"];
const FULL_TYPES = [
  "F16",
  "BF16",
  "Q4_0",
  "Q4_1",
  "Q5_0",
  "Q5_1",
  "Q8_0",
  "Q2_K",
  "Q3_K",
  "Q4_K",
  "Q5_K",
  "Q6_K",
  "IQ2_XXS",
  "IQ2_XS",
  "IQ2_S",
  "IQ3_XXS",
  "IQ3_S",
  "IQ1_S",
  "IQ1_M",
  "IQ4_NL",
  "IQ4_XS",
  "TQ1_0",
  "TQ2_0",
  "MXFP4",
  "NVFP4",
  "Q1_0",
  "Q2_0",
  "I2_S",
];

const dequantBench: Bench = {
  id: "dequant",
  description:
    "dequantization to f32 per type: bitload scalar, best SIMD, 2 threads vs ggml to_float",
  async run(ctx) {
    const native = nativeKernels();
    const types = ctx.size === "full" ? FULL_TYPES : SMALL_TYPES;
    if (!native) return [skipped("dequant", "native dequantization", "native kernels unavailable")];
    const values = ctx.size === "full" ? 16 * 1024 * 1024 : 1024 * 1024;
    const ref = ctx.peers?.ggml ?? null;
    const levels = supportedSimdLevels();
    const best: SimdLevel = levels[levels.length - 1] ?? "scalar";
    const out: Metric[] = [];
    const rng = seededRandom(42);
    const reps = { reps: ctx.size === "full" ? 9 : 15, warmup: 2 };
    try {
      for (const name of types) {
        const type = ggmlTypeByName(name)!;
        ctx.log(`dequant ${name}`);
        let data: Uint8Array;
        if (name === "I2_S") {
          const v = new Int8Array(values);
          for (let i = 0; i < values; i++) v[i] = rng.int(3) - 1;
          data = packI2S(v, 0.0421);
        } else if (ref && ref.hasToFloat(type.id)) {
          const src = new Float32Array(values);
          for (let i = 0; i < values; i++) src[i] = rng.normal() * 0.05;
          data = ref.quantize(type.id, src, values / 4096, 4096);
        } else {
          data = new Uint8Array(tensorByteSize(type, [values])!);
          for (let i = 0; i < data.length; i++) data[i] = rng.int(256);
        }
        const dst = new Float32Array(values);
        const time = (level: SimdLevel, threads: number) => {
          native.setSimd(level);
          return measure(() => native.dequantize(type.id, data, dst, threads), reps);
        };
        const scalar = await time("scalar", 1);
        const simd = await time(best, 1);
        const two = ctx.machine.cores >= 2 ? await time(best, 2) : undefined;
        native.setSimd("best");
        const outBytes = values * 4;
        const gibps = (ms: number) => outBytes / GIB / (ms / 1000);
        let peer: Metric["peer"];
        if (ref && name !== "I2_S" && ref.hasToFloat(type.id)) {
          const g = await measure(() => ref.dequantizeInto(type.id, data, dst), reps);
          peer = {
            name: "ggml to_float",
            value: gibps(g.medianMs),
            advantage: g.medianMs / simd.medianMs,
          };
        }
        out.push(metric({
          id: `dequant.${name}.gibps`,
          label: `${name} → f32, ${best}, 1 thread`,
          unit: "GiB/s",
          kind: "throughput",
          better: "higher",
          value: gibps(simd.medianMs),
          spread: spreadOf(simd, gibps),
          peer,
          ceilingShare: outBytes / (simd.medianMs / 1000) / ctx.machine.memcpyBytesPerSec,
          ...(name === "I2_S"
            ? { target: { op: ">=" as const, value: 5 * GB / GIB, label: "≥ 5 GB/s (seed floor)" } }
            : {}),
        }));
        if (peer) {
          out.push(metric({
            id: `dequant.${name}.vs_ggml`,
            label: `${name} vs ggml to_float (1 thread)`,
            unit: "×",
            kind: "ratio",
            better: "higher",
            value: peer.advantage,
            target: { op: ">=", value: 1, label: "≥ 1.0×" },
          }));
        }
        if (best !== "scalar") {
          out.push(metric({
            id: `dequant.${name}.simd_speedup`,
            label: `${name} ${best} vs scalar`,
            unit: "×",
            kind: "ratio",
            better: "higher",
            value: scalar.medianMs / simd.medianMs,
            target: { op: ">=", value: 2, label: "≥ 2×" },
          }));
        }
        if (two) {
          out.push(metric({
            id: `dequant.${name}.thread_efficiency`,
            label: `${name} 2-thread efficiency`,
            unit: "",
            kind: "ratio",
            better: "higher",
            value: simd.medianMs / two.medianMs / 2,
            target: { op: ">=", value: 0.85, label: "≥ 85 %" },
          }));
        }
      }
      out.push(...await tlDecodeMetrics(native, ctx, reps));
    } finally {
      native.setSimd("best");
    }
    return out;
  },
};

/**
 * TL1/TL2 (bitnet.cpp's lookup-table layouts) → f32 and → I2_S, on an official preset shape
 * (bitnet_b1_58-large 1536×1536 small, bitnet_b1_58-3B 3200×3200 full), against the design targets
 * of 8 GB/s (TL1) and 4 GB/s (TL2) of f32 written.
 *
 * @example
 * ```ts ignore
 * import { nativeKernels } from "../../ffi/native.ts";
 * import { tlDecodeMetrics } from "./suite.ts";
 * const metrics = await tlDecodeMetrics(nativeKernels()!, ctx, { reps: 5, warmup: 1 });
 * ```
 */
export async function tlDecodeMetrics(
  native: NonNullable<ReturnType<typeof nativeKernels>>,
  ctx: BenchContext,
  reps: { reps: number; warmup: number },
): Promise<Metric[]> {
  const out: Metric[] = [];
  const [M, K] = ctx.size === "full" ? [3200, 3200] : [1536, 1536];
  const rng = seededRandom(7);
  const w = new Int8Array(M * K);
  for (let i = 0; i < w.length; i++) w[i] = rng.int(3) - 1;
  for (const [type, targetGB] of [["TL1", 8], ["TL2", 4]] as const) {
    ctx.log(`dequant ${type}`);
    const { config } = resolveTlConfig(type, [K, M]);
    const data = encodeTl(type, w, M, K, config, 0.0421);
    const dst = new Float32Array(M * K);
    const i2s = new Uint8Array(M * K / 4 + 32);
    const tl = type === "TL1" ? 1 : 2;
    const f32 = await measure(() => native.tlDecode(tl, data, M, K, config, null, dst), reps);
    const trans = await measure(() => native.tlDecode(tl, data, M, K, config, i2s, null), reps);
    const outBytes = M * K * 4;
    const gibps = (ms: number) => outBytes / GIB / (ms / 1000);
    out.push(metric({
      id: `dequant.${type}.gibps`,
      label: `${type} → f32 (${M}×${K} preset tiles), 1 thread`,
      unit: "GiB/s",
      kind: "throughput",
      better: "higher",
      value: gibps(f32.medianMs),
      spread: spreadOf(f32, gibps),
      ceilingShare: outBytes / (f32.medianMs / 1000) / ctx.machine.memcpyBytesPerSec,
      target: { op: ">=", value: targetGB * GB / GIB, label: `≥ ${targetGB} GB/s (design target)` },
    }));
    const tgibps = (ms: number) => outBytes / GIB / (ms / 1000);
    out.push(metric({
      id: `dequant.${type}.to_i2s_gibps`,
      label: `${type} → I2_S transcode (f32-equivalent GiB/s), 1 thread`,
      unit: "GiB/s",
      kind: "throughput",
      better: "higher",
      value: tgibps(trans.medianMs),
      spread: spreadOf(trans, tgibps),
    }));
  }
  return out;
}

/**
 * The memory report of one mapped load of `path`, measured the way `bitload load` measures it
 * (the loader's own report: the model's mappings from smaps plus the anonymous growth), so the
 * bench's "memory multiplier of a mapped load" and `load`'s multiplier are one figure.
 *
 * @example
 * ```ts ignore
 * import { mappedLoadMemory } from "./suite.ts";
 * (await mappedLoadMemory("model.gguf")).multiplier; // ≈ 1.0
 * ```
 */
export async function mappedLoadMemory(path: string): Promise<MemoryReport> {
  using loaded = await loadModel(path);
  return loaded.report;
}

async function runTool(cmd: string, args: string[]): Promise<boolean> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return r.success;
  } catch {
    return false;
  }
}

/** Drops the file's pages from the page cache (`posix_fadvise(DONTNEED)`); false when it cannot. */
function dropFromPageCache(path: string): boolean {
  const libc = openLibc();
  if (!libc) return false;
  const fd = libc.open(cString(path), LINUX.O_RDONLY | LINUX.O_CLOEXEC);
  if (fd < 0) return false;
  try {
    return libc.posix_fadvise(fd, 0n, 0n, LINUX.POSIX_FADV_DONTNEED) === 0;
  } finally {
    libc.close(fd);
  }
}

/**
 * A file's pages still in the page cache after a drop, above which a "cold" load is not cold:
 * another process maps the file, or the file system keeps its pages (tmpfs).
 */
const MAX_RESIDENT_AFTER_DROP = 0.05;

/**
 * Why the file's pages cannot be dropped from the page cache, or `""` when they can. The file is
 * only ever opened read-only: `fsync` on a read-only descriptor writes back any dirty pages
 * (which `DONTNEED` cannot drop), then what is still resident after the drop is measured
 * (`mincore` over a mapping that is never touched).
 */
function whyNotDroppable(path: string): string {
  {
    using file = Deno.openSync(path, { read: true });
    file.syncSync();
  }
  if (!dropFromPageCache(path)) return "posix_fadvise(DONTNEED) unavailable";
  using mapping = mapFile(path);
  const resident = mapping.residentBytes(0);
  if (resident === null) return "mincore unavailable: cannot check that the pages were dropped";
  const share = mapping.size > 0 ? resident / mapping.size : 0;
  if (share > MAX_RESIDENT_AFTER_DROP) {
    return `${(share * 100).toFixed(0)} % of the file stayed in the page cache after ` +
      `posix_fadvise(DONTNEED) (mapped by another process, or a memory file system)`;
  }
  return "";
}

/** The ids and labels of one file's page-cache ratios. */
interface PageCacheIds {
  /** Warm load ÷ `cat`. */
  warm: string;
  /** Cold load ÷ `dd`. */
  cold: string;
  /** What the file is, for labels ("" for the generated one). */
  what: string;
}

/**
 * bitload's time ÷ a peer's, both measured in the same run: the median ratio, its spread (our
 * p10 ÷ their p90 … our p90 ÷ their p10) and the target.
 */
function ratioToPeer(
  id: string,
  label: string,
  ours: TimingStats,
  theirs: TimingStats,
  peerName: string,
  target: Metric["target"],
): Metric {
  const ratio = ours.medianMs / theirs.medianMs;
  return metric({
    id,
    label,
    unit: "×",
    kind: "ratio",
    better: "lower",
    value: ratio,
    spread: [ours.p10Ms / theirs.p90Ms, ours.p90Ms / theirs.p10Ms],
    peer: { name: peerName, value: theirs.medianMs, advantage: 1 / ratio },
    target,
  });
}

/**
 * `bitload load`'s mapped load against the page cache's own speed (`cat FILE > /dev/null`, warm)
 * and the disk's (`dd bs=1M`, cold: the file's pages dropped before every run), as ratios of
 * times measured in the same run, so the figures mean something even on a loaded machine. The
 * file is never written (the user's own model with `--model`): cold is skipped, with the reason,
 * when its pages cannot be dropped.
 */
async function pageCacheMetrics(
  path: string,
  warmLoad: TimingStats,
  ctx: BenchContext,
  ids: PageCacheIds,
): Promise<Metric[]> {
  const out: Metric[] = [];
  const reps = { reps: ctx.size === "full" ? 5 : 7, warmup: 1 };
  const coldLabel = `mapped load${ids.what} ÷ sequential dd, cold (page cache dropped, same run)`;
  // every part of a split model: the load reads them all, so cat and dd read them all too
  const files = await partPaths(path);
  const cat = () => runTool("cat", files);
  if (await cat()) {
    out.push(ratioToPeer(
      ids.warm,
      `mapped load${ids.what} ÷ cat of the file, warm (same run)`,
      warmLoad,
      await measure(cat, reps),
      "cat FILE > /dev/null",
      { op: "<=", value: 0.5, label: "≤ 0.5× cat warm" },
    ));
  } else out.push(skipped(ids.warm, `mapped load${ids.what} ÷ cat, warm`, "cat did not run"));
  const why = files.map(whyNotDroppable).find((w) => w !== "");
  if (why) {
    out.push(skipped(ids.cold, coldLabel, why));
    return out;
  }
  const cold = { reps: 3, warmup: 0, before: () => files.forEach(dropFromPageCache) };
  const dd = async () => {
    for (const f of files) {
      if (!await runTool("dd", [`if=${f}`, "of=/dev/null", "bs=1M"])) return false;
    }
    return true;
  };
  if (!await dd()) {
    out.push(skipped(ids.cold, coldLabel, "dd did not run"));
    return out;
  }
  const ddStats = await measure(dd, cold);
  const load = await measure(async () => {
    using _ = await loadModel(path);
  }, cold);
  out.push(ratioToPeer(ids.cold, coldLabel, load, ddStats, "dd bs=1M", {
    op: "<=",
    value: 1.1,
    label: "≤ 1.1× dd cold",
  }));
  return out;
}

/** The files of the model at `path`: its parts when it is split, else the file itself. */
async function partPaths(path: string): Promise<string[]> {
  using model = await openModelFile(path);
  return model.parts.map((p) => p.source);
}

/**
 * The generated load model's vocabulary: the 2B-4T shape's 32,000 byte-level BPE tokens and their
 * merges (about 12 MB of header, as in a real model), so the header parse — a real model's
 * strings scanned and checked — is part of every load timed.
 */
const LOAD_VOCAB_TOKENS = 32_000;

/** Writes the load group's generated model: `total` bytes of F32 tensors after a real-sized header. */
async function writeLoadModel(path: string, total: number): Promise<void> {
  const tensorBytes = 16 * 1024 * 1024;
  const pattern = new Uint8Array(tensorBytes);
  for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 2654435761) >>> 24;
  const vocab = buildBpeVocab(LOAD_VOCAB_TOKENS, 1);
  await writeGguf(
    path,
    [
      kv.string("general.architecture", "llama"),
      kv.u32("llama.block_count", total / tensorBytes),
      kv.string("tokenizer.ggml.model", "gpt2"),
      kv.array("tokenizer.ggml.tokens", GgufValueType.STRING, vocab.tokens),
      kv.array(
        "tokenizer.ggml.scores",
        GgufValueType.FLOAT32,
        new Float32Array(vocab.tokens.length),
      ),
      kv.array("tokenizer.ggml.token_type", GgufValueType.INT32, Int32Array.from(vocab.tokenTypes)),
      kv.array("tokenizer.ggml.merges", GgufValueType.STRING, vocab.merges),
      kv.u32("tokenizer.ggml.bos_token_id", vocab.bosId),
      kv.u32("tokenizer.ggml.eos_token_id", vocab.eosId),
    ],
    Array.from({ length: total / tensorBytes }, (_, i) => ({
      name: `blk.${i}.ffn_up.weight`,
      type: "F32",
      dims: [4096, tensorBytes / 4 / 4096],
      data: pattern,
    })),
  );
}

/**
 * The share of a mapped load of `path` that the kernel maps with 2 MiB page-table entries once
 * every page is resident (`FilePmdMapped` of its mapping; null off Linux or on the read path):
 * whether the page cache holds the file in large folios, the state that decides the warm speed.
 */
async function pmdShareMetric(path: string, id: string, what: string): Promise<Metric> {
  using loaded = await loadModel(path);
  const share = loaded.pmdMappedShare();
  const label = `share of the mapping${what} in 2 MiB page-table entries (FilePmdMapped, warm)`;
  if (share === null) {
    return skipped(id, label, "FilePmdMapped unavailable (not Linux, or not mapped)");
  }
  return metric({ id, label, unit: "", kind: "ratio", better: "higher", value: share });
}

/**
 * The load group on the user's own model (`bitload bench --model FILE`): warm and cold ratios to
 * `cat` and `dd`, the warm load time and the page-table state, under ids of their own
 * (`load.model.*`). The file is only read.
 */
async function modelLoadMetrics(path: string, ctx: BenchContext): Promise<Metric[]> {
  const reps = { reps: ctx.size === "full" ? 5 : 7, warmup: 1 };
  ctx.log(`load: ${path} (mapped, warm)`);
  const warm = await measure(async () => {
    using _ = await loadModel(path);
  }, reps);
  const pmd = await pmdShareMetric(path, "load.model.pmd_share", " of the model");
  ctx.log("load: cat and dd on the model (page-cache and disk peers, same run)");
  const peers = await pageCacheMetrics(path, warm, ctx, {
    warm: "load.model.vs_cat",
    cold: "load.model.cold.vs_dd",
    what: " of the model",
  });
  const size = (await Deno.stat(path)).size;
  return [
    ...peers,
    pmd,
    metric({
      id: "load.model.ms",
      label: `mapped load of the model (${size >> 20} MiB), warm, every page resident`,
      unit: "ms",
      kind: "time",
      better: "lower",
      value: warm.medianMs,
      spread: [warm.p10Ms, warm.p90Ms],
    }),
  ];
}

const loadBench: Bench = {
  id: "load",
  description:
    "loading a generated model (a 32k-token vocabulary header): mmap (every page resident), read path, plain read, Deno.readFile; --model: the user's model",
  async run(ctx) {
    if (ctx.model) return await modelLoadMetrics(ctx.model, ctx);
    const total = (ctx.size === "full" ? 1024 : 128) * 1024 * 1024;
    const path = join(ctx.dir, "load.gguf");
    await writeLoadModel(path, total);
    const size = (await Deno.stat(path)).size;
    const reps = { reps: ctx.size === "full" ? 5 : 9, warmup: 1 };
    const plainRead = () => {
      const buf = new Uint8Array(size);
      using f = Deno.openSync(path);
      let done = 0;
      while (done < size) done += f.readSync(buf.subarray(done)) ?? size;
    };
    ctx.log("load: plain read");
    const plain = await measure(plainRead, reps);
    ctx.log("load: mmap");
    const mmap = await measure(async () => {
      using _ = await loadModel(path);
    }, reps);
    const multiplier = (await mappedLoadMemory(path)).multiplier;
    const pmd = await pmdShareMetric(path, "load.mmap.pmd_share", "");
    ctx.log("load: read path");
    const read = await measure(async () => {
      using _ = await loadModel(path, { mmap: false });
    }, reps);
    ctx.log("load: Deno.readFile");
    const readFile = await measure(() => Deno.readFile(path), reps);
    const gbps = (ms: number) => size / GB / (ms / 1000);
    ctx.log("load: cat and dd (page-cache and disk peers, same run)");
    const peers = await pageCacheMetrics(path, mmap, ctx, {
      warm: "load.mmap.vs_cat",
      cold: "load.cold.vs_dd",
      what: "",
    });
    return [
      ...peers,
      pmd,
      metric({
        id: "load.mmap.ms",
        label: `mmap load of ${size >> 20} MiB, every page resident`,
        unit: "ms",
        kind: "time",
        better: "lower",
        value: mmap.medianMs,
        spread: [mmap.p10Ms, mmap.p90Ms],
        peer: {
          name: "plain read into one buffer",
          value: plain.medianMs,
          advantage: plain.medianMs / mmap.medianMs,
        },
      }),
      metric({
        id: "load.mmap.vs_plain_read",
        label: "mmap load time ÷ plain read time",
        unit: "×",
        kind: "ratio",
        better: "lower",
        value: mmap.medianMs / plain.medianMs,
        target: { op: "<=", value: 1.2, label: "≤ 1.2×" },
      }),
      metric({
        id: "load.mmap.multiplier",
        label: "memory multiplier of a mapped load",
        unit: "×",
        kind: "memory",
        better: "lower",
        value: multiplier,
        target: { op: "<=", value: 1.05, label: "≤ 1.05" },
      }),
      metric({
        id: "load.read.gbps",
        label: "read path (no mmap) throughput",
        unit: "GB/s",
        kind: "throughput",
        better: "higher",
        value: gbps(read.medianMs),
        spread: spreadOf(read, gbps),
        peer: {
          name: "Deno.readFile",
          value: gbps(readFile.medianMs),
          advantage: readFile.medianMs / read.medianMs,
        },
        ceilingShare: size / (read.medianMs / 1000) / ctx.machine.memcpyBytesPerSec,
        target: { op: ">=", value: 1.5, label: "≥ 1.5 GB/s warm" },
      }),
    ];
  },
};

const planBench: Bench = {
  id: "plan",
  description:
    "placement planning: the 2B-4T shape on this CPU, a 1,043-tensor 70B header on 2 GPUs",
  async run() {
    const b2 = bitnetShapes();
    const bitnet2b = headerOnlyModel(b2.metadata, b2.tensors);
    const s70 = llama70bShapes();
    const llama70b = headerOnlyModel(s70.metadata, s70.tensors);
    const cpu = parseDeviceSpec("cpu:24GiB");
    const gpus = parseDeviceSpec("cpu:64GiB,cuda0:24GiB,cuda1:24GiB");
    const small = await measure(() => planPlacement(bitnet2b, cpu), { reps: 50, warmup: 10 });
    const big = await measure(() => planPlacement(llama70b, gpus), { reps: 20, warmup: 5 });
    const target = { op: "<=" as const, value: 5, label: "< 5 ms" };
    return [
      metric({
        id: "plan.bitnet2b.ms",
        label: "plan the BitNet 2B-4T shape (332 tensors)",
        unit: "ms",
        kind: "time",
        better: "lower",
        value: small.medianMs,
        spread: [small.p10Ms, small.p90Ms],
        target,
      }),
      metric({
        id: "plan.llama70b.ms",
        label: "plan a 70B header (1,043 tensors, auto on 2 GPUs)",
        unit: "ms",
        kind: "time",
        better: "lower",
        value: big.medianMs,
        spread: [big.p10Ms, big.p90Ms],
        target,
      }),
    ];
  },
};

const tokenizeBench: Bench = {
  id: "tokenize",
  description: "tokenizing ~1 MB of text with the Llama-3 vocabulary (128k) vs libllama",
  async run(ctx) {
    const path = ctx.peers?.llamaBpeVocab;
    if (!path) {
      const why = missing(ctx, "llamaBpeVocab", "no Llama-3 vocabulary given");
      return [skipped("tokenize.tok_per_s", "tokenize", why)];
    }
    const makeText = ctx.peers?.benchmarkText;
    if (!makeText) {
      const why = missing(ctx, "benchmarkText", "no benchmark text given");
      return [skipped("tokenize.tok_per_s", "tokenize", why)];
    }
    const text = makeText(ctx.size === "full" ? 4 << 20 : 1 << 20);
    const tok = await Tokenizer.fromGguf(path, { warn: () => {} });
    const n = tok.encode(text, { addSpecial: false }).length;
    const ours = await measure(() => {
      tok.clearCache();
      tok.encode(text, { addSpecial: false });
    }, { reps: 5, warmup: 1 });
    const perSec = (ms: number) => n / (ms / 1000);
    const other = ctx.peers?.tokenizer;
    let peer: Metric["peer"];
    if (other) {
      const vocab = other.load(path);
      const theirs = await measure(() => vocab.tokenize(text), { reps: 5, warmup: 1 });
      peer = {
        name: other.name,
        value: perSec(theirs.medianMs),
        advantage: theirs.medianMs / ours.medianMs,
      };
    }
    const out = [
      metric({
        id: "tokenize.tok_per_s",
        label: `tokenize ${
          (text.length / 2 ** 20).toFixed(0)
        } MB, Llama-3 vocabulary, cold word cache`,
        unit: "tok/s",
        kind: "throughput",
        better: "higher",
        value: perSec(ours.medianMs),
        spread: spreadOf(ours, perSec),
        peer,
        target: { op: ">=", value: 5000, label: "> 5k tok/s (seed)" },
      }),
    ];
    if (peer) {
      out.push(metric({
        id: "tokenize.vs_libllama",
        label: "tokenize speed vs libllama",
        unit: "×",
        kind: "ratio",
        better: "higher",
        value: peer.advantage,
        target: { op: ">=", value: 1, label: "≥ 1.0×" },
      }));
    }
    return out;
  },
};

/** Every benchmark of the suite, in run order. */
export const BENCHES: readonly Bench[] = [
  parseBench,
  dequantBench,
  loadBench,
  planBench,
  tokenizeBench,
  decodeBench,
];

/**
 * Benchmarks selected by `--only`: an id (`load` runs the load group and nothing else), a
 * comma-separated list of ids, or else a regular expression matched against the ids only (a
 * description mentioning "bitload" must not pull a group in).
 *
 * @example
 * ```ts
 * import { selectBenches } from "./suite.ts";
 * selectBenches("dequant").map((b) => b.id); // ["dequant"]
 * selectBenches("load").map((b) => b.id); // ["load"]
 * selectBenches("load,plan").map((b) => b.id); // ["load", "plan"]
 * ```
 */
export function selectBenches(only?: string): Bench[] {
  if (!only) return [...BENCHES];
  const names = only.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const exact = BENCHES.filter((b) => names.includes(b.id));
  if (exact.length === names.length) return exact;
  let re: RegExp;
  try {
    re = new RegExp(only);
  } catch {
    re = new RegExp(only.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  }
  return BENCHES.filter((b) => re.test(b.id));
}

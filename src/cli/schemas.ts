/**
 * The JSON every command prints with `--json`, as zod schemas: the contract users script
 * against. `scripts/json_schemas.ts` turns each into a JSON Schema in `docs/schemas/`
 * (`z.toJSONSchema`); the tests check the committed files equal the generated ones and every
 * command's real output against its schema. The commands never import this module (it would
 * put zod on their start-up path); the tests keep the two in step.
 *
 * @module
 */

import { z } from "npm:zod@^4";
import { BenchReportSchema } from "../bench/report.ts";

const int = () => z.number().int();
const count = () => z.number().int().nonnegative();

/** A JSON value (metadata values, `inspect --kv`). */
export const JsonValueSchema: z.ZodType<unknown> = z.lazy(() =>
  z.union([
    z.number(),
    z.string(),
    z.boolean(),
    z.null(),
    z.array(JsonValueSchema),
    z.record(z.string(), JsonValueSchema),
  ])
);

/** `inspect --json`. */
export const InspectJsonSchema = z.strictObject({
  version: int(),
  alignment: int().positive(),
  dataOffset: count(),
  metadata: z.record(z.string(), JsonValueSchema).describe(
    "every metadata key; u64/i64 beyond 2^53 as decimal strings; with --no-arrays (or over the " +
      "length cap without --full) a long array is {type, length, head} instead",
  ),
  tensors: z.array(z.strictObject({
    name: z.string(),
    type: z.string().regex(/^[A-Z0-9_]+$/),
    shape: z.array(count()),
    offset: count(),
    bytes: count(),
    tlConfig: z.strictObject({
      BM: int().positive().optional(),
      BK: int().positive().optional(),
      bm: int().positive().optional(),
      source: z.enum(["file", "preset"]).nullable(),
      origin: z.string().optional(),
      error: z.string().optional(),
    }).optional().describe(
      "TL1/TL2 tensors only: the tile configuration that applies and where it came from " +
        "(--tl-config file or built-in preset), or why none is usable",
    ),
  })),
}).describe("bitload inspect --json");

/** `load --json`. */
export const LoadJsonSchema = z.looseObject({
  fileBytes: count(),
  peakRssBytes: int(),
  anonBytes: int(),
  fileBackedBytes: int(),
  multiplier: z.number(),
  outputBytes: count(),
  parseOverheadBytes: int(),
  zeroCopyTensors: count(),
  copiedTensors: count(),
  seconds: z.number().nonnegative(),
  throughputBytesPerSec: z.number().nonnegative(),
  mapped: z.boolean(),
  limit: z.number(),
  ok: z.boolean(),
  measured: z.boolean(),
  batches: count(),
  warnings: z.array(z.string()),
  pmdMappedShare: z.number().min(0).max(1).nullable().describe(
    "share of the mapping in 2 MiB page-table entries after the load (FilePmdMapped in " +
      "/proc/self/smaps): high when the page cache holds the file in 2 MiB folios; null off " +
      "Linux or without mmap",
  ),
}).describe("bitload load --json: the memory report");

/** `dequant --json`. */
export const DequantJsonSchema = z.strictObject({
  file: z.string(),
  tensor: z.string(),
  type: z.string(),
  shape: z.array(count()),
  out: z.string(),
  bytes: count(),
  ms: z.number().nonnegative(),
}).describe("bitload dequant --json");

/** `kernels --json`. */
export const KernelsJsonSchema = z.looseObject({
  backend: z.enum(["native", "ts"]),
  library: z.string().optional(),
  simd: z.string().optional(),
  threads: int().positive(),
  reason: z.string().optional(),
  origin: z.enum(["env", "path", "cache", "built", "fallback"]),
}).describe("bitload kernels --json");

const DeviceUsageSchema = z.looseObject({
  device: z.string(),
  kind: z.enum(["cpu", "cuda", "rpc"]),
  layers: z.array(count()),
  output: z.boolean(),
  weights: count(),
  kv: count(),
  scratch: count(),
  overhead: count(),
  needed: count(),
  margin: count(),
  reserved: count(),
  available: count(),
  total: count(),
  freeAfter: int(),
  fits: z.boolean(),
  fitsWithoutMargin: z.boolean(),
  shortBy: count(),
});

/** `plan --json`. */
export const PlanJsonSchema = z.looseObject({
  status: z.enum(["ok", "does-not-fit", "refused"]),
  strategy: z.enum(["auto", "cpu", "gpu", "hybrid", "split"]),
  resolved: z.enum(["cpu", "gpu", "hybrid", "split"]),
  model: z.looseObject({
    architecture: z.string(),
    layers: count(),
    tensorCount: count(),
    weightBytes: count(),
  }),
  ctx: int().positive(),
  requestedCtx: int().positive(),
  kvType: z.enum(["f32", "f16", "q8_0", "q4_0"]),
  batch: int().positive(),
  flashAttention: z.boolean(),
  gpuLayers: count(),
  kv: z.looseObject({ totalBytes: count(), kBytes: count(), vBytes: count() }),
  tensors: z.array(z.looseObject({
    name: z.string(),
    device: z.string(),
    bytes: count(),
    type: z.string(),
    layer: count().nullable(),
  })),
  devices: z.array(DeviceUsageSchema),
  overrides: z.array(z.strictObject({ pattern: z.string(), device: z.string(), matched: count() })),
  steps: z.array(z.looseObject({
    action: z.string(),
    ctx: int(),
    gpuLayers: count(),
    fits: z.boolean(),
    detail: z.string(),
  })),
  warnings: z.array(z.string()),
  refusal: z.string().optional(),
  llamaCpp: z.looseObject({ command: z.string(), args: z.array(z.string()) }).optional()
    .describe("with --emit llama.cpp"),
}).describe("bitload plan --json");

/** `plan --sweep --json`. */
export const PlanSweepJsonSchema = z.strictObject({
  file: z.string(),
  trainedCtx: count().nullable(),
  kvType: z.enum(["f32", "f16", "q8_0", "q4_0"]),
  devices: z.array(z.string()),
  ctxSizes: z.array(int().positive()),
  gpuLayers: z.array(count()),
  cells: z.array(z.strictObject({
    ctx: int().positive(),
    gpuLayers: count(),
    fits: z.boolean(),
    status: z.enum(["ok", "does-not-fit", "refused"]),
    bytes: z.record(z.string(), count()).describe("reserved bytes per device"),
    shortBy: count(),
  })),
}).describe("bitload plan --sweep --json: one cell per context size and GPU layer count");

/** `tokenize --json`. */
export const TokenizeJsonSchema = z.array(count()).describe("bitload tokenize --json: token ids");

/** `detokenize --json`. */
export const DetokenizeJsonSchema = z.strictObject({ text: z.string() }).describe(
  "bitload detokenize --json",
);

const figures = z.record(z.string(), z.union([z.number(), z.string(), z.boolean(), z.null()]));
const status = z.enum(["pass", "fail", "skip", "not-run"]);

/** `validate --json`. */
export const ValidateJsonSchema = z.strictObject({
  file: z.string(),
  ok: z.boolean(),
  checks: z.array(z.strictObject({
    name: z.enum(["structure", "crossval", "tensors", "accuracy", "determinism"]),
    status,
    summary: z.string(),
    figures,
  })),
  tensors: z.array(z.strictObject({
    check: z.string(),
    name: z.string(),
    type: z.string(),
    status,
    detail: z.string().optional(),
    figures,
  })),
}).describe("bitload validate --json");

/** `hash` (the manifest, printed by default and with `--json`). */
export const HashManifestSchema = z.strictObject({
  format: z.literal("bitload-hash-manifest"),
  version: z.literal(1),
  algorithm: z.literal("sha256"),
  file: z.string(),
  modelDigest: z.string().regex(/^[0-9a-f]{64}$/),
  tensors: z.array(z.looseObject({
    name: z.string(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })),
}).describe("bitload hash FILE: the manifest");

/** `hash --check --json`. */
export const HashCheckJsonSchema = z.strictObject({
  file: z.string(),
  ok: z.boolean(),
  matched: count(),
  expected: count(),
  modelDigestMatches: z.boolean(),
  mismatched: z.array(z.string()),
  missing: z.array(z.string()),
  extra: z.array(z.string()),
}).describe("bitload hash FILE --check MANIFEST --json");

/** `quantize --json`. */
export const QuantizeJsonSchema = z.strictObject({
  in: z.string(),
  out: z.string(),
  type: z.string(),
  converted: count(),
  bytesIn: count(),
  bytesOut: count(),
  tensors: z.array(z.strictObject({
    name: z.string(),
    from: z.string(),
    to: z.string(),
    bytes: count(),
  })),
}).describe("bitload quantize --json");

/** `run --json`. */
export const RunJsonSchema = z.looseObject({
  file: z.string(),
  arch: z.string(),
  kernels: z.string(),
  projectionKernels: z.record(z.string(), z.string()),
  promptTokens: z.array(count()),
  tokens: z.array(count()),
  text: z.string().nullable(),
  stop: z.string(),
  loadMs: z.number().nonnegative(),
  tlTranscode: z.strictObject({
    tensors: count(),
    ms: z.number().nonnegative(),
    bytes: count(),
  }).optional().describe("TL1/TL2 weights transcoded to I2_S at load: how many, time, bytes"),
  promptMs: z.number().nonnegative(),
  timeToFirstTokenMs: z.number().nonnegative(),
  promptTokensPerSecond: z.number().nonnegative(),
  generationTokensPerSecond: z.number().nonnegative(),
  peakRssBytes: count(),
  memory: z.strictObject({
    planned: z.strictObject({
      weights: count().describe("tensor data made resident (mapped pages or read buffers)"),
      kvCache: count().describe("KV cache of every slot: layers × 2 × context × KV width"),
      arena: count().describe("activations, attention scores, RoPE tables, quantized activations"),
      logits: count().describe("logits of maxBatch tokens"),
      weightCopies: count().describe("weights the engine copies (int8 head, TL → I2_S, f32)"),
      runtime: count().describe("the runtime's resident set after the load (measured)"),
      engineOther: count().describe(
        "what building the engine added besides its arrays: tokenizer, kernels (measured)",
      ),
      total: count(),
    }).describe("the plan, bytes by where they go"),
    allocated: z.strictObject({
      kvCache: count(),
      arena: count(),
      logits: count(),
      weightCopies: count(),
    }).describe("the engine's arrays, counted from the arrays themselves"),
    limitBytes: count().describe(
      "the project's peak target: 1.5× the file (1.3 > 4 GiB, 1.2 > 10 GiB)",
    ),
    withinLimit: z.boolean().describe("measured peak ≤ limitBytes"),
    peakToFile: z.number().nonnegative().describe("measured peak ÷ the model file"),
    measuredPeakBytes: count().describe("VmHWM at the end of the run"),
    plannedToMeasured: z.number().nonnegative().describe("planned total ÷ measured peak"),
  }).optional().describe("planned memory of the run next to the measured peak"),
  decode: z.strictObject({
    threads: count(),
    level: z.string().describe("SIMD level of the kernels"),
    contextTokens: z.number().nonnegative().describe("mean positions attended to per step"),
    bytesPerToken: count().describe("bytes one decode step reads (the sum of bytes)"),
    bytes: z.strictObject({
      projections: count(),
      head: count().describe("the LM head as its product reads it (f16, or int8 with q8)"),
      norms: count(),
      embeddingRow: count(),
      kvCache: count().describe("K and V rows of every layer over contextTokens"),
    }).describe("bytes per token by part"),
    bandwidthBytesPerSecond: z.number().nonnegative().describe(
      "streaming read bandwidth of the model's weight bytes at these threads (measured)",
    ),
    fractionOfBandwidth: z.number().nonnegative().describe(
      "bytesPerToken × generation tok/s ÷ bandwidth",
    ),
    bandwidthBoundTokensPerSecond: z.number().nonnegative(),
    bandwidthSource: z.enum(["measured", "cached"]).describe(
      "measured after this run, or the probe stored for this machine, thread count and library",
    ),
    bandwidthMeasuredAt: z.string().describe("when the bandwidth was measured (ISO 8601)"),
    stealFraction: z.number().min(0).max(1).nullable().describe(
      "the hypervisor's share of the CPUs' time during generation (/proc/stat steal); " +
        "null off Linux or when unreadable",
    ),
    cpuShare: z.number().min(0).max(1).nullable().describe(
      "this process's CPU time during generation ÷ (wall time × threads): below 1 when other " +
        "processes took the cores; null off Linux",
    ),
    roofline: z.strictObject({
      int8MacsPerToken: count(),
      f32FmasPerToken: count(),
      int8Instruction: z.string().nullable().describe("the int8 instruction of the kernels"),
      int8MacsPerSecond: z.number().nonnegative().describe("its measured rate × threads"),
      f32FmasPerSecond: z.number().nonnegative().describe("ymm FMA rate × threads (measured)"),
      computeBoundTokensPerSecond: z.number().nonnegative(),
      kernelBytesPerSecond: z.number().nonnegative().describe(
        "the I2_S product on cache-resident weights, weight bytes/s (0 without I2_S)",
      ),
      kernelBoundTokensPerSecond: z.number().nonnegative(),
      bound: z.enum(["memory", "compute"]),
    }).describe("multiply-adds per token against the cores' measured throughput"),
  }).optional().describe("the decode step against the machine's bandwidth (native, ≥ 2 tokens)"),
}).describe("bitload run --json");

/** `synth --json`. */
export const SynthJsonSchema = z.strictObject({
  out: z.string(),
  bytes: count(),
  ms: z.number().nonnegative(),
}).describe("bitload synth --json");

/** `demo --json`: the story in numbers. */
export const DemoJsonSchema = z.looseObject({
  file: z.string(),
  synthetic: z.boolean(),
  architecture: z.string().nullable(),
  parameters: count(),
  tensorBytes: count(),
  plan: z.looseObject({ status: z.string(), resolved: z.string(), gpuLayers: count() }),
  load: z.looseObject({ seconds: z.number(), peakRssBytes: int(), ok: z.boolean() }),
  generation: z.looseObject({ prompt: z.string(), text: z.string() }).nullable(),
  validation: z.looseObject({ ok: z.boolean() }),
}).describe("bitload demo --json");

/** `logits --json`: the teacher-forced logits of every position. */
export const LogitsJsonSchema = z.strictObject({
  tokens: z.array(count()),
  vocab: int().positive(),
  logits: z.array(z.array(z.number())).describe("one row of vocab f32 values per position"),
}).describe("bitload logits --json");

/** `compare-logits --json`. */
export const CompareLogitsJsonSchema = z.looseObject({
  rows: count(),
  rowsA: count(),
  rowsB: count(),
  vocab: count(),
  minCosine: z.number(),
  maxAbsDiff: z.number().nonnegative(),
  largestLogit: z.number().nonnegative(),
  argmaxAgree: z.number(),
  identical: z.boolean(),
  positions: z.array(z.looseObject({
    position: count(),
    cosine: z.number(),
    maxAbsDiff: z.number().nonnegative(),
    argmaxA: count(),
    argmaxB: count(),
  })),
}).describe("bitload compare-logits --json");

/** `chat --json`: one line per reply (the input comes from stdin, one message a line). */
export const ChatJsonSchema = z.strictObject({
  reply: z.string(),
  tokens: z.array(count()),
  finishReason: z.enum(["stop", "length", "cancelled", "error"]),
  promptTokens: count().describe("tokens of the rendered conversation the reply continued"),
  droppedTurns: count().describe("oldest turns dropped to keep the conversation in the context"),
  tokensPerSecond: z.number().nonnegative(),
  timeToFirstTokenMs: z.number().nonnegative(),
}).describe("bitload chat --json (one object per line, one line per reply)");

/** `serve --json`: the line printed once the server listens. */
export const ServeJsonSchema = z.strictObject({
  url: z.string().regex(/^http:\/\//),
  host: z.string(),
  port: int().positive(),
  model: z.string().describe("the id clients name in requests (--alias, else the file name)"),
  parallel: int().positive(),
  contextLength: int().positive(),
  kernels: z.string(),
  chatTemplate: z.string(),
}).describe("bitload serve --json (one line once listening)");

/** Every schema by its file name in `docs/schemas/` (without `.schema.json`). */
export const CLI_JSON_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  inspect: InspectJsonSchema,
  load: LoadJsonSchema,
  dequant: DequantJsonSchema,
  kernels: KernelsJsonSchema,
  plan: PlanJsonSchema,
  "plan-sweep": PlanSweepJsonSchema,
  tokenize: TokenizeJsonSchema,
  detokenize: DetokenizeJsonSchema,
  validate: ValidateJsonSchema,
  hash: HashManifestSchema,
  "hash-check": HashCheckJsonSchema,
  quantize: QuantizeJsonSchema,
  run: RunJsonSchema,
  synth: SynthJsonSchema,
  demo: DemoJsonSchema,
  logits: LogitsJsonSchema,
  "compare-logits": CompareLogitsJsonSchema,
  chat: ChatJsonSchema,
  serve: ServeJsonSchema,
  bench: BenchReportSchema,
};

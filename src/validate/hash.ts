/**
 * Hash manifests: the sha256 of every tensor's data bytes (as stored, padding excluded) and a
 * whole-model digest, the sha256 of all tensors' data bytes concatenated in directory order (part
 * order first for split models) — the layout of llama.cpp's `llama-gguf-hash`, with sha256. The
 * metadata is not hashed, so a metadata-only rewrite keeps the digests; use a file checksum for
 * that. `--check` verifies a file against a manifest like `llama-gguf-hash --check`.
 *
 * I2_S padding: an I2_S tensor of n elements stores n/4 code bytes and one f32 scale, padded to
 * n/4 + 32 bytes (the fork's `ggml_nbytes`). The 28 bytes after the scale are never read by any
 * engine (bitnet.cpp, ik_llama.cpp, bitload); bitload writes zeros there, bitnet.cpp's
 * `llama-quantize` leaves uninitialised memory. The default digest covers the stored bytes as they
 * are (a file checksum's view); the canonical digest ({@link HashOptions.canonical}, `bitload hash
 * --canonical`) hashes only the n/4 + 4 meaningful bytes, so two writers of the same weights agree.
 *
 * @module
 */

import { ValidateError } from "./errors.ts";
import { createHash } from "node:crypto";
import { openModelFile } from "../load/open.ts";

/** The manifest format name written in every manifest. */
export const HASH_MANIFEST_FORMAT = "bitload-hash-manifest";

/** One tensor of a manifest. */
export interface TensorHash {
  /** Tensor name. */
  name: string;
  /** Type name (`Q4_K`, `I2_S`). */
  type: string;
  /** Dimensions in ggml order. */
  dims: number[];
  /** Data bytes hashed. */
  bytes: number;
  /** Lower-case hex sha256 of the data bytes. */
  sha256: string;
}

/** Options of {@link hashModel}. */
export interface HashOptions {
  /**
   * Hash only the bytes that carry values: for I2_S the codes and the scale, without the 28
   * unused padding bytes after the scale (every other type is hashed whole). Default false.
   */
  canonical?: boolean;
  /** Called after each tensor with the stored bytes hashed so far and in all (a progress bar). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Bytes of a tensor that carry values: for I2_S the n/4 code bytes and the f32 scale (not the 28
 * padding bytes after it), for every other type all `stored` bytes.
 *
 * @example
 * ```ts
 * import { meaningfulBytes } from "./hash.ts";
 * meaningfulBytes("I2_S", 512, 160); // 132
 * meaningfulBytes("F16", 512, 1024); // 1024
 * ```
 */
export function meaningfulBytes(typeName: string, elements: number, stored: number): number {
  return typeName === "I2_S" ? Math.min(stored, elements / 4 + 4) : stored;
}

/** A hash manifest (JSON). */
export interface HashManifest {
  /** Always {@link HASH_MANIFEST_FORMAT}. */
  format: typeof HASH_MANIFEST_FORMAT;
  /** Format version (1). */
  version: 1;
  /** Always `"sha256"`. */
  algorithm: "sha256";
  /** The file's base name when it was hashed. */
  file: string;
  /** sha256 of all tensor data in directory order. */
  modelDigest: string;
  /** Per-tensor hashes in directory order. */
  tensors: TensorHash[];
  /** Present and true when the I2_S padding was left out (see {@link HashOptions}). */
  canonical?: boolean;
  /** Called after each tensor with the stored bytes hashed so far and in all (a progress bar). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Hashes a model's tensors (through a memory mapping, one tensor at a time).
 *
 * @example
 * ```ts ignore
 * import { hashModel } from "./hash.ts";
 * const manifest = await hashModel("model.gguf");
 * console.log(manifest.modelDigest);
 * const canonical = await hashModel("model.gguf", { canonical: true }); // I2_S padding left out
 * ```
 */
export async function hashModel(path: string, options: HashOptions = {}): Promise<HashManifest> {
  using model = await openModelFile(path);
  const whole = createHash("sha256");
  const tensors: TensorHash[] = [];
  const total = model.tensors.reduce((a, t) => a + t.byteSize, 0);
  let done = 0;
  for (const t of model.tensors) {
    const stored = model.tensorData(t.name);
    done += stored.length;
    const data = options.canonical
      ? stored.subarray(0, meaningfulBytes(t.type.name, t.elementCount, stored.length))
      : stored;
    const CHUNK = 64 << 20;
    const one = createHash("sha256");
    for (let o = 0; o < data.length; o += CHUNK) {
      const part = data.subarray(o, Math.min(data.length, o + CHUNK));
      one.update(part);
      whole.update(part);
    }
    tensors.push({
      name: t.name,
      type: t.type.name,
      dims: [...t.dims],
      bytes: data.length,
      sha256: one.digest("hex"),
    });
    options.onProgress?.(done, total);
  }
  return {
    format: HASH_MANIFEST_FORMAT,
    version: 1,
    algorithm: "sha256",
    file: path.split("/").pop() ?? path,
    modelDigest: whole.digest("hex"),
    tensors,
    ...(options.canonical ? { canonical: true } : {}),
  };
}

/** The result of {@link checkManifest}. */
export interface ManifestCheck {
  /** True when every tensor and the model digest match and no tensor is missing or extra. */
  ok: boolean;
  /** Whether the whole-model digest matches. */
  modelDigestMatches: boolean;
  /** Tensors whose hash, type, dims or size differ. */
  mismatched: string[];
  /** Tensors in the manifest but not in the file. */
  missing: string[];
  /** Tensors in the file but not in the manifest. */
  extra: string[];
  /** Tensors that match. */
  matched: number;
}

/**
 * Parses and checks a manifest's JSON text.
 *
 * @throws {SyntaxError} When the text is not a bitload hash manifest.
 *
 * @example
 * ```ts
 * import { parseManifest } from "./hash.ts";
 * parseManifest('{"format":"bitload-hash-manifest","version":1,"algorithm":"sha256","file":"m","modelDigest":"","tensors":[]}').version; // 1
 * ```
 */
export function parseManifest(text: string): HashManifest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ValidateError("BAD_MANIFEST", `Not a hash manifest: ${(e as Error).message}`);
  }
  const m = v as Partial<HashManifest>;
  if (
    typeof m !== "object" || m === null || m.format !== HASH_MANIFEST_FORMAT || m.version !== 1 ||
    m.algorithm !== "sha256" || typeof m.modelDigest !== "string" || !Array.isArray(m.tensors) ||
    !m.tensors.every((t) =>
      typeof t?.name === "string" && typeof t.sha256 === "string" && typeof t.type === "string" &&
      Array.isArray(t.dims) && typeof t.bytes === "number"
    ) || (m.canonical !== undefined && typeof m.canonical !== "boolean")
  ) {
    throw new ValidateError(
      "BAD_MANIFEST",
      `Not a hash manifest: expected {"format": "${HASH_MANIFEST_FORMAT}", "version": 1, "algorithm": "sha256", "modelDigest", "tensors": [...]}`,
    );
  }
  return m as HashManifest;
}

/**
 * Compares a freshly computed manifest (`actual`) with an expected one.
 *
 * @example
 * ```ts
 * import { checkManifest, type HashManifest } from "./hash.ts";
 * const m: HashManifest = { format: "bitload-hash-manifest", version: 1, algorithm: "sha256",
 *   file: "m", modelDigest: "x", tensors: [] };
 * checkManifest(m, m).ok; // true
 * ```
 */
export function checkManifest(actual: HashManifest, expected: HashManifest): ManifestCheck {
  const have = new Map(actual.tensors.map((t) => [t.name, t]));
  const want = new Map(expected.tensors.map((t) => [t.name, t]));
  const mismatched: string[] = [];
  const missing: string[] = [];
  let matched = 0;
  for (const [name, e] of want) {
    const a = have.get(name);
    if (!a) missing.push(name);
    else if (
      a.sha256 !== e.sha256 || a.type !== e.type || a.bytes !== e.bytes ||
      a.dims.join(",") !== e.dims.join(",")
    ) mismatched.push(name);
    else matched++;
  }
  const extra = [...have.keys()].filter((name) => !want.has(name));
  const modelDigestMatches = actual.modelDigest === expected.modelDigest;
  return {
    ok: modelDigestMatches && mismatched.length === 0 && missing.length === 0 &&
      extra.length === 0,
    modelDigestMatches,
    mismatched,
    missing,
    extra,
    matched,
  };
}

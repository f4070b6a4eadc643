/**
 * Named limits the GGUF reader enforces before it trusts a count or a length from a file.
 * Each exists so that a corrupt or hostile file ends in a {@link GgufError} with code
 * `LIMIT_EXCEEDED` or `TRUNCATED` instead of a hang, a crash or a huge allocation. On top of
 * these, every count is checked against the bytes that remain in the file (each element needs at
 * least its minimum encoded size), so no allocation is larger than the file justifies.
 *
 * @module
 */

/**
 * Most metadata key/value pairs in one file. Real models carry 20–60; gguf.cpp has no cap
 * beyond `int64`. A million leaves room for any real file while bounding the key map.
 */
export const MAX_KV_COUNT = 1_048_576;

/**
 * Most tensors in one file. The largest MoE checkpoints carry tens of thousands of tensors; a
 * million bounds the tensor table at a few hundred MB even in the worst case.
 */
export const MAX_TENSOR_COUNT = 1_048_576;

/** Longest string value: gguf.cpp's `GGUF_MAX_STRING_LENGTH` (1 GiB). */
export const MAX_STRING_LENGTH = 1024 * 1024 * 1024;

/** Longest key: the GGUF spec says keys are at most 65,535 bytes. */
export const MAX_KEY_LENGTH = 65_535;

/** Most elements in one array: gguf.cpp's and gguf-py's `GGUF_MAX_ARRAY_ELEMENTS` (1 Gi). */
export const MAX_ARRAY_LENGTH = 1024 * 1024 * 1024;

/**
 * Deepest array nesting accepted. No writer emits nested arrays (gguf.cpp rejects them); the spec
 * allows them, so a few levels are read, but unbounded recursion would overflow the stack.
 */
export const MAX_NESTING_DEPTH = 8;

/**
 * Most memory, beyond the header's own bytes, that the parsed header may take as JavaScript
 * objects (40 MiB). Keys, tensor infos, nested arrays and booleans each become an object or a
 * slot of their own, far bigger than their few bytes in the file: a 57 MB header of 5 M empty
 * nested arrays took 2.2 GB. Each is charged at its measured cost ({@link OBJECT_COST}) before
 * it is read; past this budget the file is refused with `LIMIT_EXCEEDED`. With it, parsing any
 * header takes at most about 4 × its size + 64 MiB (the rest of the 64 MiB is slack for the
 * garbage collector). Real models use well under 1 MiB of it: about 100 keys and at most a few
 * thousand tensors; a 128k-token vocabulary is a packed string array, charged nothing here.
 * The budget allows about 93,000 keys, or 32,000 tensors, or 50,000 nested arrays, or
 * 2.6 M booleans, or any mix of them.
 */
export const MAX_HEADER_OBJECT_BYTES = 40 * 1024 * 1024;

/**
 * What {@link MAX_HEADER_OBJECT_BYTES} charges per item: the peak RSS per item measured while
 * parsing generated headers of 65,000–6,000,000 of each (Deno 2.9, V8 15), rounded up: a
 * metadata entry about 424 bytes, a tensor info with its layout about 1,213, an empty nested
 * array about 791, a boolean of a `boolean[]` about 13.
 */
export const OBJECT_COST = {
  key: 448,
  tensor: 1280,
  nestedArray: 832,
  boolean: 16,
} as const;

/** Most dimensions of a tensor: `GGML_MAX_DIMS`. */
export const MAX_DIMS = 4;

/** Longest tensor name in bytes: gguf.cpp rejects names of `GGML_MAX_NAME` (64) bytes or more. */
export const MAX_TENSOR_NAME_LENGTH = 63;

/** Largest accepted `general.alignment`: 1 GiB; real files use 32 (rarely 64 or 4096). */
export const MAX_ALIGNMENT = 1024 * 1024 * 1024;

/** Alignment when `general.alignment` is absent: `GGUF_DEFAULT_ALIGNMENT`. */
export const DEFAULT_ALIGNMENT = 32;

/**
 * Most split parts of one model: gguf-split stores `split.count` as a u16, and names parts with
 * five digits.
 */
export const MAX_SPLIT_PARTS = 65_535;

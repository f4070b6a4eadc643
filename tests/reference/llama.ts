/**
 * The tokenizer reference oracle: llama.cpp's `libllama.v0.5.0.so` from the npm package
 * `@node-llama-cpp/linux-x64@3.22.1` (llama.cpp release v0.5.0), reached through `Deno.dlopen`.
 * Vocabularies are loaded with `vocab_only = true`, then `llama_tokenize` / `llama_detokenize` /
 * `llama_token_to_piece` are called directly: the same code `llama-cli` runs.
 *
 * When the library is absent (or not loadable on this platform), {@link openLlamaReference}
 * returns `null` and {@link llamaSkipReason} says why, so tests skip with a stated reason.
 *
 * Also reads llama.cpp's tokenizer test vectors (`ggml-vocab-*.gguf.inp/.out`, the
 * `tests/test-tokenizer-0.cpp` format).
 *
 * Struct layout of `llama_model_params` in v0.5.0 (include/llama.h l. 314–351, x86-64):
 * `devices` ptr @0, `tensor_buft_overrides` ptr @8, `n_gpu_layers` i32 @16, `split_mode` @20,
 * `load_mode` @24, `lazy_mode` @28, `main_gpu` i32 @32, `tensor_split` ptr @40,
 * `progress_callback` @48, `progress_callback_user_data` @56, `kv_overrides` @64, then the bools
 * `vocab_only` @72, `check_tensors` @73, `use_extra_bufts` @74, `no_host` @75, `no_alloc` @76,
 * `load_mtp` @77; size 80.
 *
 * @module
 */

import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { prng } from "../support/random.ts";

const PARAMS = {
  struct: [
    "pointer",
    "pointer",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "pointer",
    "pointer",
    "pointer",
    "pointer",
    "u8",
    "u8",
    "u8",
    "u8",
    "u8",
    "u8",
  ],
} as const;

const SYMBOLS = {
  llama_backend_init: { parameters: [], result: "void" },
  // void llama_log_set(ggml_log_callback cb, void* user_data)
  llama_log_set: { parameters: ["pointer", "pointer"], result: "void" },
  llama_model_default_params: { parameters: [], result: PARAMS },
  // llama_model* llama_model_load_from_file(const char* path, llama_model_params params)
  llama_model_load_from_file: { parameters: ["buffer", PARAMS], result: "pointer" },
  llama_model_free: { parameters: ["pointer"], result: "void" },
  llama_model_get_vocab: { parameters: ["pointer"], result: "pointer" },
  llama_vocab_n_tokens: { parameters: ["pointer"], result: "i32" },
  // int32 llama_tokenize(vocab, const char* text, int32 text_len, llama_token* tokens,
  //                      int32 n_tokens_max, bool add_special, bool parse_special)
  llama_tokenize: {
    parameters: ["pointer", "buffer", "i32", "buffer", "i32", "bool", "bool"],
    result: "i32",
  },
  // int32 llama_detokenize(vocab, const llama_token* tokens, int32 n_tokens, char* text,
  //                        int32 text_len_max, bool remove_special, bool unparse_special)
  llama_detokenize: {
    parameters: ["pointer", "buffer", "i32", "buffer", "i32", "bool", "bool"],
    result: "i32",
  },
  // int32 llama_token_to_piece(vocab, llama_token token, char* buf, int32 length, int32 lstrip,
  //                            bool special)
  llama_token_to_piece: {
    parameters: ["pointer", "i32", "buffer", "i32", "i32", "bool"],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** Where the npm package puts libllama, relative to this repository. */
const NPM_LLAMA_PATH = "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.v0.5.0.so";

/** A vocabulary loaded into libllama. */
export interface LlamaVocab {
  readonly nTokens: number;
  /** `llama_tokenize`. */
  tokenize(text: string | Uint8Array, addSpecial: boolean, parseSpecial: boolean): Int32Array;
  /** `llama_detokenize`, as bytes. */
  detokenize(ids: ArrayLike<number>, removeSpecial: boolean, unparseSpecial: boolean): Uint8Array;
  /** `llama_token_to_piece`, as bytes. */
  tokenToPiece(id: number, lstrip: number, special: boolean): Uint8Array;
  free(): void;
}

/** The opened library. */
export interface LlamaReference {
  /** Absolute path of the library that was opened. */
  readonly path: string;
  /** Loads a GGUF's vocabulary only (`vocab_only = true`); throws when libllama refuses it. */
  loadVocab(path: string): LlamaVocab;
  close(): void;
}

let skipReason = "";

/** Why the reference is unavailable (empty when it loaded). */
export function llamaSkipReason(): string {
  return skipReason;
}

/** Finds the library: `BITLOAD_LLAMA_LIB`, else the npm package in node_modules. */
export function findLlamaLibrary(): string | null {
  const fromEnv = Deno.env.get("BITLOAD_LLAMA_LIB");
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null;
  const local = fileURLToPath(new URL("../../", import.meta.url)) + NPM_LLAMA_PATH;
  return existsSync(local) ? local : null;
}

/** A NUL-terminated copy of `s` (UTF-8) for a `const char *` parameter. */
export function cString(s: string | Uint8Array): Uint8Array<ArrayBuffer> {
  const bytes = typeof s === "string" ? new TextEncoder().encode(s) : s;
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

let opened: LlamaReference | null | undefined;

/**
 * Opens libllama once per process, or returns `null` (see {@link llamaSkipReason}).
 *
 * @example
 * ```ts ignore
 * import { openLlamaReference } from "./llama.ts";
 * const ref = openLlamaReference();
 * const vocab = ref?.loadVocab(".cache/reference/vocab/ggml-vocab-llama-spm.gguf");
 * vocab?.tokenize("Hello", true, false); // Int32Array [1, 15043]
 * ```
 */
export function openLlamaReference(): LlamaReference | null {
  if (opened !== undefined) return opened;
  const path = findLlamaLibrary();
  if (path === null) {
    skipReason =
      `libllama reference not found (set BITLOAD_LLAMA_LIB or run "npm install" for ${NPM_LLAMA_PATH})`;
    return opened = null;
  }
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen(path, SYMBOLS);
  } catch (error) {
    skipReason = `cannot open libllama ${path}: ${(error as Error).message}`;
    return opened = null;
  }
  const s = lib.symbols;
  // Silence llama.cpp's logging with a *native* no-op. The logger is process-global, and `deno
  // test --parallel` runs test files as workers of one process: a JS callback registered here
  // would be called from other workers' threads (or after this isolate is gone) and hang or
  // crash. libc's getpid ignores the (level, text, user_data) arguments and has no effect.
  const quiet = nativeNoop();
  const silence = () => {
    if (quiet !== null) s.llama_log_set(quiet, null);
  };
  silence();
  s.llama_backend_init();
  const ref: LlamaReference = {
    path,
    loadVocab(file) {
      const params = new Uint8Array(s.llama_model_default_params());
      params[72] = 1; // vocab_only
      silence(); // another module may have installed its own logger since
      const model = s.llama_model_load_from_file(cString(file), params);
      if (model === null) throw new Error(`libllama could not load the vocabulary of ${file}`);
      const vocab = s.llama_model_get_vocab(model);
      const nTokens = s.llama_vocab_n_tokens(vocab);
      let buf = new Int32Array(1024);
      return {
        nTokens,
        tokenize(text, addSpecial, parseSpecial) {
          const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
          silence(); // llama_tokenize may warn (double BOS)
          const need = bytes.length + 8;
          if (buf.length < need) buf = new Int32Array(need);
          const cText = cString(bytes);
          const call = () =>
            s.llama_tokenize(vocab, cText, bytes.length, buf, buf.length, addSpecial, parseSpecial);
          let n = call();
          if (n < 0) { // the buffer was short by -n: retry once with the size llama.cpp asked for
            buf = new Int32Array(-n);
            n = call();
          }
          return buf.slice(0, n);
        },
        detokenize(ids, removeSpecial, unparseSpecial) {
          const arr = Int32Array.from(ids);
          let out = new Uint8Array(arr.length * 16 + 64);
          const call = () =>
            s.llama_detokenize(
              vocab,
              arr,
              arr.length,
              out,
              out.length,
              removeSpecial,
              unparseSpecial,
            );
          let n = call();
          if (n < 0) { // the buffer was short by -n: retry once with the size llama.cpp asked for
            out = new Uint8Array(-n);
            n = call();
          }
          return out.slice(0, n);
        },
        tokenToPiece(id, lstrip, special) {
          let out = new Uint8Array(256);
          let n = s.llama_token_to_piece(vocab, id, out, out.length, lstrip, special);
          if (n < 0) {
            out = new Uint8Array(-n);
            n = s.llama_token_to_piece(vocab, id, out, out.length, lstrip, special);
          }
          return out.slice(0, n);
        },
        free() {
          s.llama_model_free(model);
        },
      };
    },
    close() {
      lib.close();
      opened = undefined;
    },
  };
  return opened = ref;
}

/**
 * Address of libc's `getpid` (a harmless native no-op for a void callback), or null: the log
 * sink for llama.cpp, whose logger is process-global (a JS callback would be called from other
 * test workers' threads, or after its isolate is gone, and crash).
 *
 * @example
 * ```ts ignore
 * s.llama_log_set(nativeNoop(), null);
 * ```
 */
export function nativeNoop(): Deno.PointerValue {
  if (Deno.build.os !== "linux") return null;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
    });
    // RTLD_DEFAULT is a null handle on glibc; libc stays loaded (llama.cpp links it anyway)
    return libc.symbols.dlsym(null, new TextEncoder().encode("getpid\0"));
  } catch {
    return null;
  }
}

/** One test-tokenizer-0 case. */
export interface VocabTest {
  text: string;
  ids: number[];
}

/**
 * Reads `ggml-vocab-NAME.gguf.inp/.out` (`tests/test-tokenizer-0.cpp` `read_tests`): inputs
 * separated by `"\n__ggml_vocab_test__\n"`, one line of space-separated ids per input. `null` when
 * the files are missing.
 *
 * @example
 * ```ts ignore
 * import { readVocabTests } from "./llama.ts";
 * readVocabTests("/path/ggml-vocab-gpt-2.gguf")?.length; // 46
 * ```
 */
export function readVocabTests(ggufPath: string): VocabTest[] | null {
  const inp = ggufPath + ".inp";
  const outp = ggufPath + ".out";
  if (!existsSync(inp) || !existsSync(outp)) return null;
  const raw = readFileSync(inp, "utf8");
  const lines = readFileSync(outp, "utf8").split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  const sep = "\n__ggml_vocab_test__\n";
  const inputs: string[] = [];
  let pos = 0;
  while (pos < raw.length) {
    const next = raw.indexOf(sep, pos);
    if (next < 0) {
      inputs.push(raw.slice(pos));
      break;
    }
    inputs.push(raw.slice(pos, next));
    pos = next + sep.length;
  }
  if (inputs.length !== lines.length) {
    throw new Error(`${inp}: ${inputs.length} inputs but ${lines.length} output lines`);
  }
  return inputs.map((text, i) => {
    const o = lines[i].trim();
    return { text, ids: o === "" ? [] : o.split(" ").map(Number) };
  });
}

// ---------------------------------------------------------------------------------------------
// Deterministic text generators for differential tests and benchmarks.

export { prng };

const WORDS = [
  "the",
  "of",
  "and",
  "to",
  "in",
  "is",
  "you",
  "that",
  "it",
  "he",
  "was",
  "for",
  "on",
  "are",
  "Hello",
  "world",
  "tokenizer",
  "llama",
  "BitNet",
  "ternary",
  "weights",
  "quantization",
  "GGUF",
  "don't",
  "I'm",
  "we'll",
  "they're",
  "it's",
  "you've",
  "he'd",
  "DON'T",
  "I'M",
  "We'LL",
  "naïve",
  "café",
  "Äpfel",
  "Straße",
  "Cửa",
  "Việt",
  "niño",
  "façade",
  "smörgåsbord",
];
const SCRIPTS: [number, number][] = [
  [0x41, 0x7a],
  [0xc0, 0x24f],
  [0x370, 0x3ff],
  [0x400, 0x4ff],
  [0x590, 0x5ff],
  [0x600, 0x6ff],
  [0x900, 0x97f],
  [0xe00, 0xe7f],
  [0x1780, 0x17ff],
  [0x3040, 0x30ff],
  [0x4e00, 0x4fff],
  [0xac00, 0xad00],
  [0x1f300, 0x1f64f],
  [0x1f900, 0x1f9ff],
  [0x300, 0x36f],
  [0x2000, 0x206f],
  [0xff00, 0xffef],
  [0x10000, 0x1007f],
  [0x1d400, 0x1d4ff],
  [0x20000, 0x2001f],
];
const SPACES = [
  " ",
  "  ",
  "   ",
  "\t",
  "\n",
  "\n\n",
  "\r\n",
  "\r",
  " \n ",
  "\u00a0",
  "\u0085",
  "\u2028",
  "\u3000",
  "\ufeff",
  "\u200b",
  "\u000b",
  "\u000c",
  "\u1680",
  "\u202f",
  "    ",
  "\t\t",
];
const CODE = [
  "for (int i = 0; i < n; ++i) {\n    sum += x[i];\n}\n",
  "def f(x):\n    return x ** 2  # square\n",
  "const y = await fetch(`/api/${id}`);",
  '<div class="a">&nbsp;</div>',
  "SELECT * FROM t WHERE id = 42;",
  "x = [1, 2, 3]; y = {'a': 1}",
  "if (a != b && c >= d) { return -1; }",
  '#include <stdio.h>\nint main() { printf("%d\\n", 1234567); }',
];
const EMOJI = ["🦙", "😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🇺🇸", "1️⃣", "🤖", "✨"];
const LOOKALIKES = [
  "<s>",
  "</s>",
  "<unk>",
  "<|endoftext|>",
  "<|eot_id|>",
  "<|begin_of_text|>",
  "<|im_start|>",
  "<|im_end|>",
  "[CLS]",
  "[SEP]",
  "[MASK]",
  "<|",
  "|>",
  "<|eot",
  "eot_id|>",
  "<0x0A>",
  "▁",
  "▁▁",
  "<pad>",
  "<mask>",
  "<|reserved_special_token_5|>",
  "<start_of_turn>",
  "<｜end▁of▁sentence｜>",
  "<|fim_prefix|>",
  "<EOT>",
  "<bos>",
  "<eos>",
];

/**
 * A random string mixing scripts, whitespace runs, code, emoji, digits and special-token look-
 * alikes (`specials` adds the vocabulary's own special token texts).
 *
 * @example
 * ```ts
 * import { prng, randomText } from "./llama.ts";
 * randomText(prng(1), 50).length > 0; // true
 * ```
 */
export function randomText(rand: () => number, pieces: number, specials: string[] = []): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)];
  let s = "";
  for (let i = 0; i < pieces; i++) {
    const r = rand();
    if (r < 0.3) s += pick(WORDS);
    else if (r < 0.45) s += pick(SPACES);
    else if (r < 0.5) s += pick(CODE);
    else if (r < 0.55) s += pick(EMOJI);
    else if (r < 0.62) s += String(Math.floor(rand() * 10 ** Math.floor(rand() * 9)));
    else if (r < 0.66) s += pick(LOOKALIKES);
    else if (r < 0.69 && specials.length) s += pick(specials);
    else if (r < 0.75) {
      s += pick([".", ",", "!", "?", "'", '"', "(", ")", "...", "--", "'s", " '", "$", "€"]);
    } else if (r < 0.95) {
      const [a, b] = pick(SCRIPTS);
      const n = 1 + Math.floor(rand() * 6);
      for (let k = 0; k < n; k++) s += String.fromCodePoint(a + Math.floor(rand() * (b - a + 1)));
    } else {
      // any code point except surrogates (rarely a lone surrogate, which both sides see as U+FFFD)
      let cp = Math.floor(rand() * 0x110000);
      if (cp >= 0xd800 && cp <= 0xdfff) cp = rand() < 0.5 ? 0xd800 : 0xfffd;
      s += cp === 0xd800 ? "\ud800" : String.fromCodePoint(cp);
    }
    if (rand() < 0.5) s += " ";
  }
  return s;
}

/**
 * About `bytes` of deterministic English-like prose with markdown and code (for benchmarks).
 *
 * @example
 * ```ts
 * import { benchmarkText } from "./llama.ts";
 * benchmarkText(1000).length >= 1000; // true
 * ```
 */
export function benchmarkText(bytes: number, seed = 42): string {
  const rand = prng(seed);
  const vocab = [
    "the",
    "of",
    "and",
    "a",
    "to",
    "in",
    "is",
    "model",
    "weights",
    "tokens",
    "that",
    "for",
    "with",
    "as",
    "on",
    "by",
    "this",
    "be",
    "are",
    "from",
    "or",
    "layer",
    "tensor",
    "GGUF",
    "file",
    "loader",
    "quantized",
    "ternary",
    "BitNet",
    "llama.cpp",
    "memory",
    "bytes",
    "we",
    "it's",
    "don't",
    "can",
    "you",
    "which",
    "each",
    "block",
    "scale",
    "value",
    "data",
    "type",
    "format",
    "run",
    "fast",
    "inference",
    "context",
    "attention",
    "matrix",
    "vector",
    "kernel",
    "thread",
    "cache",
  ];
  const parts: string[] = [];
  let size = 0;
  while (size < bytes) {
    const r = rand();
    let p: string;
    if (r < 0.04) p = "\n\n## " + vocab[Math.floor(rand() * vocab.length)] + "\n\n";
    else if (r < 0.07) p = "\n```c\n" + CODE[Math.floor(rand() * CODE.length)] + "```\n";
    else if (r < 0.09) p = " " + String(Math.floor(rand() * 100000));
    else if (r < 0.15) p = [".", ",", ";", ":", "!", "?"][Math.floor(rand() * 6)];
    else if (r < 0.16) p = " " + EMOJI[Math.floor(rand() * EMOJI.length)];
    else if (r < 0.17) p = " Café naïve Straße Việt 東京 Привет";
    else p = " " + vocab[Math.floor(rand() * vocab.length)];
    parts.push(p);
    size += p.length;
  }
  return parts.join("");
}

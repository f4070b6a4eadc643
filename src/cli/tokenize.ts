/**
 * `bitload tokenize` and `bitload detokenize`: text ↔ token ids with the tokenizer a GGUF file
 * carries, id for id what llama.cpp's `llama_tokenize` / `llama_detokenize` give.
 *
 * @module
 */

import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { UsageError } from "./output.ts";
import { HEADER_FLAG, remoteSource } from "./remote.ts";
import { COMMON_FLAGS, modelArgument, noMorePositionals, parseCommand, pick } from "./options.ts";

/** Help text of `bitload tokenize`. */
export const TOKENIZE_HELP =
  `Usage: bitload tokenize FILE [--text T | -p T | -f PATH] [--no-bos] [--special] [--json]

Tokenizes text with the tokenizer stored in a GGUF file (tokenizer.ggml.*), exactly as
llama.cpp's llama_tokenize(vocab, text, add_special = !--no-bos, parse_special = --special).
Reads the text from --text (or -p), -f PATH, else all of stdin (verbatim, including a trailing
newline). FILE is a GGUF file (a vocab-only file is enough; any part of a split model).

Options:
  -m, --model FILE  the model (instead of the positional FILE)
  --text T          the text (default: stdin); also -p, --prompt (llama-tokenize's name)
  -f, --file PATH   read the text from a file
  --no-bos          do not add BOS/EOS/SEP (add_special = false)
  --special         recognise control-token texts such as <|eot_id|> (parse_special = true)
  --pre NAME        override tokenizer.ggml.pre (llama-bpe, gpt-2, qwen2, default, …). Without
                    it, a file with no pre but a well-known vocabulary (Llama-3's, as in BitNet
                    b1.58 2B-4T) uses that vocabulary's pre-tokenizer, with a notice; default
                    gives llama.cpp's behaviour; auto: when the file has none, use a
                    tokenizer.json next to it
  --json            print a JSON array of ids
  --explain         say on stderr where the tokenizer came from and why: the GGUF's own
                    tokenizer.ggml.*, else a tokenizer.json next to the file (byte-level BPE,
                    WordPiece, Unigram), else a SentencePiece tokenizer.model next to it, else
                    --tokenizer-url / $BITLOAD_TOKENIZER_URL (downloaded into the cache)
  --tokenizer-url U a tokenizer.json to use when neither the file nor a sidecar has one (a URL,
                    or hf://OWNER/REPO/tokenizer.json with $HF_TOKEN)
  --header 'K: V'   a request header for --tokenizer-url (repeatable)
  -h, --help        show this help

Output: one "ID -> 'PIECE'" line per token, or the JSON array with --json.
Exit codes: 0 ok, 1 the model cannot be read or has no supported tokenizer, 2 usage error.`;

/** Help text of `bitload detokenize`. */
export const DETOKENIZE_HELP =
  `Usage: bitload detokenize FILE [--ids 1,2,3] [--skip-special] [--no-clean] [--json]

Turns token ids back into text with the tokenizer stored in a GGUF file, exactly as llama.cpp's
llama_detokenize(vocab, ids, remove_special = --skip-special, unparse_special = !--skip-special).
Reads the ids from --ids, else from stdin (separated by commas, spaces or newlines; a JSON array
works too).

Options:
  -m, --model FILE  the model (instead of the positional FILE)
  --ids LIST        comma-separated ids (default: stdin)
  --skip-special    drop BOS/EOS the vocabulary adds and render control tokens as nothing
  --no-clean        do not apply the vocabulary's clean_spaces rules
  --pre NAME        override tokenizer.ggml.pre
  --json            print {"text": …} as JSON
  -h, --help        show this help

Exit codes: 0 ok, 1 the model cannot be read or an id is out of range, 2 usage error.`;

async function readStdin(): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const c of Deno.stdin.readable) chunks.push(c);
  let n = 0;
  for (const c of chunks) n += c.length;
  const all = new Uint8Array(n);
  n = 0;
  for (const c of chunks) {
    all.set(c, n);
    n += c.length;
  }
  return new TextDecoder().decode(all);
}

function quote(s: string): string {
  return "'" + s.replaceAll("\n", "\\n").replaceAll("\r", "\\r").replaceAll("\t", "\\t") + "'";
}

/**
 * Runs `tokenize`; returns the exit code.
 *
 * @example
 * ```ts ignore
 * import { runTokenize } from "./tokenize.ts";
 * await runTokenize(["--model", "ggml-vocab-llama-bpe.gguf", "--json", "--text", "Hello"], console.log);
 * // [128000,9906]
 * ```
 */
export async function runTokenize(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("tokenize", args, {
    ...pick("model", "prompt", "file"),
    text: { type: "string" },
    "no-bos": { type: "boolean" },
    special: { type: "boolean" },
    pre: { type: "string" },
    explain: { type: "boolean" },
    "tokenizer-url": { type: "string" },
    ...HEADER_FLAG,
    ...COMMON_FLAGS,
  });
  if (values.help) {
    out(TOKENIZE_HELP);
    return 0;
  }
  const { file, rest } = modelArgument("tokenize", values, positionals);
  noMorePositionals("tokenize", rest);
  const given = [values.text, values.prompt, values.file].filter((v) => v !== undefined);
  if (given.length > 1) {
    throw new UsageError("give the text once: --text, -p or -f", { command: "tokenize" });
  }
  // the tokenizer (its Unicode tables, every model family) is imported past --help (start-up time)
  const { Tokenizer } = await import("../tokenizer/tokenizer.ts");
  const { findTokenizer } = await import("../tokenizer/find.ts");
  let tok: Tokenizer;
  if (values.pre === "auto") tok = await Tokenizer.fromGguf(file, { pre: "auto" });
  else {
    const remote = values["tokenizer-url"] === undefined
      ? undefined
      : await remoteSource(values["tokenizer-url"], values.header);
    const choice = await findTokenizer(file, {
      pre: values.pre,
      url: remote?.source,
      headers: remote?.http?.headers,
    });
    if (values.explain) {
      console.error(`tokenizer: ${choice.source} (${choice.path})\n  ${choice.steps.join("\n  ")}`);
    }
    tok = choice.tokenizer;
  }
  const text = values.text ?? values.prompt ??
    (values.file !== undefined ? await Deno.readTextFile(values.file) : await readStdin());
  const ids = tok.encode(text, {
    addSpecial: !values["no-bos"],
    parseSpecial: values.special === true,
  });
  if (values.json) {
    out(JSON.stringify([...ids]));
    return 0;
  }
  const lines: string[] = [];
  for (const id of ids) lines.push(`${String(id).padStart(6)} -> ${quote(tok.tokenToPiece(id))}`);
  out(lines.join("\n"));
  return 0;
}

function parseIds(s: string): number[] {
  const body = s.trim().replace(/^\[/, "").replace(/\]$/, "");
  if (body === "") return [];
  return body.split(/[\s,]+/).filter((x) => x !== "").map((x) => {
    if (!/^\d+$/.test(x)) throw new UsageError(`"${x}" is not a token id`);
    return Number(x);
  });
}

/**
 * Runs `detokenize`; returns the exit code.
 *
 * @example
 * ```ts ignore
 * import { runDetokenize } from "./tokenize.ts";
 * await runDetokenize(["--model", "ggml-vocab-llama-bpe.gguf", "--ids", "9906,1917"], console.log);
 * // Hello world
 * ```
 */
export async function runDetokenize(args: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseCommand("detokenize", args, {
    ...pick("model"),
    ids: { type: "string" },
    "skip-special": { type: "boolean" },
    "no-clean": { type: "boolean" },
    pre: { type: "string" },
    ...COMMON_FLAGS,
  });
  if (values.help) {
    out(DETOKENIZE_HELP);
    return 0;
  }
  const { file, rest } = modelArgument("detokenize", values, positionals);
  noMorePositionals("detokenize", rest);
  const ids = parseIds(values.ids ?? await readStdin());
  const { Tokenizer } = await import("../tokenizer/tokenizer.ts");
  const tok = await Tokenizer.fromGguf(file, { pre: values.pre });
  const text = tok.decode(ids, {
    skipSpecial: values["skip-special"] === true,
    cleanSpaces: values["no-clean"] ? false : undefined,
  });
  out(values.json ? JSON.stringify({ text }) : text);
  return 0;
}

/**
 * The TS symbol table (`ffi/symbols.ts`) against the C header (`kernels/bitload.h`), like a
 * generated binding: every `BL_API` prototype is parsed and each parameter and result type must
 * map to the table's FFI type, with no function missing on either side; the ABI version and the
 * status codes must agree too.
 */

import assert from "node:assert/strict";
import { BITLOAD_ABI_VERSION, BITLOAD_SYMBOLS, BitloadStatus } from "../ffi/symbols.ts";

const HEADER = Deno.readTextFileSync(new URL("../kernels/bitload.h", import.meta.url));

/** The FFI type of a C type as bitload.h spells it (pointers pass as buffers, strings as pointers). */
function ffiType(cType: string): string {
  const t = cType.replace(/\bconst\b/g, "").replace(/\s+/g, " ").trim();
  if (t === "char *") return "pointer";
  if (t.endsWith("*")) return "buffer";
  const scalar: Record<string, string> = {
    void: "void",
    int: "i32",
    int32_t: "i32",
    int64_t: "i64",
    float: "f32",
    double: "f64",
  };
  const mapped = scalar[t];
  if (mapped === undefined) throw new Error(`no FFI mapping for C type "${cType}"`);
  return mapped;
}

/** Splits `const float *x` into its type (`const float *`). */
function parameterType(parameter: string): string {
  const m = /^(.*?[\s*])([A-Za-z_]\w*)$/.exec(parameter.trim());
  if (m === null) throw new Error(`cannot parse parameter "${parameter}"`);
  return m[1].trim();
}

interface Prototype {
  result: string;
  parameters: string[];
}

function parseHeader(text: string): Map<string, Prototype> {
  const withoutComments = text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/.*$/gm, " ");
  const prototypes = new Map<string, Prototype>();
  const re = /\bBL_API\s+([^;()]*?)\b(bl_\w+)\s*\(([^)]*)\)\s*;/g;
  for (const m of withoutComments.matchAll(re)) {
    const args = m[3].trim();
    prototypes.set(m[2], {
      result: ffiType(m[1]),
      parameters: args === "void" || args === ""
        ? []
        : args.split(",").map((p) => ffiType(parameterType(p))),
    });
  }
  return prototypes;
}

Deno.test("every prototype in bitload.h matches the FFI symbol table, type for type", () => {
  const header = parseHeader(HEADER);
  assert.ok(header.size >= 40, `only ${header.size} prototypes parsed`);
  const table = BITLOAD_SYMBOLS as Record<
    string,
    { parameters: readonly string[]; result: string }
  >;
  assert.deepEqual([...Object.keys(table)].sort(), [...header.keys()].sort());
  for (const [name, prototype] of header) {
    assert.deepEqual(
      { result: table[name].result, parameters: [...table[name].parameters] },
      prototype,
      name,
    );
  }
});

Deno.test("the ABI version and the status codes agree with bitload.h", () => {
  const define = (name: string): number => {
    const m = new RegExp(`#define ${name} \\(?(-?\\d+)\\)?`).exec(HEADER);
    assert.ok(m, `${name} not defined`);
    return Number(m[1]);
  };
  assert.equal(define("BL_ABI_VERSION"), BITLOAD_ABI_VERSION);
  const names: Record<keyof typeof BitloadStatus, string> = {
    OK: "BL_OK",
    UNKNOWN_TYPE: "BL_ERR_UNKNOWN_TYPE",
    BAD_LENGTH: "BL_ERR_BAD_LENGTH",
    NULL_BUFFER: "BL_ERR_NULL",
    BAD_LEVEL: "BL_ERR_BAD_LEVEL",
    THREADS: "BL_ERR_THREADS",
    NO_MEMORY: "BL_ERR_NO_MEMORY",
  };
  for (const [key, cName] of Object.entries(names)) {
    assert.equal(BitloadStatus[key as keyof typeof BitloadStatus], define(cName), cName);
  }
});
